/*
 * replay.c — the event-driven replay mode of the simulator (see sim.h).
 *
 * Units: a task, or a gang (its tasks, led by the first one, placed all or
 * nothing, arriving when the last of them arrives). Events, in this order at
 * equal times: completions, node events (fail, drain, recover), arrivals.
 * After anything frees resources, one scheduling pass walks the queue in
 * order (priority, then with fair share the tenant furthest below its
 * share, then arrival); a unit that failed since the last gain elsewhere is
 * only retried on the node that gained (it cannot fit anywhere else), and a
 * request class that failed once in a pass is not tried again in that pass.
 *
 * Sections:
 *   1. state: jobs, per-node running lists, the completion heap;
 *   2. accounting: time integrals, tenants;
 *   3. placing and releasing units (gangs all or nothing, tenant caps);
 *   4. preemption: lowest priority first, fewest evictions;
 *   5. the queue and scheduling passes;
 *   6. node events;
 *   7. invariants;
 *   8. the event loop and results.
 */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "base/timeutil.h"
#include "fleet/policy.h"
#include "fleet/sim.h"

/* ---- 1. state ------------------------------------------------------------ */

enum { J_WAIT = 0, J_QUEUED, J_RUNNING, J_DONE, J_MEMBER };

struct job {
  uint8_t state;
  bool quota_blocked;
  bool started;
  struct fleet_place place;
  int64_t arrive, first_start, end;
  uint32_t gen;       /* bumped when a running job stops early (stale heap entries) */
  int64_t fail_epoch; /* gain epoch of its last failed attempt; -1 never tried */
  int next, prev;     /* running list of its node (-1 ends) */
  int leader;         /* the unit's leader (itself when not in a gang) */
  int gang_next;      /* next member of the gang (-1 ends) */
};

struct victim {
  int job;
  int prio;
  uint32_t gpu_milli;
  bool needed; /* the preemptor cannot fit without evicting it */
};

struct heap_item {
  int64_t t;
  int job;
  uint32_t gen;
};

struct replay {
  struct fleet_sim *s;
  const struct fleet_sim_config *cfg;
  struct fleet_sim_result *out;
  struct fleet_policy pol;
  struct job *jobs;
  int n;
  int *node_head; /* running list per node */
  struct heap_item *heap;
  int n_heap, cap_heap;
  int *queue; /* queued unit leaders */
  int n_queue, cap_queue;
  int64_t now, epoch;  /* simulated time; resource-gain counter */
  double *tenant_gpus; /* GPUs held per tenant now */
  double *delays;      /* queueing delays of started units */
  int n_delays;
  double *lat; /* decision latencies (us) */
  int n_lat, cap_lat;
  int64_t t_first, t_last;
  double alloc_integral;                 /* GPU-seconds allocated */
  struct victim *victims, *best_victims; /* preemption scratch (n each) */
  uint8_t *cls_failed;                   /* per request class: failed in this pass */
  int *cls_touched;
  int n_touched;
};

static int heap_push(struct replay *x, int64_t t, int job) {
  if (x->n_heap == x->cap_heap) {
    int cap = x->cap_heap ? x->cap_heap * 2 : 1024;
    struct heap_item *grown = realloc(x->heap, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory (replay events)");
    x->heap = grown;
    x->cap_heap = cap;
  }
  int i = x->n_heap++;
  struct heap_item it = {t, job, x->jobs[job].gen};
  while (i > 0 && x->heap[(i - 1) / 2].t > t) {
    x->heap[i] = x->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  x->heap[i] = it;
  return 0;
}

static struct heap_item heap_pop(struct replay *x) {
  struct heap_item top = x->heap[0], last = x->heap[--x->n_heap];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= x->n_heap) break;
    if (c + 1 < x->n_heap && x->heap[c + 1].t < x->heap[c].t) c++;
    if (x->heap[c].t >= last.t) break;
    x->heap[i] = x->heap[c];
    i = c;
  }
  if (x->n_heap > 0) x->heap[i] = last;
  return top;
}

static const struct fleet_task *task_of(const struct replay *x, int j) {
  return &x->s->ts->tasks[j];
}

static const struct fleet_req *req_of(const struct replay *x, int j) { return &x->s->reqs[j]; }

/* ---- 2. accounting ------------------------------------------------------- */

static double job_gpus(const struct replay *x, int j) {
  return fleet_req_gpu_milli(req_of(x, j)) / (double)FLEET_MILLI;
}

static double unit_gpus(const struct replay *x, int leader) {
  double g = 0;
  for (int m = leader; m >= 0; m = x->jobs[m].gang_next) g += job_gpus(x, m);
  return g;
}

/* Advance simulated time to t, integrating allocation and tenant usage. */
static void advance(struct replay *x, int64_t t) {
  if (t <= x->now) return;
  double dt = (double)(t - x->now);
  x->alloc_integral += fleet_cluster_alloc_gpus(&x->s->cluster) * dt;
  int64_t from = x->now > x->cfg->share_from_s ? x->now : x->cfg->share_from_s;
  int64_t until =
      x->cfg->share_until_s > 0 && x->cfg->share_until_s < t ? x->cfg->share_until_s : t;
  if (until > from)
    for (int i = 0; i < x->out->n_tenants; i++)
      x->out->tenants[i].gpu_seconds += x->tenant_gpus[i] * (double)(until - from);
  x->now = t;
}

static const struct fleet_tenant_limit *limit_of(const struct replay *x, int tenant) {
  return tenant < x->cfg->n_limits ? &x->cfg->limits[tenant] : NULL;
}

static bool over_cap(const struct replay *x, int leader) {
  int t = task_of(x, leader)->tenant;
  const struct fleet_tenant_limit *l = limit_of(x, t);
  return l && l->cap_gpus > 0 && x->tenant_gpus[t] + unit_gpus(x, leader) > l->cap_gpus + 1e-9;
}

static double share_key(const struct replay *x, int leader) {
  int t = task_of(x, leader)->tenant;
  const struct fleet_tenant_limit *l = limit_of(x, t);
  double w = l && l->weight > 0 ? l->weight : 1.0;
  return x->tenant_gpus[t] / w;
}

/* ---- 3. placing and releasing -------------------------------------------- */

static void run_link(struct replay *x, int j) {
  int node = x->jobs[j].place.node;
  x->jobs[j].prev = -1;
  x->jobs[j].next = x->node_head[node];
  if (x->node_head[node] >= 0) x->jobs[x->node_head[node]].prev = j;
  x->node_head[node] = j;
}

static void run_unlink(struct replay *x, int j) {
  struct job *b = &x->jobs[j];
  if (b->prev >= 0)
    x->jobs[b->prev].next = b->next;
  else
    x->node_head[b->place.node] = b->next;
  if (b->next >= 0) x->jobs[b->next].prev = b->prev;
  b->next = b->prev = -1;
}

/* Stop a running job (completion, eviction, failure): give back what it holds. */
static void stop_job(struct replay *x, int j) {
  struct job *b = &x->jobs[j];
  fleet_cluster_release(&x->s->cluster, req_of(x, j), &b->place);
  run_unlink(x, j);
  x->tenant_gpus[task_of(x, j)->tenant] -= job_gpus(x, j);
  b->gen++;
  b->place.node = -1;
}

static int start_job(struct replay *x, int j, const struct fleet_place *p) {
  struct job *b = &x->jobs[j];
  fleet_cluster_apply(&x->s->cluster, req_of(x, j), p);
  b->place = *p;
  b->state = J_RUNNING;
  run_link(x, j);
  int t = task_of(x, j)->tenant;
  x->tenant_gpus[t] += job_gpus(x, j);
  if (x->tenant_gpus[t] > x->out->tenants[t].peak_gpus)
    x->out->tenants[t].peak_gpus = x->tenant_gpus[t];
  int64_t dur = task_of(x, j)->duration_s;
  b->end = dur >= 0 ? x->now + dur : INT64_MAX;
  return dur >= 0 ? heap_push(x, b->end, j) : 0;
}

static int record_latency(struct replay *x, int64_t t0) {
  if (!x->cfg->record_latency) return 0;
  if (x->n_lat == x->cap_lat) {
    int cap = x->cap_lat ? x->cap_lat * 2 : 4096;
    double *grown = realloc(x->lat, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory (latencies)");
    x->lat = grown;
    x->cap_lat = cap;
  }
  x->lat[x->n_lat++] = (double)(time_mono_ns() - t0) / 1e3;
  return 0;
}

/* A unit started (all its members run): outcomes, delays. */
static void unit_started(struct replay *x, int leader) {
  struct job *b = &x->jobs[leader];
  for (int m = leader; x->out->tasks && m >= 0; m = x->jobs[m].gang_next) {
    struct fleet_task_outcome *o = &x->out->tasks[m];
    o->starts++;
    o->node = x->jobs[m].place.node;
    o->last_start_s = x->now;
    if (o->first_start_s < 0) o->first_start_s = x->now;
  }
  if (!b->started) {
    b->started = true;
    b->first_start = x->now;
    x->delays[x->n_delays++] = (double)(x->now - b->arrive);
    x->out->started++;
  }
}

/*
 * Place a unit (all members or none) with the policy. only_node >= 0 limits
 * a single task to that node. Returns 1 placed, 0 not, or a negative error.
 */
static int place_unit(struct replay *x, int leader, int only_node) {
  struct fleet_place pl;
  int rc = 0, placed = 0;
  for (int m = leader; m >= 0; m = x->jobs[m].gang_next) {
    const struct fleet_req *r = req_of(x, m);
    int64_t t0 = x->cfg->record_latency ? time_mono_ns() : 0;
    int ok;
    if (only_node >= 0)
      ok = fleet_fits(&x->s->cluster, only_node, r) &&
           fleet_cluster_choose_gpus(&x->s->cluster, only_node, r, -1, x->pol.ops->sel, &pl) == 0;
    else
      ok = fleet_policy_choose(&x->pol, &x->s->cluster, r, &pl);
    if (only_node < 0) { /* a full decision (retries on one node are bookkeeping) */
      x->out->decisions++;
      if ((rc = record_latency(x, t0))) break;
    }
    if (!ok) break;
    if ((rc = start_job(x, m, &pl))) break;
    placed++;
  }
  int members = 0;
  for (int m = leader; m >= 0; m = x->jobs[m].gang_next) members++;
  if (rc == 0 && placed == members) {
    unit_started(x, leader);
    return 1;
  }
  /* Not all placed: undo (a gang never runs in part). */
  for (int m = leader, k = 0; m >= 0 && k < placed; m = x->jobs[m].gang_next, k++) {
    stop_job(x, m);
    x->jobs[m].state = m == leader ? J_QUEUED : J_MEMBER;
  }
  return rc < 0 ? rc : 0;
}

/* ---- 4. preemption ------------------------------------------------------- */

static int by_victim_order(const void *a, const void *b) {
  const struct victim *x = a, *y = b;
  if (x->prio != y->prio) return x->prio < y->prio ? -1 : 1; /* lowest priority first */
  if (x->gpu_milli != y->gpu_milli) return x->gpu_milli > y->gpu_milli ? -1 : 1; /* big first */
  return x->job < y->job ? -1 : x->job > y->job;
}

/*
 * On `node`, the fewest lower-priority single tasks whose eviction lets r
 * fit: evict lowest priority (then largest) first until r fits, then put
 * back every victim r does not need. Writes the victims into v (count *nv)
 * and their highest priority into *worst. The cluster is left as it was.
 * Returns true when r can fit this way.
 */
static bool victims_on(struct replay *x, int node, const struct fleet_req *r, int prio,
                       struct victim *v, int *nv, int *worst) {
  struct fleet_cluster *c = &x->s->cluster;
  int n = 0, k = 0;
  for (int j = x->node_head[node]; j >= 0; j = x->jobs[j].next)
    if (task_of(x, j)->priority < prio && x->jobs[j].gang_next < 0 && x->jobs[j].leader == j)
      v[n++] =
          (struct victim){j, task_of(x, j)->priority, fleet_req_gpu_milli(req_of(x, j)), false};
  qsort(v, (size_t)n, sizeof *v, by_victim_order);
  while (k < n && !fleet_fits(c, node, r)) {
    fleet_cluster_release(c, req_of(x, v[k].job), &x->jobs[v[k].job].place);
    k++;
  }
  bool fits = fleet_fits(c, node, r);
  for (int i = k - 1; i >= 0; i--) { /* put back the ones r does not need */
    fleet_cluster_apply(c, req_of(x, v[i].job), &x->jobs[v[i].job].place);
    v[i].needed = fits && !fleet_fits(c, node, r);
    if (v[i].needed) fleet_cluster_release(c, req_of(x, v[i].job), &x->jobs[v[i].job].place);
  }
  int kept = 0;
  for (int i = 0; i < k; i++) {
    if (!v[i].needed) continue;
    fleet_cluster_apply(c, req_of(x, v[i].job), &x->jobs[v[i].job].place); /* restore */
    v[kept++] = v[i];
  }
  *nv = kept;
  *worst = -1000;
  for (int i = 0; i < kept; i++)
    if (v[i].prio > *worst) *worst = v[i].prio;
  return fits;
}

static int requeue(struct replay *x, int leader);
static int retry_elsewhere(struct replay *x, int leader);

/* Try to place single task j by evicting lower-priority tasks. 1 placed, 0 not, <0 error. */
static int preempt_for(struct replay *x, int j) {
  const struct fleet_req *r = req_of(x, j);
  int prio = task_of(x, j)->priority, best = -1, best_n = 0, best_worst = 0, rc;
  struct fleet_cluster *c = &x->s->cluster;
  for (int node = 0; node < c->n_nodes; node++) {
    int n, worst;
    if (c->nodes[node].state != FLEET_NODE_UP || x->node_head[node] < 0) continue;
    if (!victims_on(x, node, r, prio, x->victims, &n, &worst) || n == 0) continue;
    if (best < 0 || worst < best_worst || (worst == best_worst && n < best_n)) {
      best = node, best_n = n, best_worst = worst;
      memcpy(x->best_victims, x->victims, (size_t)n * sizeof *x->victims);
    }
  }
  if (best < 0) return 0;
  for (int i = 0; i < best_n; i++) {
    int v = x->best_victims[i].job;
    stop_job(x, v);
    x->out->preemptions++;
    if (x->out->tasks) x->out->tasks[v].evictions++;
    if (task_of(x, v)->priority > x->out->max_victim_priority)
      x->out->max_victim_priority = task_of(x, v)->priority;
  }
  if (prio < x->out->min_preemptor_priority) x->out->min_preemptor_priority = prio;
  struct fleet_place pl;
  if (fleet_cluster_choose_gpus(c, best, r, -1, x->pol.ops->sel, &pl) < 0)
    return err_set(ERR_INTERNAL, "preemption freed node %s but the task does not fit",
                   c->names[best]);
  if ((rc = start_job(x, j, &pl))) return rc;
  unit_started(x, j);
  for (int i = 0; i < best_n && rc == 0; i++) rc = retry_elsewhere(x, x->best_victims[i].job);
  return rc ? rc : 1;
}

/* ---- 5. the queue and scheduling passes ---------------------------------- */

static int queue_add(struct replay *x, int leader) {
  if (x->n_queue == x->cap_queue) {
    int cap = x->cap_queue ? x->cap_queue * 2 : 1024;
    int *grown = realloc(x->queue, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory (queue)");
    x->queue = grown;
    x->cap_queue = cap;
  }
  x->queue[x->n_queue++] = leader;
  x->jobs[leader].state = J_QUEUED;
  return 0;
}

/* Put a unit whose member(s) stopped early back in the queue (never tried since). */
static int requeue(struct replay *x, int leader) {
  for (int m = leader; m >= 0; m = x->jobs[m].gang_next)
    x->jobs[m].state = m == leader ? J_QUEUED : J_MEMBER;
  x->jobs[leader].fail_epoch = -1;
  return queue_add(x, leader);
}

/* An evicted task: try it once anywhere (no preemption), else queue it. */
static int retry_elsewhere(struct replay *x, int leader) {
  x->jobs[leader].state = J_QUEUED;
  int rc = over_cap(x, leader) ? 0 : place_unit(x, leader, -1);
  return rc != 0 ? (rc < 0 ? rc : 0) : requeue(x, leader);
}

/* qsort_r comparators take the replay as context (no globals: worlds may run in threads). */
static int by_queue_order(const void *a, const void *b, void *ctx) {
  const struct replay *x = ctx;
  int i = *(const int *)a, j = *(const int *)b;
  int pi = task_of(x, i)->priority, pj = task_of(x, j)->priority;
  if (pi != pj) return pi > pj ? -1 : 1;
  if (x->cfg->fair_share) {
    double si = share_key(x, i), sj = share_key(x, j);
    if (si != sj) return si < sj ? -1 : 1;
  }
  if (x->jobs[i].arrive != x->jobs[j].arrive) return x->jobs[i].arrive < x->jobs[j].arrive ? -1 : 1;
  return i < j ? -1 : i > j;
}

/* Try one queued unit. 1 placed, 0 not, <0 error. */
static int try_unit(struct replay *x, int u, int gain_node) {
  struct job *b = &x->jobs[u];
  bool gang = b->gang_next >= 0;
  int cls = req_of(x, u)->cls, rc;
  b->quota_blocked = over_cap(x, u);
  if (b->quota_blocked) return 0;
  if (!gang && cls >= 0 && x->cls_failed[cls]) return b->fail_epoch = x->epoch, 0;
  /* Failed since the last gain elsewhere: only the node that gained can help. */
  int only = (!gang && gain_node >= 0 && b->fail_epoch == x->epoch - 1) ? gain_node : -1;
  rc = place_unit(x, u, only);
  if (rc == 0 && !gang && x->cfg->preempt) rc = preempt_for(x, u);
  if (rc == 0) {
    b->fail_epoch = x->epoch;
    if (!gang && cls >= 0 && only < 0 && !x->cls_failed[cls]) {
      x->cls_failed[cls] = 1;
      x->cls_touched[x->n_touched++] = cls;
    }
  }
  return rc;
}

/* One pass over the queue in order; gain_node: the one node that gained (-1: unknown). */
static int schedule(struct replay *x, int gain_node) {
  int rc = 0;
  if (x->n_queue == 0) return 0;
  qsort_r(x->queue, (size_t)x->n_queue, sizeof *x->queue, by_queue_order, x);
  int n = x->n_queue, keep = 0;
  for (int i = 0; i < n && rc >= 0; i++) {
    int u = x->queue[i];
    rc = try_unit(x, u, gain_node);
    if (rc == 0) x->queue[keep++] = u;
  }
  /* Units requeued by preemption during the pass were appended after n. */
  for (int i = n; i < x->n_queue; i++) x->queue[keep++] = x->queue[i];
  x->n_queue = keep;
  for (int i = 0; i < x->n_touched; i++) x->cls_failed[x->cls_touched[i]] = 0;
  x->n_touched = 0;
  return rc < 0 ? rc : 0;
}

/* ---- 6. node events ------------------------------------------------------ */

static int node_event(struct replay *x, const struct fleet_node_event *ev) {
  struct fleet_cluster *c = &x->s->cluster;
  if (ev->kind == FLEET_EV_RECOVER) {
    fleet_cluster_set_state(c, ev->node, FLEET_NODE_UP);
    x->epoch++;
    return schedule(x, ev->node);
  }
  if (ev->kind == FLEET_EV_DRAIN) {
    fleet_cluster_set_state(c, ev->node, FLEET_NODE_DRAIN);
    return 0;
  }
  fleet_cluster_set_state(c, ev->node, FLEET_NODE_DOWN);
  int rc = 0;
  while (x->node_head[ev->node] >= 0 && rc == 0) {
    int j = x->node_head[ev->node], leader = x->jobs[j].leader;
    for (int m = leader; m >= 0; m = x->jobs[m].gang_next) /* the whole gang stops */
      if (x->jobs[m].state == J_RUNNING) {
        stop_job(x, m);
        if (x->out->tasks) x->out->tasks[m].evictions++;
      }
    x->out->requeued_by_failure++;
    rc = requeue(x, leader);
  }
  x->epoch++;
  return rc ? rc : schedule(x, -1);
}

/* ---- 7. invariants ------------------------------------------------------- */

static int check(struct replay *x) {
  int rc = fleet_cluster_check(&x->s->cluster);
  if (rc) return rc;
  struct fleet_cluster *c = &x->s->cluster;
  for (int node = 0; node < c->n_nodes; node++) {
    int count = 0;
    for (int j = x->node_head[node]; j >= 0; j = x->jobs[j].next) {
      if (x->jobs[j].state != J_RUNNING || x->jobs[j].place.node != node)
        return err_set(ERR_INTERNAL, "job %s listed on %s is not running there",
                       task_of(x, j)->name, c->names[node]);
      count++;
    }
    if (count != c->nodes[node].n_tasks)
      return err_set(ERR_INTERNAL, "node %s: %d jobs listed, %d placed", c->names[node], count,
                     c->nodes[node].n_tasks);
    if (c->nodes[node].state == FLEET_NODE_DOWN && count)
      return err_set(ERR_INTERNAL, "node %s is down but runs %d jobs", c->names[node], count);
  }
  for (int j = 0; j < x->n; j++) {
    if (x->jobs[j].leader != j) continue;
    int running = 0, members = 0;
    for (int m = j; m >= 0; m = x->jobs[m].gang_next, members++)
      running += x->jobs[m].state == J_RUNNING;
    if (running && running != members) {
      x->out->gang_violations++;
      return err_set(ERR_INTERNAL, "gang of %s runs %d of %d members", task_of(x, j)->name, running,
                     members);
    }
  }
  for (int t = 0; t < x->cfg->n_limits && t < x->out->n_tenants; t++)
    if (x->cfg->limits[t].cap_gpus > 0 && x->tenant_gpus[t] > x->cfg->limits[t].cap_gpus + 1e-9)
      return err_set(ERR_INTERNAL, "tenant %s holds %.3f GPUs over its cap %.3f",
                     x->out->tenants[t].name, x->tenant_gpus[t], x->cfg->limits[t].cap_gpus);
  return 0;
}

/* ---- 8. the event loop and results --------------------------------------- */

static int cmp_arrival(const void *a, const void *b, void *ctx) {
  const struct replay *x = ctx;
  int i = *(const int *)a, j = *(const int *)b;
  if (x->jobs[i].arrive != x->jobs[j].arrive) return x->jobs[i].arrive < x->jobs[j].arrive ? -1 : 1;
  return i < j ? -1 : i > j;
}

static int cmp_event(const void *a, const void *b) {
  const struct fleet_node_event *x = a, *y = b;
  return x->t_s < y->t_s ? -1 : x->t_s > y->t_s;
}

/* Gangs: link members to their leader (the first task of the gang); the unit arrives last. */
static int link_gangs(struct replay *x) {
  const struct fleet_taskset *ts = x->s->ts;
  int max_gang = -1;
  for (int j = 0; j < x->n; j++)
    if (ts->tasks[j].gang > max_gang) max_gang = ts->tasks[j].gang;
  int *last = malloc((size_t)(max_gang + 2) * sizeof *last);
  if (!last) return err_set(ERR_NOMEM, "out of memory (gangs)");
  memset(last, 0xff, (size_t)(max_gang + 2) * sizeof *last);
  for (int j = 0; j < x->n; j++) {
    struct job *b = &x->jobs[j];
    int g = ts->tasks[j].gang;
    int64_t t = ts->tasks[j].create_s >= 0 ? ts->tasks[j].create_s : 0;
    b->leader = j;
    b->gang_next = -1;
    b->arrive = t;
    if (g < 0) continue;
    if (last[g] >= 0) {
      b->leader = x->jobs[last[g]].leader;
      x->jobs[last[g]].gang_next = j;
      b->state = J_MEMBER;
      if (t > x->jobs[b->leader].arrive) x->jobs[b->leader].arrive = t;
    }
    last[g] = j;
  }
  free(last);
  return 0;
}

static int setup(struct replay *x) {
  int n = x->n, nn = x->s->cluster.n_nodes, nt = x->s->ts->n_tenants;
  x->jobs = calloc((size_t)n, sizeof *x->jobs);
  x->node_head = malloc((size_t)nn * sizeof *x->node_head);
  x->tenant_gpus = calloc((size_t)nt, sizeof *x->tenant_gpus);
  x->delays = malloc((size_t)n * sizeof *x->delays);
  x->cls_failed = calloc((size_t)x->s->n_cls + 1, 1);
  x->cls_touched = malloc(((size_t)x->s->n_cls + 1) * sizeof *x->cls_touched);
  x->victims = malloc((size_t)(n ? n : 1) * sizeof *x->victims);
  x->best_victims = malloc((size_t)(n ? n : 1) * sizeof *x->best_victims);
  x->out->tenants = calloc((size_t)nt, sizeof *x->out->tenants);
  if (!x->jobs || !x->node_head || !x->tenant_gpus || !x->delays || !x->cls_failed ||
      !x->cls_touched || !x->victims || !x->best_victims || !x->out->tenants)
    return err_set(ERR_NOMEM, "out of memory (replay of %d tasks)", n);
  x->out->n_tenants = nt;
  if (x->cfg->record_tasks) {
    x->out->tasks = calloc((size_t)(n ? n : 1), sizeof *x->out->tasks);
    if (!x->out->tasks) return err_set(ERR_NOMEM, "out of memory (task outcomes)");
    for (int j = 0; j < n; j++)
      x->out->tasks[j] = (struct fleet_task_outcome){0, 0, 0, -1, -1, -1, -1};
  }
  for (int t = 0; t < nt; t++)
    snprintf(x->out->tenants[t].name, FLEET_TENANT_LEN, "%s", x->s->ts->tenants[t]);
  memset(x->node_head, 0xff, (size_t)nn * sizeof *x->node_head);
  for (int j = 0; j < n; j++) x->jobs[j].fail_epoch = -1, x->jobs[j].place.node = -1;
  for (int e = 0; e < x->cfg->n_events; e++)
    if (x->cfg->events[e].node < 0 || x->cfg->events[e].node >= nn)
      return err_set(ERR_INVALID, "node event %d names node %d of %d", e, x->cfg->events[e].node,
                     nn);
  return link_gangs(x);
}

/* A new unit: only it can change anything (queued units fit nowhere, as before it came). */
static int arrive(struct replay *x, int u) {
  x->out->arrived++;
  x->jobs[u].state = J_QUEUED;
  int rc = try_unit(x, u, -1);
  for (int i = 0; i < x->n_touched; i++) x->cls_failed[x->cls_touched[i]] = 0;
  x->n_touched = 0;
  return rc != 0 ? (rc < 0 ? rc : 0) : queue_add(x, u);
}

static int complete(struct replay *x, struct heap_item it) {
  struct job *b = &x->jobs[it.job];
  if (b->state != J_RUNNING || it.gen != b->gen) return 0; /* stale */
  int node = b->place.node;
  stop_job(x, it.job);
  b->state = J_DONE;
  x->out->finished++;
  if (x->out->tasks) {
    x->out->tasks[it.job].finishes++;
    x->out->tasks[it.job].finish_s = x->now;
  }
  x->epoch++;
  return schedule(x, node);
}

static int loop(struct replay *x, const int *order, const struct fleet_node_event *ev) {
  int a = 0, e = 0, rc = 0;
  x->t_first = x->n ? x->jobs[order[0]].arrive : 0;
  x->now = x->t_first;
  while (rc == 0) {
    int64_t t = INT64_MAX;
    if (x->n_heap) t = x->heap[0].t;
    if (e < x->cfg->n_events && ev[e].t_s < t) t = ev[e].t_s;
    if (a < x->n && order[a] >= 0 && x->jobs[order[a]].arrive < t) t = x->jobs[order[a]].arrive;
    if (t == INT64_MAX) break;
    advance(x, t);
    while (rc == 0 && x->n_heap && x->heap[0].t == t) rc = complete(x, heap_pop(x));
    while (rc == 0 && e < x->cfg->n_events && ev[e].t_s == t) rc = node_event(x, &ev[e++]);
    while (rc == 0 && a < x->n && order[a] >= 0 && x->jobs[order[a]].arrive == t)
      rc = arrive(x, order[a++]);
    if (rc == 0 && x->cfg->check_invariants) rc = check(x);
    x->t_last = t;
  }
  return rc;
}

static void results(struct replay *x) {
  struct fleet_sim_result *o = x->out;
  o->never_started = 0;
  for (int i = 0; i < x->n_queue; i++) {
    int u = x->queue[i];
    if (!x->jobs[u].started) o->never_started++;
    o->tenants[task_of(x, u)->tenant].queued++;
  }
  o->placed = o->started;
  o->unplaced = o->arrived - o->started;
  o->queue_max_s = 0;
  for (int i = 0; i < x->n_delays; i++)
    if (x->delays[i] > o->queue_max_s) o->queue_max_s = x->delays[i];
  o->queue_p50_s = fleet_quantile(x->delays, x->n_delays, 0.50);
  o->queue_p99_s = fleet_quantile(x->delays, x->n_delays, 0.99);
  o->makespan_s = (double)(x->t_last - x->t_first);
  double span = o->makespan_s > 0 ? o->makespan_s : 1;
  o->mean_alloc_ratio = o->capacity_gpus > 0 ? x->alloc_integral / span / o->capacity_gpus : 0;
  double total = 0;
  for (int t = 0; t < o->n_tenants; t++) total += o->tenants[t].gpu_seconds;
  for (int t = 0; t < o->n_tenants; t++)
    o->tenants[t].share = total > 0 ? o->tenants[t].gpu_seconds / total : 0;
  for (int i = 0; i < x->n; i++) o->arrived_gpus += x->jobs[i].leader == i ? unit_gpus(x, i) : 0;
  if (x->cfg->record_latency) {
    o->decision_p50_us = fleet_quantile(x->lat, x->n_lat, 0.50);
    o->decision_p99_us = fleet_quantile(x->lat, x->n_lat, 0.99);
  }
  o->scored = x->pol.scored;
  o->cached = x->pol.cached;
}

static void cleanup(struct replay *x) {
  fleet_policy_free(&x->pol);
  free(x->jobs);
  free(x->node_head);
  free(x->heap);
  free(x->queue);
  free(x->tenant_gpus);
  free(x->delays);
  free(x->lat);
  free(x->cls_failed);
  free(x->cls_touched);
  free(x->victims);
  free(x->best_victims);
}

int fleet_replay_run(struct fleet_sim *s, const struct fleet_sim_config *cfg,
                     struct fleet_sim_result *out) {
  struct replay x = {.s = s, .cfg = cfg, .out = out, .n = s->ts->n};
  struct rng rng;
  int *order = NULL, rc;
  struct fleet_node_event *ev = NULL;
  rng_seed(&rng, cfg->seed);
  rc = fleet_policy_init(&x.pol, cfg->policy, &s->cluster, s->have_frag ? &s->frag : NULL,
                         rng_u64(&rng), cfg->ties);
  if (rc) return rc;
  if ((rc = setup(&x))) goto out;
  order = malloc((size_t)(x.n ? x.n : 1) * sizeof *order);
  ev = malloc((size_t)(cfg->n_events ? cfg->n_events : 1) * sizeof *ev);
  if (!order || !ev) {
    rc = err_set(ERR_NOMEM, "out of memory (replay order)");
    goto out;
  }
  int nu = 0;
  for (int j = 0; j < x.n; j++)
    if (x.jobs[j].leader == j) order[nu++] = j;
  for (int j = nu; j < x.n; j++) order[j] = -1;
  qsort_r(order, (size_t)nu, sizeof *order, cmp_arrival, &x);
  if (cfg->n_events) memcpy(ev, cfg->events, (size_t)cfg->n_events * sizeof *ev);
  qsort(ev, (size_t)cfg->n_events, sizeof *ev, cmp_event);
  if ((rc = loop(&x, order, ev)) == 0) results(&x);
out:
  free(order);
  free(ev);
  cleanup(&x);
  return rc;
}
