/*
 * mig.h — the MIG placement rule (../shared/data/mig-geometry.md).
 *
 * A GPU has 7 compute slices and 8 memory slices. An instance of a profile
 * starts at one of the profile's valid starts and spans its memory_slices;
 * instances never overlap in memory slices; compute slices add up to at most
 * 7; no profile exceeds its max instances. Depends only on catalog.h.
 */
#ifndef GPUOPS_CATALOG_MIG_H
#define GPUOPS_CATALOG_MIG_H

#include "catalog/catalog.h"

/* One GPU instance on one GPU: which profile, where. */
struct mig_placement {
  int profile_id; /* NVML profile id */
  int start;      /* first memory slice */
};

/*
 * Is this set of placements a valid layout of one GPU of model m?
 * Returns true when valid. When invalid and why != NULL, writes one line
 * saying which placement breaks which rule ("placement 2 (3g.71gb@2): start 2
 * is not a valid start for 3g.71gb (valid: 0,4)"). n may be 0 (empty GPU).
 */
bool mig_layout_valid(const struct catalog_model *m, const struct mig_placement *p, int n,
                      char *why, size_t why_len);

/*
 * Can one more instance of profile_id be added to a valid layout, and where?
 * Writes the valid starts in ascending order into starts (capacity
 * CATALOG_MIG_MAX_STARTS) and returns their number (0 when it cannot fit).
 */
int mig_free_starts(const struct catalog_model *m, const struct mig_placement *p, int n,
                    int profile_id, int *starts);

/* Bitmask of memory slices used by a layout (bit i = slice i). Assumes ids are known. */
unsigned mig_used_memory_slices(const struct catalog_model *m, const struct mig_placement *p, int n);

/*
 * Parse "3g.71gb@4" or "9@4" (profile name or id, '@', start) into *out.
 * Returns 0, or -1 with a reason in why.
 */
int mig_placement_parse(const struct catalog_model *m, const char *text, struct mig_placement *out,
                        char *why, size_t why_len);

#endif
