/*
 * scontrol.h — the fleet from Slurm: an importer for the output of
 * `scontrol show node -o` (one node per line, Key=Value fields) into the
 * inventory. The field mapping is in docs/maintenance.md (Rollouts, "The
 * fleet from Slurm").
 */
#ifndef GPUOPS_INVENTORY_SCONTROL_H
#define GPUOPS_INVENTORY_SCONTROL_H

#include <stddef.h>

#include "inventory/inventory.h"

/* inventory.source of an imported fleet is this prefix and the file's path. */
#define SCONTROL_SOURCE_PREFIX "scontrol:"

/*
 * Load `scontrol show node -o` output from path ("-" = stdin). Returns 0, or
 * ERR_IO / ERR_INVALID with "file:line: field: what is wrong" (a duplicate
 * node, a line with no NodeName, a bad number or GRES); *inv is empty then.
 */
int inventory_load_scontrol(struct inventory *inv, const char *path);
/* The same from a buffer; name stands for the file in messages. */
int inventory_load_scontrol_buf(struct inventory *inv, const char *buf, size_t len,
                                const char *name);

#endif
