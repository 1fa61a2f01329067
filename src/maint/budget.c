/*
 * budget.c — max-unavailable from observed state (budget.h).
 */
#include "maint/budget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

int budget_resolve(const char *spec, int fleet, int *count) {
  char *end;
  if (!spec || !*spec)
    return err_set(ERR_INVALID,
                   "max-unavailable: empty (give a count like 1 or a percentage like 25%%)");
  long v = strtol(spec, &end, 10);
  bool pct = *end == '%' && end[1] == 0;
  if (end == spec || (*end && !pct) || v < 0)
    return err_set(ERR_INVALID, "max-unavailable '%s': not a count (1) or a percentage (25%%)",
                   spec);
  if (v == 0)
    return err_set(ERR_INVALID,
                   "max-unavailable '%s' lets no node go out of service: nothing could be upgraded "
                   "(use at least 1)",
                   spec);
  if (pct && v > 100)
    return err_set(ERR_INVALID, "max-unavailable '%s': a percentage is at most 100%%", spec);
  long n = pct ? (v * fleet + 99) / 100 : v; /* round up, as the GPU Operator does */
  if (n > fleet)
    return err_set(ERR_INVALID, "max-unavailable %s is more than the fleet's %d nodes", spec,
                   fleet);
  *count = (int)n;
  return 0;
}

int budget_observe(struct executor *e, const struct inventory *inv, int max_unavailable,
                   struct budget_view *out) {
  memset(out, 0, sizeof *out);
  out->max_unavailable = max_unavailable;
  out->obs = calloc(inv->n_nodes > 0 ? (size_t)inv->n_nodes : 1, sizeof *out->obs);
  if (!out->obs) return err_set(ERR_NOMEM, "budget: out of memory");
  out->n = inv->n_nodes;
  for (int i = 0; i < inv->n_nodes; i++)
    out->out_of_service += budget_observe_node(e, inv->nodes[i].name, &out->obs[i]);
  return 0;
}

bool budget_observe_node(struct executor *e, const char *node, struct node_observation *o) {
  if (e->ops->observe(e, node, o) < 0) {
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", node);
    o->state = NODE_STATE_UNKNOWN;
    o->out_of_service = true;
    o->running_jobs = -1;
    snprintf(o->reason, sizeof o->reason, "cannot observe: %s", err_msg());
  }
  return o->out_of_service;
}

void budget_view_free(struct budget_view *v) {
  free(v->obs);
  memset(v, 0, sizeof *v);
}

const struct node_observation *budget_find(const struct budget_view *v, const char *node) {
  for (int i = 0; i < v->n; i++)
    if (!strcmp(v->obs[i].name, node)) return &v->obs[i];
  return NULL;
}

bool budget_allows(const struct budget_view *v, int committed, int more) {
  return v->out_of_service + committed + more <= v->max_unavailable;
}
