/*
 * model.c — model directories: config.json + model.safetensors (see
 * model.h for the layout).
 *
 * Sections: the config (defaults, load); loading the weights and checking
 * them against the config; random-weight creation.
 */
#include "serve/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/rng.h"
#include "kernels/bf16.h"
#include "serve/infer.h"

/* ---- the config ---- */

static int check_widths(const char *where, const int *w, int n) {
  if (n < 2 || n > MODEL_MAX_LAYERS)
    return err_set(ERR_INVALID, "%s: \"layers\" needs 2 to %d widths (input ... output), got %d",
                   where, MODEL_MAX_LAYERS, n);
  for (int i = 0; i < n; i++)
    if (w[i] < 1 || w[i] > MODEL_MAX_WIDTH)
      return err_set(ERR_INVALID, "%s: \"layers\"[%d] = %d is outside 1..%d", where, i, w[i],
                     MODEL_MAX_WIDTH);
  return 0;
}

int model_config_mlp(struct model_config *c, const int *widths, int n) {
  memset(c, 0, sizeof *c);
  int rc = check_widths("model config", widths, n);
  if (rc) return rc;
  snprintf(c->type, sizeof c->type, "mlp");
  snprintf(c->activation, sizeof c->activation, "gelu");
  c->dtype = ST_BF16;
  c->n_widths = n;
  memcpy(c->widths, widths, sizeof *widths * (size_t)n);
  c->max_batch_size = 64;
  c->io_dtype = ST_F32;
  return 0;
}

int model_config_is_mlp(const struct model_config *c) { return !strcmp(c->type, "mlp"); }

static int check_test_model(const char *where, const char *type, int width, int64_t service_us,
                            int64_t per_row_us) {
  if (strcmp(type, "identity") && strcmp(type, "sleep"))
    return err_set(ERR_INVALID, "%s: \"type\": '%s' is not a known model type (mlp, identity, sleep)",
                   where, type);
  if (width < 1 || width > MODEL_MAX_WIDTH)
    return err_set(ERR_INVALID, "%s: \"width\" %d is outside 1..%d", where, width, MODEL_MAX_WIDTH);
  if (service_us < 0 || service_us > 60000000 || per_row_us < 0 || per_row_us > 60000000)
    return err_set(ERR_INVALID, "%s: \"service_us\" and \"per_row_us\" must be in 0..60000000",
                   where);
  return 0;
}

int model_config_test(struct model_config *c, const char *type, int width, enum st_dtype io_dtype,
                      int64_t service_us, int64_t per_row_us) {
  memset(c, 0, sizeof *c);
  int rc = check_test_model("model config", type, width, service_us, per_row_us);
  if (rc) return rc;
  snprintf(c->type, sizeof c->type, "%s", type);
  c->n_widths = 2;
  c->widths[0] = c->widths[1] = width;
  c->max_batch_size = 64;
  c->io_dtype = io_dtype;
  c->dtype = io_dtype;
  c->service_us = service_us;
  c->per_row_us = per_row_us;
  return 0;
}

/* The fields of an identity or sleep model's config.json. */
static int parse_test_config(struct model_config *c, const char *path, json_t *root,
                             const char *type) {
  json_t *w = json_object_get(root, "width"), *svc = json_object_get(root, "service_us"),
         *row = json_object_get(root, "per_row_us");
  const char *dt = json_string_value(json_object_get(root, "datatype"));
  enum st_dtype io = ST_F32;
  if (dt && infer_dtype_parse(dt, &io))
    return err_set(ERR_PARSE, "%s: field \"datatype\": '%s' is not a protocol datatype (FP32, ...)",
                   path, dt);
  if (!json_is_integer(w) || (svc && !json_is_integer(svc)) || (row && !json_is_integer(row)))
    return err_set(ERR_PARSE,
                   "%s: %s models need an integer \"width\" (and integer \"service_us\", "
                   "\"per_row_us\" if given)",
                   path, type);
  int rc = check_test_model(path, type, (int)json_integer_value(w), json_integer_value(svc),
                            json_integer_value(row));
  if (rc) return err_set(ERR_PARSE, "%s", err_msg());
  return model_config_test(c, type, (int)json_integer_value(w), io, json_integer_value(svc),
                           json_integer_value(row));
}

static int parse_max_batch(struct model_config *c, const char *path, json_t *mbs) {
  c->max_batch_size = 64;
  if (!mbs) return 0;
  if (!json_is_integer(mbs) || json_integer_value(mbs) < 1 || json_integer_value(mbs) > 1 << 20)
    return err_set(ERR_PARSE, "%s: field \"max_batch_size\": need an integer in 1..%d", path,
                   1 << 20);
  c->max_batch_size = (int)json_integer_value(mbs);
  return 0;
}

static int parse_dtype(const char *path, const char *s, enum st_dtype *out) {
  if (s && !strcmp(s, "bf16"))
    *out = ST_BF16;
  else if (s && !strcmp(s, "f32"))
    *out = ST_F32;
  else
    return err_set(ERR_PARSE, "%s: field \"dtype\": '%s' is not bf16 or f32", path,
                   s ? s : "(missing)");
  return 0;
}

static int parse_config(struct model_config *c, const char *path, json_t *root) {
  const char *type = json_string_value(json_object_get(root, "type"));
  const char *act = json_string_value(json_object_get(root, "activation"));
  json_t *layers = json_object_get(root, "layers"), *mbs = json_object_get(root, "max_batch_size");
  if (type && (!strcmp(type, "identity") || !strcmp(type, "sleep"))) {
    int rc = parse_test_config(c, path, root, type);
    return rc ? rc : parse_max_batch(c, path, mbs);
  }
  if (!type || strcmp(type, "mlp"))
    return err_set(ERR_PARSE, "%s: field \"type\": '%s' is not a known model type (mlp, identity, sleep)",
                   path, type ? type : "(missing)");
  snprintf(c->type, sizeof c->type, "mlp");
  if (act && strcmp(act, "gelu"))
    return err_set(ERR_PARSE, "%s: field \"activation\": '%s' is not supported (gelu)", path, act);
  snprintf(c->activation, sizeof c->activation, "gelu");
  int rc = parse_dtype(path, json_string_value(json_object_get(root, "dtype")), &c->dtype);
  if (rc) return rc;
  if (!json_is_array(layers) || json_array_size(layers) > MODEL_MAX_LAYERS)
    return err_set(ERR_PARSE, "%s: field \"layers\": need an array of 2 to %d integer widths", path,
                   MODEL_MAX_LAYERS);
  c->n_widths = (int)json_array_size(layers);
  for (int i = 0; i < c->n_widths; i++) {
    json_t *v = json_array_get(layers, (size_t)i);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MODEL_MAX_WIDTH)
      return err_set(ERR_PARSE, "%s: field \"layers\"[%d]: need an integer in 1..%d", path, i,
                     MODEL_MAX_WIDTH);
    c->widths[i] = (int)json_integer_value(v);
  }
  if (c->n_widths < 2)
    return err_set(ERR_PARSE, "%s: field \"layers\": need at least 2 widths (input, output)", path);
  c->io_dtype = ST_F32;
  return parse_max_batch(c, path, mbs);
}

int model_config_load(struct model_config *c, const char *path) {
  memset(c, 0, sizeof *c);
  json_t *root = NULL;
  int rc = jsonio_load_file(path, &root);
  if (rc) return rc;
  if (!json_is_object(root))
    rc = err_set(ERR_PARSE, "%s: not a JSON object", path);
  else
    rc = parse_config(c, path, root);
  json_decref(root);
  return rc;
}

/* ---- loading ---- */

static int check_tensor(const struct model *m, const char *name, const struct st_tensor **out,
                        int ndim, uint64_t d0, uint64_t d1) {
  const struct st_tensor *t = safetensors_find(&m->st, name);
  const char *file = m->st.path;
  if (!t)
    return err_set(ERR_INVALID, "%s: tensor '%s' is missing (the config needs it)", file, name);
  if (t->dtype != m->config.dtype)
    return err_set(ERR_INVALID, "%s: tensor '%s' is %s but config.json says dtype %s", file, name,
                   safetensors_dtype_name(t->dtype), safetensors_dtype_name(m->config.dtype));
  if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
    char want[64];
    if (ndim == 2)
      snprintf(want, sizeof want, "[%llu, %llu]", (unsigned long long)d0, (unsigned long long)d1);
    else
      snprintf(want, sizeof want, "[%llu]", (unsigned long long)d0);
    return err_set(ERR_INVALID,
                   "%s: tensor '%s' has rank %d shape [%llu%s...] but config.json layers need %s",
                   file, name, t->ndim, (unsigned long long)(t->ndim ? t->shape[0] : 0),
                   t->ndim > 1 ? ", " : "", want);
  }
  *out = t;
  return 0;
}

int model_load(struct model *m, const char *dir) {
  memset(m, 0, sizeof *m);
  char path[4096];
  int rc;
  m->dir = strdup(dir);
  if (!m->dir) return err_set(ERR_NOMEM, "out of memory");
  snprintf(path, sizeof path, "%s/config.json", dir);
  if ((rc = model_config_load(&m->config, path))) goto out;
  if (!model_config_is_mlp(&m->config)) goto out; /* test models have no weights */
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if ((rc = safetensors_open(&m->st, path))) goto out;
  m->n_layers = m->config.n_widths - 1;
  for (int i = 0; i < m->n_layers; i++) {
    struct model_layer *l = &m->layers[i];
    char name[64];
    l->k = m->config.widths[i];
    l->n = m->config.widths[i + 1];
    snprintf(name, sizeof name, "layers.%d.weight", i);
    if ((rc = check_tensor(m, name, &l->weight, 2, (uint64_t)l->n, (uint64_t)l->k))) goto out;
    snprintf(name, sizeof name, "layers.%d.bias", i);
    if ((rc = check_tensor(m, name, &l->bias, 1, (uint64_t)l->n, 0))) goto out;
  }
  if (m->st.n != 2 * m->n_layers)
    rc = err_set(ERR_INVALID, "%s: %d tensors but config.json's %d layers need exactly %d",
                 m->st.path, m->st.n, m->n_layers, 2 * m->n_layers);
out:
  if (rc) model_free(m);
  return rc;
}

void model_free(struct model *m) {
  safetensors_close(&m->st);
  free(m->dir);
  memset(m, 0, sizeof *m);
}

uint64_t model_params(const struct model *m) {
  uint64_t p = 0;
  for (int i = 0; i < m->n_layers; i++)
    p += (uint64_t)m->layers[i].n * (uint64_t)m->layers[i].k + (uint64_t)m->layers[i].n;
  return p;
}

/* ---- random-weight creation ---- */

static int write_test_config(const char *path, const struct model_config *c) {
  json_t *doc = json_pack("{s:s, s:i, s:s, s:i}", "type", c->type, "width", c->widths[0],
                          "datatype", infer_dtype_name(c->io_dtype), "max_batch_size",
                          c->max_batch_size);
  if (doc && !strcmp(c->type, "sleep")) {
    json_object_set_new(doc, "service_us", json_integer(c->service_us));
    json_object_set_new(doc, "per_row_us", json_integer(c->per_row_us));
  }
  int rc = doc ? jsonio_write_file(path, doc) : err_set(ERR_NOMEM, "%s: out of memory", path);
  json_decref(doc);
  return rc;
}

static int write_config(const char *path, const struct model_config *c) {
  if (!model_config_is_mlp(c)) return write_test_config(path, c);
  json_t *layers = json_array();
  for (int i = 0; i < c->n_widths; i++) json_array_append_new(layers, json_integer(c->widths[i]));
  json_t *doc = json_pack(
      "{s:s, s:o, s:s, s:s, s:i}", "type", c->type, "layers", layers, "activation", c->activation,
      "dtype", c->dtype == ST_BF16 ? "bf16" : "f32", "max_batch_size", c->max_batch_size);
  int rc = doc ? jsonio_write_file(path, doc) : err_set(ERR_NOMEM, "%s: out of memory", path);
  json_decref(doc);
  return rc;
}

/* count values ~ U(-bound, bound) in dtype into a new buffer (NULL when out of memory). */
static void *random_values(struct rng *r, size_t count, double bound, enum st_dtype dtype) {
  void *buf = malloc(count * safetensors_dtype_size(dtype) + 1);
  if (!buf) return NULL;
  for (size_t i = 0; i < count; i++) {
    float v = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
    if (dtype == ST_BF16)
      ((uint16_t *)buf)[i] = bf16_from_f32(v);
    else
      ((float *)buf)[i] = v;
  }
  return buf;
}

static int make_dir(const char *dir) {
  if (mkdir(dir, 0755) && errno != EEXIST)
    return err_set(ERR_IO, "%s: cannot create the model directory: %s", dir, strerror(errno));
  return 0;
}

/* A test model's directory: config.json only. */
static int create_test_model(const char *dir, const struct model_config *c) {
  int rc = make_dir(dir);
  if (rc) return rc;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  return write_config(path, c);
}

int model_create(const char *dir, const struct model_config *c, uint64_t seed) {
  if (!model_config_is_mlp(c)) return create_test_model(dir, c);
  int nl = c->n_widths - 1, rc = check_widths(dir, c->widths, c->n_widths);
  if (rc) return rc;
  if (c->dtype != ST_BF16 && c->dtype != ST_F32)
    return err_set(ERR_INVALID, "%s: dtype must be bf16 or f32", dir);
  if ((rc = make_dir(dir))) return rc;
  struct st_write_tensor t[2 * MODEL_MAX_LAYERS];
  char names[2 * MODEL_MAX_LAYERS][32];
  void *bufs[2 * MODEL_MAX_LAYERS] = {0};
  struct rng r;
  rng_seed(&r, seed);
  for (int i = 0; i < nl; i++) {
    int k = c->widths[i], n = c->widths[i + 1];
    double bound = 1.0 / sqrt((double)k);
    snprintf(names[2 * i], sizeof names[0], "layers.%d.weight", i);
    snprintf(names[2 * i + 1], sizeof names[0], "layers.%d.bias", i);
    bufs[2 * i] = random_values(&r, (size_t)n * (size_t)k, bound, c->dtype);
    bufs[2 * i + 1] = random_values(&r, (size_t)n, bound, c->dtype);
    if (!bufs[2 * i] || !bufs[2 * i + 1]) {
      rc = err_set(ERR_NOMEM, "%s: out of memory for layer %d's weights", dir, i);
      goto out;
    }
    t[2 * i] = (struct st_write_tensor){
        names[2 * i], c->dtype, 2, {(uint64_t)n, (uint64_t)k}, bufs[2 * i]};
    t[2 * i + 1] =
        (struct st_write_tensor){names[2 * i + 1], c->dtype, 1, {(uint64_t)n}, bufs[2 * i + 1]};
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if ((rc = write_config(path, c))) goto out;
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  json_t *meta = json_pack("{s:s, s:s}", "format", "pt", "created_by", "gpuops model create");
  rc = safetensors_write(path, t, 2 * nl, meta);
  json_decref(meta);
out:
  for (int i = 0; i < 2 * nl; i++) free(bufs[i]);
  return rc;
}
