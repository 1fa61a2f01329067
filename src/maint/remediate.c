/*
 * remediate.c — guarded remediation of health verdicts (remediate.h).
 *
 * Sections: verdicts; the policy and input checks; the audit log (history
 * in, records out); the budget (observed); acting on one node; the run.
 */
#define _GNU_SOURCE
#include "maint/remediate.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "maint/budget.h"
#include "base/timeutil.h"

/* ---- verdicts ---- */

void remediate_verdict_from_report(const struct health_report *r, struct remediate_verdict *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->node, sizeof out->node, "%s", r->host);
  out->verdict = r->verdict;
  out->action = r->action;
  out->gpu = -1;
  for (int i = 0; i < r->n_gpus && out->gpu < 0; i++)
    if (r->gpus[i].action == r->action && r->gpus[i].status != VERDICT_PASS)
      out->gpu = r->gpus[i].index;
  snprintf(out->summary, sizeof out->summary, "%s", r->summary);
}

/* ---- the policy and input checks ---- */

void remediate_policy_default(struct remediate_policy *p) {
  memset(p, 0, sizeof *p);
  p->max_unavailable = 1;
  p->rate_per_hour = 10;
  p->cooldown_s = 600;
  p->flap_window_s = 3600;
  p->repair_timeout_ms = 600000;
  p->dry_run = true;
}

static int fleet_index(const char *const *fleet, int fleet_n, const char *node) {
  for (int i = 0; i < fleet_n; i++)
    if (!strcmp(fleet[i], node)) return i;
  return -1;
}

int remediate_check(const struct remediate_policy *p, const char *const *fleet, int fleet_n,
                    const struct remediate_verdict *v, int n) {
  if (fleet_n < 1) return err_set(ERR_INVALID, "the fleet has no nodes");
  if (p->max_unavailable < 1 || p->max_unavailable > fleet_n)
    return err_set(ERR_INVALID, "max-unavailable %d is impossible for a fleet of %d nodes (1..%d)",
                   p->max_unavailable, fleet_n, fleet_n);
  if (p->rate_per_hour < 1)
    return err_set(ERR_INVALID, "rate %d/h: at least 1 action per hour", p->rate_per_hour);
  if (p->cooldown_s < 0 || p->flap_window_s < 0 || p->repair_timeout_ms < 0)
    return err_set(ERR_INVALID, "cooldown, flap window and repair timeout must be >= 0");
  for (int i = 0; i < n; i++) {
    if (fleet_index(fleet, fleet_n, v[i].node) < 0)
      return err_set(ERR_INVALID, "verdict %d: node '%s' is not in the fleet", i + 1, v[i].node);
    for (int j = 0; j < i; j++)
      if (!strcmp(v[i].node, v[j].node))
        return err_set(ERR_INVALID, "verdicts %d and %d: node '%s' appears twice", j + 1, i + 1,
                       v[i].node);
  }
  return 0;
}

const char *remediate_outcome_name(enum remediate_outcome o) {
  static const char *const names[] = {"ok",          "report",      "repaired",  "repair_failed",
                                      "waiting",     "drained",     "flap_hold", "mass_hold",
                                      "already_out", "held_budget", "held_rate", "held_cooldown",
                                      "error"};
  return (unsigned)o <= REMEDIATE_ERROR ? names[o] : "?";
}

void remediate_result_free(struct remediate_result *r) {
  free(r->decisions);
  memset(r, 0, sizeof *r);
}

/* ---- the audit log ---- */

struct hist_rec {
  char node[INV_NAME_MAX];
  int64_t t_ms;
  enum remediate_outcome outcome;
};

struct history {
  struct hist_rec *r;
  int n, cap;
};

static bool counts_as_action(enum remediate_outcome o) {
  return o == REMEDIATE_REPAIRED || o == REMEDIATE_REPAIR_FAILED || o == REMEDIATE_WAITING ||
         o == REMEDIATE_DRAINED || o == REMEDIATE_FLAP_HOLD || o == REMEDIATE_MASS_HOLD;
}

static int outcome_parse(const char *s) {
  for (int o = 0; o <= REMEDIATE_ERROR; o++)
    if (!strcmp(s, remediate_outcome_name((enum remediate_outcome)o))) return o;
  return -1;
}

static int history_add(struct history *h, const char *node, int64_t t_ms, int outcome) {
  if (h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 64;
    struct hist_rec *r = realloc(h->r, (size_t)cap * sizeof *r);
    if (!r) return err_set(ERR_NOMEM, "out of memory reading the audit log");
    h->r = r, h->cap = cap;
  }
  struct hist_rec *x = &h->r[h->n++];
  snprintf(x->node, sizeof x->node, "%s", node);
  x->t_ms = t_ms;
  x->outcome = (enum remediate_outcome)outcome;
  return 0;
}

/* One audit line into the history; lines that are not decisions (alerts) are skipped. */
static int history_line(struct history *h, const char *path, int lineno, const char *line) {
  json_error_t je;
  json_t *o = json_loads(line, 0, &je);
  if (!o || !json_is_object(o)) {
    json_decref(o);
    return err_set(ERR_PARSE, "%s:%d: not a JSON object (an audit log is JSON lines)", path,
                   lineno);
  }
  const char *node = json_string_value(json_object_get(o, "node"));
  const char *dec = json_string_value(json_object_get(o, "decision"));
  json_t *t = json_object_get(o, "time_ms");
  int rc = 0;
  if (!dec || !json_is_integer(t)) {
    rc = err_set(ERR_PARSE, "%s:%d: needs \"decision\" and \"time_ms\"", path, lineno);
  } else if (node && outcome_parse(dec) >= 0) {
    rc = history_add(h, node, json_integer_value(t), outcome_parse(dec));
  }
  json_decref(o);
  return rc;
}

static int history_load(const char *path, struct history *h) {
  if (!path) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : err_set(ERR_IO, "cannot read %s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  int rc = 0, lineno = 0;
  while (rc == 0 && getline(&line, &cap, f) >= 0) {
    lineno++;
    if (line[strspn(line, " \t\r\n")] == '\0') continue;
    rc = history_line(h, path, lineno, line);
  }
  free(line);
  fclose(f);
  return rc;
}

/* Last time (ms) the node had an outcome matching want (action: any counting one); -1 none. */
static int64_t history_last(const struct history *h, const char *node, int want) {
  int64_t t = -1;
  for (int i = 0; i < h->n; i++) {
    if (strcmp(h->r[i].node, node)) continue;
    bool match = want < 0 ? counts_as_action(h->r[i].outcome) : (int)h->r[i].outcome == want;
    if (match && h->r[i].t_ms > t) t = h->r[i].t_ms;
  }
  return t;
}

static int history_actions_since(const struct history *h, int64_t since_ms) {
  int n = 0;
  for (int i = 0; i < h->n; i++) n += counts_as_action(h->r[i].outcome) && h->r[i].t_ms >= since_ms;
  return n;
}

static void iso_time(int64_t ms, char *buf, size_t len) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Append one record (a decision, or an alert with node NULL). */
static int audit_write(const struct remediate_policy *p, int64_t t_ms, const char *node,
                       const char *action, const char *decision, const char *detail) {
  if (!p->audit_path || p->dry_run) return 0;
  char when[32];
  iso_time(t_ms, when, sizeof when);
  json_t *o =
      json_pack("{s:s, s:I, s:s, s:s, s:s}", "time", when, "time_ms", (json_int_t)t_ms, "decision",
                decision, "action", action ? action : "", "detail", detail ? detail : "");
  if (!o) return err_set(ERR_NOMEM, "out of memory");
  if (node) json_object_set_new(o, "node", json_string(node));
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text) return err_set(ERR_NOMEM, "out of memory");
  FILE *f = fopen(p->audit_path, "a");
  int rc = 0;
  if (!f || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0)
    rc = err_set(ERR_IO, "cannot append to the audit log %s: %s", p->audit_path, strerror(errno));
  if (f) fclose(f);
  free(text);
  return rc;
}

/* ---- the run's state: the budget (observed) ---- */

struct run {
  struct executor *e;
  const struct remediate_policy *p;
  struct history hist;
  int64_t now_ms;
  int out;          /* out of service now: observed at the start, plus our cordons */
  int actions_hour; /* actions in the rolling hour, history + this run */
  struct remediate_result *res;
};

static int64_t wall_ms(void) { return time_wall_ns() / 1000000; }

/* Observe every node once (obs[fleet_n]) by the disruption budget's rule
 * (budget.h: a node that cannot be observed counts as out of service);
 * returns how many are out of service. */
static int observe_fleet(struct run *r, const char *const *fleet, int fleet_n,
                         struct node_observation *obs) {
  int out = 0;
  for (int i = 0; i < fleet_n; i++) out += budget_observe_node(r->e, fleet[i], &obs[i]);
  return out;
}

/* ---- acting on one node ---- */

static bool needs_service_out(enum verdict_action a) {
  return a == VERDICT_ACTION_RESET_GPU || a == VERDICT_ACTION_DRAIN_AND_RESET ||
         a == VERDICT_ACTION_REBOOT_NODE || a == VERDICT_ACTION_DRAIN_AND_REPAIR;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait until the node has no jobs and is not rebooting; 0, or 1 when the timeout passed. */
static int wait_quiet(struct run *r, const char *node, struct node_observation *o) {
  int waited = 0;
  for (;;) {
    int rc = r->e->ops->observe(r->e, node, o);
    if (rc < 0) return rc;
    if (o->running_jobs <= 0 && o->state != NODE_STATE_REBOOTING) return 0;
    if (waited >= r->p->repair_timeout_ms) return 1;
    sleep_ms(100);
    waited += 100;
  }
}

/* Cordoned already: reset or reboot, validate, uncordon. Sets d->outcome/detail. */
static int repair(struct run *r, const struct remediate_verdict *v, struct remediate_decision *d) {
  struct node_observation o;
  bool healthy = false;
  int rc = wait_quiet(r, v->node, &o);
  if (rc < 0) return rc;
  if (rc == 1) {
    d->outcome = REMEDIATE_WAITING;
    snprintf(d->detail, sizeof d->detail, "cordoned; %d job(s) still running after %d ms",
             o.running_jobs, r->p->repair_timeout_ms);
    return 0;
  }
  bool reboot = v->action == VERDICT_ACTION_REBOOT_NODE || v->gpu < 0;
  rc = reboot ? r->e->ops->reboot(r->e, v->node) : r->e->ops->reset_gpu(r->e, v->node, v->gpu);
  if (rc < 0) return rc;
  if ((rc = wait_quiet(r, v->node, &o)) != 0) {
    if (rc < 0) return rc;
    d->outcome = REMEDIATE_WAITING;
    snprintf(d->detail, sizeof d->detail, "reboot still in progress after %d ms",
             r->p->repair_timeout_ms);
    return 0;
  }
  if ((rc = r->e->ops->validate(r->e, v->node, &healthy)) < 0) return rc;
  if (!healthy) {
    d->outcome = REMEDIATE_REPAIR_FAILED;
    snprintf(d->detail, sizeof d->detail, "%s done but the health check still fails: left drained",
             reboot ? "reboot" : "GPU reset");
    return 0;
  }
  if ((rc = r->e->ops->uncordon(r->e, v->node, false)) < 0) return rc;
  r->out--;
  d->outcome = REMEDIATE_REPAIRED;
  snprintf(d->detail, sizeof d->detail, "%s, validated healthy, back in service",
           reboot ? "rebooted" : "GPU reset");
  return 0;
}

/* Take an in-service node out with a reason; counts against the budget. */
static int take_out(struct run *r, const char *node, const char *why) {
  char reason[256];
  snprintf(reason, sizeof reason, "remediate: %.200s", why);
  if (!r->p->dry_run) {
    int rc = r->e->ops->cordon(r->e, node, reason);
    if (rc < 0) return rc;
  }
  r->out++;
  r->actions_hour++;
  r->res->actions++;
  if (r->out > r->res->out_max) r->res->out_max = r->out;
  return 0;
}

/* Guardrails for a node that needs to leave service; true when held (d filled). */
static bool held(struct run *r, const struct remediate_verdict *v, struct remediate_decision *d) {
  int64_t last = history_last(&r->hist, v->node, -1);
  if (last >= 0 && r->now_ms - last < (int64_t)r->p->cooldown_s * 1000) {
    d->outcome = REMEDIATE_HELD_COOLDOWN;
    snprintf(d->detail, sizeof d->detail, "acted on %lld s ago (cooldown %d s)",
             (long long)((r->now_ms - last) / 1000), r->p->cooldown_s);
    return true;
  }
  if (r->out >= r->p->max_unavailable) {
    d->outcome = REMEDIATE_HELD_BUDGET;
    snprintf(d->detail, sizeof d->detail, "%d of max %d nodes already out of service", r->out,
             r->p->max_unavailable);
    return true;
  }
  if (r->actions_hour >= r->p->rate_per_hour) {
    d->outcome = REMEDIATE_HELD_RATE;
    snprintf(d->detail, sizeof d->detail, "%d actions in the last hour (limit %d/h)",
             r->actions_hour, r->p->rate_per_hour);
    return true;
  }
  return false;
}

/* One node, in service, needing to leave it. */
static int act(struct run *r, const struct remediate_verdict *v, bool mass,
               struct remediate_decision *d) {
  char why[256];
  int64_t repaired = history_last(&r->hist, v->node, REMEDIATE_REPAIRED);
  bool flap = repaired >= 0 && r->now_ms - repaired < (int64_t)r->p->flap_window_s * 1000;
  if (!flap && held(r, v, d)) return 0;
  if (flap && r->out >= r->p->max_unavailable) {
    d->outcome = REMEDIATE_HELD_BUDGET;
    snprintf(d->detail, sizeof d->detail, "flapping, but %d of max %d already out", r->out,
             r->p->max_unavailable);
    return 0;
  }
  if (flap) {
    snprintf(why, sizeof why,
             "flapping (failed again %lld s after a repair), needs a human: %.120s",
             (long long)((r->now_ms - repaired) / 1000), v->summary);
    d->outcome = REMEDIATE_FLAP_HOLD;
  } else if (mass) {
    snprintf(why, sizeof why, "mass failure hold, needs a human: %.150s", v->summary);
    d->outcome = REMEDIATE_MASS_HOLD;
  } else if (v->action == VERDICT_ACTION_DRAIN_AND_REPAIR) {
    snprintf(why, sizeof why, "drain_and_repair, needs a human: %.150s", v->summary);
    d->outcome = REMEDIATE_DRAINED;
  } else {
    snprintf(why, sizeof why, "%s: %.180s", verdict_action_name(v->action), v->summary);
    d->outcome = REMEDIATE_REPAIRED;
  }
  int rc = take_out(r, v->node, why);
  if (rc < 0) return rc;
  snprintf(d->detail, sizeof d->detail, "%s%.200s",
           r->p->dry_run ? "would drain: " : "drained: ", why);
  if (d->outcome == REMEDIATE_REPAIRED) {
    if (r->p->dry_run) {
      r->out--;
      snprintf(d->detail, sizeof d->detail, "would cordon, %s, validate, uncordon",
               v->action == VERDICT_ACTION_REBOOT_NODE ? "reboot" : "reset the GPU");
      return 0;
    }
    return repair(r, v, d);
  }
  return 0;
}

/* ---- the run ---- */

/* Decide one verdict given the node's observation. */
static int decide(struct run *r, const struct remediate_verdict *v,
                  const struct node_observation *o, bool mass, struct remediate_decision *d) {
  snprintf(d->node, sizeof d->node, "%s", v->node);
  d->action = v->action;
  if (v->verdict == HEALTH_HEALTHY || v->action <= VERDICT_ACTION_INVESTIGATE) {
    d->outcome = v->verdict == HEALTH_HEALTHY ? REMEDIATE_OK : REMEDIATE_REPORT;
    snprintf(d->detail, sizeof d->detail, "%s",
             v->verdict == HEALTH_HEALTHY ? "healthy" : v->summary);
    return 0;
  }
  if (!needs_service_out(v->action)) {
    d->outcome = REMEDIATE_REPORT;
    snprintf(d->detail, sizeof d->detail, "report only (%s): %.200s",
             verdict_action_name(v->action), v->summary);
    return 0;
  }
  if (o->out_of_service) {
    bool ours = !strncmp(o->reason, REMEDIATE_REASON_PREFIX, strlen(REMEDIATE_REASON_PREFIX));
    bool repairable =
        ours && !strstr(o->reason, "needs a human") && v->action != VERDICT_ACTION_DRAIN_AND_REPAIR;
    if (repairable && !r->p->dry_run) return repair(r, v, d); /* a repair a past run began */
    d->outcome = REMEDIATE_ALREADY_OUT;
    snprintf(d->detail, sizeof d->detail, "already out of service (%s): %.200s",
             node_state_name(o->state), o->reason);
    return 0;
  }
  return act(r, v, mass, d);
}

/* How many verdicts need an in-service node out (to detect a mass failure). */
static int count_needing(const struct remediate_verdict *v, int n, const int *at,
                         const struct node_observation *obs) {
  int need = 0;
  for (int i = 0; i < n; i++)
    need += v[i].verdict != HEALTH_HEALTHY && needs_service_out(v[i].action) &&
            !obs[at[i]].out_of_service;
  return need;
}

/* Every verdict in turn, from the observations taken at the start (obs, at[i]:
 * verdict i's node in the fleet). A mass failure: more nodes to take out at
 * once than max-unavailable allows at all. */
static int run_all(struct run *r, const struct remediate_verdict *v, int n, const int *at,
                   const struct node_observation *obs) {
  int need = count_needing(v, n, at, obs);
  bool mass = need > r->p->max_unavailable;
  for (int i = 0; i < n; i++) {
    struct remediate_decision *d = &r->res->decisions[r->res->n++];
    int rc = decide(r, &v[i], &obs[at[i]], mass, d);
    if (rc < 0) {
      d->outcome = REMEDIATE_ERROR;
      snprintf(d->detail, sizeof d->detail, "%.250s", err_msg());
    }
    if (d->outcome == REMEDIATE_HELD_BUDGET || d->outcome == REMEDIATE_HELD_RATE ||
        d->outcome == REMEDIATE_MASS_HOLD)
      r->res->alert = true;
    if ((rc = audit_write(r->p, r->now_ms, d->node, verdict_action_name(d->action),
                          remediate_outcome_name(d->outcome), d->detail)) < 0)
      return rc;
  }
  if (!r->res->alert) return 0;
  snprintf(r->res->alert_msg, sizeof r->res->alert_msg,
           "%s: %d node(s) need to leave service, room for %d (max-unavailable %d); held back "
           "the rest: a person must look",
           mass ? "mass failure" : "held by the budget or the rate limit", need,
           r->p->max_unavailable - r->res->out_before, r->p->max_unavailable);
  return audit_write(r->p, r->now_ms, NULL, "", "alert", r->res->alert_msg);
}

int remediate_run(struct executor *e, const struct remediate_policy *p, const char *const *fleet,
                  int fleet_n, const struct remediate_verdict *v, int n,
                  struct remediate_result *res) {
  memset(res, 0, sizeof *res);
  struct run r = {.e = e, .p = p, .res = res, .now_ms = p->now_ms ? p->now_ms : wall_ms()};
  struct node_observation *obs = NULL;
  int *at = NULL;
  int rc = remediate_check(p, fleet, fleet_n, v, n);
  if (rc < 0) goto out;
  if ((rc = history_load(p->audit_path, &r.hist)) < 0) goto out;
  obs = calloc((size_t)fleet_n, sizeof *obs);
  at = calloc(n ? (size_t)n : 1, sizeof *at);
  res->decisions = calloc(n ? (size_t)n : 1, sizeof *res->decisions);
  if (!obs || !at || !res->decisions) {
    rc = err_set(ERR_NOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < n; i++) at[i] = fleet_index(fleet, fleet_n, v[i].node);
  if ((rc = observe_fleet(&r, fleet, fleet_n, obs)) < 0) goto out;
  r.out = res->out_before = res->out_max = rc;
  r.actions_hour = history_actions_since(&r.hist, r.now_ms - 3600 * 1000);
  if ((rc = run_all(&r, v, n, at, obs)) < 0) goto out;
  res->out_after = r.out; /* counted: observed at the start plus this run's changes */
  rc = 0;
out:
  free(obs);
  free(at);
  free(r.hist.r);
  if (rc < 0) remediate_result_free(res);
  return rc;
}
