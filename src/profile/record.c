/*
 * record.c — the record reader (record.h).
 * Sections: fields; one record per kind; markers; a file; a folder; NVML samples.
 */
#define _GNU_SOURCE
#include "profile/record.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"

/* Where the reader is, for messages and for the time origin. */
struct cursor {
  const char *file;
  int line;
  size_t offset;           /* byte offset of the line */
  int proc;                /* index in p->procs */
  int64_t origin;          /* wall_ns - cupti_ns of the header */
  json_t *open;            /* marker id (string) -> index of its open range */
};

static int bad(const struct cursor *c, const char *fmt, const char *what) {
  return err_set(ERR_PARSE, "%s:%d (byte %zu): %s%s", c->file, c->line, c->offset, fmt, what);
}

/* ---- fields ---- */
static int get_int(const struct cursor *c, const json_t *o, const char *key, int64_t *out) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) return bad(c, "missing or non-integer field: ", key);
  *out = json_integer_value(v);
  return 0;
}

static int get_u32(const struct cursor *c, const json_t *o, const char *key, uint32_t *out) {
  int64_t v;
  int rc = get_int(c, o, key, &v);
  if (rc) return rc;
  if (v < 0 || v > UINT32_MAX) return bad(c, "field out of range (0..2^32-1): ", key);
  *out = (uint32_t)v;
  return 0;
}

static int get_str(const struct cursor *c, const json_t *o, const char *key, const char **out) {
  *out = json_string_value(json_object_get(o, key));
  return *out ? 0 : bad(c, "missing or non-string field: ", key);
}

/* s and e, converted to wall time; e >= s. */
static int get_span(const struct cursor *c, const json_t *o, int64_t *s, int64_t *e) {
  int rc = get_int(c, o, "s", s);
  if (!rc) rc = get_int(c, o, "e", e);
  if (rc) return rc;
  if (*e < *s) return bad(c, "end before start", "");
  *s += c->origin;
  *e += c->origin;
  return 0;
}

static int get_dim3(const struct cursor *c, const json_t *o, const char *key, int32_t out[3]) {
  const json_t *a = json_object_get(o, key);
  if (!json_is_array(a) || json_array_size(a) != 3) return bad(c, "field is not an array of 3 integers: ", key);
  for (int i = 0; i < 3; i++) {
    const json_t *v = json_array_get(a, (size_t)i);
    if (!json_is_integer(v)) return bad(c, "field is not an array of 3 integers: ", key);
    out[i] = (int32_t)json_integer_value(v);
  }
  return 0;
}

/* ---- one record per kind ---- */
static int read_kernel(struct profile *p, struct cursor *c, const json_t *o) {
  struct prof_kernel k = {.proc = c->proc};
  const char *name;
  int64_t regs, ss, ds;
  int rc = get_str(c, o, "name", &name);
  if (!rc) rc = get_span(c, o, &k.s, &k.e);
  if (!rc) rc = get_u32(c, o, "dev", &k.dev);
  if (!rc) rc = get_u32(c, o, "ctx", &k.ctx);
  if (!rc) rc = get_u32(c, o, "str", &k.stream);
  if (!rc) rc = get_u32(c, o, "corr", &k.corr);
  if (!rc) rc = get_dim3(c, o, "grid", k.grid);
  if (!rc) rc = get_dim3(c, o, "block", k.block);
  if (!rc) rc = get_int(c, o, "regs", &regs);
  if (!rc) rc = get_int(c, o, "ssmem", &ss);
  if (!rc) rc = get_int(c, o, "dsmem", &ds);
  if (rc) return rc;
  k.regs = (int)regs, k.ssmem = (int)ss, k.dsmem = (int)ds;
  if ((k.name = profile_name(p, name, true)) < 0) return k.name;
  return profile_add_kernel(p, &k);
}

static enum prof_copy_kind copy_kind(const char *s) {
  static const char *names[] = {"HtoD", "DtoH", "DtoD", "HtoH", "PtoP"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, names[i])) return (enum prof_copy_kind)i;
  return PROF_COPY_OTHER;
}

static int read_copy(struct profile *p, struct cursor *c, const json_t *o, bool memset_rec) {
  struct prof_copy m = {.proc = c->proc, .kind = PROF_MEMSET};
  const char *kind = "memset", *src = "device", *dst;
  int64_t bytes;
  int rc = memset_rec ? 0 : get_str(c, o, "kind", &kind);
  if (!rc && !memset_rec) rc = get_str(c, o, "src", &src);
  if (!rc) rc = get_str(c, o, "dst", &dst);
  if (!rc) rc = get_int(c, o, "bytes", &bytes);
  if (!rc) rc = get_span(c, o, &m.s, &m.e);
  if (!rc) rc = get_u32(c, o, "dev", &m.dev);
  if (!rc) rc = get_u32(c, o, "ctx", &m.ctx);
  if (!rc) rc = get_u32(c, o, "str", &m.stream);
  if (!rc) rc = get_u32(c, o, "corr", &m.corr);
  if (rc) return rc;
  if (bytes < 0) return bad(c, "negative byte count", "");
  m.bytes = (uint64_t)bytes;
  if (!memset_rec) m.kind = copy_kind(kind);
  m.pageable = !strcmp(src, "pageable") || !strcmp(dst, "pageable");
  return profile_add_copy(p, &m);
}

static int read_sync(struct profile *p, struct cursor *c, const json_t *o) {
  struct prof_sync s = {.proc = c->proc};
  const char *type;
  int rc = get_str(c, o, "type", &type);
  if (!rc) rc = get_span(c, o, &s.s, &s.e);
  if (!rc) rc = get_u32(c, o, "ctx", &s.ctx);
  if (!rc) rc = get_u32(c, o, "str", &s.stream);
  if (!rc) rc = get_u32(c, o, "corr", &s.corr);
  if (rc) return rc;
  if ((s.type = profile_name(p, type, false)) < 0) return s.type;
  return profile_add_sync(p, &s);
}

static int read_api(struct profile *p, struct cursor *c, const json_t *o) {
  struct prof_api a = {.proc = c->proc};
  const char *dom, *name;
  int rc = get_str(c, o, "dom", &dom);
  if (!rc) rc = get_str(c, o, "name", &name);
  if (!rc) rc = get_span(c, o, &a.s, &a.e);
  if (!rc) rc = get_u32(c, o, "tid", &a.tid);
  if (!rc) rc = get_u32(c, o, "corr", &a.corr);
  if (rc) return rc;
  a.driver = !strcmp(dom, "driver");
  if ((a.name = profile_name(p, name, false)) < 0) return a.name;
  return profile_add_api(p, &a);
}

/* ---- markers: start/end pairs by id become ranges ---- */
static int read_marker(struct profile *p, struct cursor *c, const json_t *o) {
  const char *what, *name;
  int64_t id, t;
  uint32_t tid;
  int rc = get_str(c, o, "what", &what);
  if (!rc) rc = get_int(c, o, "id", &id);
  if (!rc) rc = get_int(c, o, "t", &t);
  if (!rc) rc = get_u32(c, o, "tid", &tid);
  if (!rc) rc = get_str(c, o, "name", &name);
  if (rc) return rc;
  t += c->origin;
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)id);
  if (!strcmp(what, "end")) {
    json_t *hit = json_object_get(c->open, key);
    if (!hit) return 0; /* its start was before the injection: nothing to pair */
    struct prof_range *r = &p->ranges[json_integer_value(hit)];
    r->e = t > r->s ? t : r->s;
    json_object_del(c->open, key);
    return 0;
  }
  if (strcmp(what, "start") && strcmp(what, "instant")) return bad(c, "unknown marker kind: ", what);
  struct prof_range r = {.s = t, .e = t, .tid = tid, .proc = c->proc, .instant = !strcmp(what, "instant")};
  if ((r.name = profile_name(p, name, false)) < 0) return r.name;
  if (!r.instant) json_object_set_new(c->open, key, json_integer(p->n_ranges));
  return profile_add_range(p, &r);
}

static int read_end(struct profile *p, struct cursor *c, const json_t *o) {
  struct prof_process *pr = &p->procs[c->proc];
  int64_t sig = 0, dropped = 0, t;
  int rc = get_int(c, o, "t", &t);
  if (rc) return rc;
  get_int(c, o, "signal", &sig);
  get_int(c, o, "dropped", &dropped);
  pr->ended = true;
  pr->signal = (int)sig;
  if (t + c->origin > pr->last_ns) pr->last_ns = t + c->origin;
  return 0;
}

static int read_record(struct profile *p, struct cursor *c, const json_t *o) {
  const char *k;
  int rc = get_str(c, o, "k", &k);
  if (rc) return rc;
  if (!strcmp(k, "kernel")) return read_kernel(p, c, o);
  if (!strcmp(k, "memcpy")) return read_copy(p, c, o, false);
  if (!strcmp(k, "memset")) return read_copy(p, c, o, true);
  if (!strcmp(k, "sync")) return read_sync(p, c, o);
  if (!strcmp(k, "api")) return read_api(p, c, o);
  if (!strcmp(k, "marker")) return read_marker(p, c, o);
  if (!strcmp(k, "end")) return read_end(p, c, o);
  if (!strcmp(k, "dropped")) {
    int64_t n;
    if ((rc = get_int(c, o, "n", &n))) return rc;
    p->procs[c->proc].dropped += (uint64_t)(n > 0 ? n : 0);
    return 0;
  }
  return bad(c, "unknown record kind: ", k);
}

static int read_header(struct profile *p, struct cursor *c, const json_t *o) {
  int64_t version, pid, ppid, cupti_ns, wall_ns;
  const char *exe = "";
  const json_t *v = json_object_get(o, "gpuops_profile");
  if (!json_is_integer(v)) return bad(c, "not a gpuops profile record file (no header line)", "");
  if ((version = json_integer_value(v)) != RECORD_VERSION) {
    char what[64];
    snprintf(what, sizeof what, "%lld (this gpuops reads %d)", (long long)version, RECORD_VERSION);
    return bad(c, "unsupported record format version ", what);
  }
  int rc = get_int(c, o, "pid", &pid);
  if (!rc) rc = get_int(c, o, "ppid", &ppid);
  if (!rc) rc = get_int(c, o, "cupti_ns", &cupti_ns);
  if (!rc) rc = get_int(c, o, "wall_ns", &wall_ns);
  if (rc) return rc;
  get_str(c, o, "exe", &exe);
  if ((c->proc = profile_add_process(p, (int)pid)) < 0) return c->proc;
  struct prof_process *pr = &p->procs[c->proc];
  pr->ppid = (int)ppid;
  snprintf(pr->exe, sizeof pr->exe, "%s", exe);
  snprintf(pr->file, sizeof pr->file, "%s", c->file);
  c->origin = wall_ns - cupti_ns;
  pr->last_ns = wall_ns;
  return 0;
}

/* ---- a file ---- */
static void track_last(struct profile *p, const struct cursor *c, int nk, int nc, int na) {
  struct prof_process *pr = &p->procs[c->proc];
  if (p->n_kernels > nk && p->kernels[p->n_kernels - 1].e > pr->last_ns) pr->last_ns = p->kernels[p->n_kernels - 1].e;
  if (p->n_copies > nc && p->copies[p->n_copies - 1].e > pr->last_ns) pr->last_ns = p->copies[p->n_copies - 1].e;
  if (p->n_apis > na && p->apis[p->n_apis - 1].e > pr->last_ns) pr->last_ns = p->apis[p->n_apis - 1].e;
}

/* Close ranges still open at the end of the file (the process ended inside them). */
static void close_open(struct profile *p, struct cursor *c) {
  const char *key;
  json_t *v;
  int n = 0;
  json_object_foreach(c->open, key, v) {
    struct prof_range *r = &p->ranges[json_integer_value(v)];
    r->e = p->procs[c->proc].last_ns > r->s ? p->procs[c->proc].last_ns : r->s;
    n++;
  }
  if (n) profile_note(p, "%s: %d NVTX range(s) never ended; drawn up to the process's last record", c->file, n);
}

int record_load_buf(struct profile *p, const char *buf, size_t len, const char *name) {
  struct cursor c = {.file = name, .proc = -1, .open = json_object()};
  int rc = 0;
  for (size_t pos = 0; pos < len && rc == 0;) {
    const char *nl = memchr(buf + pos, '\n', len - pos);
    c.line++;
    c.offset = pos;
    if (!nl) {
      rc = bad(&c, "truncated record at the end of the file (no newline): the writer was cut off mid-write; "
                   "every line before this one is complete",
               "");
      break;
    }
    size_t n = (size_t)(nl - (buf + pos));
    json_error_t je;
    json_t *o = json_loadb(buf + pos, n, 0, &je);
    if (!json_is_object(o)) rc = bad(&c, "not a JSON object: ", o ? "other JSON value" : je.text);
    else if (c.proc < 0) rc = read_header(p, &c, o);
    else {
      int nk = p->n_kernels, nc = p->n_copies, na = p->n_apis;
      rc = read_record(p, &c, o);
      if (!rc) track_last(p, &c, nk, nc, na);
    }
    json_decref(o);
    pos += n + 1;
  }
  if (rc == 0 && c.proc < 0) rc = err_set(ERR_PARSE, "%s: empty record file (no header line)", name);
  if (rc == 0) {
    close_open(p, &c);
    if (!p->procs[c.proc].ended)
      profile_note(p, "%s: no end record: process %d was killed before it could flush; records CUPTI still held "
                      "are lost",
                   name, p->procs[c.proc].pid);
  }
  json_decref(c.open);
  return rc;
}

int record_load_file(struct profile *p, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(ERR_IO, "cannot read %s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  char chunk[65536];
  size_t n;
  int rc = mem ? 0 : err_set(ERR_NOMEM, "out of memory reading %s", path);
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (fwrite(chunk, 1, n, mem) != n) rc = err_set(ERR_NOMEM, "out of memory reading %s", path);
  if (rc == 0 && ferror(f)) rc = err_set(ERR_IO, "cannot read %s", path);
  fclose(f);
  if (mem) fclose(mem);
  if (rc == 0) rc = record_load_buf(p, buf ? buf : "", len, path);
  free(buf);
  return rc;
}

/* ---- a folder ---- */
static int jsonl_only(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 6 && !strcmp(d->d_name + n - 6, ".jsonl");
}

int record_load_dir(struct profile *p, const char *dir) {
  struct dirent **list = NULL;
  int n = scandir(dir, &list, jsonl_only, alphasort);
  if (n < 0) return errno == ENOENT ? 0 : err_set(ERR_IO, "cannot list %s: %s", dir, strerror(errno));
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
    if (rc == 0) rc = record_load_file(p, path);
    free(list[i]);
  }
  free(list);
  return rc < 0 ? rc : n;
}

/* ---- NVML samples ---- */
int record_save_samples(const struct profile *p, const char *path) {
  json_t *names = json_array(), *rows = json_array();
  for (int c = 0; c < PROF_COUNTERS; c++) json_array_append_new(names, json_string(prof_counter_name(c)));
  for (int i = 0; i < p->n_samples; i++) {
    const struct prof_sample *x = &p->samples[i];
    json_t *row = json_pack("[I,i,o]", (json_int_t)x->t, x->dev,
                            x->have_reasons ? json_integer((json_int_t)x->clock_reasons) : json_null());
    for (int c = 0; c < PROF_COUNTERS; c++) json_array_append_new(row, jsonio_number(x->valid & (1u << c), x->v[c]));
    json_array_append_new(rows, row);
  }
  json_t *doc = json_pack("{s:i,s:s,s:b,s:o,s:o}", "gpuops_nvml_samples", 1, "gpu", p->gpu_name, "simulated",
                          p->simulated_samples, "counters", names, "samples", rows);
  int rc = jsonio_write_file(path, doc);
  json_decref(doc);
  return rc;
}

static int load_sample_row(struct profile *p, const json_t *row, const char *path, size_t i) {
  if (!json_is_array(row) || json_array_size(row) != 3 + PROF_COUNTERS || !json_is_integer(json_array_get(row, 0)) ||
      !json_is_integer(json_array_get(row, 1)))
    return err_set(ERR_PARSE, "%s: samples[%zu]: expected [t_ns, dev, reasons, %d values]", path, i, PROF_COUNTERS);
  struct prof_sample x = {.t = json_integer_value(json_array_get(row, 0)),
                          .dev = (int)json_integer_value(json_array_get(row, 1))};
  const json_t *r = json_array_get(row, 2);
  if ((x.have_reasons = json_is_integer(r))) x.clock_reasons = (uint64_t)json_integer_value(r);
  for (int c = 0; c < PROF_COUNTERS; c++) {
    const json_t *v = json_array_get(row, (size_t)(3 + c));
    if (json_is_number(v)) x.v[c] = json_number_value(v), x.valid |= 1u << c;
  }
  return profile_add_sample(p, &x);
}

int record_load_samples(struct profile *p, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : err_set(ERR_IO, "cannot read %s: %s", path, strerror(errno));
  fclose(f);
  json_t *doc = NULL;
  int rc = jsonio_load_file(path, &doc);
  if (rc) return rc;
  if (json_integer_value(json_object_get(doc, "gpuops_nvml_samples")) != 1)
    rc = err_set(ERR_PARSE, "%s: not a gpuops NVML samples file of version 1", path);
  const char *gpu = json_string_value(json_object_get(doc, "gpu"));
  if (gpu && !p->gpu_name[0]) snprintf(p->gpu_name, sizeof p->gpu_name, "%s", gpu);
  p->simulated_samples |= json_is_true(json_object_get(doc, "simulated"));
  size_t i;
  const json_t *row;
  json_array_foreach(json_object_get(doc, "samples"), i, row) {
    if (rc) break;
    rc = load_sample_row(p, row, path, i);
  }
  json_decref(doc);
  return rc;
}
