/*
 * infer.h — the KServe v2 / Open Inference Protocol inference request and
 * response, as JSON and with Triton's binary tensor data extension.
 *
 * A request is a JSON object
 *   {"id": "...", "parameters": {"priority": 1, "timeout": 5000, "binary_data_output": true},
 *    "inputs":  [{"name": "INPUT0", "shape": [2, 4], "datatype": "FP32", "data": [...]}],
 *    "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": true}}]}
 * where "data" holds the tensor's elements in row-major order (flat, or
 * nested as Triton also accepts). With the binary extension the body is that
 * JSON (its length in the Inference-Header-Content-Length header) followed by
 * the raw little-endian bytes of every input whose parameters carry
 * "binary_data_size", in input order. A response answers in kind: outputs
 * asked for as binary carry "parameters": {"binary_data_size": N} in the JSON
 * and their bytes after it.
 *
 * Datatypes: BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64 (held
 * as the safetensors dtype enum, which names the same element types). JSON
 * carries every one but FP16 and BF16 (which need binary data); BYTES is not
 * supported. UINT64 values above INT64_MAX need binary data (jansson's
 * integers are signed 64-bit).
 *
 * Every rule broken gets ERR_INVALID with a message that names the input and
 * the rule (the server answers 400 with it).
 *
 * Sections: datatypes; requests; responses.
 * Threads: no shared state; a request or buffer is used by one thread at a time.
 */
#ifndef GPUOPS_SERVE_INFER_H
#define GPUOPS_SERVE_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/safetensors.h"

#define INFER_MAX_DIMS    8
#define INFER_MAX_TENSORS 16
#define INFER_MAX_NAME    64

/* ---- datatypes ---- */

/* The protocol's name of a dtype ("FP32", "BF16", "BOOL"); "?" out of range. */
const char *infer_dtype_name(enum st_dtype d);
/* Parse a protocol datatype name (exact). 0 or ERR_INVALID (no message set). */
int infer_dtype_parse(const char *s, enum st_dtype *out);

/* ---- requests ---- */

struct infer_tensor {
  char name[INFER_MAX_NAME];
  enum st_dtype dtype;
  int ndim;
  int64_t shape[INFER_MAX_DIMS];
  uint64_t numel;   /* product of shape */
  size_t nbytes;    /* numel x element size */
  const void *data; /* little-endian elements; into the body (binary) or into owned; maybe unaligned */
  void *owned;      /* elements decoded from JSON, or NULL */
};

struct infer_output_spec {
  char name[INFER_MAX_NAME];
  bool binary; /* parameters.binary_data */
};

struct infer_request {
  char *id; /* owned; NULL when the request has none */
  int n_inputs;
  struct infer_tensor inputs[INFER_MAX_TENSORS];
  int n_outputs; /* outputs asked for by name; 0 = all, as JSON unless binary_output */
  struct infer_output_spec outputs[INFER_MAX_TENSORS];
  bool binary_output;      /* parameters.binary_data_output: every output as binary */
  bool has_priority;       /* parameters.priority given */
  int64_t priority;        /* >= 0; 0 = the model's default level */
  bool has_timeout;        /* parameters.timeout given */
  int64_t timeout_us;      /* >= 0 */
};

/*
 * Parse body[0..len). header_len < 0: no Inference-Header-Content-Length
 * header, the whole body is JSON; otherwise the JSON is body[0..header_len)
 * and the binary inputs follow. Binary input data points into body, which
 * the caller keeps alive as long as *r. Returns 0, ERR_INVALID (message says
 * what is wrong and where) or ERR_NOMEM; on failure *r is empty.
 */
int infer_request_parse(struct infer_request *r, const void *body, size_t len, int64_t header_len);
/* Free what the request owns; safe on an empty (zeroed) one. */
void infer_request_free(struct infer_request *r);
/* The input called name, or NULL. */
const struct infer_tensor *infer_request_input(const struct infer_request *r, const char *name);

/* ---- responses ---- */

/* A growable byte buffer; zero-initialize, free with infer_buf_free. */
struct infer_buf {
  char *p;
  size_t len, cap;
  bool oom; /* an append failed: the contents are incomplete */
};

void infer_buf_append(struct infer_buf *b, const void *s, size_t n);
void infer_buf_printf(struct infer_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void infer_buf_free(struct infer_buf *b);

struct infer_response {
  const char *model_name, *model_version;
  const char *id;                    /* NULL: none */
  int n_outputs;
  const struct infer_tensor *outputs; /* name, dtype, shape, data */
  const bool *binary;                 /* per output: send as binary data */
};

/*
 * Append the response to b: the JSON, then (for binary outputs) their bytes.
 * *json_len gets the JSON's length (the Inference-Header-Content-Length to
 * send) when any output is binary, else 0. Returns 0, ERR_INVALID (an FP16 or
 * BF16 output, or a NaN/Inf value, asked for as JSON: message says to ask
 * for binary data) or ERR_NOMEM.
 */
int infer_response_write(struct infer_buf *b, const struct infer_response *resp, size_t *json_len);

/* Append {"error": msg} (JSON-escaped) to b. */
void infer_error_write(struct infer_buf *b, const char *msg);

#endif
