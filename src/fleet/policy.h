/*
 * policy.h — placement policies behind one interface: score each node that
 * can take a request (higher is better), pick the best, break ties (in a
 * seeded node order, or at random), then choose the GPUs on that node.
 *
 * The policies (names as the CLI takes them; the paper's names in brackets):
 *   random          a random score per node and decision [Random]
 *   first-fit       the first node that fits, in inventory order
 *   best-fit        the least CPU + GPU left after placing (half weight each,
 *                   normalised by the largest node) [BestFit]
 *   worst-fit       the most left (spreads load)
 *   gpu-packing     partly used GPUs first, then idle GPUs of used nodes,
 *                   then idle nodes (smallest first) [GpuPacking]
 *   dot-product     the smallest dot product of the node's free (CPU, GPU)
 *                   and the request, normalised by the largest node, on the
 *                   Kubernetes integer scale, as the paper's artifact scores
 *                   Tetris [DotProd]
 *   gpu-clustering  nodes that hold only tasks of the same GPU shape, then
 *                   mixed ones with it, then idle, then others [GpuClustering]
 *   fgd             fragmentation gradient descent: the node and GPU whose
 *                   fragmentation (frag.h) grows least, scored as the paper's
 *                   Kubernetes scheduler does, on the integer scale
 *                   floor(100 / (1 + exp(dF / 1000))) with dF in thousandths
 *                   of a GPU [FGD]
 *   fgd-exact       the same with the exact dF (no integer scale)
 *   fgd-cpu         ours: FGD, and among nodes FGD scores alike, CPU-only
 *                   tasks go where the fewest GPUs are free and GPU tasks
 *                   where the node keeps enough CPU for its free GPUs
 *                   (FLEET_CPU_PER_GPU_MILLI per GPU)
 * Ties (equal scores) go to the earliest node in a fixed order shuffled by the
 * seed (FLEET_TIES_ORDER: what the paper's scheduler does, and what
 * reproduces its numbers), or to a random node per decision
 * (FLEET_TIES_RANDOM: upstream Kubernetes).
 * A share request's GPU is chosen by the policy's rule (best fit for most;
 * FGD's own choice; random for random); whole GPUs are the lowest-numbered
 * idle ones; a MIG instance goes to the fullest MIG GPU that fits at the slot
 * fleet/migplan.h's chooser picks (packing nodes, except random, first-fit
 * and worst-fit which keep their node order).
 *
 * Scores that depend only on the node's state and the request's class are
 * cached per (class, node version) when the policy says so (the FGDs), which
 * makes a paper-mode run of the full Alibaba trace take about 0.1 s.
 *
 * Ownership: a policy instance owns its caches; free with fleet_policy_free.
 * One instance per simulation (not thread-safe).
 *
 * Sections: the interface; instances; choosing.
 */
#ifndef GPUOPS_FLEET_POLICY_H
#define GPUOPS_FLEET_POLICY_H

#include "base/rng.h"
#include "fleet/cluster.h"
#include "fleet/frag.h"

/* ---- 1. the interface ---------------------------------------------------- */

struct fleet_score {
  double primary;   /* higher is better */
  double secondary; /* breaks ties of primary; higher is better */
  int gpu;          /* share requests: the GPU (index on the node) to use; -1 by the rule */
};

struct fleet_policy;

enum fleet_policy_flags {
  FLEET_POLICY_CACHE = 1,      /* scores depend only on node state and request class */
  FLEET_POLICY_FRAG = 2,       /* needs the typical tasks (frag.h) */
  FLEET_POLICY_RANDOM_GPU = 4, /* share requests take a random GPU that fits */
};

/* How MIG requests rank nodes (the policy's own score does not see them). */
enum fleet_mig_order { FLEET_MIG_ANY, FLEET_MIG_FIRST, FLEET_MIG_SPREAD, FLEET_MIG_PACK };

struct fleet_policy_ops {
  const char *name;         /* "fgd" */
  const char *paper;        /* the ATC'23 artifact's name ("FGD"), NULL when it has none */
  const char *about;        /* one line */
  unsigned flags;           /* enum fleet_policy_flags */
  enum fleet_gpu_sel sel;   /* share GPU rule when the score does not choose */
  enum fleet_mig_order mig; /* node order for MIG requests */
  /* Score node `node`, which fits r (fleet_fits), for a non-MIG request. */
  void (*score)(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                const struct fleet_req *r, struct fleet_score *out);
};

/* All policies, in the order above; *n gets their number. */
const struct fleet_policy_ops *const *fleet_policy_all(int *n);
/* A policy by name (or the paper's name, case-insensitive); NULL when unknown. */
const struct fleet_policy_ops *fleet_policy_find(const char *name);

/* ---- 2. instances -------------------------------------------------------- */

struct fleet_class_cache; /* private */

/* What equal scores fall back to. */
enum fleet_ties { FLEET_TIES_ORDER = 0, FLEET_TIES_RANDOM };

/* fgd-cpu: CPU (milli-cores) a node should keep per free GPU. Chosen on the
 * Alibaba trace (docs/fleet.md shows 4..12 cores); the workload's own mean is
 * 10.9 cores per GPU. */
#ifndef FLEET_CPU_PER_GPU_MILLI
#define FLEET_CPU_PER_GPU_MILLI 8000
#endif

struct fleet_policy {
  const struct fleet_policy_ops *ops;
  enum fleet_ties ties;
  const struct fleet_frag *frag; /* borrowed: typical tasks (FLEET_POLICY_FRAG) */
  struct rng rng;                /* ties and random choices */
  int n_nodes;
  uint32_t *rank;    /* owned: each node's place in the tie order */
  double *node_frag; /* owned: F of each node at node_frag_ver */
  uint32_t *node_frag_ver;
  int n_cls;                        /* classes with a cache slot */
  struct fleet_class_cache **cache; /* owned: per request class, lazily */
  size_t cache_bytes;
  uint64_t scored, cached; /* node scores computed / served from the cache */
};

/*
 * Make an instance of policy `name` for cluster c. frag is required by
 * policies with FLEET_POLICY_FRAG (the fgds) and ignored by others; seed
 * drives ties and random choices.
 * Returns 0, or ERR_NOTFOUND (unknown name: the message lists the names),
 * ERR_INVALID (frag missing) or ERR_NOMEM.
 */
int fleet_policy_init(struct fleet_policy *p, const char *name, const struct fleet_cluster *c,
                      const struct fleet_frag *frag, uint64_t seed, enum fleet_ties ties);
void fleet_policy_free(struct fleet_policy *p);

/* ---- 3. choosing --------------------------------------------------------- */

/*
 * Choose where r goes: the best-scoring node that fits (ties by p->ties),
 * and its GPUs. Returns 1 with *out filled, or 0 when no node fits.
 */
int fleet_policy_choose(struct fleet_policy *p, const struct fleet_cluster *c,
                        const struct fleet_req *r, struct fleet_place *out);

/* The score of one node (which must fit r), as the chooser sees it; for tests. */
void fleet_policy_score(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                        const struct fleet_req *r, struct fleet_score *out);

#endif
