/*
 * spec.h — inventory-internal: the YAML fleet-spec reader and the node
 * helpers it shares with inventory.c. Not for other layers (they use
 * inventory.h).
 */
#ifndef GPUOPS_INVENTORY_SPEC_H
#define GPUOPS_INVENTORY_SPEC_H

#include <stddef.h>

#include "inventory/inventory.h"

/* Limits a spec may not pass (a typo like gpu-[1-9999999] must fail, not eat memory). */
#define SPEC_MAX_NODES         65536     /* nodes in one fleet */
#define SPEC_MAX_GPUS          (1 << 18) /* GPUs in one fleet */
#define SPEC_MAX_GPUS_PER_NODE 64        /* GPUs on one node */

/*
 * Parse a fleet spec held in buf (len bytes, need not be NUL-terminated);
 * `name` stands for the file in messages. Returns 0 with *inv filled (it is
 * treated as uninitialised on entry), or ERR_PARSE (YAML syntax),
 * ERR_INVALID (the spec's content) or ERR_NOMEM with err_msg() set and *inv
 * empty.
 */
int spec_parse(struct inventory *inv, const char *buf, size_t len, const char *name);

/* Free what a node owns (labels, GPUs) and zero it. */
void inventory_node_clear(struct inv_node *n);
/* Deep copy src into dst (treated as uninitialised). 0 or ERR_NOMEM (dst left zeroed). */
int inventory_node_copy(struct inv_node *dst, const struct inv_node *src);
/* Set (add or replace) a label on a node; copies both strings. 0 or ERR_NOMEM. */
int inventory_node_set_label(struct inv_node *n, const char *key, const char *value);

#endif
