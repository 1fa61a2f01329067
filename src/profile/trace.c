/*
 * trace.c — the trace-event writer and checker (trace.h).
 * Sections: events; GPU tracks; host tracks; NVTX ranges; the document;
 * the checker.
 */
#include "profile/trace.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- events ---- */
struct tb {
  json_t *events;
  int64_t t0; /* ns of ts 0 */
};

static double ts_us(const struct tb *b, int64_t t) { return (double)(t - b->t0) / 1000.0; }

static void ev_x(struct tb *b, const char *name, const char *cat, int pid, int64_t tid, int64_t s, int64_t e,
                 json_t *args) {
  json_t *ev = json_pack("{s:s,s:s,s:s,s:i,s:I,s:f,s:f}", "name", name, "cat", cat, "ph", "X", "pid", pid, "tid",
                         (json_int_t)tid, "ts", ts_us(b, s), "dur", (double)(e - s) / 1000.0);
  if (args) json_object_set_new(ev, "args", args);
  json_array_append_new(b->events, ev);
}

static void ev_meta(struct tb *b, const char *what, int pid, int64_t tid, const char *name) {
  json_array_append_new(b->events, json_pack("{s:s,s:s,s:i,s:I,s:{s:s}}", "name", what, "ph", "M", "pid", pid, "tid",
                                             (json_int_t)tid, "args", "name", name));
}

static void ev_instant(struct tb *b, const char *name, int pid, int64_t tid, int64_t t, const char *scope) {
  json_array_append_new(b->events, json_pack("{s:s,s:s,s:s,s:i,s:I,s:f}", "name", name, "ph", "i", "s", scope, "pid",
                                             pid, "tid", (json_int_t)tid, "ts", ts_us(b, t)));
}

/* ---- GPU tracks ---- */
/* Name each (device, stream) track once: a JSON object "dev/stream" -> true. */
static void gpu_track(struct tb *b, json_t *seen, uint32_t dev, uint32_t stream, const char *gpu_name) {
  char key[48], name[160];
  snprintf(key, sizeof key, "%u", dev);
  if (!json_object_get(seen, key)) {
    json_object_set_new(seen, key, json_true());
    snprintf(name, sizeof name, "GPU %u%s%s%s", dev, gpu_name[0] ? " (" : "", gpu_name, gpu_name[0] ? ")" : "");
    ev_meta(b, "process_name", TRACE_GPU_PID + (int)dev, 0, name);
  }
  snprintf(key, sizeof key, "%u/%u", dev, stream);
  if (json_object_get(seen, key)) return;
  json_object_set_new(seen, key, json_true());
  snprintf(name, sizeof name, "stream %u", stream);
  ev_meta(b, "thread_name", TRACE_GPU_PID + (int)dev, stream, name);
}

static void gpu_events(struct tb *b, const struct profile *p, json_t *seen) {
  for (int i = 0; i < p->n_kernels; i++) {
    const struct prof_kernel *k = &p->kernels[i];
    gpu_track(b, seen, k->dev, k->stream, p->gpu_name);
    json_t *args = json_pack("{s:[i,i,i],s:[i,i,i],s:i,s:i,s:i,s:i,s:i}", "grid", k->grid[0], k->grid[1], k->grid[2],
                             "block", k->block[0], k->block[1], k->block[2], "registers", k->regs,
                             "static_smem", k->ssmem, "dynamic_smem", k->dsmem, "correlation", (int)k->corr, "pid",
                             p->procs[k->proc].pid);
    ev_x(b, p->names[k->name], "kernel", TRACE_GPU_PID + (int)k->dev, k->stream, k->s, k->e, args);
  }
  for (int i = 0; i < p->n_copies; i++) {
    const struct prof_copy *c = &p->copies[i];
    char name[64];
    gpu_track(b, seen, c->dev, c->stream, p->gpu_name);
    snprintf(name, sizeof name, c->kind == PROF_MEMSET ? "memset" : "memcpy %s%s", prof_copy_kind_name(c->kind),
             c->pageable ? " (pageable)" : "");
    double gbps = c->e > c->s ? (double)c->bytes / (double)(c->e - c->s) : 0;
    ev_x(b, name, c->kind == PROF_MEMSET ? "memset" : "memcpy", TRACE_GPU_PID + (int)c->dev, c->stream, c->s, c->e,
         json_pack("{s:I,s:b,s:f,s:i}", "bytes", (json_int_t)c->bytes, "pageable", c->pageable, "gbps", gbps,
                   "correlation", (int)c->corr));
  }
}

static void counter_events(struct tb *b, const struct profile *p, json_t *seen) {
  for (int i = 0; i < p->n_samples; i++) {
    const struct prof_sample *s = &p->samples[i];
    char key[24];
    snprintf(key, sizeof key, "%d", s->dev);
    if (!json_object_get(seen, key)) gpu_track(b, seen, (uint32_t)s->dev, 0, p->gpu_name);
    for (int c = 0; c < PROF_COUNTERS; c++) {
      if (!(s->valid & (1u << c))) continue; /* a missing reading is a gap, never 0 */
      json_array_append_new(b->events, json_pack("{s:s,s:s,s:i,s:i,s:f,s:{s:f}}", "name", prof_counter_name(c), "ph",
                                                 "C", "pid", TRACE_GPU_PID + s->dev, "tid", 0, "ts", ts_us(b, s->t),
                                                 "args", "value", s->v[c]));
    }
  }
}

/* ---- host tracks ---- */
static void host_track(struct tb *b, json_t *seen, const struct profile *p, int proc, uint32_t tid) {
  char key[48], name[600];
  int pid = p->procs[proc].pid;
  snprintf(key, sizeof key, "h%d", pid);
  if (!json_object_get(seen, key)) {
    json_object_set_new(seen, key, json_true());
    const char *exe = strrchr(p->procs[proc].exe, '/');
    snprintf(name, sizeof name, "%s [%d]", exe ? exe + 1 : p->procs[proc].exe[0] ? p->procs[proc].exe : "process",
             pid);
    ev_meta(b, "process_name", pid, 0, name);
  }
  snprintf(key, sizeof key, "h%d/%u", pid, tid);
  if (json_object_get(seen, key)) return;
  json_object_set_new(seen, key, json_true());
  snprintf(name, sizeof name, tid ? "thread %u" : "CUDA synchronisation", tid);
  ev_meta(b, "thread_name", pid, tid, name);
}

static void host_events(struct tb *b, const struct profile *p, json_t *seen) {
  for (int i = 0; i < p->n_apis; i++) {
    const struct prof_api *a = &p->apis[i];
    host_track(b, seen, p, a->proc, a->tid);
    ev_x(b, p->names[a->name], a->driver ? "driver_api" : "runtime_api", p->procs[a->proc].pid, a->tid, a->s, a->e,
         json_pack("{s:i}", "correlation", (int)a->corr));
  }
  for (int i = 0; i < p->n_syncs; i++) {
    const struct prof_sync *s = &p->syncs[i];
    const struct prof_api *a = profile_api_by_corr(p, s->proc, s->corr);
    uint32_t tid = a ? a->tid : 0;
    char name[96];
    snprintf(name, sizeof name, "wait (%s)", p->names[s->type]);
    host_track(b, seen, p, s->proc, tid);
    ev_x(b, name, "sync", p->procs[s->proc].pid, tid, s->s, s->e, json_pack("{s:i}", "stream", (int)s->stream));
  }
  for (int i = 0; i < p->n_procs; i++) {
    const struct prof_process *pr = &p->procs[i];
    char what[64];
    host_track(b, seen, p, i, 0);
    snprintf(what, sizeof what, !pr->ended ? "records end (killed?)" : pr->signal ? "flushed at signal %d" : "exit",
             pr->signal);
    ev_instant(b, what, pr->pid, 0, pr->last_ns, "p");
  }
}

/* ---- NVTX ranges: B/E where they nest on their thread, X where they don't ---- */
static void range_events(struct tb *b, const struct profile *p, json_t *seen) {
  int n = p->n_ranges;
  int *stack = malloc((size_t)(n ? n : 1) * sizeof *stack);
  bool *done = calloc((size_t)(n ? n : 1), sizeof *done);
  if (!stack || !done) goto out;
  for (int first = 0; first < n; first++) { /* one pass per (proc, tid), started by its first range */
    if (done[first]) continue;
    const struct prof_range *f = &p->ranges[first];
    int pid = p->procs[f->proc].pid, depth = 0;
    host_track(b, seen, p, f->proc, f->tid);
    for (int i = first; i < n; i++) {
      const struct prof_range *r = &p->ranges[i];
      if (done[i] || r->proc != f->proc || r->tid != f->tid) continue;
      done[i] = true;
      while (depth > 0 && p->ranges[stack[depth - 1]].e <= r->s) {
        const struct prof_range *top = &p->ranges[stack[--depth]];
        json_array_append_new(b->events, json_pack("{s:s,s:s,s:i,s:I,s:f}", "name", p->names[top->name], "ph", "E",
                                                   "pid", pid, "tid", (json_int_t)top->tid, "ts", ts_us(b, top->e)));
      }
      if (r->instant) {
        ev_instant(b, p->names[r->name], pid, r->tid, r->s, "t");
      } else if (depth == 0 || p->ranges[stack[depth - 1]].e >= r->e) {
        stack[depth++] = i;
        json_array_append_new(b->events, json_pack("{s:s,s:s,s:s,s:i,s:I,s:f}", "name", p->names[r->name], "cat",
                                                   "nvtx", "ph", "B", "pid", pid, "tid", (json_int_t)r->tid, "ts",
                                                   ts_us(b, r->s)));
      } else {
        ev_x(b, p->names[r->name], "nvtx", pid, r->tid, r->s, r->e, NULL);
      }
    }
    while (depth > 0) {
      const struct prof_range *top = &p->ranges[stack[--depth]];
      json_array_append_new(b->events, json_pack("{s:s,s:s,s:i,s:I,s:f}", "name", p->names[top->name], "ph", "E",
                                                 "pid", pid, "tid", (json_int_t)top->tid, "ts", ts_us(b, top->e)));
    }
  }
out:
  free(stack);
  free(done);
}

/* ---- the document ---- */
json_t *trace_build(const struct profile *p) {
  struct tb b = {.events = json_array()};
  int64_t t1 = 0;
  if (!profile_span(p, &b.t0, &t1)) b.t0 = p->run_start;
  if (p->run_start && p->run_start < b.t0) b.t0 = p->run_start;
  json_t *seen = json_object();
  gpu_events(&b, p, seen);
  counter_events(&b, p, seen);
  host_events(&b, p, seen);
  range_events(&b, p, seen);
  json_decref(seen);
  return json_pack("{s:o,s:s,s:{s:s,s:s,s:I}}", "traceEvents", b.events, "displayTimeUnit", "ns", "otherData",
                   "generator", "gpuops profile", "command", p->command, "origin_wall_ns", (json_int_t)b.t0);
}

int trace_write(FILE *out, const struct profile *p) {
  json_t *doc = trace_build(p);
  if (!doc) return err_set(ERR_NOMEM, "trace: out of memory");
  int rc = json_dumpf(doc, out, JSON_COMPACT) == 0 && fputc('\n', out) != EOF ? 0 : err_set(ERR_IO, "write failed");
  json_decref(doc);
  return rc;
}

/* ---- the checker ---- */
struct be { /* a B or E event, for the matching pass */
  int64_t pid, tid;
  double ts;
  int index;
  bool begin;
  const char *name;
};

static int cmp_be(const void *a, const void *b) {
  const struct be *x = a, *y = b;
  if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
  if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return x->index - y->index; /* at one time, file order */
}

static int fail(int i, const char *what, const char *detail) {
  return err_set(ERR_PARSE, "event %d: %s%s", i, what, detail ? detail : "");
}

static int check_meta(int i, const json_t *ev) {
  const char *name = json_string_value(json_object_get(ev, "name"));
  const json_t *args = json_object_get(ev, "args");
  if (!strcmp(name, "process_name") || !strcmp(name, "thread_name") || !strcmp(name, "process_labels")) {
    if (!json_is_string(json_object_get(args, "name")) && strcmp(name, "process_labels"))
      return fail(i, "metadata without a string args.name: ", name);
  } else if (strcmp(name, "process_sort_index") && strcmp(name, "thread_sort_index")) {
    return fail(i, "unknown metadata event: ", name);
  }
  if (!strcmp(name, "thread_name") && !json_is_integer(json_object_get(ev, "tid")))
    return fail(i, "thread_name without an integer tid", NULL);
  return 0;
}

static int check_event(int i, const json_t *ev, char ph) {
  if (ph != 'E' && !json_is_string(json_object_get(ev, "name"))) return fail(i, "no string \"name\"", NULL);
  if (!json_is_integer(json_object_get(ev, "pid"))) return fail(i, "no integer \"pid\"", NULL);
  if (ph == 'M') return check_meta(i, ev);
  if (!json_is_number(json_object_get(ev, "ts"))) return fail(i, "no number \"ts\"", NULL);
  if (ph != 'C' && !json_is_integer(json_object_get(ev, "tid"))) return fail(i, "no integer \"tid\"", NULL);
  if (ph == 'X') {
    const json_t *dur = json_object_get(ev, "dur");
    if (!json_is_number(dur) || json_number_value(dur) < 0) return fail(i, "X without a number \"dur\" >= 0", NULL);
  }
  if (ph == 'C') {
    const json_t *args = json_object_get(ev, "args"), *v;
    const char *k;
    if (!json_is_object(args) || json_object_size(args) == 0) return fail(i, "C without an \"args\" object", NULL);
    json_object_foreach((json_t *)args, k, v) if (!json_is_number(v)) return fail(i, "C value is not a number: ", k);
  }
  if (ph == 'i' || ph == 'I') {
    const char *s = json_string_value(json_object_get(ev, "s"));
    if (json_object_get(ev, "s") && (!s || strlen(s) != 1 || !strchr("gpt", s[0])))
      return fail(i, "instant scope \"s\" is not g, p or t", NULL);
  }
  return 0;
}

static int check_nesting(struct be *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_be);
  int rc = 0;
  const char **stack = malloc((size_t)(n ? n : 1) * sizeof *stack);
  int *where = malloc((size_t)(n ? n : 1) * sizeof *where);
  if (!stack || !where) {
    rc = err_set(ERR_NOMEM, "trace check: out of memory");
    goto out;
  }
  for (int i = 0, depth = 0; i < n && rc == 0; i++) {
    if (i > 0 && (v[i].pid != v[i - 1].pid || v[i].tid != v[i - 1].tid)) {
      if (depth) rc = fail(where[depth - 1], "B never ended: ", stack[depth - 1]);
      depth = 0;
    }
    if (rc) break;
    if (v[i].begin) {
      stack[depth] = v[i].name;
      where[depth++] = v[i].index;
    } else if (depth == 0) {
      rc = fail(v[i].index, "E with no open B on its thread", NULL);
    } else if (v[i].name && strcmp(v[i].name, stack[depth - 1])) {
      rc = fail(v[i].index, "E closes a B of another name: ", stack[depth - 1]);
    } else {
      depth--;
    }
    if (rc == 0 && i == n - 1 && depth) rc = fail(where[depth - 1], "B never ended: ", stack[depth - 1]);
  }
out:
  free(stack);
  free(where);
  return rc;
}

int trace_check(const json_t *doc) {
  const json_t *events = json_is_array(doc) ? doc : json_object_get(doc, "traceEvents");
  if (!json_is_array(events)) return err_set(ERR_PARSE, "not a trace: no \"traceEvents\" array");
  int n = (int)json_array_size(events), nbe = 0, rc = 0;
  struct be *be = malloc((size_t)(n ? n : 1) * sizeof *be);
  if (!be) return err_set(ERR_NOMEM, "trace check: out of memory");
  for (int i = 0; i < n && rc == 0; i++) {
    const json_t *ev = json_array_get(events, (size_t)i);
    const char *ph = json_string_value(json_object_get(ev, "ph"));
    if (!json_is_object(ev)) rc = fail(i, "not an object", NULL);
    else if (!ph || strlen(ph) != 1 || !strchr("XBECMiI", ph[0])) rc = fail(i, "unknown or missing \"ph\": ", ph);
    else rc = check_event(i, ev, ph[0]);
    if (rc == 0 && (ph[0] == 'B' || ph[0] == 'E'))
      be[nbe++] = (struct be){json_integer_value(json_object_get(ev, "pid")),
                              json_integer_value(json_object_get(ev, "tid")),
                              json_number_value(json_object_get(ev, "ts")), i, ph[0] == 'B',
                              json_string_value(json_object_get(ev, "name"))};
  }
  if (rc == 0) rc = check_nesting(be, nbe);
  free(be);
  return rc < 0 ? rc : n;
}
