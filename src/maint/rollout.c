/*
 * rollout.c — plan, state machine and driving loop (rollout.h).
 *
 * Sections:
 *   1. state names and options;
 *   2. the plan: checking options, waves;
 *   3. the driver's bookkeeping: transitions, audited actions, crash hooks;
 *   4. one step of one node per state;
 *   5. admission: waves, failure budget, disruption budget, max-parallel;
 *   6. the loop, summary, abort.
 */
#define _GNU_SOURCE
#include "maint/rollout.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "maint/budget.h"

/* ---- 1. state names and options ---- */

static const char *const state_names[] = {
#define ROLLOUT_STATE_NAME(e, name) name,
    ROLLOUT_STATES(ROLLOUT_STATE_NAME)
#undef ROLLOUT_STATE_NAME
};

const char *rollout_state_name(enum rollout_state s) {
  return s >= 0 && s < RS_COUNT ? state_names[s] : "unknown";
}

int rollout_state_parse(const char *name, enum rollout_state *out) {
  for (int i = 0; i < RS_COUNT; i++)
    if (!strcmp(name, state_names[i])) return *out = (enum rollout_state)i, 0;
  return err_set(ERR_INVALID, "unknown rollout node state '%s'", name);
}

void rollout_options_default(struct rollout_options *o) {
  memset(o, 0, sizeof *o);
  o->max_unavailable = "1";
  o->max_parallel = 1;
  o->canary = 1;
  o->batch_pct = 25;
  o->wait_timeout_ms = 600000;
  o->drain_timeout_ms = 600000;
  o->upgrade_timeout_ms = 1800000;
  o->validate_timeout_ms = 600000;
  o->executor = "sim";
}

void rollout_drive_options_default(struct rollout_drive_options *o) {
  memset(o, 0, sizeof *o);
  o->poll_ms = 20;
  o->lease_ms = 30000;
  o->blocked_timeout_ms = 600000;
}

static bool terminal(enum rollout_state s) {
  return s == RS_UPGRADE_DONE || s == RS_UPGRADE_FAILED;
}
static bool in_flight(enum rollout_state s) { return s != RS_UPGRADE_REQUIRED && !terminal(s); }

/* ---- 2. the plan ---- */

/* Split the comma list into plan nodes (in the list's order); checks existence and duplicates. */
static int pick_nodes(const struct inventory *inv, const char *list, struct rollout_plan *p) {
  int cap = inv->n_nodes;
  p->nodes = calloc(cap > 0 ? (size_t)cap : 1, sizeof *p->nodes);
  if (!p->nodes) return err_set(ERR_NOMEM, "rollout plan: out of memory");
  if (!list) {
    for (int i = 0; i < inv->n_nodes; i++)
      snprintf(p->nodes[p->n_nodes++].name, INV_NAME_MAX, "%s", inv->nodes[i].name);
    return 0;
  }
  char *copy = strdup(list), *save = NULL;
  if (!copy) return err_set(ERR_NOMEM, "rollout plan: out of memory");
  int rc = 0;
  for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
    if (!inventory_node(inv, w)) {
      rc = err_set(ERR_INVALID, "--nodes: node '%s' is not in the fleet (%s, %d nodes)", w,
                   inv->source, inv->n_nodes);
      break;
    }
    for (int i = 0; i < p->n_nodes; i++)
      if (!strcmp(p->nodes[i].name, w))
        rc = err_set(ERR_INVALID, "--nodes: node '%s' is listed twice", w);
    if (rc == 0 && p->n_nodes < cap) snprintf(p->nodes[p->n_nodes++].name, INV_NAME_MAX, "%s", w);
  }
  free(copy);
  if (rc == 0 && p->n_nodes == 0) rc = err_set(ERR_INVALID, "--nodes: no node given");
  return rc;
}

static int check_limits(const struct rollout_options *o, int plan_n) {
  if (o->canary < 0 || o->canary > plan_n)
    return err_set(ERR_INVALID, "--canary %d: the plan has %d node%s (use 0 to %d)", o->canary,
                   plan_n, plan_n == 1 ? "" : "s", plan_n);
  if (o->batch_pct < 1 || o->batch_pct > 100)
    return err_set(ERR_INVALID, "--batch %d%%: a batch is 1%% to 100%% of the plan's nodes",
                   o->batch_pct);
  if (o->max_parallel < 0)
    return err_set(ERR_INVALID, "--max-parallel %d: use 0 (no limit) or more", o->max_parallel);
  if (o->failure_budget < 0)
    return err_set(ERR_INVALID, "--failure-budget %d: use 0 or more", o->failure_budget);
  if (o->wait_timeout_ms <= 0 || o->drain_timeout_ms <= 0 || o->upgrade_timeout_ms <= 0 ||
      o->validate_timeout_ms <= 0)
    return err_set(ERR_INVALID, "timeouts must be positive (milliseconds)");
  return 0;
}

/* Wave 0 is the canary (when canary > 0); then batches of batch_pct of the plan, rounded up. */
static void assign_waves(struct rollout_plan *p, int canary, int batch_pct) {
  int batch = (batch_pct * p->n_nodes + 99) / 100, wave = 0, in_wave = 0;
  if (batch < 1) batch = 1;
  for (int i = 0; i < p->n_nodes; i++) {
    int size = canary > 0 && wave == 0 ? canary : batch;
    if (in_wave == size) wave++, in_wave = 0;
    p->nodes[i].wave = wave;
    p->nodes[i].seq = i;
    snprintf(p->nodes[i].state, sizeof p->nodes[i].state, "%s",
             rollout_state_name(RS_UPGRADE_REQUIRED));
    in_wave++;
  }
  p->n_waves = p->n_nodes ? wave + 1 : 0;
}

int rollout_plan_make(const struct inventory *inv, const struct rollout_options *o,
                      struct rollout_plan *p) {
  memset(p, 0, sizeof *p);
  int rc = 0;
  if (!o->target || !*o->target)
    rc = err_set(ERR_INVALID, "no target version: give --driver VERSION or --firmware VERSION");
  else if (strlen(o->target) >= INV_VERSION_MAX)
    rc = err_set(ERR_INVALID, "version '%s' is longer than %d characters", o->target,
                 INV_VERSION_MAX - 1);
  else if (inv->n_nodes == 0)
    rc = err_set(ERR_INVALID, "the fleet (%s) has no nodes", inv->source);
  if (rc == 0) rc = pick_nodes(inv, o->nodes, p);
  if (rc == 0) rc = budget_resolve(o->max_unavailable, inv->n_nodes, &p->r.max_unavailable);
  if (rc == 0) rc = check_limits(o, p->n_nodes);
  if (rc < 0) {
    rollout_plan_free(p);
    return rc;
  }
  struct store_rollout *r = &p->r;
  snprintf(r->kind, sizeof r->kind, "%s", o->kind == UPGRADE_FIRMWARE ? "firmware" : "driver");
  snprintf(r->target, sizeof r->target, "%s", o->target);
  snprintf(r->executor, sizeof r->executor, "%s", o->executor ? o->executor : "sim");
  snprintf(r->inventory, sizeof r->inventory, "%s", inv->source);
  snprintf(r->max_unavailable_spec, sizeof r->max_unavailable_spec, "%s", o->max_unavailable);
  snprintf(r->status, sizeof r->status, "running");
  r->fleet_size = inv->n_nodes;
  r->max_parallel = o->max_parallel;
  r->canary = o->canary;
  r->batch_pct = o->batch_pct;
  r->failure_budget = o->failure_budget;
  r->wait_timeout_ms = o->wait_timeout_ms;
  r->drain_timeout_ms = o->drain_timeout_ms;
  r->upgrade_timeout_ms = o->upgrade_timeout_ms;
  r->validate_timeout_ms = o->validate_timeout_ms;
  r->accepted_wave = -1;
  assign_waves(p, o->canary, o->batch_pct);
  return 0;
}

void rollout_plan_free(struct rollout_plan *p) {
  free(p->nodes);
  memset(p, 0, sizeof *p);
}

/* ---- 3. the driver's bookkeeping ---- */

struct drive {
  struct store *st;
  struct executor *e;
  const struct inventory *inv;
  const struct rollout_drive_options *o;
  struct store_rollout r;
  struct store_node *nodes;
  int n;
  struct store_lease lease;
  int commits, actions; /* in this process, for the crash hooks */
  int crash_at, crash_after_action;
  bool progressed; /* something moved in this tick */
};

static int env_int(const char *name) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : 0;
}

static enum rollout_state node_state(const struct store_node *n) {
  enum rollout_state s = RS_UPGRADE_REQUIRED;
  rollout_state_parse(n->state, &s);
  return s;
}

static void log_line(struct drive *d, const char *node, const char *what) {
  if (!d->o->log) return;
  char when[32];
  fprintf(d->o->log, "%s rollout %lld %s: %s\n", time_iso8601(time_wall_ns(), when, sizeof when),
          (long long)d->r.id, node, what);
  fflush(d->o->log);
}

/* Commit node i's move to `to` (one transaction), then the crash hook. */
static int transition(struct drive *d, struct store_node *n, enum rollout_state to,
                      const char *reason, int hold, const char *result) {
  struct store_transition t = {.lease_token = d->lease.token,
                               .node = n->name,
                               .from = n->state,
                               .to = rollout_state_name(to),
                               .reason = reason,
                               .human_hold = hold,
                               .action = "transition",
                               .result = result};
  int rc = store_transition(d->st, d->r.id, &t);
  if (rc < 0) return rc;
  char line[400];
  snprintf(line, sizeof line, "%s -> %s%s%s", n->state, t.to, result ? ": " : "",
           result ? result : "");
  log_line(d, n->name, line);
  snprintf(n->state, sizeof n->state, "%s", t.to);
  if (reason) snprintf(n->reason, sizeof n->reason, "%s", reason);
  if (hold >= 0) n->human_hold = hold;
  n->entered_ns = time_wall_ns();
  d->progressed = true;
  if (d->crash_at && ++d->commits == d->crash_at) raise(SIGKILL);
  return 0;
}

/* Record a node-changing executor call and its result in the audit log; then the crash hook. */
static int acted(struct drive *d, const char *node, const char *action, int rc) {
  char result[300];
  snprintf(result, sizeof result, "%s%s", rc < 0 ? "failed: " : "ok", rc < 0 ? err_msg() : "");
  int arc = store_audit(d->st, d->r.id, node, action, result);
  d->progressed = true;
  if (d->crash_after_action && ++d->actions == d->crash_after_action) raise(SIGKILL);
  return arc < 0 ? arc : rc;
}

static int64_t elapsed_ms(const struct store_node *n) {
  return (time_wall_ns() - n->entered_ns) / 1000000;
}

static const char *installed(const struct drive *d, const struct node_observation *o) {
  return strcmp(d->r.kind, "firmware") ? o->driver_version : o->firmware_version;
}

/* Keep a failed node drained with the reason, then commit upgrade-failed. */
static int fail_node(struct drive *d, struct store_node *n, const char *why) {
  char reason[STORE_REASON_MAX];
  snprintf(reason, sizeof reason, "rollout %lld: upgrade-failed: %s", (long long)d->r.id, why);
  if (!n->human_hold) {
    int rc = acted(d, n->name, "cordon", d->e->ops->cordon(d->e, n->name, reason));
    if (rc < 0 && rc != ERR_STATE)
      return rc; /* a down node may refuse; the reason is in the store either way */
  }
  return transition(d, n, RS_UPGRADE_FAILED, why, -1, why);
}

/* ---- 4. one step of one node ---- */

static int step_cordon(struct drive *d, struct store_node *n, const struct node_observation *o) {
  if (o->out_of_service && !o->reason_is_gpuops && o->reason[0]) {
    char note[STORE_REASON_MAX + 64];
    snprintf(note, sizeof note, "already drained by a person (%s): kept drained after the upgrade",
             o->reason);
    return transition(d, n, RS_WAIT_FOR_JOBS_REQUIRED, NULL, 1, note);
  }
  char reason[STORE_REASON_MAX];
  snprintf(reason, sizeof reason, "rollout %lld: upgrading %s to %s", (long long)d->r.id, d->r.kind,
           d->r.target);
  int rc = acted(d, n->name, "cordon", d->e->ops->cordon(d->e, n->name, reason));
  if (rc < 0) return fail_node(d, n, err_msg());
  return transition(d, n, RS_WAIT_FOR_JOBS_REQUIRED, NULL, 0, "cordoned");
}

static int step_wait(struct drive *d, struct store_node *n, const struct node_observation *o) {
  if (o->running_jobs == 0) return transition(d, n, RS_DRAIN_REQUIRED, NULL, -1, "no jobs running");
  if (elapsed_ms(n) < d->r.wait_timeout_ms) return 0;
  char note[128];
  snprintf(note, sizeof note, "wait-for-jobs timed out after %lld ms with %d job(s) running",
           (long long)d->r.wait_timeout_ms, o->running_jobs);
  return transition(d, n, RS_DRAIN_REQUIRED, NULL, -1, note);
}

static int step_drain(struct drive *d, struct store_node *n, const struct node_observation *o) {
  if (o->running_jobs == 0) return transition(d, n, RS_UPGRADE, NULL, -1, "drained");
  if (elapsed_ms(n) >= d->r.drain_timeout_ms) {
    char why[128];
    snprintf(why, sizeof why, "drain timed out after %lld ms with %d job(s) running",
             (long long)d->r.drain_timeout_ms, o->running_jobs);
    return fail_node(d, n, why);
  }
  if (!d->e->ops->evict) return 0; /* wait for the jobs to end */
  int rc = acted(d, n->name, "evict", d->e->ops->evict(d->e, n->name));
  return rc == ERR_IO || rc == ERR_NOMEM ? rc : 0;
}

static int step_upgrade(struct drive *d, struct store_node *n, const struct node_observation *o) {
  char why[400];
  bool at_target = !strcmp(installed(d, o), d->r.target);
  if (o->state == NODE_STATE_DOWN) {
    snprintf(why, sizeof why, "node down after the upgrade was issued (%s)",
             o->reason[0] ? o->reason : "no reason");
    return fail_node(d, n, why);
  }
  if (o->state == NODE_STATE_REBOOTING) {
    if (elapsed_ms(n) < d->r.upgrade_timeout_ms) return 0;
    snprintf(why, sizeof why, "upgrade did not finish within %lld ms",
             (long long)d->r.upgrade_timeout_ms);
    return fail_node(d, n, why);
  }
  if (at_target) {
    snprintf(why, sizeof why, "observed %s %s installed", d->r.kind, d->r.target);
    return transition(d, n, RS_VALIDATION_REQUIRED, NULL, -1, why);
  }
  /* Drained, not rebooting, old version: the upgrade was not issued yet (or never reached the
   * node). */
  enum upgrade_kind k = strcmp(d->r.kind, "firmware") ? UPGRADE_DRIVER : UPGRADE_FIRMWARE;
  int rc = acted(d, n->name, "upgrade", d->e->ops->upgrade(d->e, n->name, k, d->r.target));
  if (rc < 0 && rc != ERR_IO && rc != ERR_NOMEM) return fail_node(d, n, err_msg());
  return rc < 0 ? rc : 0;
}

static int step_validate(struct drive *d, struct store_node *n) {
  bool healthy = false;
  int rc = d->e->ops->validate(d->e, n->name, &healthy);
  if (rc == 0 && healthy)
    return transition(d, n, RS_UNCORDON_REQUIRED, NULL, -1, "health check passed");
  if (elapsed_ms(n) < d->r.validate_timeout_ms) return 0;
  char why[400];
  snprintf(why, sizeof why, "health check did not pass within %lld ms (%s)",
           (long long)d->r.validate_timeout_ms, rc < 0 ? err_msg() : "unhealthy");
  return fail_node(d, n, why);
}

static int step_uncordon(struct drive *d, struct store_node *n) {
  if (n->human_hold)
    return transition(d, n, RS_UPGRADE_DONE, NULL, -1,
                      "upgraded; left drained (a person drained it)");
  int rc = acted(d, n->name, "uncordon", d->e->ops->uncordon(d->e, n->name, false));
  if (rc < 0) return fail_node(d, n, err_msg());
  return transition(d, n, RS_UPGRADE_DONE, NULL, -1, "returned to service");
}

static int step_node(struct drive *d, struct store_node *n, const struct node_observation *o) {
  switch (node_state(n)) {
    case RS_CORDON_REQUIRED: return step_cordon(d, n, o);
    case RS_WAIT_FOR_JOBS_REQUIRED: return step_wait(d, n, o);
    case RS_DRAIN_REQUIRED: return step_drain(d, n, o);
    case RS_UPGRADE: return step_upgrade(d, n, o);
    case RS_VALIDATION_REQUIRED: return step_validate(d, n);
    case RS_UNCORDON_REQUIRED: return step_uncordon(d, n);
    default: return 0;
  }
}

/* ---- 5. admission ---- */

/* The first wave with a node not yet finished; -1 when all are. */
static int current_wave(const struct drive *d) {
  int w = -1;
  for (int i = 0; i < d->n; i++)
    if (!terminal(node_state(&d->nodes[i])) && (w < 0 || d->nodes[i].wave < w))
      w = d->nodes[i].wave;
  return w;
}

static int wave_failures(const struct drive *d, int wave, char *names, size_t len) {
  int f = 0;
  if (names) names[0] = 0;
  for (int i = 0; i < d->n; i++) {
    if (d->nodes[i].wave != wave || node_state(&d->nodes[i]) != RS_UPGRADE_FAILED) continue;
    if (names && strlen(names) + strlen(d->nodes[i].name) + 3 < len)
      snprintf(names + strlen(names), len - strlen(names), "%s%s", f ? ", " : "", d->nodes[i].name);
    f++;
  }
  return f;
}

static int set_status(struct drive *d, const char *to, const char *reason) {
  struct store_transition t = {.lease_token = d->lease.token,
                               .from = d->r.status,
                               .to = to,
                               .reason = reason,
                               .action = "status",
                               .result = reason ? reason : "ok"};
  int rc = store_transition(d->st, d->r.id, &t);
  if (rc < 0) return rc;
  log_line(d, "-", reason ? reason : to);
  snprintf(d->r.status, sizeof d->r.status, "%s", to);
  if (reason) snprintf(d->r.status_reason, sizeof d->r.status_reason, "%s", reason);
  d->progressed = true;
  if (d->crash_at && ++d->commits == d->crash_at) raise(SIGKILL);
  return 0;
}

/* Halt when a wave has used up its failure budget (checked on every wave that has failures). */
static int check_failure_budget(struct drive *d) {
  for (int i = 0; i < d->n; i++) {
    char names[200], why[STORE_REASON_MAX];
    if (d->nodes[i].wave <= d->r.accepted_wave) continue; /* a person accepted these on resume */
    int f = wave_failures(d, d->nodes[i].wave, names, sizeof names);
    if (f <= d->r.failure_budget) continue;
    snprintf(why, sizeof why,
             "halted: wave %d has %d failed node(s) (%s), over its failure budget of %d",
             d->nodes[i].wave, f, names, d->r.failure_budget);
    return set_status(d, "halted", why);
  }
  return 0;
}

static int admit(struct drive *d, const struct budget_view *v) {
  int wave = current_wave(d), running = 0, committed = 0;
  for (int i = 0; i < d->n; i++) {
    if (!in_flight(node_state(&d->nodes[i]))) continue;
    running++;
    const struct node_observation *o = budget_find(v, d->nodes[i].name);
    committed += o && !o->out_of_service; /* ours, not yet seen out of service */
  }
  for (int i = 0; i < d->n && wave >= 0; i++) {
    struct store_node *n = &d->nodes[i];
    if (n->wave != wave || node_state(n) != RS_UPGRADE_REQUIRED) continue;
    const struct node_observation *o = budget_find(v, n->name);
    if (!o) continue;
    if (!strcmp(installed(d, o), d->r.target) && !o->out_of_service) {
      char note[128];
      snprintf(note, sizeof note, "already at %s %s: nothing to do", d->r.kind, d->r.target);
      int rc = transition(d, n, RS_UPGRADE_DONE, note, -1, note);
      if (rc < 0) return rc;
      continue;
    }
    if (d->r.max_parallel > 0 && running >= d->r.max_parallel) break;
    int more = o->out_of_service ? 0 : 1;
    if (!budget_allows(v, committed, more)) break;
    int rc = transition(d, n, RS_CORDON_REQUIRED, NULL, -1, "admitted within max-unavailable");
    if (rc < 0) return rc;
    running++, committed += more;
  }
  return 0;
}

/* ---- 6. the loop ---- */

static int tick(struct drive *d, bool *finished) {
  struct budget_view v;
  int rc = budget_observe(d->e, d->inv, d->r.max_unavailable, &v);
  if (rc < 0) return rc;
  for (int i = 0; i < d->n && rc == 0; i++) {
    if (!in_flight(node_state(&d->nodes[i]))) continue;
    const struct node_observation *o = budget_find(&v, d->nodes[i].name);
    if (!o)
      rc = fail_node(d, &d->nodes[i], "node is no longer in the fleet's inventory");
    else
      rc = step_node(d, &d->nodes[i], o);
  }
  if (rc == 0 && !strcmp(d->r.status, "running")) rc = check_failure_budget(d);
  if (rc == 0 && !strcmp(d->r.status, "running")) rc = admit(d, &v);
  budget_view_free(&v);
  int flying = 0, pending = 0;
  for (int i = 0; i < d->n; i++) {
    flying += in_flight(node_state(&d->nodes[i]));
    pending += node_state(&d->nodes[i]) == RS_UPGRADE_REQUIRED;
  }
  if (rc == 0 && !flying && !pending && !strcmp(d->r.status, "running"))
    rc = set_status(d, "done", "every node finished");
  *finished = rc < 0 || (!flying && (strcmp(d->r.status, "running") || !pending));
  return rc;
}

static int reload(struct drive *d, int64_t id) {
  free(d->nodes);
  d->nodes = NULL;
  int rc = store_rollout_get(d->st, id, &d->r);
  return rc < 0 ? rc : store_nodes_get(d->st, id, &d->nodes, &d->n);
}

int rollout_summarize(struct store *st, int64_t id, struct rollout_summary *sum) {
  memset(sum, 0, sizeof *sum);
  struct store_rollout r;
  struct store_node *nodes = NULL;
  int n = 0, rc = store_rollout_get(st, id, &r);
  if (rc == 0) rc = store_nodes_get(st, r.id, &nodes, &n);
  for (int i = 0; rc == 0 && i < n; i++) {
    enum rollout_state s = node_state(&nodes[i]);
    sum->done += s == RS_UPGRADE_DONE;
    sum->failed += s == RS_UPGRADE_FAILED;
    sum->pending += s == RS_UPGRADE_REQUIRED;
    sum->in_flight += in_flight(s);
  }
  if (rc == 0) snprintf(sum->status, sizeof sum->status, "%s", r.status);
  free(nodes);
  return rc;
}

int rollout_drive(struct store *st, const char *db_path, struct executor *e,
                  const struct inventory *inv, int64_t id, const struct rollout_drive_options *o,
                  struct rollout_summary *sum) {
  struct drive d = {.st = st, .e = e, .inv = inv, .o = o};
  d.crash_at = env_int("GPUOPS_ROLLOUT_CRASH_AT");
  d.crash_after_action = env_int("GPUOPS_ROLLOUT_CRASH_AFTER_ACTION");
  memset(sum, 0, sizeof *sum);
  int rc = store_rollout_get(st, id, &d.r);
  if (rc == 0) rc = store_lease_acquire(st, db_path, d.r.id, o->lease_ms, &d.lease);
  if (rc < 0) return rc;
  rc = reload(&d, d.r.id); /* re-read under the lease: the last committed state */
  int64_t idle_since = time_mono_ns();
  bool finished = false;
  while (rc == 0 && !finished) {
    if (atomic_load(&d.lease.lost)) {
      rc = err_set(ERR_STATE, "lease on rollout %lld lost to another process: stopping",
                   (long long)d.r.id);
      break;
    }
    struct store_rollout now;
    if ((rc = store_rollout_get(st, d.r.id, &now)) < 0)
      break; /* see an abort made by another process */
    snprintf(d.r.status, sizeof d.r.status, "%s", now.status);
    d.progressed = false;
    rc = tick(&d, &finished);
    if (d.progressed) idle_since = time_mono_ns();
    if (rc == 0 && !finished && time_mono_ns() - idle_since > o->blocked_timeout_ms * 1000000) {
      sum->blocked = true;
      log_line(&d, "-",
               "blocked: nothing could move (max-unavailable taken by nodes out of service); "
               "resume later");
      break;
    }
    if (rc == 0 && !finished && !d.progressed)
      time_sleep_ns((int64_t)o->poll_ms * 1000000); /* moved: step again now */
  }
  store_lease_release(st, &d.lease);
  free(d.nodes);
  if (rc < 0) return rc;
  bool blocked = sum->blocked;
  rc = rollout_summarize(st, d.r.id, sum);
  sum->blocked = blocked;
  if (rc < 0) return rc;
  if (sum->failed || blocked || strcmp(sum->status, "done"))
    return err_set(ERR_CHECK, "rollout %lld %s: %d done, %d failed, %d in flight, %d untouched",
                   (long long)d.r.id, blocked ? "blocked" : sum->status, sum->done, sum->failed,
                   sum->in_flight, sum->pending);
  return 0;
}

int rollout_resume_halted(struct store *st, int64_t id) {
  struct store_rollout r;
  struct store_node *nodes = NULL;
  int n = 0, rc = store_rollout_get(st, id, &r);
  if (rc == 0) rc = store_nodes_get(st, r.id, &nodes, &n);
  int accepted = r.accepted_wave;
  for (int i = 0; rc == 0 && i < n; i++)
    if (node_state(&nodes[i]) == RS_UPGRADE_FAILED && nodes[i].wave > accepted)
      accepted = nodes[i].wave;
  free(nodes);
  return rc < 0 ? rc : store_rollout_resume_halted(st, r.id, accepted);
}

int rollout_abort(struct store *st, int64_t id, const char *reason) {
  struct store_rollout r;
  int rc = store_rollout_get(st, id, &r);
  if (rc < 0) return rc;
  if (strcmp(r.status, "running") && strcmp(r.status, "halted"))
    return err_set(ERR_STATE, "rollout %lld is %s: nothing to abort", (long long)r.id, r.status);
  struct store_transition t = {.from = r.status,
                               .to = "aborted",
                               .reason = reason ? reason : "aborted by a person",
                               .action = "abort",
                               .result = reason ? reason : "aborted by a person"};
  return store_transition(st, r.id, &t);
}
