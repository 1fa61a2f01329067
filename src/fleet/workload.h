/*
 * workload.h — synthetic fleets and workloads, so demos, the dossier, tests
 * and benchmarks need no downloaded trace.
 *
 * The fleet generator builds an inventory either of one shape (N nodes of
 * one model, G GPUs, C cores, M MiB) or with the node mix of the Alibaba
 * 2023 cluster (45% 8-GPU 96-core nodes, 33% 2-GPU 104-core nodes, ...).
 * The task generator draws request shapes from a mix modelled on the same
 * trace (13% CPU-only, 38% a fraction of one GPU from the trace's fractions,
 * 48% whole GPUs, of which a few 2-, 4- and 8-GPU) with CPU and memory per
 * shape like the trace's, Poisson arrivals and log-normal run times, tenants
 * and priorities; optionally MIG instances instead of fractions.
 *
 * Everything is a function of the seed. Sections: fleets; workloads.
 */
#ifndef GPUOPS_FLEET_WORKLOAD_H
#define GPUOPS_FLEET_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet/task.h"
#include "inventory/inventory.h"

/* ---- 1. fleets ----------------------------------------------------------- */

struct fleet_gen_fleet {
  int n_nodes;
  const char *model;   /* GPU model name ("H200", "G2"); NULL or "mix": the Alibaba node mix */
  int gpus_per_node;   /* one shape only (default 8) */
  uint32_t cpu_milli;  /* one shape only (default 96000) */
  uint64_t memory_mib; /* one shape only (default 393216) */
  bool shared;         /* GPUs shared (fractions allowed); the mix is always shared */
  bool mig;            /* MIG enabled (one shape only; the model must have MIG) */
};

/*
 * Build an inventory (treated as uninitialised). Nodes are named
 * "gen-node-00001"... Returns 0, or ERR_INVALID (bad shape, a MIG model
 * without MIG) / ERR_NOMEM; *inv is then empty.
 */
int fleet_gen_fleet(struct inventory *inv, const struct fleet_gen_fleet *spec);

/* ---- 2. workloads -------------------------------------------------------- */

struct fleet_gen_tasks {
  int n_tasks;
  uint64_t seed;
  double arrivals_per_hour; /* Poisson rate; <= 0: every task arrives at time 0 */
  double mean_run_s;        /* mean run time (log-normal, sigma 1); <= 0: one hour */
  double cpu_only;          /* shares of task kinds (defaults when all are 0: the trace's) */
  double share;             /* a fraction of one GPU */
  double multi;             /* 2, 4 or 8 whole GPUs */
  int n_tenants;            /* tenants "t0", "t1", ... (default 1: "default") */
  double high_priority;     /* share of LS (priority 2) tasks; the rest BE (0) */
  const char *mig_model;    /* non-NULL: fractions become MIG instances of this model */
};

/*
 * Fill ts (treated as uninitialised) with spec->n_tasks tasks. Returns 0 or
 * ERR_INVALID (a bad spec) / ERR_NOMEM; ts is then empty.
 */
int fleet_gen_tasks(struct fleet_taskset *ts, const struct fleet_gen_tasks *spec);

#endif
