/*
 * inventory.h — the one fleet model of gpuops.
 *
 * Nodes with CPU, memory, labels, driver and firmware versions, and GPUs of a
 * catalog model with an optional MIG layout. The simulated GPU backend, the
 * fleet simulator, rollouts and remediation all read this structure. Loaders
 * (YAML spec here; the Alibaba node CSV in alibaba.h; `scontrol show node -o`
 * in a later issue) fill it; nothing else writes it.
 *
 * Ownership: an inventory owns all its nodes, GPUs and strings; free with
 * inventory_free(). Catalog model pointers point at static catalog data.
 */
#ifndef GPUOPS_INVENTORY_INVENTORY_H
#define GPUOPS_INVENTORY_INVENTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "catalog/mig.h"

#define INV_NAME_MAX 64
#define INV_VERSION_MAX 32
#define INV_MIG_MAX 8 /* at most 7 instances fit a GPU; one spare */

struct inv_label {
  char *key;
  char *value;
};

struct inv_gpu {
  int index;                          /* position on its node, 0-based */
  /* Never NULL once loaded from a YAML spec or built in. The Alibaba node
   * list (alibaba.h) and the fleet simulator's generated fleets leave it
   * NULL for models the catalog does not know (P100, T4, V100M16, G2, ...):
   * model_name names those. */
  const struct catalog_model *model;
  char uuid[INV_NAME_MAX];            /* "" when the spec gives none (sim derives one) */
  bool mig_enabled;                   /* MIG mode on */
  int n_mig;                          /* instances in mig[] (0 with MIG on = enabled, empty) */
  struct mig_placement mig[INV_MIG_MAX]; /* a valid layout (mig_layout_valid) */
  /* Added for the fleet simulator (Alibaba trace import): */
  char model_name[INV_NAME_MAX];      /* the model as the source names it ("T4", "G2"); "" = model->key */
  bool shared;                        /* GPU sharing on: tasks may take fractions of it, in
                                         thousandths (1000 = the whole GPU), as in the trace */
};

/* The GPU's model name: model_name when set, else the catalog key, else "". */
static inline const char *inventory_gpu_model_name(const struct inv_gpu *g) {
  return g->model_name[0] ? g->model_name : g->model ? g->model->key : "";
}

struct inv_node {
  char name[INV_NAME_MAX];
  uint32_t cpu_milli;                 /* CPU capacity in milli-cores (64 cores = 64000) */
  uint64_t memory_mib;                /* host memory */
  char driver_version[INV_VERSION_MAX];   /* "580.159.04"; "" unknown */
  char firmware_version[INV_VERSION_MAX]; /* VBIOS/firmware; "" unknown */
  char state[16];                     /* "up", "drain", "down" (as the spec or the engine says) */
  int n_labels;
  struct inv_label *labels;
  int n_gpus;
  struct inv_gpu *gpus;
};

struct inventory {
  char name[INV_NAME_MAX];            /* fleet name; "default" for the built-in one */
  char source[256];                   /* file it came from, or "built-in" */
  uint64_t seed;                      /* simulation seed (spec `seed:`, default 1) */
  int n_nodes;
  struct inv_node *nodes;
};

/* Zero an inventory so inventory_free() is safe on it. */
void inventory_init(struct inventory *inv);
/* Release everything an inventory owns; leaves it initialised and empty. */
void inventory_free(struct inventory *inv);

/* The built-in fleet: one node "sim-node-0" with 8 x H200, MIG disabled. */
int inventory_default(struct inventory *inv);

/*
 * Load a YAML fleet spec (see docs/inventory.md for the format).
 * On error returns ERR_PARSE/ERR_INVALID/ERR_IO with err_msg() naming the
 * file, line and field ("fleet.yaml:12: nodes[1].gpus.model: unknown GPU model
 * 'H300' (known: H200, ...)"); *inv is left empty.
 */
int inventory_load_yaml(struct inventory *inv, const char *path);
/* Same, from a buffer; `name` stands for the file in messages. */
int inventory_load_yaml_buf(struct inventory *inv, const char *buf, size_t len, const char *name);

/* A node by name, or NULL. */
const struct inv_node *inventory_node(const struct inventory *inv, const char *name);
/* A label's value on a node, or NULL. */
const char *inventory_label(const struct inv_node *node, const char *key);
/* Total GPUs across the fleet. */
int inventory_gpu_count(const struct inventory *inv);

#endif
