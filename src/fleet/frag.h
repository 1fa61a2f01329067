/*
 * frag.h — GPU fragmentation measured against a workload, the quantity
 * Fragmentation Gradient Descent (FGD, Weng et al., USENIX ATC '23) descends.
 *
 * The "typical tasks" of a workload are its most common request shapes
 * (CPU, per-GPU thousandths, GPU count, allowed models), the most popular
 * first until `coverage` (0.95) of all tasks are counted, each with its
 * popularity p_m (renormalised to sum to 1). For a node n and a typical task
 * m, the fragment F_n(m) is the free GPU capacity (thousandths) that m
 * cannot use:
 *   - all of the node's free GPU when m cannot run on n at all (too little
 *     CPU, a model m may not use, too few GPUs with enough free), or when m
 *     asks for no GPU;
 *   - otherwise the free capacity of the GPUs whose free share is below m's
 *     per-GPU request.
 * The node's fragmentation is the expectation F_n = sum_m p_m F_n(m); FGD
 * places a task where F grows the least.
 *
 * Evaluation is fast: F_n = R - sum_g [fits] P_g(cpu_free) U(d_g), grouped
 * by (per-GPU demand d, count k, models), where R is the node's free GPU
 * total, U(d) the free capacity of the GPUs with at least d free, and P_g a
 * prefix sum of popularities over the group's CPU requests (a table indexed
 * by the rank of the node's free CPU). Memory is not part of the measure (as
 * in the paper's artifact). MIG GPUs are left out.
 *
 * Sections: the model; evaluation.
 */
#ifndef GPUOPS_FLEET_FRAG_H
#define GPUOPS_FLEET_FRAG_H

#include "fleet/cluster.h"

/* ---- 1. the model -------------------------------------------------------- */

struct fleet_frag_class {
  uint32_t cpu_milli;
  uint16_t gpu_milli; /* per GPU (0: CPU only) */
  uint16_t num_gpu;
  uint64_t model_mask; /* cluster models */
  double p;            /* popularity, sums to 1 over the classes */
};

struct fleet_frag_group; /* private: (d, k, models) with its CPU prefix sums */

struct fleet_frag {
  int n_classes;
  struct fleet_frag_class *classes; /* owned: most popular first */
  double coverage;                  /* share of tasks the classes stand for */
  /* Derived tables (private to frag.c). */
  int n_cpu;
  uint32_t *cpu_vals; /* distinct class CPU requests, ascending */
  int n_groups;
  struct fleet_frag_group *groups;
  double *cum; /* n_groups x (n_cpu + 1) */
  int n_d;
  uint16_t dvals[64]; /* distinct per-GPU demands, ascending */
};

/*
 * Build the typical tasks of n requests (MIG requests are left out) covering
 * `coverage` (0 < coverage <= 1) of them. Returns 0, ERR_INVALID (no
 * request) or ERR_NOMEM; free with fleet_frag_free.
 */
int fleet_frag_build(struct fleet_frag *f, const struct fleet_req *reqs, int n, double coverage);
void fleet_frag_free(struct fleet_frag *f);

/* ---- 2. evaluation ------------------------------------------------------- */

/* A node's GPU state as the measure sees it. */
struct fleet_frag_view {
  int model; /* cluster model, -1 none */
  uint32_t cpu_free;
  uint32_t total;     /* free thousandths over non-MIG GPUs (R) */
  int n_idle;         /* idle non-MIG GPUs */
  int n_share;        /* shared GPUs... */
  uint16_t share[64]; /* ...and their free thousandths */
};

/* The view of node `node` now. */
void fleet_frag_view_of(const struct fleet_cluster *c, int node, struct fleet_frag_view *v);
/* The view after placing r at p (p->node's view in v, changed in place). */
void fleet_frag_view_apply(const struct fleet_cluster *c, struct fleet_frag_view *v,
                           const struct fleet_req *r, const struct fleet_place *p);

/* F of a view, in thousandths of a GPU. */
double fleet_frag_eval(const struct fleet_frag *f, const struct fleet_frag_view *v);
/* F of a node now. */
double fleet_frag_node(const struct fleet_frag *f, const struct fleet_cluster *c, int node);

/*
 * Cluster fragmentation: *frag (sum of F over up nodes) and *free (their
 * free GPU thousandths); the fragmentation ratio is frag / free.
 */
void fleet_frag_cluster(const struct fleet_frag *f, const struct fleet_cluster *c, double *frag,
                        double *free);

#endif
