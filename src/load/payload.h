/*
 * payload.h — KServe v2 (Open Inference Protocol) infer bodies generated from
 * a model's metadata: GET {base}/v2/models/{name} gives the inputs (name,
 * datatype, shape); -1 dimensions take the batch size (the first) or a shape
 * given by the user; each body holds fresh random tensors of that shape.
 *
 * Two encodings: JSON tensors ({"inputs": [{"name", "shape", "datatype",
 * "data": [...]}]}, row-major) for BOOL, INT*, UINT*, FP32, FP64; and the
 * binary tensor data extension (a JSON header whose inputs carry
 * "parameters": {"binary_data_size": N}, then the raw little-endian bytes of
 * every input in order; the header's length goes in the
 * Inference-Header-Content-Length header), which every fixed-size datatype,
 * FP16 and BF16 included, can use. BYTES (strings) is not generated.
 *
 * Sections: datatypes, the model's inputs, fetching metadata, bodies.
 * Threads: no shared state; payload_fetch uses libcurl's easy interface.
 */
#ifndef GPUOPS_LOAD_PAYLOAD_H
#define GPUOPS_LOAD_PAYLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/loadgen.h"

/* --- datatypes --- */

enum payload_dtype {
  PAYLOAD_BOOL = 0,
  PAYLOAD_UINT8, PAYLOAD_UINT16, PAYLOAD_UINT32, PAYLOAD_UINT64,
  PAYLOAD_INT8, PAYLOAD_INT16, PAYLOAD_INT32, PAYLOAD_INT64,
  PAYLOAD_FP16, PAYLOAD_BF16, PAYLOAD_FP32, PAYLOAD_FP64,
  PAYLOAD_N_DTYPES
};

/* The protocol's name ("FP32"); "?" out of range. */
const char *payload_dtype_name(enum payload_dtype d);
/* Bytes per element in the binary encoding. */
size_t payload_dtype_size(enum payload_dtype d);

/* --- the model's inputs --- */

enum { PAYLOAD_MAX_RANK = 8, PAYLOAD_MAX_INPUTS = 16 };

struct payload_input {
  char name[64];
  enum payload_dtype dtype;
  int64_t shape[PAYLOAD_MAX_RANK]; /* concrete (no -1 left) */
  int rank;
  size_t count; /* elements: product of shape */
};

struct payload_model {
  char name[128];
  struct payload_input inputs[PAYLOAD_MAX_INPUTS];
  int n_inputs;
};

/*
 * Fill *m from a model metadata object (as GET /v2/models/{name} returns).
 * The first -1 dimension of each input becomes batch; shapes (NULL: none) is
 * "d,d,..." for every input or "NAME=d,d;NAME2=d,d" per input, and replaces
 * the metadata's shape (it must keep its rank and fixed dimensions). Returns
 * 0, ERR_PARSE (the metadata is not KServe v2 model metadata; the message says
 * which field) or ERR_INVALID (a BYTES input, a -1 left over without --shape,
 * a --shape that does not fit; the message says how to fix it).
 */
int payload_model_parse(const json_t *meta, int batch, const char *shapes, struct payload_model *m);

/* --- fetching metadata --- */

/*
 * GET {base}/v2/models/{name}; *meta is a new reference the caller releases
 * (json_decref). Returns 0; ERR_UNREACHABLE when nothing answers at base;
 * ERR_NOTFOUND when the server does not know the model (its error text in
 * the message); ERR_PARSE when the answer is not JSON; ERR_IO otherwise.
 */
int payload_fetch(const char *base, const char *name, double timeout_s, json_t **meta);

/* --- bodies --- */

struct payload_set {
  struct load_body *bodies; /* n of them, each malloc'ed data */
  int n;
  char header[96];          /* "Inference-Header-Content-Length: N" (binary) or "" */
  const char *content_type; /* "Content-Type: application/json" or ...octet-stream */
};

/*
 * Generate n bodies (n >= 1) for m, each with fresh values from a generator
 * seeded with seed; binary selects the binary tensor data extension (every
 * body's JSON header has the same length, so one header line serves all).
 * Returns 0, ERR_INVALID (FP16/BF16 without binary: JSON cannot carry them
 * faithfully) or ERR_NOMEM. Free with payload_set_free.
 */
int payload_generate(const struct payload_model *m, int n, bool binary, uint64_t seed,
                     struct payload_set *out);
void payload_set_free(struct payload_set *s);

#endif
