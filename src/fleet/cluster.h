/*
 * cluster.h — the fleet simulator's live view of the inventory: per node its
 * free CPU, memory and GPUs; per GPU whole, shared (free thousandths) or MIG
 * (instances on exact slots, valid per catalog/mig.h); requests (what a task
 * asks, in the cluster's terms) and placements (where it went).
 *
 * The layout is for speed: node structs are small and hot, names live apart,
 * per-GPU free thousandths sit in one array. Every change to a node bumps its
 * version, so policies can cache scores per (request class, node version).
 *
 * Ownership: a cluster owns its arrays; free with fleet_cluster_free(). Not
 * thread-safe: one simulation per cluster.
 *
 * Sections: model; building and resetting; requests; feasibility; placing;
 * totals and checks.
 */
#ifndef GPUOPS_FLEET_CLUSTER_H
#define GPUOPS_FLEET_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/mig.h"
#include "fleet/task.h"
#include "inventory/inventory.h"

/* ---- 1. model ------------------------------------------------------------ */

enum fleet_gpu_mode { FLEET_GPU_WHOLE = 0, FLEET_GPU_SHARED, FLEET_GPU_MIG };
enum fleet_node_state { FLEET_NODE_UP = 0, FLEET_NODE_DRAIN, FLEET_NODE_DOWN };

/* Task kinds per node, for GPU clustering: 0 share, 1..16 GPUs (16 = 16 or more), 17 MIG. */
#define FLEET_KINDS     18
#define FLEET_KIND_MIG  17
#define FLEET_ANY_MODEL UINT64_MAX

struct fleet_gpu {
  uint8_t mode;                          /* enum fleet_gpu_mode */
  uint8_t n_mig;                         /* MIG instances in mig[] */
  uint8_t mig_compute;                   /* compute slices in use (of 7) */
  uint16_t n_tasks;                      /* tasks using this GPU */
  struct mig_placement mig[INV_MIG_MAX]; /* MIG instances made for tasks (a valid layout) */
};

struct fleet_node {
  uint32_t cpu_milli, cpu_free; /* CPU capacity and free, milli-cores */
  uint64_t mem_mib, mem_free;   /* host memory capacity and free */
  int16_t model;                /* index into cluster->models; -1 without GPUs */
  uint8_t state;                /* enum fleet_node_state */
  uint8_t n_gpus;
  uint8_t n_idle;              /* non-MIG GPUs with nothing on them */
  uint8_t n_mig;               /* MIG GPUs */
  uint16_t max_share_free;     /* largest free thousandths over shared GPUs */
  uint32_t free_total;         /* free thousandths over non-MIG GPUs */
  uint32_t mig_free_slices;    /* free compute slices over MIG GPUs */
  uint32_t version;            /* bumped at every change (starts at 1) */
  int first_gpu;               /* index of this node's GPU 0 in cluster->free / ->gpus */
  int n_tasks;                 /* tasks placed here */
  uint32_t kind_mask;          /* bit k: kinds[k] > 0 */
  uint16_t kinds[FLEET_KINDS]; /* tasks here per kind */
};

struct fleet_cluster {
  int n_nodes;
  struct fleet_node *nodes;    /* owned */
  char (*names)[INV_NAME_MAX]; /* owned: node names */
  uint8_t *init_state;         /* owned: states as built (for reset) */
  int n_gpus;
  uint16_t *free;         /* owned: per GPU free thousandths */
  struct fleet_gpu *gpus; /* owned: per GPU detail */
  int n_models;
  char models[FLEET_MAX_MODELS][FLEET_MODEL_LEN];        /* GPU model names */
  const struct catalog_model *catalog[FLEET_MAX_MODELS]; /* NULL when the catalog lacks it */
  uint32_t max_cpu_milli;                                /* largest node's CPU (for normalising) */
  int max_node_gpus;                                     /* largest node's GPU count */
  uint64_t gpu_capacity_milli;                           /* all GPUs x 1000 */
  uint64_t alloc_milli;                                  /* allocated on non-MIG GPUs */
  uint32_t mig_slices_used;                              /* compute slices in MIG instances */
  int n_mig_gpus;
};

/* ---- 2. building and resetting ------------------------------------------- */

/*
 * Build a cluster from an inventory: one GPU model per node (a node mixing
 * models is refused), GPUs shared when the inventory says so or share_all,
 * MIG when mig_enabled (the model must have MIG profiles; existing instances
 * are ignored: the simulator makes instances for the tasks it places).
 * Returns 0 or ERR_INVALID / ERR_NOMEM with a message; *c is then empty.
 */
int fleet_cluster_build(struct fleet_cluster *c, const struct inventory *inv, bool share_all);
void fleet_cluster_free(struct fleet_cluster *c);
/* Everything free again; node states as built. Versions keep increasing. */
void fleet_cluster_reset(struct fleet_cluster *c);
/* Index of a model name, or -1. */
int fleet_cluster_model(const struct fleet_cluster *c, const char *name);
/* GPU count (all models). */
static inline double fleet_cluster_gpus(const struct fleet_cluster *c) {
  return (double)c->gpu_capacity_milli / FLEET_MILLI;
}

/* ---- 3. requests --------------------------------------------------------- */

/* A task's request in the cluster's terms. */
struct fleet_req {
  uint32_t cpu_milli;
  uint32_t memory_mib;
  uint16_t num_gpu;    /* GPUs (MIG: 1) */
  uint16_t gpu_milli;  /* per GPU thousandths (MIG: compute slices / 7) */
  int16_t mig_profile; /* NVML profile id or -1 */
  int16_t kind;        /* 0 share, 1..16 whole GPUs, 17 MIG, -1 CPU only */
  uint64_t model_mask; /* allowed cluster models (FLEET_ANY_MODEL, or 0: none of ours) */
  int32_t cls;         /* request class for policy caches, -1 none */
};

/* Fill r from task t of set ts (model names mapped onto the cluster's); cls = -1. */
void fleet_req_from_task(struct fleet_req *r, const struct fleet_task *t,
                         const struct fleet_taskset *ts, const struct fleet_cluster *c);

static inline bool fleet_req_is_share(const struct fleet_req *r) {
  return r->num_gpu == 1 && r->gpu_milli < FLEET_MILLI && r->mig_profile < 0;
}

/* GPU thousandths a request takes (MIG: compute slices / 7). */
static inline uint32_t fleet_req_gpu_milli(const struct fleet_req *r) {
  return (uint32_t)r->num_gpu * r->gpu_milli;
}

/* ---- 4. feasibility ------------------------------------------------------ */

/* Can node `node` take request r now (up, CPU, memory, model, GPUs, MIG slot)? */
bool fleet_mig_fits(const struct fleet_cluster *c, int node, const struct fleet_req *r);

static inline bool fleet_fits(const struct fleet_cluster *c, int node, const struct fleet_req *r) {
  const struct fleet_node *n = &c->nodes[node];
  if (n->state != FLEET_NODE_UP || n->cpu_free < r->cpu_milli || n->mem_free < r->memory_mib)
    return false;
  if (r->num_gpu == 0) return true;
  if (n->model < 0 || !(r->model_mask >> n->model & 1)) return false;
  if (r->mig_profile >= 0) return fleet_mig_fits(c, node, r);
  if (r->gpu_milli >= FLEET_MILLI) return n->n_idle >= r->num_gpu;
  return n->max_share_free >= r->gpu_milli;
}

/* ---- 5. placing ---------------------------------------------------------- */

/* Where a request went: a node and a set of its GPUs (bit i = GPU i of the node). */
struct fleet_place {
  int32_t node;     /* -1: nowhere */
  int8_t mig_start; /* MIG: the instance's first memory slice; -1 otherwise */
  uint64_t gpus;    /* GPUs used (MIG and share: one bit) */
};

/* How to pick the GPU of a share request on a node. */
enum fleet_gpu_sel { FLEET_SEL_BEST = 0, FLEET_SEL_WORST, FLEET_SEL_FIRST };

/*
 * Choose GPUs on a node that fits r (fleet_fits): a share request goes to
 * share_gpu when >= 0, else by sel; whole GPUs are the lowest-numbered idle
 * ones; a MIG instance goes to the fullest MIG GPU that fits, at the slot
 * the MIG planner's chooser picks (fleet/migplan.h), or the lowest free
 * start without it. Fills *p. Returns 0, or ERR_STATE when r does not fit.
 */
int fleet_cluster_choose_gpus(const struct fleet_cluster *c, int node, const struct fleet_req *r,
                              int share_gpu, enum fleet_gpu_sel sel, struct fleet_place *p);

/* Take / give back what r uses at p (p from fleet_cluster_choose_gpus; the caller keeps it). */
void fleet_cluster_apply(struct fleet_cluster *c, const struct fleet_req *r,
                         const struct fleet_place *p);
void fleet_cluster_release(struct fleet_cluster *c, const struct fleet_req *r,
                           const struct fleet_place *p);

/* Set a node's state (tasks on it are the caller's business). */
void fleet_cluster_set_state(struct fleet_cluster *c, int node, enum fleet_node_state s);

/* ---- 6. totals and checks ------------------------------------------------ */

/* GPUs allocated now (MIG instances count compute slices / 7). */
double fleet_cluster_alloc_gpus(const struct fleet_cluster *c);

/*
 * Recompute every node's totals from its GPUs and compare with the kept
 * ones, and check each MIG layout (mig_layout_valid). Returns 0, or
 * ERR_INTERNAL with what differs (tests and scenario invariants use it).
 */
int fleet_cluster_check(const struct fleet_cluster *c);

#endif
