/*
 * scenario.c — the contention scenarios (see scenario.h).
 *
 * Sections:
 *   1. helpers: checks, fleets, tasks, one replay;
 *   2. priority-burst;
 *   3. tenant-quota;
 *   4. node-failure;
 *   5. gang;
 *   6. mig-fragmentation;
 *   7. the table and JSON.
 */
#include "fleet/scenario.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "catalog/mig.h"
#include "fleet/sim.h"
#include "fleet/workload.h"

/* ---- 1. helpers ---------------------------------------------------------- */

static void check(struct fleet_scenario_result *r, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(struct fleet_scenario_result *r, bool ok, const char *fmt, ...) {
  if (r->n_checks >= FLEET_SCENARIO_CHECKS) return;
  struct fleet_scenario_check *c = &r->checks[r->n_checks++];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->what, sizeof c->what, fmt, ap);
  va_end(ap);
  c->ok = ok;
  if (!ok) r->passed = false;
}

static int fleet(struct inventory *inv, int nodes, int gpus, bool mig) {
  struct fleet_gen_fleet f = {.n_nodes = nodes,
                              .model = "H200",
                              .gpus_per_node = gpus,
                              .cpu_milli = 112000,
                              .memory_mib = 2097152,
                              .mig = mig};
  return fleet_gen_fleet(inv, &f);
}

struct tspec {
  const char *name;
  int gpus; /* whole GPUs */
  int mig;  /* MIG profile id, -1 none */
  int priority;
  int tenant;
  int gang;
  int64_t at, run;
};

static int add(struct fleet_taskset *ts, const struct tspec *s) {
  struct fleet_task t = {.cpu_milli = 4000, .memory_mib = 16384, .mig_profile = -1, .gang = -1};
  snprintf(t.name, sizeof t.name, "%s", s->name);
  t.num_gpu = (uint16_t)(s->mig >= 0 ? 1 : s->gpus);
  t.gpu_milli = (uint16_t)(t.num_gpu ? FLEET_MILLI : 0);
  t.mig_profile = (int16_t)s->mig;
  if (s->mig >= 0) t.gpu_milli = (uint16_t)fleet_task_gpu_milli_total(&t);
  t.priority = (int8_t)s->priority;
  t.qos = (int8_t)(s->priority >= 2   ? FLEET_QOS_LS
                   : s->priority == 1 ? FLEET_QOS_BURSTABLE
                                      : FLEET_QOS_BE);
  t.tenant = s->tenant;
  t.gang = s->gang;
  t.create_s = s->at;
  t.duration_s = s->run;
  return fleet_taskset_add(ts, &t);
}

/* One replay with invariant checks on; a broken invariant becomes a failed check. */
static int replay(const struct inventory *inv, const struct fleet_taskset *ts,
                  struct fleet_sim_config *cfg, struct fleet_sim_result *res,
                  struct fleet_scenario_result *out) {
  struct fleet_sim s;
  cfg->mode = FLEET_MODE_REPLAY;
  cfg->check_invariants = true;
  cfg->record_tasks = true;
  int rc = fleet_sim_init(&s, inv, ts, false);
  if (rc) return rc;
  rc = fleet_sim_run(&s, cfg, res);
  if (rc == ERR_INTERNAL) {
    check(out, false, "the simulator's books held at every event: %s", err_msg());
    memset(res, 0, sizeof *res);
    rc = 1;
  } else if (rc == 0) {
    check(out, true,
          "the simulator's books held at every event (cluster totals, running lists, "
          "gangs, caps)");
  }
  fleet_sim_free(&s);
  return rc;
}

/* How many tasks finished exactly once, and how many more than once. */
static void finish_counts(const struct fleet_sim_result *res, int n, int *once, int *twice) {
  *once = *twice = 0;
  for (int i = 0; i < n; i++) {
    *once += res->tasks[i].finishes == 1;
    *twice += res->tasks[i].finishes > 1;
  }
}

/* ---- 2. priority-burst --------------------------------------------------- */

static int priority_burst(const char *policy, struct fleet_scenario_result *out,
                          struct inventory *inv, struct fleet_taskset *ts) {
  int rc = fleet(inv, 4, 8, false);
  char name[32];
  for (int i = 0; rc == 0 && i < 32; i++) { /* a full cluster: 16 BE, 16 Burstable */
    snprintf(name, sizeof name, "%s-%02d", i % 2 ? "burstable" : "be", i);
    rc = add(ts, &(struct tspec){name, 1, -1, i % 2, 0, -1, 0, 10000});
  }
  for (int i = 0; rc == 0 && i < 8; i++) { /* the burst: 8 LS at t=100 */
    snprintf(name, sizeof name, "ls-%02d", i);
    rc = add(ts, &(struct tspec){name, 1, -1, 2, 0, -1, 100, 600});
  }
  if (rc) return rc;
  snprintf(out->about, sizeof out->about,
           "32 x 1-GPU BE/Burstable tasks fill 4 x 8 GPUs; 8 x 1-GPU LS tasks arrive at t=100");
  struct fleet_sim_config cfg = {.policy = policy, .seed = 1, .preempt = true};
  struct fleet_sim_result res;
  if ((rc = replay(inv, ts, &cfg, &res, out))) return rc > 0 ? 0 : rc;
  int at_once = 0, evicted = 0, restarted = 0, once, twice;
  for (int i = 32; i < 40; i++) at_once += res.tasks[i].first_start_s == 100;
  for (int i = 0; i < 32; i++) {
    evicted += res.tasks[i].evictions > 0;
    restarted += res.tasks[i].evictions > 0 && res.tasks[i].starts == 2;
  }
  finish_counts(&res, 40, &once, &twice);
  check(out, at_once == 8, "no priority inversion: %d of 8 LS tasks started at arrival", at_once);
  check(out, res.preemptions == 8,
        "fewest evictions: %d preemptions for 8 GPUs needed (each victim holds 1)",
        res.preemptions);
  check(
      out, res.max_victim_priority == 0 && res.min_preemptor_priority == 2,
      "lowest priority evicted first: victims' highest priority %d (BE = 0), preemptors' lowest %d",
      res.max_victim_priority, res.min_preemptor_priority);
  check(out, evicted == 8 && restarted == 8,
        "every evicted task restarted: %d evicted, %d restarted", evicted, restarted);
  check(out, once == 40 && twice == 0, "nothing lost or doubled: %d of 40 finished exactly once",
        once);
  fleet_sim_result_free(&res);
  return 0;
}

/* ---- 3. tenant-quota ----------------------------------------------------- */

static int quota_workload(struct fleet_taskset *ts) {
  int rc = 0;
  if (fleet_taskset_tenant(ts, "team-a") < 0 || fleet_taskset_tenant(ts, "team-b") < 0)
    return ERR_NOMEM;
  char name[32];
  for (int i = 0; rc == 0 && i < 120; i++) { /* 60 each; run times 100..290 s */
    int a = i < 60;
    snprintf(name, sizeof name, "%s-%02d", a ? "a" : "b", i % 60);
    rc = add(ts, &(struct tspec){name, 1, -1, 1, a ? 1 : 2, -1, a ? 0 : 5, 100 + (i * 37) % 200});
  }
  return rc;
}

static int tenant_quota(const char *policy, struct fleet_scenario_result *out,
                        struct inventory *inv, struct fleet_taskset *ts) {
  int rc = fleet(inv, 2, 8, false);
  if (rc || (rc = quota_workload(ts))) return rc;
  snprintf(out->about, sizeof out->about,
           "team-a (60 tasks at t=0) and team-b (60 at t=5) on 16 GPUs, each capped at 10 GPUs, "
           "weights 1:1; shares over t=400..1000");
  struct fleet_tenant_limit limits[3] = {{0, 1}, {10, 1}, {10, 1}};
  double share[2] = {0, 0};
  for (int fair = 1; fair >= 0; fair--) {
    struct fleet_sim_config cfg = {.policy = policy,
                                   .seed = 1,
                                   .fair_share = fair,
                                   .n_limits = 3,
                                   .limits = limits,
                                   .share_from_s = 400,
                                   .share_until_s = 1000};
    struct fleet_sim_result res;
    if ((rc = replay(inv, ts, &cfg, &res, out))) return rc > 0 ? 0 : rc;
    double a = res.tenants[1].gpu_seconds, b = res.tenants[2].gpu_seconds;
    share[fair] = a + b > 0 ? a / (a + b) : 0;
    if (fair) {
      int once, twice;
      finish_counts(&res, 120, &once, &twice);
      check(out, res.tenants[1].peak_gpus <= 10 + 1e-9 && res.tenants[2].peak_gpus <= 10 + 1e-9,
            "caps held: team-a peaked at %.0f GPUs, team-b at %.0f (caps 10)",
            res.tenants[1].peak_gpus, res.tenants[2].peak_gpus);
      check(out, once == 120, "all work done: %d of 120 tasks finished once", once);
    }
    fleet_sim_result_free(&res);
  }
  check(out, fabs(share[1] - 0.5) <= 0.06,
        "fair share converges: team-a got %.1f%% of the GPU time after t=400 (weight 50%%)",
        100 * share[1]);
  check(out, share[0] > share[1] + 0.05,
        "and it is the fair-share order that does it: first come, first served gives team-a %.1f%%",
        100 * share[0]);
  return 0;
}

/* ---- 4. node-failure ----------------------------------------------------- */

static int node_failure(const char *policy, struct fleet_scenario_result *out,
                        struct inventory *inv, struct fleet_taskset *ts) {
  int rc = fleet(inv, 4, 8, false);
  char name[32];
  for (int i = 0; rc == 0 && i < 28; i++) {
    snprintf(name, sizeof name, "job-%02d", i);
    rc = add(ts, &(struct tspec){name, 1, -1, 1, 0, -1, i < 20 ? 0 : 60, 1000});
  }
  if (rc) return rc;
  snprintf(out->about, sizeof out->about,
           "28 x 1-GPU tasks on 4 x 8 GPUs; node 4 drains at t=50, node 1 fails at t=100 and "
           "recovers at t=500");
  const struct fleet_node_event ev[] = {
      {50, 3, FLEET_EV_DRAIN}, {100, 0, FLEET_EV_FAIL}, {500, 0, FLEET_EV_RECOVER}};
  struct fleet_sim_config cfg = {.policy = policy, .seed = 1, .n_events = 3, .events = ev};
  struct fleet_sim_result res;
  if ((rc = replay(inv, ts, &cfg, &res, out))) return rc > 0 ? 0 : rc;
  int once, twice, hit = 0, drained = 0, on_down = 0;
  finish_counts(&res, 28, &once, &twice);
  for (int i = 0; i < 28; i++) {
    const struct fleet_task_outcome *o = &res.tasks[i];
    hit += o->evictions > 0;
    drained += o->node == 3 && o->last_start_s > 50;
    on_down += o->node == 0 && o->last_start_s >= 100 && o->last_start_s < 500;
  }
  check(out, hit > 0 && res.requeued_by_failure == hit,
        "the failed node's tasks were requeued: %d requeued, %d tasks hit", res.requeued_by_failure,
        hit);
  check(out, once == 28 && twice == 0,
        "nothing lost or doubled: %d of 28 finished exactly once, %d more than once", once, twice);
  check(out, on_down == 0, "the down node took nothing: %d starts there while down", on_down);
  check(out, drained == 0, "the drained node took nothing new: %d starts there after t=50",
        drained);
  fleet_sim_result_free(&res);
  return 0;
}

/* ---- 5. gang ------------------------------------------------------------- */

static int gang_workload(struct fleet_taskset *ts) {
  int rc = 0;
  char name[32];
  for (int i = 0; rc == 0 && i < 4; i++) { /* small tasks hold GPUs until t=50 */
    snprintf(name, sizeof name, "small-%d", i);
    rc = add(ts, &(struct tspec){name, 1, -1, 1, 0, -1, 0, 50});
  }
  for (int i = 0; rc == 0 && i < 3; i++) { /* 3 x 8 GPUs: never fits 16 GPUs */
    snprintf(name, sizeof name, "big-%d", i);
    rc = add(ts, &(struct tspec){name, 8, -1, 1, 0, 0, 0, 100});
  }
  for (int i = 0; rc == 0 && i < 2; i++) { /* 2 x 8 GPUs: fits once the small ones end */
    snprintf(name, sizeof name, "pair-%d", i);
    rc = add(ts, &(struct tspec){name, 8, -1, 1, 0, 1, 10, 1000});
  }
  return rc;
}

static int gang(const char *policy, struct fleet_scenario_result *out, struct inventory *inv,
                struct fleet_taskset *ts) {
  int rc = fleet(inv, 2, 8, false);
  if (rc || (rc = gang_workload(ts))) return rc;
  snprintf(out->about, sizeof out->about,
           "2 x 8 GPUs: a 3 x 8-GPU gang, a 2 x 8-GPU gang at t=10 behind 4 small tasks, node 2 "
           "fails at t=200 and recovers at t=300");
  const struct fleet_node_event ev[] = {{200, 1, FLEET_EV_FAIL}, {300, 1, FLEET_EV_RECOVER}};
  struct fleet_sim_config cfg = {.policy = policy, .seed = 1, .n_events = 2, .events = ev};
  struct fleet_sim_result res;
  if ((rc = replay(inv, ts, &cfg, &res, out))) return rc > 0 ? 0 : rc;
  const struct fleet_task_outcome *t = res.tasks, *p0 = &t[7], *p1 = &t[8];
  int big_starts = t[4].starts + t[5].starts + t[6].starts;
  check(out, big_starts == 0 && res.gang_violations == 0,
        "a gang that cannot fit never runs in part: %d member starts", big_starts);
  check(out, p0->first_start_s == 50 && p1->first_start_s == 50 && p0->node != p1->node,
        "a gang that fits starts whole: members at t=%lld and t=%lld on distinct nodes",
        (long long)p0->first_start_s, (long long)p1->first_start_s);
  check(out,
        p0->evictions == 1 && p1->evictions == 1 && p0->last_start_s == 300 &&
            p1->last_start_s == 300,
        "a node failure stops and restarts it whole: evictions %d/%d, restarts at t=%lld/%lld",
        p0->evictions, p1->evictions, (long long)p0->last_start_s, (long long)p1->last_start_s);
  check(out, p0->finishes == 1 && p1->finishes == 1, "the gang finished once: %d/%d", p0->finishes,
        p1->finishes);
  fleet_sim_result_free(&res);
  return 0;
}

/* ---- 6. mig-fragmentation ------------------------------------------------ */

/* The mix, in arrival order: NVML profile ids (1g, 4g, 2g, 1g, 4g, 2g). */
static const int mig_mix[] = {19, 5, 14, 19, 5, 14};
#define MIG_MIX_N (int)(sizeof mig_mix / sizeof *mig_mix)

/* The naive rule on 2 GPUs: fullest GPU that fits, lowest free start. Returns instances placed. */
static int naive_mig(const struct catalog_model *m) {
  struct mig_placement lay[2][INV_MIG_MAX];
  int n[2] = {0, 0}, used[2] = {0, 0}, placed = 0, starts[CATALOG_MIG_MAX_STARTS];
  for (int i = 0; i < MIG_MIX_N; i++) {
    int best = -1;
    for (int g = 0; g < 2; g++)
      if (mig_free_starts(m, lay[g], n[g], mig_mix[i], starts) > 0 &&
          (best < 0 || used[g] > used[best]))
        best = g;
    if (best < 0) continue;
    mig_free_starts(m, lay[best], n[best], mig_mix[i], starts);
    lay[best][n[best]++] = (struct mig_placement){mig_mix[i], starts[0]};
    used[best] += catalog_mig_profile(m, mig_mix[i])->compute_slices;
    placed++;
  }
  return placed;
}

static int mig_fragmentation(const char *policy, struct fleet_scenario_result *out,
                             struct inventory *inv, struct fleet_taskset *ts) {
  int rc = fleet(inv, 1, 2, true);
  char name[32];
  for (int i = 0; rc == 0 && i < MIG_MIX_N; i++) {
    snprintf(name, sizeof name, "mig-%d-%s", i,
             catalog_mig_profile(catalog_find("H200"), mig_mix[i])->name);
    rc = add(ts, &(struct tspec){name, 1, mig_mix[i], 1, 0, -1, i, 100000});
  }
  if (rc) return rc;
  snprintf(out->about, sizeof out->about,
           "one node, 2 x H200 with MIG; 1g.18gb, 4g.71gb, 2g.35gb, 1g.18gb, 4g.71gb, 2g.35gb "
           "arrive in that order");
  int naive = naive_mig(catalog_find("H200"));
  struct fleet_sim_config cfg = {.policy = policy, .seed = 1};
  struct fleet_sim_result res;
  if ((rc = replay(inv, ts, &cfg, &res, out))) return rc > 0 ? 0 : rc;
  check(out, naive < MIG_MIX_N,
        "the mix is a trap: the lowest free start places %d of %d instances", naive, MIG_MIX_N);
  check(out, res.started == MIG_MIX_N,
        "slots chosen for the future place all of it: %d of %d instances (every layout valid)",
        res.started, MIG_MIX_N);
  fleet_sim_result_free(&res);
  return 0;
}

/* ---- 7. the table and JSON ----------------------------------------------- */

typedef int (*scenario_fn)(const char *, struct fleet_scenario_result *, struct inventory *,
                           struct fleet_taskset *);

static const char *const names[] = {"priority-burst", "tenant-quota", "node-failure", "gang",
                                    "mig-fragmentation"};
static const scenario_fn fns[] = {priority_burst, tenant_quota, node_failure, gang,
                                  mig_fragmentation};

const char *const *fleet_scenario_names(int *n) {
  *n = (int)(sizeof names / sizeof *names);
  return names;
}

int fleet_scenario_run(const char *name, const char *policy, struct fleet_scenario_result *out) {
  memset(out, 0, sizeof *out);
  int k = -1;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(names[i], name)) k = (int)i;
  if (k < 0)
    return err_set(ERR_NOTFOUND,
                   "unknown scenario '%s' (priority-burst, tenant-quota, node-failure, gang, "
                   "mig-fragmentation)",
                   name);
  snprintf(out->name, sizeof out->name, "%s", name);
  out->passed = true;
  struct inventory inv;
  struct fleet_taskset ts;
  inventory_init(&inv);
  int rc = fleet_taskset_init(&ts);
  int64_t t0 = time_mono_ns();
  if (rc == 0) rc = fns[k](policy ? policy : "fgd-cpu", out, &inv, &ts);
  out->wall_s = (double)(time_mono_ns() - t0) / 1e9;
  if (rc == 0 && out->n_checks == 0) check(out, false, "the scenario made no checks");
  inventory_free(&inv);
  fleet_taskset_free(&ts);
  return rc;
}

json_t *fleet_scenario_json(const struct fleet_scenario_result *r) {
  json_t *checks = json_array();
  for (int i = 0; i < r->n_checks; i++)
    json_array_append_new(
        checks, json_pack("{s:b,s:s}", "ok", r->checks[i].ok, "check", r->checks[i].what));
  return json_pack("{s:s,s:s,s:b,s:f,s:o}", "scenario", r->name, "about", r->about, "passed",
                   r->passed, "wall_s", r->wall_s, "checks", checks);
}
