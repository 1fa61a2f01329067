/*
 * migplan.h — MIG slot choice and MIG layout plans for a fleet of GPUs.
 *
 * Two things, both on the exact placement rule of catalog/mig.h:
 *   1. the slot chooser: where on a partly used GPU a new instance of a
 *      profile should go so that the most future instances stay placeable
 *      (used by the fleet's MIG-aware placement policy);
 *   2. the layout planner behind `gpuops fleet mig-plan`: given a demand
 *      (instances per profile), choose per-GPU layouts that serve it with the
 *      fewest GPUs and then the fewest stranded slices, or, with the GPU count
 *      fixed, serve the most demand; write the plan as a table, JSON, a
 *      mig-parted config or Slurm gres.conf/slurm.conf lines.
 *
 * Sections: slot chooser; demand; plan; writers.
 * Profiles are indexed by their position in model->mig_profiles ("profile
 * index", 0..n_mig_profiles-1) wherever an array runs over profiles.
 * Nothing here keeps global state: every function is safe to call from
 * several threads on distinct arguments.
 */
#ifndef GPUOPS_FLEET_MIGPLAN_H
#define GPUOPS_FLEET_MIGPLAN_H

#include <stdbool.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "catalog/mig.h"

#define MIGPLAN_MAX_PROFILES  8 /* profiles per model (the catalog has 7) */
#define MIGPLAN_MAX_INSTANCES 8 /* instances per GPU: 7 compute slices, +1 spare */

/* ---- 1. slot chooser ------------------------------------------------------ */

/*
 * How much room a layout of one GPU leaves for future instances: the sum over
 * profiles of weight[p] * (instances of p that could still be added, one
 * profile at a time) / (instances of p an empty GPU holds). weights runs over
 * profile indexes (model->n_mig_profiles entries); NULL weighs every profile
 * 1. The layout must be valid (mig_layout_valid). Higher is roomier.
 */
double migplan_room(const struct catalog_model *m, const struct mig_placement *layout, int n,
                    const double *weights);

/*
 * The start at which a new instance of profile_id should go on a GPU whose
 * valid layout is layout[0..n): among mig_free_starts, the one that leaves the
 * most room (migplan_room with equal weights) after placing it; ties go to
 * the lowest start. Returns the start, or -1 when the profile cannot fit (or
 * the model lacks it). Example: on an empty H200 a 1g.18gb goes to start 6,
 * which keeps 4g.71gb@0 and three 2g.35gb placeable, where start 0 keeps
 * neither.
 */
int migplan_best_start(const struct catalog_model *m, const struct mig_placement *layout, int n,
                       int profile_id);

/*
 * As migplan_best_start, with the room weighed by a demand distribution:
 * weights[p] >= 0 per profile index (e.g. the share of future requests for
 * profile p); NULL means equal weights.
 */
int migplan_best_start_weighted(const struct catalog_model *m, const struct mig_placement *layout,
                                int n, int profile_id, const double *weights);

/* ---- 2. demand ------------------------------------------------------------ */

/* What to plan for: instances wanted per profile of one model. */
struct migplan_demand {
  const struct catalog_model *model;
  int count[MIGPLAN_MAX_PROFILES];     /* instances wanted, per profile index (>= 0) */
  double weight[MIGPLAN_MAX_PROFILES]; /* value of one served instance; <= 0: its compute slices */
  int gpus_per_node;                   /* GPUs per node for mig-parted/Slurm output (default 8) */
  int n_nodes;                         /* node names given (0: named node-01, node-02, ...) */
  char **nodes;                        /* owned: n_nodes node names */
};

/*
 * Read a demand file (YAML):
 *   model: H200                      # catalog key or NVML product name
 *   demand: {1g.18gb: 10, 3g.71gb: 3, 7g.141gb: 1}   # profile name or id -> count
 *   weights: {1g.18gb: 1, 3g.71gb: 3}                # optional
 *   gpus_per_node: 8                 # optional
 *   nodes: [gpu-01, gpu-02]          # optional (or a count: nodes: 4)
 * model_override (NULL: none) replaces the file's model. Returns 0, or
 * ERR_INVALID / ERR_IO with a message naming the file, line and field (an
 * unknown profile, a profile the model lacks, a negative count, ...). On
 * success the caller owns *out and frees it with migplan_demand_free.
 */
int migplan_demand_load(const char *path, const char *model_override, struct migplan_demand *out);

/* Frees what migplan_demand_load allocated; safe on a zeroed struct. */
void migplan_demand_free(struct migplan_demand *d);

/* ---- 3. plan -------------------------------------------------------------- */

/* One GPU's layout in a plan. */
struct migplan_layout {
  int n; /* instances (0: MIG left disabled, whole GPU) */
  struct mig_placement place[MIGPLAN_MAX_INSTANCES]; /* valid per mig_layout_valid */
  int count[MIGPLAN_MAX_PROFILES];                   /* instances per profile index */
};

/* A plan: the layout of each GPU, what it serves, how good it is. */
struct migplan_plan {
  const struct catalog_model *model;
  int n_gpus;                  /* GPUs in the plan */
  struct migplan_layout *gpus; /* owned: n_gpus layouts, identical ones adjacent */
  int lower_bound_gpus;        /* proven: no plan serving all demand uses fewer */
  bool exact;                  /* n_gpus is proven minimal (search completed or met the bound) */
  bool complete;               /* the search finished: stranded slices are minimal too */
  bool fixed_gpus;             /* planned for a given GPU count (maximised served demand) */
  int served[MIGPLAN_MAX_PROFILES];   /* demanded instances the plan serves */
  int unserved[MIGPLAN_MAX_PROFILES]; /* demanded instances left out (fixed GPU count only) */
  int spare[MIGPLAN_MAX_PROFILES];    /* instances beyond the demand (free capacity) */
  int stranded_compute;               /* compute slices in no instance, over all MIG GPUs */
  int stranded_memory;                /* memory slices in no instance, over all MIG GPUs */
  double served_value;                /* sum of weight * served */
  double served_value_bound;          /* proven upper bound of served_value at this GPU count */
  long search_nodes;                  /* branch-and-bound nodes visited */
  double solve_ms;                    /* wall time of the solve */
};

/*
 * Plan layouts for demand d. fixed_gpus == 0: serve all demand with the
 * fewest GPUs, then the fewest stranded slices. fixed_gpus > 0: use exactly
 * that many GPUs, serve the most weighted demand (GPUs it does not need are
 * left whole: layout n == 0). Returns 0 and fills *out (caller frees with
 * migplan_plan_free), or ERR_INVALID (empty demand, model without MIG).
 */
int migplan_solve(const struct migplan_demand *d, int fixed_gpus, struct migplan_plan *out);

/* Frees what migplan_solve allocated; safe on a zeroed struct. */
void migplan_plan_free(struct migplan_plan *p);

/*
 * Every maximal layout of one GPU over the profiles with mask bit set
 * (bit = profile index): a layout to which no instance of those profiles can
 * be added. Writes up to cap layouts into out (distinct per-profile counts,
 * one placement each) and returns their total number, or a negative error.
 */
int migplan_maximal_layouts(const struct catalog_model *m, unsigned profile_mask,
                            struct migplan_layout *out, int cap);

/* ---- 4. writers ----------------------------------------------------------- */

enum migplan_format { MIGPLAN_TABLE, MIGPLAN_JSON, MIGPLAN_MIG_PARTED, MIGPLAN_SLURM };

/* "table", "json", "mig-parted", "slurm" -> format; -1 when unknown. */
int migplan_format_parse(const char *name);

/*
 * Write plan p (made for demand d) to f in the given format. Returns 0, or
 * ERR_IO when writing fails.
 */
int migplan_write(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p,
                  enum migplan_format format);

#endif
