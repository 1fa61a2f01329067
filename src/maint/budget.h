/*
 * budget.h — the one disruption budget: how many nodes of the fleet may be
 * out of service at once (max-unavailable), counted from the nodes' observed
 * state (rollouts, remediation and drains made by people all count), not from
 * gpuops' own bookkeeping alone.
 *
 * Sections: resolving a limit given as a count or a percentage; observing
 * the fleet; asking whether more nodes may go.
 */
#ifndef GPUOPS_MAINT_BUDGET_H
#define GPUOPS_MAINT_BUDGET_H

#include <stdbool.h>

#include "inventory/inventory.h"
#include "maint/executor.h"

/*
 * "3" or "25%" of fleet nodes -> a count. Percentages round up, as the GPU
 * Operator scales maxUnavailable (25% of 10 nodes = 3). Returns 0, or
 * ERR_INVALID for a malformed value, 0, 0%, more than 100% or more nodes than
 * the fleet has (the message says which).
 */
int budget_resolve(const char *spec, int fleet, int *count);

/* The fleet as observed now. */
struct budget_view {
  int max_unavailable;
  int n;                        /* nodes observed (the whole inventory) */
  struct node_observation *obs; /* n observations, inventory order; owned */
  int out_of_service;           /* observed out of service (any cause) */
};

/*
 * Observe every node of inv through e. Nodes the engine cannot observe count
 * as out of service (unknown is never taken as available). Free with
 * budget_view_free(). Returns 0 or ERR_NOMEM (observation errors are counted,
 * not returned).
 */
int budget_observe(struct executor *e, const struct inventory *inv, int max_unavailable,
                   struct budget_view *out);
void budget_view_free(struct budget_view *v);
/*
 * Observe one node into *o; a node the engine cannot observe is recorded as
 * UNKNOWN and out of service (never taken as available). Returns whether it
 * is out of service. The one rule every caller (rollouts, remediation) counts by.
 */
bool budget_observe_node(struct executor *e, const char *node, struct node_observation *o);
/* The observation of a node, or NULL. */
const struct node_observation *budget_find(const struct budget_view *v, const char *node);
/* May `more` nodes go out of service on top of `committed` (taken but not yet observed)? */
bool budget_allows(const struct budget_view *v, int committed, int more);

#endif
