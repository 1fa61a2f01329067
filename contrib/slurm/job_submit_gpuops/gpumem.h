/*
 * gpumem.h — the pure logic of the gpuops job_submit plugin: a job's GPU
 * memory request ("gpuops:mem=20G" in --comment) and the smallest configured
 * MIG profile that holds it. No Slurm, no libc allocation: compiled into the
 * plugin and into tests/test_jobsubmit.c alone with src/catalog/.
 *
 * Sections: sizes and requests; the plugin's configuration; choosing.
 */
#ifndef GPUOPS_CONTRIB_GPUMEM_H
#define GPUOPS_CONTRIB_GPUMEM_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

#define GPUMEM_MAX_TYPES 16
#define GPUMEM_TYPE_MAX  32
#define GPUMEM_TAG       "gpuops:mem="

/* ---- sizes and requests ---- */

/*
 * Parse a size: digits, then an optional unit K, M (default), G or T, each
 * binary (G = GiB = 1024 MiB), optionally followed by "i", "B" or "iB" in
 * either case ("20G", "20GiB", "512m"). Returns 0 and *mib (rounded up to
 * whole MiB), or -1 with a reason in why. Not zero, at most 1 PiB.
 */
int gpumem_size_parse(const char *text, size_t len, uint64_t *mib, char *why, size_t why_len);

/*
 * Find "gpuops:mem=SIZE" in a job comment (the tag may follow other words;
 * SIZE ends at a space, comma or semicolon). Returns 1 and *mib when found, 0
 * when the comment has no tag (or is NULL), -1 with why when the size is bad.
 */
int gpumem_request_parse(const char *comment, uint64_t *mib, char *why, size_t why_len);

/* ---- configuration ---- */

/* The cluster's GPU model and the MIG profiles configured as GRES types. */
struct gpumem_config {
  const struct catalog_model *model;
  int n_types;
  const struct catalog_mig_profile *types[GPUMEM_MAX_TYPES];
};

/*
 * Parse the plugin's config text: lines "model = H200" and
 * "types = 1g.18gb,3g.71gb" (comma or space separated MIG profile names of
 * that model, the plain names Slurm's GRES use as types); '#' starts a
 * comment. Returns 0, or -1 with "line N: ..." in why (unknown model, unknown
 * profile, missing key, too many types).
 */
int gpumem_config_parse(const char *text, struct gpumem_config *cfg, char *why, size_t why_len);

/* ---- choosing ---- */

/*
 * The smallest configured profile whose one instance holds mib MiB: least
 * memory, then fewest compute slices, then without the media extension.
 * Returns it, or NULL with a one-line reason in why that names the request,
 * the largest configured profile and its size. Pure, thread-safe.
 */
const struct catalog_mig_profile *gpumem_choose(const struct gpumem_config *cfg, uint64_t mib,
                                                char *why, size_t why_len);

#endif
