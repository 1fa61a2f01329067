/*
 * sim.h — the trace-driven fleet simulator.
 *
 * A simulation ("world") pairs a cluster built from an inventory with a task
 * set; each run plays the tasks under one policy and seed and reports what
 * happened. Two modes:
 *
 *   paper   the ATC'23 paper's experiment: resample the task list with the
 *           seed until its total GPU request reaches `arrival` x the
 *           cluster's GPUs (copies drawn uniformly while the next fits, or
 *           random removals when the list is already larger), shuffle it,
 *           place the tasks one by one with no departures (a task that fits
 *           nowhere is skipped), and record GPU allocation against the
 *           arrived GPU request (the paper's curve).
 *   replay  event-driven: tasks arrive at their creation time, run for their
 *           run time, queue when nothing fits (highest priority first; with
 *           fair share, the tenant furthest below its share first), may
 *           preempt lower-priority tasks (lowest priority evicted first, the
 *           fewest evictions), respect tenant GPU caps, keep gangs all or
 *           nothing, and see node failures (running tasks requeued), drains
 *           and recoveries.
 *
 * Ownership: a world borrows the task set (keep it alive) and owns the rest;
 * results own their arrays (fleet_sim_result_free). One run at a time per
 * world; separate worlds may run on separate threads.
 *
 * Sections: world; configuration; results; running.
 */
#ifndef GPUOPS_FLEET_SIM_H
#define GPUOPS_FLEET_SIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "fleet/cluster.h"
#include "fleet/frag.h"
#include "fleet/task.h"
#include "inventory/inventory.h"

/* ---- 1. world ------------------------------------------------------------ */

struct fleet_sim {
  struct fleet_cluster cluster;   /* owned */
  const struct fleet_taskset *ts; /* borrowed */
  struct fleet_req *reqs;         /* owned: one per task, with classes */
  int n_cls;                      /* distinct request classes */
  struct fleet_frag frag;         /* typical tasks of ts (for FGD and the measure) */
  bool have_frag;
};

/*
 * Build a world: the cluster from inv (share_all makes every non-MIG GPU
 * shared), the requests of ts, their classes and typical tasks (coverage
 * 0.95, as the paper's artifact). Returns 0 or a negative code with a
 * message; free with fleet_sim_free (safe after a failure).
 */
int fleet_sim_init(struct fleet_sim *s, const struct inventory *inv, const struct fleet_taskset *ts,
                   bool share_all);
void fleet_sim_free(struct fleet_sim *s);

/* ---- 2. configuration ---------------------------------------------------- */

enum fleet_sim_mode { FLEET_MODE_PAPER = 0, FLEET_MODE_REPLAY };

enum fleet_node_event_kind { FLEET_EV_FAIL = 0, FLEET_EV_DRAIN, FLEET_EV_RECOVER };

/* A node failing, draining or coming back at a time (replay). */
struct fleet_node_event {
  int64_t t_s;
  int node; /* index into the cluster's nodes */
  enum fleet_node_event_kind kind;
};

/* A tenant's limits (replay); index = tenant index in the task set. */
struct fleet_tenant_limit {
  double cap_gpus; /* hard cap on GPUs held at once; <= 0: none */
  double weight;   /* fair-share weight; <= 0 counts as 1 */
};

struct fleet_sim_config {
  enum fleet_sim_mode mode;
  const char *policy; /* policy name (policy.h) */
  uint64_t seed;
  int ties;            /* enum fleet_ties (policy.h): 0 a seeded node order, 1 random */
  double arrival;      /* paper: target GPU request / capacity (default 1.3 when 0) */
  double curve_step;   /* paper: curve spacing in arrival ratio (default 0.01 when 0) */
  bool record_latency; /* measure every placement decision (for p50/p99) */
  /* replay */
  bool preempt;    /* higher priority may evict lower priority */
  bool fair_share; /* queue order by tenant usage / weight */
  int n_limits;
  const struct fleet_tenant_limit *limits; /* n_limits tenants (others unlimited) */
  int n_events;
  const struct fleet_node_event *events;
  bool check_invariants; /* verify the cluster's books after every event (slow; tests) */
  bool record_tasks;     /* fill result->tasks (per-task outcomes) */
  int64_t share_from_s;  /* tenant GPU-seconds count from this time on (0: all)... */
  int64_t share_until_s; /* ...until this time (0: the end) */
};

/* ---- 3. results ---------------------------------------------------------- */

struct fleet_curve_point {
  double arrived;   /* arrived GPU request / capacity */
  double allocated; /* allocated GPUs / capacity */
};

struct fleet_tenant_result {
  char name[FLEET_TENANT_LEN];
  double gpu_seconds; /* GPU time used */
  double share;       /* of all GPU time used */
  double peak_gpus;   /* most GPUs held at once */
  int queued;         /* tasks still queued at the end */
};

/* What happened to one task (replay, with record_tasks). */
struct fleet_task_outcome {
  int starts;    /* times it was started (more than 1 after evictions) */
  int finishes;  /* times it completed (0 or 1) */
  int evictions; /* preemptions and node failures that stopped it */
  int node;      /* node of its last start, -1 never started */
  int64_t first_start_s, last_start_s, finish_s; /* -1 when it did not happen */
};

struct fleet_sim_result {
  char policy[32];
  uint64_t seed;
  enum fleet_sim_mode mode;
  double capacity_gpus;
  int arrived, placed, unplaced; /* tasks */
  double arrived_gpus;           /* GPU request that arrived */
  double alloc_gpus;             /* allocated at the end (paper) */
  double unalloc_at_100;         /* paper: idle GPUs when the arrived request reached 100% */
  double unalloc_at_end;         /* paper: idle GPUs at the end (the target, e.g. 130%) */
  double alloc_ratio;            /* allocated / capacity at the end */
  double frag_gpus, frag_ratio;  /* fragmentation at the end (frag.h), and its share of idle */
  int n_curve;
  struct fleet_curve_point *curve; /* owned */
  /* replay */
  int started, finished, never_started, preemptions, requeued_by_failure;
  double queue_p50_s, queue_p99_s, queue_max_s;
  double mean_alloc_ratio; /* time-weighted GPU allocation */
  double makespan_s;
  int n_tenants;
  struct fleet_tenant_result *tenants; /* owned */
  int gang_violations;                 /* gangs found partly placed (must be 0) */
  int max_victim_priority;             /* highest priority ever evicted (-1000: none) */
  int min_preemptor_priority;          /* lowest priority that ever evicted (1000: none) */
  struct fleet_task_outcome *tasks;    /* owned: one per task, with record_tasks */
  /* speed */
  double wall_s;
  int decisions;
  double decision_p50_us, decision_p99_us; /* valid when record_latency */
  uint64_t scored, cached;                 /* policy node scores computed / from cache */
};

void fleet_sim_result_free(struct fleet_sim_result *r);
/* The result as JSON (new reference); the curve only when with_curve. */
json_t *fleet_sim_result_json(const struct fleet_sim_result *r, bool with_curve);

/* ---- 4. running ---------------------------------------------------------- */

/*
 * Run once. Returns 0 with *out filled (caller frees), or a negative code
 * (unknown policy, out of memory, an invariant broken under
 * check_invariants) with a message.
 */
int fleet_sim_run(struct fleet_sim *s, const struct fleet_sim_config *cfg,
                  struct fleet_sim_result *out);

/* The replay mode itself (replay.c); fleet_sim_run calls it. */
int fleet_replay_run(struct fleet_sim *s, const struct fleet_sim_config *cfg,
                     struct fleet_sim_result *out);

/* p-quantile (0..1) of n values (sorted in place); 0 when n == 0. */
double fleet_quantile(double *v, int n, double q);

#endif
