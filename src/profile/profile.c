/*
 * profile.c — the profile model (profile.h): arrays, interned names, sorting,
 * lookups, demangling.
 * Sections: names; arrays; notes; sorting and lookups; demangling.
 */
#include "profile/profile.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

const char *prof_copy_kind_name(enum prof_copy_kind k) {
  static const char *names[PROF_COPY_KINDS] = {"HtoD", "DtoH", "DtoD", "HtoH", "PtoP", "other", "memset"};
  return k >= 0 && k < PROF_COPY_KINDS ? names[k] : "?";
}

const char *prof_counter_name(enum prof_counter c) {
  static const char *names[PROF_COUNTERS] = {"GPU util %",   "SM active %", "SM clock MHz",
                                             "mem clock MHz", "power W",     "memory used MiB"};
  return c >= 0 && c < PROF_COUNTERS ? names[c] : "?";
}

void profile_init(struct profile *p) {
  memset(p, 0, sizeof *p);
  p->name_index = json_object();
  p->exit_code = -1;
}

static void free_strings(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

void profile_free(struct profile *p) {
  free(p->kernels);
  free(p->copies);
  free(p->syncs);
  free(p->apis);
  free(p->ranges);
  free(p->samples);
  free(p->procs);
  free(p->api_order);
  free_strings(p->names, p->n_names);
  free_strings(p->notes, p->n_notes);
  json_decref(p->name_index);
  memset(p, 0, sizeof *p);
}

/* ---- arrays ---- */
/* Room for one more element of size elem in *v (n used, *cap allocated). */
static int grow(void **v, int n, int *cap, size_t elem) {
  if (n < *cap) return 0;
  int nc = *cap ? *cap * 2 : 64;
  void *nv = realloc(*v, (size_t)nc * elem);
  if (!nv) return err_set(ERR_NOMEM, "profile: out of memory (%d records)", n);
  *v = nv;
  *cap = nc;
  return 0;
}

#define ADD(arr, n, cap, rec)                                                  \
  do {                                                                         \
    int rc_ = grow((void **)&(arr), (n), &(cap), sizeof *(arr));               \
    if (rc_) return rc_;                                                       \
    (arr)[(n)++] = *(rec);                                                     \
    return 0;                                                                  \
  } while (0)

int profile_add_kernel(struct profile *p, const struct prof_kernel *k) { ADD(p->kernels, p->n_kernels, p->cap_kernels, k); }
int profile_add_copy(struct profile *p, const struct prof_copy *c) { ADD(p->copies, p->n_copies, p->cap_copies, c); }
int profile_add_sync(struct profile *p, const struct prof_sync *s) { ADD(p->syncs, p->n_syncs, p->cap_syncs, s); }
int profile_add_api(struct profile *p, const struct prof_api *a) { ADD(p->apis, p->n_apis, p->cap_apis, a); }
int profile_add_range(struct profile *p, const struct prof_range *r) { ADD(p->ranges, p->n_ranges, p->cap_ranges, r); }
int profile_add_sample(struct profile *p, const struct prof_sample *s) {
  ADD(p->samples, p->n_samples, p->cap_samples, s);
}

int profile_add_process(struct profile *p, int pid) {
  int rc = grow((void **)&p->procs, p->n_procs, &p->cap_procs, sizeof *p->procs);
  if (rc) return rc;
  memset(&p->procs[p->n_procs], 0, sizeof p->procs[0]);
  p->procs[p->n_procs].pid = pid;
  return p->n_procs++;
}

/* ---- names ---- */
int profile_name(struct profile *p, const char *name, bool demangle) {
  json_t *hit = json_object_get(p->name_index, name);
  if (hit) return (int)json_integer_value(hit);
  char buf[4096];
  const char *shown = demangle ? profile_demangle(name, buf, sizeof buf) : name;
  int rc = grow((void **)&p->names, p->n_names, &p->cap_names, sizeof *p->names);
  if (rc) return rc;
  char *copy = strdup(shown);
  if (!copy) return err_set(ERR_NOMEM, "profile: out of memory (names)");
  p->names[p->n_names] = copy;
  json_object_set_new(p->name_index, name, json_integer(p->n_names));
  return p->n_names++;
}

/* ---- notes ---- */
void profile_note(struct profile *p, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (grow((void **)&p->notes, p->n_notes, &p->cap_notes, sizeof *p->notes) == 0 && (p->notes[p->n_notes] = strdup(buf)))
    p->n_notes++;
}

/* ---- sorting and lookups ---- */
static int by_start(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_kernel(const void *a, const void *b) {
  return by_start(((const struct prof_kernel *)a)->s, ((const struct prof_kernel *)b)->s);
}
static int cmp_copy(const void *a, const void *b) {
  return by_start(((const struct prof_copy *)a)->s, ((const struct prof_copy *)b)->s);
}
static int cmp_sync(const void *a, const void *b) {
  return by_start(((const struct prof_sync *)a)->s, ((const struct prof_sync *)b)->s);
}
static int cmp_api(const void *a, const void *b) {
  return by_start(((const struct prof_api *)a)->s, ((const struct prof_api *)b)->s);
}
static int cmp_sample(const void *a, const void *b) {
  return by_start(((const struct prof_sample *)a)->t, ((const struct prof_sample *)b)->t);
}
/* Ranges: by start, and the longer first at equal starts, so an outer range precedes what it holds. */
static int cmp_range(const void *a, const void *b) {
  const struct prof_range *x = a, *y = b;
  int c = by_start(x->s, y->s);
  return c ? c : by_start(y->e, x->e);
}

static const struct profile *order_of; /* qsort has no context argument; one thread at a time (profile.h) */
static int cmp_api_corr(const void *a, const void *b) {
  const struct prof_api *x = &order_of->apis[*(const int *)a], *y = &order_of->apis[*(const int *)b];
  if (x->proc != y->proc) return x->proc < y->proc ? -1 : 1;
  return x->corr < y->corr ? -1 : x->corr > y->corr;
}

/* qsort, which must not be given a NULL array even of length 0. */
static void sort(void *v, int n, size_t size, int (*cmp)(const void *, const void *)) {
  if (n > 1) qsort(v, (size_t)n, size, cmp);
}

void profile_sort(struct profile *p) {
  sort(p->kernels, p->n_kernels, sizeof *p->kernels, cmp_kernel);
  sort(p->copies, p->n_copies, sizeof *p->copies, cmp_copy);
  sort(p->syncs, p->n_syncs, sizeof *p->syncs, cmp_sync);
  sort(p->apis, p->n_apis, sizeof *p->apis, cmp_api);
  sort(p->ranges, p->n_ranges, sizeof *p->ranges, cmp_range);
  sort(p->samples, p->n_samples, sizeof *p->samples, cmp_sample);
  free(p->api_order);
  p->api_order = p->n_apis ? malloc((size_t)p->n_apis * sizeof *p->api_order) : NULL;
  if (!p->api_order) return;
  for (int i = 0; i < p->n_apis; i++) p->api_order[i] = i;
  order_of = p;
  qsort(p->api_order, (size_t)p->n_apis, sizeof *p->api_order, cmp_api_corr);
}

const struct prof_api *profile_api_by_corr(const struct profile *p, int proc, uint32_t corr) {
  int lo = 0, hi = p->api_order ? p->n_apis - 1 : -1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const struct prof_api *a = &p->apis[p->api_order[mid]];
    if (a->proc == proc && a->corr == corr) return a;
    if (a->proc < proc || (a->proc == proc && a->corr < corr)) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

static void widen(int64_t s, int64_t e, int64_t *t0, int64_t *t1, bool *any) {
  if (!*any || s < *t0) *t0 = s;
  if (!*any || e > *t1) *t1 = e;
  *any = true;
}

bool profile_span(const struct profile *p, int64_t *t0, int64_t *t1) {
  bool any = false;
  for (int i = 0; i < p->n_kernels; i++) widen(p->kernels[i].s, p->kernels[i].e, t0, t1, &any);
  for (int i = 0; i < p->n_copies; i++) widen(p->copies[i].s, p->copies[i].e, t0, t1, &any);
  for (int i = 0; i < p->n_syncs; i++) widen(p->syncs[i].s, p->syncs[i].e, t0, t1, &any);
  for (int i = 0; i < p->n_apis; i++) widen(p->apis[i].s, p->apis[i].e, t0, t1, &any);
  for (int i = 0; i < p->n_ranges; i++) widen(p->ranges[i].s, p->ranges[i].e, t0, t1, &any);
  for (int i = 0; i < p->n_samples; i++) widen(p->samples[i].t, p->samples[i].t, t0, t1, &any);
  return any;
}

/* ---- demangling ----
 * libstdc++'s __cxa_demangle, found at run time: gpuops is C and must not
 * need the C++ runtime to start; without it names stay mangled. */
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

static demangle_fn demangler(void) {
  static demangle_fn fn;
  static bool tried;
  if (tried) return fn;
  tried = true;
  void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
  if (h) *(void **)&fn = dlsym(h, "__cxa_demangle");
  return fn;
}

const char *profile_demangle(const char *name, char *buf, size_t len) {
  if (strncmp(name, "_Z", 2) != 0) return name;
  demangle_fn fn = demangler();
  if (!fn) return name;
  int status = 0;
  char *out = fn(name, NULL, NULL, &status);
  if (!out || status != 0) {
    free(out);
    return name;
  }
  snprintf(buf, len, "%s", out);
  free(out);
  return buf;
}
