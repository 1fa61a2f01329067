/*
 * safetensors.h — the safetensors file format, read and written by our own
 * code: 8 bytes of little-endian header length, a JSON header mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
 * to the data area that follows the header) plus an optional "__metadata__"
 * object of string values, then the raw little-endian tensor bytes.
 *
 * The reader trusts nothing: the header length against the file size, every
 * offset against the data area, begin <= end, size == product(shape) x dtype
 * size (overflow-checked), no duplicate names, no overlaps or gaps between
 * tensors (the reference implementation's rule: the tensors tile the data
 * area exactly). Each error names the file, the tensor and the rule broken.
 *
 * Sections: dtypes; the parsed file (open/parse/find/close); the writer.
 */
#ifndef GPUOPS_SERVE_SAFETENSORS_H
#define GPUOPS_SERVE_SAFETENSORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- dtypes ---- */

enum st_dtype {
  ST_F64,
  ST_F32,
  ST_F16,
  ST_BF16,
  ST_I64,
  ST_I32,
  ST_I16,
  ST_I8,
  ST_U64,
  ST_U32,
  ST_U16,
  ST_U8,
  ST_BOOL,
  ST_NDTYPES
};

/* The format's name of a dtype ("BF16"); "?" for values out of range. */
const char *safetensors_dtype_name(enum st_dtype d);
/* Parse a format dtype name (exact, upper case). 0 or ERR_INVALID (no message set). */
int safetensors_dtype_parse(const char *s, enum st_dtype *out);
/* Bytes per element (1 for BOOL and 8-bit types); 0 for values out of range. */
size_t safetensors_dtype_size(enum st_dtype d);

/* ---- the parsed file ---- */

#define ST_MAX_DIMS         8
#define ST_MAX_HEADER_BYTES (100u * 1000u * 1000u) /* as the reference implementation */

struct st_tensor {
  char *name; /* owned */
  enum st_dtype dtype;
  int ndim; /* 0 = scalar (one element) */
  uint64_t shape[ST_MAX_DIMS];
  uint64_t numel;      /* product of shape */
  uint64_t begin, end; /* bytes, relative to the data area */
  const void *data;    /* points into the file's bytes (little-endian, maybe unaligned) */
};

struct safetensors {
  char *path; /* owned; "<memory>" for parse() without a name */
  int n;      /* tensors, in header order */
  struct st_tensor *tensors;
  json_t *metadata; /* "__metadata__" object or NULL; owned reference */
  void *map;        /* mmap of the file (open) or NULL (parse) */
  size_t map_len;
};

/*
 * Open and validate `path` (read-only mmap). On success *st holds the
 * tensors, whose data points into the mapping until safetensors_close().
 * Returns 0, ERR_IO (cannot open/map) or ERR_PARSE (a rule broken; the
 * message names the file, the tensor and the rule). On failure *st is empty.
 * Threads: the result is read-only and may be shared.
 */
int safetensors_open(struct safetensors *st, const char *path);
/*
 * Validate an in-memory file image buf[len]; `name` is used in messages.
 * Tensor data points into buf, which the caller keeps alive. Same returns.
 */
int safetensors_parse(struct safetensors *st, const void *buf, size_t len, const char *name);
/* The tensor called name, or NULL. */
const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name);
/* Free everything and unmap; *st becomes empty. Safe on an empty struct. */
void safetensors_close(struct safetensors *st);

/* ---- the writer ---- */

struct st_write_tensor {
  const char *name;
  enum st_dtype dtype;
  int ndim;
  uint64_t shape[ST_MAX_DIMS];
  const void *data; /* product(shape) x dtype size bytes, little-endian */
};

/*
 * Write tensors t[0..n) to path (replacing it) in header order, contiguous,
 * header padded with spaces to a multiple of 8 bytes. metadata: NULL or an
 * object of string values (borrowed). Returns 0, ERR_INVALID (bad name,
 * dtype, shape or metadata), ERR_IO (message names the path).
 */
int safetensors_write(const char *path, const struct st_write_tensor *t, int n,
                      const json_t *metadata);

#endif
