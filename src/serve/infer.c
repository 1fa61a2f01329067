/*
 * infer.c — KServe v2 inference requests and responses (infer.h).
 *
 * Parsing trusts nothing: the header length against the body, every shape
 * (rank, non-negative dims, a product that does not overflow), the count of
 * JSON values against the shape BEFORE anything is allocated for them, each
 * value against its datatype's range, and the binary sizes against the shape
 * and the bytes actually sent (no byte left over, none missing).
 *
 * Sections: datatypes; JSON values; one input; the request; the buffer;
 * responses.
 */
#include "serve/infer.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- datatypes ---- */

static const char *const dtype_names[ST_NDTYPES] = {
    [ST_F64] = "FP64",   [ST_F32] = "FP32",   [ST_F16] = "FP16",   [ST_BF16] = "BF16",
    [ST_I64] = "INT64",  [ST_I32] = "INT32",  [ST_I16] = "INT16",  [ST_I8] = "INT8",
    [ST_U64] = "UINT64", [ST_U32] = "UINT32", [ST_U16] = "UINT16", [ST_U8] = "UINT8",
    [ST_BOOL] = "BOOL"};

const char *infer_dtype_name(enum st_dtype d) {
  return (unsigned)d < ST_NDTYPES ? dtype_names[d] : "?";
}

int infer_dtype_parse(const char *s, enum st_dtype *out) {
  for (int d = 0; s && d < ST_NDTYPES; d++)
    if (!strcmp(s, dtype_names[d])) {
      *out = (enum st_dtype)d;
      return 0;
    }
  return ERR_INVALID;
}

/* ---- JSON values ---- */

/* Count the leaves of a (possibly nested) data array; -1 when too deep or not an array of
 * arrays/scalars. Nesting is bounded by the rank. */
static int64_t count_values(const json_t *a, int depth) {
  if (!json_is_array(a)) return 1;
  if (depth > INFER_MAX_DIMS) return -1;
  int64_t n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    int64_t k = count_values(v, depth + 1);
    if (k < 0) return -1;
    n += k;
  }
  return n;
}

struct int_range {
  long long lo, hi;
};

static struct int_range int_range_of(enum st_dtype d) {
  switch (d) {
  case ST_I8: return (struct int_range){INT8_MIN, INT8_MAX};
  case ST_I16: return (struct int_range){INT16_MIN, INT16_MAX};
  case ST_I32: return (struct int_range){INT32_MIN, INT32_MAX};
  case ST_I64: return (struct int_range){INT64_MIN, INT64_MAX};
  case ST_U8: return (struct int_range){0, UINT8_MAX};
  case ST_U16: return (struct int_range){0, UINT16_MAX};
  case ST_U32: return (struct int_range){0, UINT32_MAX};
  default: return (struct int_range){0, INT64_MAX}; /* ST_U64 through jansson */
  }
}

/* Store one JSON value v as element i of dst (dtype d); ERR_INVALID with the reason. */
static int store_value(const struct infer_tensor *t, const json_t *v, uint64_t i, void *dst) {
  enum st_dtype d = t->dtype;
  size_t es = safetensors_dtype_size(d);
  unsigned char *p = (unsigned char *)dst + i * es;
  if (d == ST_BOOL) {
    if (!json_is_boolean(v))
      return err_set(ERR_INVALID, "input '%s': data[%llu] is not true or false (datatype BOOL)",
                     t->name, (unsigned long long)i);
    *p = json_is_true(v);
    return 0;
  }
  if (d == ST_F32 || d == ST_F64) {
    if (!json_is_number(v))
      return err_set(ERR_INVALID, "input '%s': data[%llu] is not a number (datatype %s)", t->name,
                     (unsigned long long)i, dtype_names[d]);
    double x = json_number_value(v);
    if (d == ST_F64) {
      memcpy(p, &x, sizeof x);
      return 0;
    }
    if (fabs(x) > FLT_MAX)
      return err_set(ERR_INVALID, "input '%s': data[%llu] = %g is outside the FP32 range", t->name,
                     (unsigned long long)i, x);
    float f = (float)x;
    memcpy(p, &f, sizeof f);
    return 0;
  }
  struct int_range r = int_range_of(d);
  if (!json_is_integer(v) || json_integer_value(v) < r.lo || json_integer_value(v) > r.hi)
    return err_set(ERR_INVALID, "input '%s': data[%llu] is not an integer in %lld..%lld (datatype %s)",
                   t->name, (unsigned long long)i, r.lo, r.hi, dtype_names[d]);
  long long x = json_integer_value(v);
  /* little-endian host (as the format): the low es bytes of the value */
  uint64_t u = (uint64_t)x;
  memcpy(p, &u, es);
  return 0;
}

/* Walk the nested array in row-major order storing each leaf; *i counts stored elements. */
static int store_values(const struct infer_tensor *t, const json_t *a, uint64_t *i, void *dst) {
  if (!json_is_array(a)) {
    int rc = store_value(t, a, *i, dst);
    (*i)++;
    return rc;
  }
  size_t k;
  json_t *v;
  json_array_foreach(a, k, v) {
    int rc = store_values(t, v, i, dst);
    if (rc) return rc;
  }
  return 0;
}

/* ---- one input ---- */

static int parse_shape(struct infer_tensor *t, const json_t *shape) {
  if (!json_is_array(shape) || json_array_size(shape) > INFER_MAX_DIMS)
    return err_set(ERR_INVALID, "input '%s': \"shape\" must be an array of at most %d integers",
                   t->name, INFER_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  t->numel = 1;
  for (int d = 0; d < t->ndim; d++) {
    json_t *v = json_array_get(shape, (size_t)d);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return err_set(ERR_INVALID, "input '%s': \"shape\"[%d] is not a non-negative integer",
                     t->name, d);
    t->shape[d] = json_integer_value(v);
    if (__builtin_mul_overflow(t->numel, (uint64_t)t->shape[d], &t->numel))
      return err_set(ERR_INVALID, "input '%s': the shape's element count overflows", t->name);
  }
  uint64_t nbytes;
  if (__builtin_mul_overflow(t->numel, (uint64_t)safetensors_dtype_size(t->dtype), &nbytes) ||
      nbytes > SIZE_MAX / 2)
    return err_set(ERR_INVALID, "input '%s': the shape's byte size overflows", t->name);
  t->nbytes = (size_t)nbytes;
  return 0;
}

static int parse_json_data(struct infer_tensor *t, const json_t *data) {
  if (t->dtype == ST_F16 || t->dtype == ST_BF16)
    return err_set(ERR_INVALID,
                   "input '%s': datatype %s cannot be sent as JSON; send it as binary data "
                   "(parameters.binary_data_size and the Inference-Header-Content-Length header)",
                   t->name, dtype_names[t->dtype]);
  if (!json_is_array(data))
    return err_set(ERR_INVALID, "input '%s': \"data\" must be an array (row-major values)", t->name);
  int64_t n = count_values(data, 1);
  if (n < 0)
    return err_set(ERR_INVALID, "input '%s': \"data\" nests deeper than %d levels", t->name,
                   INFER_MAX_DIMS);
  if ((uint64_t)n != t->numel)
    return err_set(ERR_INVALID, "input '%s': shape needs %llu values, \"data\" holds %lld", t->name,
                   (unsigned long long)t->numel, (long long)n);
  t->owned = malloc(t->nbytes ? t->nbytes : 1);
  if (!t->owned) return err_set(ERR_NOMEM, "input '%s': out of memory for its data", t->name);
  uint64_t i = 0;
  t->data = t->owned;
  return store_values(t, data, &i, t->owned);
}

/* Read a non-negative integer parameter; *present says whether it was there. */
static int int_param(const json_t *params, const char *key, const char *where, int64_t *out,
                     bool *present) {
  const json_t *v = json_object_get(params, key);
  *present = v != NULL;
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return err_set(ERR_INVALID, "%s: parameter \"%s\" must be a non-negative integer", where, key);
  *out = json_integer_value(v);
  return 0;
}

static int bool_param(const json_t *params, const char *key, const char *where, bool *out) {
  const json_t *v = json_object_get(params, key);
  if (!v) return 0;
  if (!json_is_boolean(v))
    return err_set(ERR_INVALID, "%s: parameter \"%s\" must be true or false", where, key);
  *out = json_is_true(v);
  return 0;
}

static int check_params(const json_t *params, const char *where) {
  if (params && !json_is_object(params))
    return err_set(ERR_INVALID, "%s: \"parameters\" must be an object", where);
  return 0;
}

static int copy_name(char *dst, const json_t *name, const char *what, int index) {
  const char *s = json_string_value(name);
  if (!s || !s[0] || strlen(s) >= INFER_MAX_NAME)
    return err_set(ERR_INVALID, "%s %d: \"name\" must be a string of 1 to %d characters", what,
                   index, INFER_MAX_NAME - 1);
  memcpy(dst, s, strlen(s) + 1);
  return 0;
}

/*
 * One element of "inputs". Binary inputs take their bytes from *bin (advanced), the
 * bin_left bytes after the JSON header; have_binary says the header was given.
 */
static int parse_input(struct infer_tensor *t, const json_t *in, int index, bool have_binary,
                       const unsigned char **bin, size_t *bin_left) {
  if (!json_is_object(in)) return err_set(ERR_INVALID, "input %d is not an object", index);
  int rc = copy_name(t->name, json_object_get(in, "name"), "input", index);
  if (rc) return rc;
  const char *dt = json_string_value(json_object_get(in, "datatype"));
  if (infer_dtype_parse(dt, &t->dtype))
    return err_set(ERR_INVALID,
                   "input '%s': datatype '%s' is not supported (BOOL, UINT8..UINT64, "
                   "INT8..INT64, FP16, BF16, FP32, FP64)",
                   t->name, dt ? dt : "(missing)");
  if ((rc = parse_shape(t, json_object_get(in, "shape")))) return rc;
  const json_t *params = json_object_get(in, "parameters"), *data = json_object_get(in, "data");
  char where[INFER_MAX_NAME + 16];
  snprintf(where, sizeof where, "input '%s'", t->name);
  int64_t bsize = 0;
  bool binary = false;
  if ((rc = check_params(params, where)) || (rc = int_param(params, "binary_data_size", where, &bsize, &binary)))
    return rc;
  if (!binary) {
    if (!data) return err_set(ERR_INVALID, "input '%s': no \"data\" and no binary_data_size", t->name);
    return parse_json_data(t, data);
  }
  if (data)
    return err_set(ERR_INVALID, "input '%s': has both \"data\" and binary_data_size", t->name);
  if (!have_binary)
    return err_set(ERR_INVALID,
                   "input '%s': binary_data_size needs the Inference-Header-Content-Length header",
                   t->name);
  if ((uint64_t)bsize != t->nbytes)
    return err_set(ERR_INVALID, "input '%s': binary_data_size %lld but shape and %s need %zu bytes",
                   t->name, (long long)bsize, dtype_names[t->dtype], t->nbytes);
  if (t->nbytes > *bin_left)
    return err_set(ERR_INVALID,
                   "input '%s': needs %zu bytes of binary data, only %zu are left in the body",
                   t->name, t->nbytes, *bin_left);
  t->data = *bin;
  *bin += t->nbytes;
  *bin_left -= t->nbytes;
  return 0;
}

/* ---- the request ---- */

static int parse_outputs(struct infer_request *r, const json_t *outs) {
  if (!outs) return 0;
  if (!json_is_array(outs) || json_array_size(outs) > INFER_MAX_TENSORS)
    return err_set(ERR_INVALID, "\"outputs\" must be an array of at most %d objects",
                   INFER_MAX_TENSORS);
  size_t i;
  json_t *o;
  json_array_foreach(outs, i, o) {
    struct infer_output_spec *s = &r->outputs[i];
    if (!json_is_object(o)) return err_set(ERR_INVALID, "output %zu is not an object", i);
    int rc = copy_name(s->name, json_object_get(o, "name"), "output", (int)i);
    const json_t *params = json_object_get(o, "parameters");
    char where[INFER_MAX_NAME + 16];
    snprintf(where, sizeof where, "output '%s'", s->name);
    s->binary = r->binary_output;
    if (rc || (rc = check_params(params, where)) || (rc = bool_param(params, "binary_data", where, &s->binary)))
      return rc;
    r->n_outputs++;
  }
  return 0;
}

static int parse_request_params(struct infer_request *r, const json_t *params) {
  int rc = check_params(params, "request");
  if (rc) return rc;
  if ((rc = int_param(params, "priority", "request", &r->priority, &r->has_priority)) ||
      (rc = int_param(params, "timeout", "request", &r->timeout_us, &r->has_timeout)))
    return rc;
  return bool_param(params, "binary_data_output", "request", &r->binary_output);
}

static int parse_doc(struct infer_request *r, const json_t *doc, bool have_binary,
                     const unsigned char *bin, size_t bin_left) {
  if (!json_is_object(doc)) return err_set(ERR_INVALID, "the request body is not a JSON object");
  const json_t *id = json_object_get(doc, "id"), *inputs = json_object_get(doc, "inputs");
  if (id && !json_is_string(id)) return err_set(ERR_INVALID, "\"id\" must be a string");
  if (id && !(r->id = strdup(json_string_value(id)))) return err_set(ERR_NOMEM, "out of memory");
  int rc = parse_request_params(r, json_object_get(doc, "parameters"));
  if (rc) return rc;
  if (!json_is_array(inputs) || json_array_size(inputs) < 1 ||
      json_array_size(inputs) > INFER_MAX_TENSORS)
    return err_set(ERR_INVALID, "\"inputs\" must be an array of 1 to %d inputs", INFER_MAX_TENSORS);
  size_t i;
  json_t *in;
  json_array_foreach(inputs, i, in) {
    if ((rc = parse_input(&r->inputs[i], in, (int)i, have_binary, &bin, &bin_left))) return rc;
    r->n_inputs++;
    for (int j = 0; j < r->n_inputs - 1; j++)
      if (!strcmp(r->inputs[j].name, r->inputs[i].name))
        return err_set(ERR_INVALID, "input '%s' is given twice", r->inputs[i].name);
  }
  if ((rc = parse_outputs(r, json_object_get(doc, "outputs")))) return rc;
  if (bin_left)
    return err_set(ERR_INVALID,
                   "%zu bytes of binary data follow the JSON header that no input's "
                   "binary_data_size accounts for",
                   bin_left);
  return 0;
}

int infer_request_parse(struct infer_request *r, const void *body, size_t len, int64_t header_len) {
  memset(r, 0, sizeof *r);
  if (header_len >= 0 && (uint64_t)header_len > len)
    return err_set(ERR_INVALID,
                   "Inference-Header-Content-Length %lld is larger than the body (%zu bytes)",
                   (long long)header_len, len);
  size_t jlen = header_len >= 0 ? (size_t)header_len : len;
  json_error_t je;
  json_t *doc = json_loadb(body, jlen, JSON_REJECT_DUPLICATES, &je);
  if (!doc)
    return err_set(ERR_INVALID, "malformed JSON in the request at line %d, column %d: %s", je.line,
                   je.column, je.text);
  int rc = parse_doc(r, doc, header_len >= 0, (const unsigned char *)body + jlen, len - jlen);
  json_decref(doc);
  if (rc) infer_request_free(r);
  return rc;
}

void infer_request_free(struct infer_request *r) {
  for (int i = 0; i < INFER_MAX_TENSORS; i++) free(r->inputs[i].owned);
  free(r->id);
  memset(r, 0, sizeof *r);
}

const struct infer_tensor *infer_request_input(const struct infer_request *r, const char *name) {
  for (int i = 0; i < r->n_inputs; i++)
    if (!strcmp(r->inputs[i].name, name)) return &r->inputs[i];
  return NULL;
}

/* ---- the buffer ---- */

static bool buf_reserve(struct infer_buf *b, size_t more) {
  if (b->oom) return false;
  if (b->len + more + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) {
    if (cap > SIZE_MAX / 2) return !(b->oom = true);
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) return !(b->oom = true);
  b->p = p, b->cap = cap;
  return true;
}

void infer_buf_append(struct infer_buf *b, const void *s, size_t n) {
  if (!buf_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void infer_buf_printf(struct infer_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void infer_buf_free(struct infer_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- responses ---- */

/* Append s as a JSON string (quoted, escaped). */
static void append_json_string(struct infer_buf *b, const char *s) {
  json_t *j = json_string(s);
  if (!j) { /* not UTF-8 (e.g. a parser message quoting bad bytes): keep the ASCII */
    char safe[512];
    size_t n = 0;
    for (; s[n] && n < sizeof safe - 1; n++) safe[n] = (unsigned char)s[n] < 0x80 ? s[n] : '?';
    safe[n] = '\0';
    j = json_string(safe);
  }
  char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  if (text)
    infer_buf_append(b, text, strlen(text));
  else
    b->oom = true;
  free(text);
  json_decref(j);
}

/* One element as JSON text; ERR_INVALID for NaN/Inf. Elements may be unaligned. */
static int append_value(struct infer_buf *b, enum st_dtype d, const unsigned char *p) {
  char tmp[40];
  int n;
  uint64_t u = 0;
  if (d == ST_F32 || d == ST_F64) {
    double x;
    if (d == ST_F32) {
      float f;
      memcpy(&f, p, sizeof f);
      x = f;
    } else
      memcpy(&x, p, sizeof x);
    if (!isfinite(x)) return ERR_INVALID;
    n = snprintf(tmp, sizeof tmp, d == ST_F32 ? "%.9g" : "%.17g", x);
  } else if (d == ST_BOOL) {
    n = snprintf(tmp, sizeof tmp, "%s", *p ? "true" : "false");
  } else {
    size_t es = safetensors_dtype_size(d);
    memcpy(&u, p, es);
    bool is_signed = d == ST_I8 || d == ST_I16 || d == ST_I32 || d == ST_I64;
    if (is_signed && es < 8 && (u >> (es * 8 - 1)) & 1) u |= ~UINT64_C(0) << (es * 8); /* sign-extend */
    n = is_signed ? snprintf(tmp, sizeof tmp, "%lld", (long long)u)
                  : snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
  }
  infer_buf_append(b, tmp, (size_t)n);
  return 0;
}

static int append_json_data(struct infer_buf *b, const struct infer_tensor *t) {
  if (t->dtype == ST_F16 || t->dtype == ST_BF16)
    return err_set(ERR_INVALID,
                   "output '%s' is %s, which JSON cannot carry: ask for it as binary data "
                   "(outputs[].parameters.binary_data = true)",
                   t->name, dtype_names[t->dtype]);
  size_t es = safetensors_dtype_size(t->dtype);
  infer_buf_append(b, "\"data\":[", 8);
  for (uint64_t i = 0; i < t->numel; i++) {
    if (i) infer_buf_append(b, ",", 1);
    if (append_value(b, t->dtype, (const unsigned char *)t->data + i * es))
      return err_set(ERR_INVALID,
                     "output '%s' holds NaN or Inf at element %llu, which JSON cannot carry: ask "
                     "for it as binary data (outputs[].parameters.binary_data = true)",
                     t->name, (unsigned long long)i);
  }
  infer_buf_append(b, "]", 1);
  return 0;
}

static int append_output(struct infer_buf *b, const struct infer_tensor *t, bool binary) {
  infer_buf_append(b, "{\"name\":", 8);
  append_json_string(b, t->name);
  infer_buf_printf(b, ",\"datatype\":\"%s\",\"shape\":[", dtype_names[t->dtype]);
  for (int d = 0; d < t->ndim; d++) infer_buf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
  infer_buf_append(b, "],", 2);
  int rc = 0;
  if (binary)
    infer_buf_printf(b, "\"parameters\":{\"binary_data_size\":%zu}", t->nbytes);
  else
    rc = append_json_data(b, t);
  infer_buf_append(b, "}", 1);
  return rc;
}

int infer_response_write(struct infer_buf *b, const struct infer_response *resp, size_t *json_len) {
  size_t start = b->len;
  bool any_binary = false;
  infer_buf_append(b, "{\"model_name\":", 14);
  append_json_string(b, resp->model_name);
  infer_buf_append(b, ",\"model_version\":", 17);
  append_json_string(b, resp->model_version);
  if (resp->id) {
    infer_buf_append(b, ",\"id\":", 6);
    append_json_string(b, resp->id);
  }
  infer_buf_append(b, ",\"outputs\":[", 12);
  for (int i = 0; i < resp->n_outputs; i++) {
    if (i) infer_buf_append(b, ",", 1);
    int rc = append_output(b, &resp->outputs[i], resp->binary[i]);
    if (rc) return rc;
    any_binary |= resp->binary[i];
  }
  infer_buf_append(b, "]}", 2);
  *json_len = any_binary ? b->len - start : 0;
  for (int i = 0; i < resp->n_outputs; i++)
    if (resp->binary[i]) infer_buf_append(b, resp->outputs[i].data, resp->outputs[i].nbytes);
  return b->oom ? err_set(ERR_NOMEM, "out of memory writing the response") : 0;
}

void infer_error_write(struct infer_buf *b, const char *msg) {
  infer_buf_append(b, "{\"error\":", 9);
  append_json_string(b, msg);
  infer_buf_append(b, "}", 1);
}
