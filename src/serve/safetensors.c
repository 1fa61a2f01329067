/*
 * safetensors.c — reader and writer of the safetensors format (see the
 * header for the rules enforced).
 *
 * Sections: dtypes; header parsing (one tensor entry, then the whole
 * header, then the layout check: sorted by offset, the tensors must tile the
 * data area); open/parse/find/close; the writer.
 */
#define _GNU_SOURCE /* qsort_r */
#include "serve/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

/* ---- dtypes ---- */

static const struct {
  const char *name;
  size_t size;
} dtypes[ST_NDTYPES] = {
    [ST_F64] = {"F64", 8},   [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8},   [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U64] = {"U64", 8},   [ST_U32] = {"U32", 4}, [ST_U16] = {"U16", 2}, [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};

const char *safetensors_dtype_name(enum st_dtype d) {
  return (unsigned)d < ST_NDTYPES ? dtypes[d].name : "?";
}

int safetensors_dtype_parse(const char *s, enum st_dtype *out) {
  for (int i = 0; i < ST_NDTYPES; i++)
    if (s && !strcmp(s, dtypes[i].name)) {
      *out = (enum st_dtype)i;
      return 0;
    }
  return ERR_INVALID;
}

size_t safetensors_dtype_size(enum st_dtype d) {
  return (unsigned)d < ST_NDTYPES ? dtypes[d].size : 0;
}

/* ---- header parsing ---- */

/* A non-negative JSON integer into *out; -1 if v is not one. */
static int json_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

static int parse_shape(const char *file, struct st_tensor *t, const json_t *shape) {
  if (!json_is_array(shape))
    return err_set(ERR_PARSE, "%s: tensor '%s': \"shape\" must be an array of integers", file,
                   t->name);
  if (json_array_size(shape) > ST_MAX_DIMS)
    return err_set(ERR_PARSE, "%s: tensor '%s': shape has %zu dimensions, at most %d supported",
                   file, t->name, json_array_size(shape), ST_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  t->numel = 1;
  for (int i = 0; i < t->ndim; i++) {
    if (json_u64(json_array_get(shape, (size_t)i), &t->shape[i]))
      return err_set(ERR_PARSE, "%s: tensor '%s': shape[%d] is not a non-negative integer", file,
                     t->name, i);
    if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel))
      return err_set(ERR_PARSE, "%s: tensor '%s': the product of the shape overflows 64 bits", file,
                     t->name);
  }
  return 0;
}

/* One tensor entry: dtype, shape, offsets checked against the data area of data_len bytes. */
static int parse_entry(const char *file, struct st_tensor *t, const json_t *v, uint64_t data_len) {
  if (!json_is_object(v))
    return err_set(ERR_PARSE, "%s: tensor '%s': entry must be an object", file, t->name);
  const char *dt = json_string_value(json_object_get(v, "dtype"));
  if (!dt) return err_set(ERR_PARSE, "%s: tensor '%s': missing \"dtype\" string", file, t->name);
  if (safetensors_dtype_parse(dt, &t->dtype))
    return err_set(ERR_PARSE,
                   "%s: tensor '%s': unknown dtype '%s' (known: F64 F32 F16 BF16 I64 I32 I16 I8 "
                   "U64 U32 U16 U8 BOOL)",
                   file, t->name, dt);
  int rc = parse_shape(file, t, json_object_get(v, "shape"));
  if (rc) return rc;
  const json_t *off = json_object_get(v, "data_offsets");
  if (!json_is_array(off) || json_array_size(off) != 2 ||
      json_u64(json_array_get(off, 0), &t->begin) || json_u64(json_array_get(off, 1), &t->end))
    return err_set(ERR_PARSE,
                   "%s: tensor '%s': \"data_offsets\" must be [begin, end], non-negative integers",
                   file, t->name);
  if (t->begin > t->end)
    return err_set(ERR_PARSE, "%s: tensor '%s': data_offsets begin %llu > end %llu", file, t->name,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end > data_len)
    return err_set(ERR_PARSE,
                   "%s: tensor '%s': data_offsets end %llu is past the data area (%llu bytes)",
                   file, t->name, (unsigned long long)t->end, (unsigned long long)data_len);
  uint64_t nbytes;
  if (__builtin_mul_overflow(t->numel, (uint64_t)safetensors_dtype_size(t->dtype), &nbytes))
    return err_set(ERR_PARSE, "%s: tensor '%s': shape x dtype size overflows 64 bits", file,
                   t->name);
  if (nbytes != t->end - t->begin)
    return err_set(
        ERR_PARSE,
        "%s: tensor '%s': %llu elements of %s need %llu bytes but data_offsets span %llu", file,
        t->name, (unsigned long long)t->numel, dt, (unsigned long long)nbytes,
        (unsigned long long)(t->end - t->begin));
  return 0;
}

static int parse_metadata(const char *file, struct safetensors *st, json_t *v) {
  const char *k;
  json_t *s;
  if (!json_is_object(v))
    return err_set(ERR_PARSE, "%s: \"__metadata__\" must be an object of strings", file);
  json_object_foreach(v, k, s) {
    if (!json_is_string(s))
      return err_set(ERR_PARSE, "%s: \"__metadata__\" key '%s' must have a string value", file, k);
  }
  st->metadata = json_incref(v);
  return 0;
}

static int by_offset(const void *a, const void *b, void *ctx) {
  const struct st_tensor *base = ctx;
  const struct st_tensor *x = &base[*(const int *)a], *y = &base[*(const int *)b];
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by offset, the tensors must tile [0, data_len) exactly: no overlap, no gap. */
static int check_layout(const char *file, const struct safetensors *st, uint64_t data_len) {
  int *order = malloc(sizeof *order * (size_t)(st->n ? st->n : 1));
  if (!order) return err_set(ERR_NOMEM, "%s: out of memory sorting tensors", file);
  for (int i = 0; i < st->n; i++) order[i] = i;
  qsort_r(order, (size_t)st->n, sizeof *order, by_offset, st->tensors);
  int rc = 0;
  uint64_t at = 0;
  const char *prev = NULL;
  for (int i = 0; i < st->n && !rc; i++) {
    const struct st_tensor *t = &st->tensors[order[i]];
    if (t->begin < at)
      rc = err_set(ERR_PARSE, "%s: tensor '%s': bytes [%llu, %llu) overlap tensor '%s'", file,
                   t->name, (unsigned long long)t->begin, (unsigned long long)t->end, prev);
    else if (t->begin > at)
      rc = err_set(ERR_PARSE, "%s: tensor '%s': gap of unused bytes [%llu, %llu) before it", file,
                   t->name, (unsigned long long)at, (unsigned long long)t->begin);
    at = t->end;
    prev = t->name;
  }
  if (!rc && at != data_len)
    rc = err_set(ERR_PARSE, "%s: %llu bytes after the last tensor are not described by the header",
                 file, (unsigned long long)(data_len - at));
  free(order);
  return rc;
}

/* The header JSON: an object of tensor entries and maybe "__metadata__". */
static int parse_header(struct safetensors *st, json_t *root, const uint8_t *data,
                        uint64_t data_len) {
  const char *file = st->path, *key;
  json_t *v;
  if (!json_is_object(root)) return err_set(ERR_PARSE, "%s: header is not a JSON object", file);
  st->tensors = calloc(json_object_size(root) + 1, sizeof *st->tensors);
  if (!st->tensors) return err_set(ERR_NOMEM, "%s: out of memory", file);
  json_object_foreach(root, key, v) {
    if (!strcmp(key, "__metadata__")) {
      int rc = parse_metadata(file, st, v);
      if (rc) return rc;
      continue;
    }
    struct st_tensor *t = &st->tensors[st->n];
    t->name = strdup(key);
    if (!t->name) return err_set(ERR_NOMEM, "%s: out of memory", file);
    st->n++;
    int rc = parse_entry(file, t, v, data_len);
    if (rc) return rc;
    t->data = data + t->begin;
  }
  return check_layout(file, st, data_len);
}

/* ---- open / parse / find / close ---- */

int safetensors_parse(struct safetensors *st, const void *buf, size_t len, const char *name) {
  memset(st, 0, sizeof *st);
  const uint8_t *b = buf;
  json_t *root = NULL;
  int rc = 0;
  st->path = strdup(name ? name : "<memory>");
  if (!st->path) return err_set(ERR_NOMEM, "out of memory");
  const char *file = st->path;
  if (len < 8) {
    rc = err_set(ERR_PARSE, "%s: file is %zu bytes, too short for the 8-byte header length", file,
                 len);
    goto out;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  if (hlen > ST_MAX_HEADER_BYTES) {
    rc = err_set(ERR_PARSE, "%s: header length %llu exceeds the limit of %u bytes", file,
                 (unsigned long long)hlen, ST_MAX_HEADER_BYTES);
    goto out;
  }
  if (hlen > len - 8) {
    rc = err_set(ERR_PARSE,
                 "%s: header length %llu runs past the end of the file (%zu bytes): truncated?",
                 file, (unsigned long long)hlen, len);
    goto out;
  }
  if (hlen < 2 || b[8] != '{') {
    rc = err_set(ERR_PARSE, "%s: header does not start with '{'", file);
    goto out;
  }
  json_error_t e;
  root = json_loadb((const char *)b + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &e);
  if (!root) {
    rc = err_set(ERR_PARSE, "%s: bad JSON header at byte %d: %s", file, e.position, e.text);
    goto out;
  }
  rc = parse_header(st, root, b + 8 + hlen, len - 8 - hlen);
out:
  json_decref(root);
  if (rc) safetensors_close(st);
  return rc;
}

int safetensors_open(struct safetensors *st, const char *path) {
  memset(st, 0, sizeof *st);
  struct stat sb;
  void *map = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = 0;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    rc = err_set(ERR_IO, "%s: not a regular file", path);
    goto out;
  }
  size_t len = (size_t)sb.st_size;
  if (len > 0) {
    map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      map = NULL;
      rc = err_set(ERR_IO, "%s: cannot map %zu bytes: %s", path, len, strerror(errno));
      goto out;
    }
  }
  rc = safetensors_parse(st, map ? map : "", len, path);
  if (rc) goto out;
  st->map = map;
  st->map_len = len;
  map = NULL;
out:
  if (map) munmap(map, len);
  close(fd);
  return rc;
}

const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name) {
  for (int i = 0; i < st->n; i++)
    if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
  return NULL;
}

void safetensors_close(struct safetensors *st) {
  for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
  free(st->tensors);
  free(st->path);
  json_decref(st->metadata);
  if (st->map) munmap(st->map, st->map_len);
  memset(st, 0, sizeof *st);
}

/* ---- the writer ---- */

/* The header JSON for t[0..n) with contiguous offsets; NULL with err_set on bad input. */
static json_t *build_header(const struct st_write_tensor *t, int n, const json_t *metadata,
                            const char *path) {
  json_t *root = json_object();
  if (metadata) {
    const char *k;
    json_t *v;
    if (!json_is_object(metadata)) goto bad_meta;
    json_object_foreach((json_t *)metadata, k, v) {
      if (!json_is_string(v)) goto bad_meta;
    }
    json_object_set(root, "__metadata__", (json_t *)metadata);
  }
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    uint64_t numel = 1, nbytes;
    size_t es = safetensors_dtype_size(t[i].dtype);
    if (!t[i].name || !strcmp(t[i].name, "__metadata__") || !es || t[i].ndim < 0 ||
        t[i].ndim > ST_MAX_DIMS || json_object_get(root, t[i].name)) {
      err_set(ERR_INVALID, "%s: tensor %d ('%s'): bad or duplicate name, dtype or rank", path, i,
              t[i].name ? t[i].name : "(null)");
      goto fail;
    }
    json_t *shape = json_array();
    for (int d = 0; d < t[i].ndim; d++) {
      if (__builtin_mul_overflow(numel, t[i].shape[d], &numel) || t[i].shape[d] > INT64_MAX) {
        json_decref(shape);
        err_set(ERR_INVALID, "%s: tensor '%s': shape too large", path, t[i].name);
        goto fail;
      }
      json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d]));
    }
    if (__builtin_mul_overflow(numel, (uint64_t)es, &nbytes) || at + nbytes > INT64_MAX) {
      json_decref(shape);
      err_set(ERR_INVALID, "%s: tensor '%s': shape too large", path, t[i].name);
      goto fail;
    }
    json_object_set_new(
        root, t[i].name,
        json_pack("{s:s, s:o, s:[I,I]}", "dtype", safetensors_dtype_name(t[i].dtype), "shape",
                  shape, "data_offsets", (json_int_t)at, (json_int_t)(at + nbytes)));
    at += nbytes;
  }
  return root;
bad_meta:
  err_set(ERR_INVALID, "%s: metadata must be an object of string values", path);
fail:
  json_decref(root);
  return NULL;
}

static int write_all(FILE *f, const void *p, size_t n) { return n && fwrite(p, 1, n, f) != n; }

int safetensors_write(const char *path, const struct st_write_tensor *t, int n,
                      const json_t *metadata) {
  char *text = NULL;
  FILE *f = NULL;
  int rc = 0;
  json_t *root = build_header(t, n, metadata, path);
  if (!root) return err_last();
  text = json_dumps(root, JSON_COMPACT);
  if (!text) {
    rc = err_set(ERR_NOMEM, "%s: cannot serialize the header", path);
    goto out;
  }
  size_t tlen = strlen(text), hlen = (tlen + 7) / 8 * 8;
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  f = fopen(path, "wb");
  if (!f) {
    rc = err_set(ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    goto out;
  }
  int bad = write_all(f, len8, 8) || write_all(f, text, tlen);
  for (size_t i = tlen; i < hlen && !bad; i++) bad = fputc(' ', f) == EOF;
  for (int i = 0; i < n && !bad; i++) {
    uint64_t numel = 1;
    for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
    bad = write_all(f, t[i].data, (size_t)(numel * safetensors_dtype_size(t[i].dtype)));
  }
  if (fclose(f) || bad) rc = err_set(ERR_IO, "%s: write failed: %s", path, strerror(errno));
  f = NULL;
out:
  free(text);
  json_decref(root);
  return rc;
}
