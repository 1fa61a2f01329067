/*
 * model.h — a model as files: a directory holding config.json and
 * model.safetensors.
 *
 * config.json (first family: an MLP):
 *   {"type": "mlp", "layers": [1024, 4096, 4096, 1024], "activation": "gelu",
 *    "dtype": "bf16", "max_batch_size": 64}
 * "layers" lists the widths: input, hidden..., output (at least two). Layer i
 * maps layers[i] = K inputs to layers[i+1] = N outputs with the tensors
 *   layers.<i>.weight  [N, K]  (PyTorch's Linear layout: each output's K weights contiguous)
 *   layers.<i>.bias    [N]
 * both of the config's dtype (BF16 or F32). Every layer but the last is
 * followed by the activation (exact-erf GELU); the last has none.
 *
 * Test models (no weights file): {"type": "identity", "width": 16} returns its
 * input; {"type": "sleep", "width": 16, "service_us": 1000, "per_row_us": 10}
 * returns its input after sleeping service_us + rows x per_row_us (a known
 * latency curve for the batcher and the load generator's SLA search). Both
 * take "datatype" (the protocol's name of their input and output's element
 * type, default "FP32"); the MLP's input and output are FP32.
 *
 * Sections: the config; the loaded model; random-weight creation.
 */
#ifndef GPUOPS_SERVE_MODEL_H
#define GPUOPS_SERVE_MODEL_H

#include <stdint.h>

#include "serve/safetensors.h"

#define MODEL_MAX_LAYERS 64    /* widths in "layers", input and output included */
#define MODEL_MAX_WIDTH  65536 /* largest width accepted */

/* ---- the config ---- */

struct model_config {
  char type[16];       /* "mlp", "identity" or "sleep" */
  char activation[16]; /* "gelu" */
  enum st_dtype dtype; /* ST_BF16 or ST_F32 */
  int n_widths;        /* entries of widths[]; layers = n_widths - 1 */
  int widths[MODEL_MAX_LAYERS];
  int max_batch_size; /* rows per batch the runtime accepts; > 0 */
  enum st_dtype io_dtype; /* element type of the input and output (ST_F32 for mlp) */
  int64_t service_us, per_row_us; /* sleep: time per batch, and per row on top */
};

/* True for the MLP family (the only one with weights). */
int model_config_is_mlp(const struct model_config *c);
/* A config of a test model (type "identity" or "sleep"), width columns of io_dtype,
 * max_batch_size 64. 0 or ERR_INVALID. */
int model_config_test(struct model_config *c, const char *type, int width, enum st_dtype io_dtype,
                      int64_t service_us, int64_t per_row_us);

/* A default MLP config for widths[0..n) (bf16, gelu, max_batch_size 64). 0 or ERR_INVALID. */
int model_config_mlp(struct model_config *c, const int *widths, int n);
/* Load and validate config.json; errors name the file and the field (ERR_IO/ERR_PARSE). */
int model_config_load(struct model_config *c, const char *path);

/* ---- the loaded model ---- */

struct model_layer {
  int k, n;                       /* inputs, outputs */
  const struct st_tensor *weight; /* [n, k] in the config's dtype, points into the mapping */
  const struct st_tensor *bias;   /* [n] */
};

struct model {
  char *dir; /* owned */
  struct model_config config;
  int n_layers;
  struct model_layer layers[MODEL_MAX_LAYERS];
  struct safetensors st; /* the mapped weights */
};

/*
 * Load dir/config.json and dir/model.safetensors and check every tensor's
 * presence, dtype and shape against the config. Returns 0 or ERR_IO /
 * ERR_PARSE / ERR_INVALID with a message naming the file and tensor; on
 * failure *m is empty. Read-only afterwards: may be shared by threads.
 */
int model_load(struct model *m, const char *dir);
/* Release the model; safe on an empty one. */
void model_free(struct model *m);
/* Total parameters (weights + biases). */
uint64_t model_params(const struct model *m);

/* ---- random-weight creation ---- */

/*
 * Create dir (if missing) and write config.json and model.safetensors for c
 * with weights and biases ~ U(-1/sqrt(K), 1/sqrt(K)) (PyTorch's Linear
 * default) from a seeded generator: same seed, same bytes. Returns 0 or
 * ERR_INVALID / ERR_IO / ERR_NOMEM.
 */
int model_create(const char *dir, const struct model_config *c, uint64_t seed);

#endif
