/*
 * payload.c — KServe v2 infer bodies from model metadata (payload.h).
 *
 * Sections: datatypes, the model's inputs, fetching metadata, bodies.
 */
#include "load/payload.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"

/* --- datatypes --- */

static const struct {
  const char *name;
  size_t size;
} DTYPES[PAYLOAD_N_DTYPES] = {
    {"BOOL", 1},  {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
    {"INT8", 1},  {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
    {"BF16", 2},  {"FP32", 4},  {"FP64", 8}};

const char *payload_dtype_name(enum payload_dtype d) {
  return d < PAYLOAD_N_DTYPES ? DTYPES[d].name : "?";
}

size_t payload_dtype_size(enum payload_dtype d) { return d < PAYLOAD_N_DTYPES ? DTYPES[d].size : 0; }

static int dtype_parse(const char *s, enum payload_dtype *out) {
  for (int i = 0; i < PAYLOAD_N_DTYPES; i++)
    if (!strcmp(s, DTYPES[i].name)) return *out = (enum payload_dtype)i, 0;
  return -1;
}

/* --- the model's inputs --- */

/* The user's shape for this input: "d,d" (every input) or "NAME=d,d;..." (NULL: none). */
static const char *shape_for(const char *shapes, const char *name, char *buf, size_t len) {
  if (!shapes || !*shapes) return NULL;
  if (!strchr(shapes, '=')) return shapes;
  size_t nl = strlen(name);
  for (const char *p = shapes; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
    if (strncmp(p, name, nl) || p[nl] != '=') continue;
    const char *v = p + nl + 1, *e = strchr(v, ';');
    size_t n = e ? (size_t)(e - v) : strlen(v);
    if (n >= len) n = len - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
  }
  return NULL;
}

/* Apply a user's "d,d,..." to in (same rank, fixed dimensions kept). */
static int apply_shape(struct payload_input *in, const char *s) {
  int64_t dims[PAYLOAD_MAX_RANK];
  int n = 0;
  const char *p = s;
  while (*p && n < PAYLOAD_MAX_RANK) {
    char *e;
    long long d = strtoll(p, &e, 10);
    if (e == p || d < 1 || (*e && *e != ','))
      return err_set(ERR_INVALID, "--shape '%s' for input %s: dimensions must be positive "
                     "integers separated by commas", s, in->name);
    dims[n++] = d;
    p = *e ? e + 1 : e;
  }
  if (n != in->rank || *p)
    return err_set(ERR_INVALID, "--shape '%s' for input %s: the model's shape has %d dimensions",
                   s, in->name, in->rank);
  for (int i = 0; i < n; i++) {
    if (in->shape[i] != -1 && in->shape[i] != dims[i])
      return err_set(ERR_INVALID, "--shape '%s' for input %s: dimension %d is fixed at %lld", s,
                     in->name, i, (long long)in->shape[i]);
    in->shape[i] = dims[i];
  }
  return 0;
}

static int parse_input(const json_t *j, int batch, const char *shapes, struct payload_input *in) {
  const char *name = json_string_value(json_object_get(j, "name"));
  const char *dt = json_string_value(json_object_get(j, "datatype"));
  const json_t *shape = json_object_get(j, "shape");
  if (!name || !dt || !json_is_array(shape))
    return err_set(ERR_PARSE, "model metadata: an input lacks \"name\", \"datatype\" or \"shape\"");
  snprintf(in->name, sizeof in->name, "%s", name);
  if (!strcmp(dt, "BYTES"))
    return err_set(ERR_INVALID, "input %s is BYTES (strings): not generated; use --body FILE", name);
  if (dtype_parse(dt, &in->dtype) < 0)
    return err_set(ERR_PARSE, "model metadata: input %s: unknown datatype '%s'", name, dt);
  in->rank = (int)json_array_size(shape);
  if (in->rank > PAYLOAD_MAX_RANK)
    return err_set(ERR_PARSE, "model metadata: input %s has %d dimensions (at most %d)", name,
                   in->rank, PAYLOAD_MAX_RANK);
  for (int i = 0; i < in->rank; i++) {
    const json_t *d = json_array_get(shape, (size_t)i);
    if (!json_is_integer(d) || (json_integer_value(d) < 1 && json_integer_value(d) != -1))
      return err_set(ERR_PARSE, "model metadata: input %s: dimension %d is not a positive integer "
                     "or -1", name, i);
    in->shape[i] = json_integer_value(d);
  }
  char buf[256];
  const char *user = shape_for(shapes, name, buf, sizeof buf);
  int rc = user ? apply_shape(in, user) : 0;
  if (rc < 0) return rc;
  in->count = 1;
  for (int i = 0; i < in->rank; i++) {
    if (in->shape[i] == -1 && i == 0) in->shape[i] = batch; /* the batch dimension */
    if (in->shape[i] == -1)
      return err_set(ERR_INVALID, "input %s: dimension %d is variable (-1); give its size with "
                     "--shape %s=d,d,...", name, i, name);
    in->count *= (size_t)in->shape[i];
    if (in->count > ((size_t)1 << 28))
      return err_set(ERR_INVALID, "input %s: more than 2^28 elements; use a smaller --batch or --shape", name);
  }
  return 0;
}

int payload_model_parse(const json_t *meta, int batch, const char *shapes, struct payload_model *m) {
  memset(m, 0, sizeof *m);
  if (batch < 1) return err_set(ERR_INVALID, "--batch %d: must be at least 1", batch);
  const json_t *ins = json_object_get(meta, "inputs");
  const char *name = json_string_value(json_object_get(meta, "name"));
  if (!json_is_object(meta) || !json_is_array(ins) || !json_array_size(ins))
    return err_set(ERR_PARSE, "model metadata: no \"inputs\" array (is this KServe v2 "
                   "/v2/models/NAME metadata?)");
  if (json_array_size(ins) > PAYLOAD_MAX_INPUTS)
    return err_set(ERR_PARSE, "model metadata: %zu inputs (at most %d)", json_array_size(ins),
                   PAYLOAD_MAX_INPUTS);
  snprintf(m->name, sizeof m->name, "%s", name ? name : "");
  for (size_t i = 0; i < json_array_size(ins); i++) {
    int rc = parse_input(json_array_get(ins, i), batch, shapes, &m->inputs[i]);
    if (rc < 0) return rc;
    m->n_inputs++;
  }
  return 0;
}

/* --- fetching metadata --- */

struct buf {
  char *p;
  size_t n;
};

static size_t collect(char *d, size_t size, size_t n, void *u) {
  struct buf *b = u;
  size_t add = size * n;
  if (b->n + add > (8u << 20)) return 0; /* metadata is small; refuse a runaway answer */
  char *np = realloc(b->p, b->n + add + 1);
  if (!np) return 0;
  memcpy(np + b->n, d, add);
  b->p = np, b->n += add, b->p[b->n] = 0;
  return add;
}

int payload_fetch(const char *base, const char *name, double timeout_s, json_t **meta) {
  *meta = NULL;
  char url[1024];
  size_t bl = strlen(base);
  snprintf(url, sizeof url, "%.*s/v2/models/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
           base, name);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *e = curl_easy_init();
  if (!e) return err_set(ERR_NOMEM, "payload: curl_easy_init failed");
  struct buf b = {0};
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  CURLcode cc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  int rc = 0;
  json_error_t je;
  if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
    rc = err_set(ERR_UNREACHABLE, "GET %s: %s; start the server or check the URL", url,
                 curl_easy_strerror(cc));
  else if (cc != CURLE_OK)
    rc = err_set(ERR_IO, "GET %s: %s", url, curl_easy_strerror(cc));
  else if (status == 404)
    rc = err_set(ERR_NOTFOUND, "GET %s: 404, the server has no model '%s' (%.200s)", url, name,
                 b.p ? b.p : "");
  else if (status != 200)
    rc = err_set(ERR_IO, "GET %s: HTTP %ld (%.200s)", url, status, b.p ? b.p : "");
  else if (!(*meta = json_loadb(b.p ? b.p : "", b.n, 0, &je)))
    rc = err_set(ERR_PARSE, "GET %s: the answer is not JSON (%s)", url, je.text);
  free(b.p);
  return rc;
}

/* --- bodies --- */

/* A random finite value of the datatype as little-endian bits (small, so sums never overflow). */
static uint64_t random_bits(enum payload_dtype d, struct rng *r, double *as_real) {
  double u = rng_uniform(r) * 2 - 1; /* [-1, 1) */
  uint64_t sign = u < 0;
  *as_real = u;
  switch (d) {
  case PAYLOAD_BOOL: return *as_real = (double)(rng_u64(r) & 1), (uint64_t)*as_real;
  case PAYLOAD_FP16: /* sign, exponent 10..14 (2^-5..2^-1), 10 random mantissa bits */
    return sign << 15 | (10 + rng_below(r, 5)) << 10 | rng_below(r, 1024);
  case PAYLOAD_BF16: /* sign, exponent 122..126, 7 random mantissa bits */
    return sign << 15 | (122 + rng_below(r, 5)) << 7 | rng_below(r, 128);
  case PAYLOAD_FP32: {
    float f = (float)u;
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
  }
  case PAYLOAD_FP64: {
    uint64_t b;
    memcpy(&b, &u, sizeof b);
    return b;
  }
  default: /* integers: 0..99 fit every width, signed or not */
    *as_real = (double)rng_below(r, 100);
    return (uint64_t)*as_real;
  }
}

static json_t *json_value(enum payload_dtype d, double v) {
  if (d == PAYLOAD_BOOL) return json_boolean(v != 0);
  if (d == PAYLOAD_FP32) return json_real((float)v);
  if (d == PAYLOAD_FP64) return json_real(v);
  return json_integer((json_int_t)v);
}

/* The JSON description of one input (without its values). */
static json_t *input_json(const struct payload_input *in, bool binary) {
  json_t *o = json_object(), *shape = json_array();
  for (int i = 0; i < in->rank; i++) json_array_append_new(shape, json_integer(in->shape[i]));
  json_object_set_new(o, "name", json_string(in->name));
  json_object_set_new(o, "shape", shape);
  json_object_set_new(o, "datatype", json_string(payload_dtype_name(in->dtype)));
  if (binary)
    json_object_set_new(o, "parameters",
                        json_pack("{sI}", "binary_data_size",
                                  (json_int_t)(in->count * payload_dtype_size(in->dtype))));
  return o;
}

/* One body; JSON values inline, or the header then the raw bytes of each input. */
static int one_body(const struct payload_model *m, bool binary, struct rng *r, struct load_body *b,
                    size_t *header_len) {
  json_t *doc = json_object(), *ins = json_array();
  size_t raw = 0;
  for (int i = 0; i < m->n_inputs; i++) {
    const struct payload_input *in = &m->inputs[i];
    json_t *o = input_json(in, binary);
    if (!binary) {
      json_t *data = json_array();
      double v;
      for (size_t k = 0; k < in->count; k++) {
        random_bits(in->dtype, r, &v);
        json_array_append_new(data, json_value(in->dtype, v));
      }
      json_object_set_new(o, "data", data);
    }
    raw += in->count * payload_dtype_size(in->dtype);
    json_array_append_new(ins, o);
  }
  json_object_set_new(doc, "inputs", ins);
  if (binary) json_object_set_new(doc, "parameters", json_pack("{sb}", "binary_data_output", 1));
  char *hdr = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
  json_decref(doc);
  if (!hdr) return err_set(ERR_NOMEM, "payload: out of memory for a body");
  size_t hl = strlen(hdr);
  char *p = binary ? malloc(hl + raw) : hdr;
  if (!p) {
    free(hdr);
    return err_set(ERR_NOMEM, "payload: out of memory for a body of %zu bytes", hl + raw);
  }
  if (binary) {
    memcpy(p, hdr, hl);
    free(hdr);
    size_t at = hl;
    for (int i = 0; i < m->n_inputs; i++) {
      const struct payload_input *in = &m->inputs[i];
      size_t sz = payload_dtype_size(in->dtype);
      double v;
      for (size_t k = 0; k < in->count; k++) {
        uint64_t bits = random_bits(in->dtype, r, &v);
        for (size_t j = 0; j < sz; j++) p[at++] = (char)(bits >> (8 * j)); /* little-endian */
      }
    }
  }
  b->data = p;
  b->len = binary ? hl + raw : hl;
  *header_len = hl;
  return 0;
}

int payload_generate(const struct payload_model *m, int n, bool binary, uint64_t seed,
                     struct payload_set *out) {
  memset(out, 0, sizeof *out);
  if (n < 1) return err_set(ERR_INVALID, "payload: %d bodies asked for", n);
  for (int i = 0; i < m->n_inputs && !binary; i++)
    if (m->inputs[i].dtype == PAYLOAD_FP16 || m->inputs[i].dtype == PAYLOAD_BF16)
      return err_set(ERR_INVALID, "input %s is %s, which JSON cannot carry faithfully; use --binary",
                     m->inputs[i].name, payload_dtype_name(m->inputs[i].dtype));
  out->bodies = calloc((size_t)n, sizeof *out->bodies);
  if (!out->bodies) return err_set(ERR_NOMEM, "payload: out of memory for %d bodies", n);
  struct rng r;
  rng_seed(&r, seed);
  size_t hl = 0;
  for (int i = 0; i < n; i++) {
    int rc = one_body(m, binary, &r, &out->bodies[i], &hl);
    if (rc < 0) {
      payload_set_free(out);
      return rc;
    }
    out->n++;
  }
  out->content_type = binary ? "Content-Type: application/octet-stream"
                             : "Content-Type: application/json";
  if (binary) snprintf(out->header, sizeof out->header, "Inference-Header-Content-Length: %zu", hl);
  return 0;
}

void payload_set_free(struct payload_set *s) {
  for (int i = 0; s->bodies && i < s->n; i++) free((void *)s->bodies[i].data);
  free(s->bodies);
  memset(s, 0, sizeof *s);
}
