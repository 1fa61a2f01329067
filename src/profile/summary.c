/*
 * summary.c — the summary of a profiled run (summary.h).
 * Sections: intervals; kernels; copies; API; JSON; text.
 */
#include "profile/summary.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/table.h"

/* ---- intervals ---- */
struct span {
  int64_t s, e;
};

static int cmp_span(const void *a, const void *b) {
  const struct span *x = a, *y = b;
  return x->s < y->s ? -1 : x->s > y->s;
}

/* Sort and merge in place; returns the merged count. */
static int merge(struct span *v, int n) {
  if (n == 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_span);
  int m = 0;
  for (int i = 1; i < n; i++) {
    if (v[i].s <= v[m].e) {
      if (v[i].e > v[m].e) v[m].e = v[i].e;
    } else {
      v[++m] = v[i];
    }
  }
  return m + 1;
}

/* Time of [s, e) covered by the merged spans v[0..n). */
static int64_t covered(const struct span *v, int n, int64_t s, int64_t e) {
  int lo = 0, hi = n; /* first span ending after s */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (v[mid].e <= s) lo = mid + 1;
    else hi = mid;
  }
  int64_t t = 0;
  for (int i = lo; i < n && v[i].s < e; i++) {
    int64_t a = v[i].s > s ? v[i].s : s, b = v[i].e < e ? v[i].e : e;
    if (b > a) t += b - a;
  }
  return t;
}

/* Busy and idle inside the NVTX ranges (their union over every thread), when
 * there are any: the part of the run the program marked as its work, without
 * start-up. gpu[0..ng) are the merged GPU spans. */
static void nvtx_window(const struct profile *p, struct summary *s, const struct span *gpu, int ng) {
  struct span *r = malloc((size_t)(p->n_ranges ? p->n_ranges : 1) * sizeof *r);
  if (!r) return;
  int n = 0;
  for (int i = 0; i < p->n_ranges; i++)
    if (!p->ranges[i].instant && p->ranges[i].e > p->ranges[i].s) r[n++] = (struct span){p->ranges[i].s, p->ranges[i].e};
  n = merge(r, n);
  for (int i = 0; i < n; i++) {
    s->nvtx_ns += r[i].e - r[i].s;
    s->nvtx_busy_ns += covered(gpu, ng, r[i].s, r[i].e);
  }
  s->have_nvtx = n > 0;
  s->nvtx_idle_share = s->nvtx_ns ? 1.0 - (double)s->nvtx_busy_ns / (double)s->nvtx_ns : 0;
  free(r);
}

static int busy_idle(const struct profile *p, struct summary *s, struct span **kernels_out, int *nk_out) {
  int n = p->n_kernels + p->n_copies;
  struct span *all = malloc((size_t)(n ? n : 1) * sizeof *all);
  struct span *ks = malloc((size_t)(p->n_kernels ? p->n_kernels : 1) * sizeof *ks);
  if (!all || !ks) {
    free(all);
    free(ks);
    return err_set(ERR_NOMEM, "summary: out of memory");
  }
  for (int i = 0; i < p->n_kernels; i++) all[i] = ks[i] = (struct span){p->kernels[i].s, p->kernels[i].e};
  for (int i = 0; i < p->n_copies; i++) all[p->n_kernels + i] = (struct span){p->copies[i].s, p->copies[i].e};
  int m = merge(all, n);
  if (m > 0) {
    s->have_window = true;
    s->window_s = all[0].s;
    s->window_e = all[m - 1].e;
    for (int i = 0; i < m; i++) s->busy_ns += all[i].e - all[i].s;
    s->idle_ns = (s->window_e - s->window_s) - s->busy_ns;
    s->idle_share = s->window_e > s->window_s ? (double)s->idle_ns / (double)(s->window_e - s->window_s) : 0;
  }
  nvtx_window(p, s, all, m);
  free(all);
  *nk_out = merge(ks, p->n_kernels);
  *kernels_out = ks;
  return 0;
}

/* ---- kernels ---- */
static int cmp_total(const void *a, const void *b) {
  const struct summary_kernel *x = a, *y = b;
  if (x->total_ns != y->total_ns) return x->total_ns > y->total_ns ? -1 : 1;
  return x->name - y->name;
}

static int kernels(const struct profile *p, struct summary *s) {
  /* One slot per name index, then squeezed to the names that occur. */
  struct summary_kernel *by = calloc((size_t)(p->n_names ? p->n_names : 1), sizeof *by);
  if (!by) return err_set(ERR_NOMEM, "summary: out of memory");
  for (int i = 0; i < p->n_kernels; i++) {
    const struct prof_kernel *k = &p->kernels[i];
    struct summary_kernel *e = &by[k->name];
    int64_t d = k->e - k->s;
    if (e->calls == 0 || d < e->min_ns) e->min_ns = d;
    if (d > e->max_ns) e->max_ns = d;
    e->name = k->name;
    e->calls++;
    e->total_ns += d;
    s->kernel_ns += d;
    s->tiny_launches += d < SUMMARY_TINY_NS;
  }
  s->launches = p->n_kernels;
  for (int i = 0; i < p->n_names; i++)
    if (by[i].calls) by[s->n_kernels++] = by[i];
  qsort(by, (size_t)s->n_kernels, sizeof *by, cmp_total);
  for (int i = 0; i < s->n_kernels; i++) by[i].share = s->kernel_ns ? (double)by[i].total_ns / (double)s->kernel_ns : 0;
  s->kernels = by;
  return 0;
}

/* ---- copies ---- */
static void copies(const struct profile *p, struct summary *s, const struct span *ks, int nk) {
  for (int i = 0; i < p->n_copies; i++) {
    const struct prof_copy *c = &p->copies[i];
    struct summary_copy *e = &s->copies[c->kind];
    e->count++;
    e->pageable += c->pageable;
    e->bytes += c->bytes;
    e->time_ns += c->e - c->s;
    if (c->kind == PROF_MEMSET) continue;
    s->copy_ns += c->e - c->s;
    s->copy_overlap_ns += covered(ks, nk, c->s, c->e);
  }
  for (int k = 0; k < PROF_COPY_KINDS; k++)
    s->copies[k].gbps = s->copies[k].time_ns ? (double)s->copies[k].bytes / (double)s->copies[k].time_ns : 0;
}

/* ---- API ---- */
static bool is_launch(const char *n) {
  return !strncmp(n, "cudaLaunch", 10) || !strncmp(n, "cuLaunch", 8) || !strncmp(n, "cudaGraphLaunch", 15);
}

static void api(const struct profile *p, struct summary *s) {
  for (int i = 0; i < p->n_apis; i++) {
    const struct prof_api *a = &p->apis[i];
    const char *n = p->names[a->name];
    /* A runtime launch calls the driver's: count one layer only (runtime when there, else driver). */
    if (is_launch(n) && (!a->driver || !strncmp(n, "cuLaunch", 8))) {
      s->launch_calls++;
      s->launch_ns += a->e - a->s;
    } else if (strstr(n, "Synchronize")) {
      s->sync_calls++;
      s->sync_ns += a->e - a->s;
    }
  }
  for (int i = 0; i < p->n_syncs; i++) {
    s->sync_records++;
    s->sync_record_ns += p->syncs[i].e - p->syncs[i].s;
  }
}

int summary_compute(const struct profile *p, struct summary *s) {
  memset(s, 0, sizeof *s);
  struct span *ks = NULL;
  int nk = 0;
  int rc = busy_idle(p, s, &ks, &nk);
  if (rc) return rc;
  if ((rc = kernels(p, s)) == 0) {
    copies(p, s, ks, nk);
    api(p, s);
  }
  free(ks);
  return rc;
}

void summary_free(struct summary *s) {
  free(s->kernels);
  memset(s, 0, sizeof *s);
}

/* ---- JSON ---- */
static double ms(int64_t ns) { return (double)ns / 1e6; }
static double us(int64_t ns) { return (double)ns / 1e3; }

static json_t *run_json(const struct profile *p) {
  json_t *procs = json_array();
  for (int i = 0; i < p->n_procs; i++) {
    const struct prof_process *pr = &p->procs[i];
    json_array_append_new(procs, json_pack("{s:i,s:i,s:s,s:b,s:i,s:I}", "pid", pr->pid, "ppid", pr->ppid, "exe",
                                           pr->exe, "ended", pr->ended, "signal", pr->signal, "dropped_records",
                                           (json_int_t)pr->dropped));
  }
  return json_pack("{s:s,s:o,s:i,s:i,s:o,s:s,s:o}", "command", p->command, "wall_ms",
                   p->run_end > p->run_start ? json_real(ms(p->run_end - p->run_start)) : json_null(), "exit_code",
                   p->exit_code, "signal", p->term_signal, "processes", procs, "gpu", p->gpu_name, "nvml_samples",
                   json_integer(p->n_samples));
}

static json_t *kernels_json(const struct profile *p, const struct summary *s, int top) {
  json_t *a = json_array();
  for (int i = 0; i < s->n_kernels && i < top; i++) {
    const struct summary_kernel *k = &s->kernels[i];
    json_array_append_new(a, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:f}", "name", p->names[k->name], "calls", k->calls,
                                       "total_ms", ms(k->total_ns), "mean_us", us(k->total_ns) / k->calls, "min_us",
                                       us(k->min_ns), "max_us", us(k->max_ns), "share", k->share));
  }
  return a;
}

static json_t *copies_json(const struct summary *s) {
  json_t *a = json_array();
  for (int k = 0; k < PROF_COPY_KINDS; k++) {
    const struct summary_copy *c = &s->copies[k];
    if (!c->count) continue;
    json_array_append_new(a, json_pack("{s:s,s:i,s:i,s:I,s:f,s:o}", "kind", prof_copy_kind_name(k), "count", c->count,
                                       "pageable", c->pageable, "bytes", (json_int_t)c->bytes, "total_ms",
                                       ms(c->time_ns), "gbps", jsonio_number(c->time_ns > 0, c->gbps)));
  }
  return a;
}

static json_t *notes_json(const struct profile *p) {
  json_t *a = json_array();
  for (int i = 0; i < p->n_notes; i++) json_array_append_new(a, json_string(p->notes[i]));
  return a;
}

json_t *summary_json(const struct profile *p, const struct summary *s, int top) {
  json_t *window = s->have_window
                       ? json_pack("{s:f,s:f,s:f,s:f}", "window_ms", ms(s->window_e - s->window_s), "busy_ms",
                                   ms(s->busy_ns), "idle_ms", ms(s->idle_ns), "idle_share", s->idle_share)
                       : json_null();
  json_t *nvtx = s->have_nvtx ? json_pack("{s:f,s:f,s:f}", "ranges_ms", ms(s->nvtx_ns), "busy_ms", ms(s->nvtx_busy_ns),
                                          "idle_share", s->nvtx_idle_share)
                             : json_null();
  json_t *api = json_pack("{s:i,s:f,s:o,s:i,s:f,s:i,s:f}", "launch_calls", s->launch_calls, "launch_total_ms",
                          ms(s->launch_ns), "launch_mean_us",
                          jsonio_number(s->launch_calls > 0, s->launch_calls ? us(s->launch_ns) / s->launch_calls : 0),
                          "sync_calls", s->sync_calls, "sync_total_ms", ms(s->sync_ns), "sync_records",
                          s->sync_records, "sync_record_total_ms", ms(s->sync_record_ns));
  return json_pack("{s:i,s:o,s:o,s:o,s:i,s:i,s:f,s:o,s:o,s:f,s:f,s:o,s:o}", "schema", 1, "run", run_json(p),
                   "gpu_window", window, "nvtx_window", nvtx, "launches", s->launches, "launches_under_10us", s->tiny_launches, "kernel_total_ms",
                   ms(s->kernel_ns), "kernels", kernels_json(p, s, top), "copies", copies_json(s), "copy_total_ms",
                   ms(s->copy_ns), "copy_overlapping_kernels_ms", ms(s->copy_overlap_ns), "api", api, "notes",
                   notes_json(p));
}

/* ---- text ---- */
static int kernel_table(FILE *out, const struct profile *p, const struct summary *s, int top) {
  static const char *cols[] = {"kernel", "calls", "total ms", "mean us", "min us", "max us", "share"};
  struct table *t = table_new(7, cols);
  if (!t) return err_set(ERR_NOMEM, "summary: out of memory");
  for (int i = 0; i < s->n_kernels && i < top; i++) {
    const struct summary_kernel *k = &s->kernels[i];
    char name[72];
    snprintf(name, sizeof name, "%.68s%s", p->names[k->name], strlen(p->names[k->name]) > 68 ? "..." : "");
    table_add_rowf(t, "%s|%d|%.3f|%.2f|%.2f|%.2f|%.1f%%", name, k->calls, ms(k->total_ns), us(k->total_ns) / k->calls,
                   us(k->min_ns), us(k->max_ns), 100 * k->share);
  }
  int rc = table_write(t, out, TABLE_FMT_TABLE);
  table_free(t);
  return rc;
}

static int copy_table(FILE *out, const struct summary *s) {
  static const char *cols[] = {"copy", "count", "pageable", "MB", "total ms", "GB/s"};
  struct table *t = table_new(6, cols);
  if (!t) return err_set(ERR_NOMEM, "summary: out of memory");
  for (int k = 0; k < PROF_COPY_KINDS; k++) {
    const struct summary_copy *c = &s->copies[k];
    if (c->count)
      table_add_rowf(t, "%s|%d|%d|%.3f|%.3f|%.2f", prof_copy_kind_name(k), c->count, c->pageable, c->bytes / 1e6,
                     ms(c->time_ns), c->gbps);
  }
  int rc = table_write(t, out, TABLE_FMT_TABLE);
  table_free(t);
  return rc;
}

int summary_text(FILE *out, const struct profile *p, const struct summary *s, int top) {
  fprintf(out, "command: %s\n", p->command[0] ? p->command : "(records only)");
  if (p->run_end > p->run_start)
    fprintf(out, "wall: %.1f ms, exit code %d%s\n", ms(p->run_end - p->run_start), p->exit_code,
            p->term_signal ? " (killed by a signal)" : "");
  if (s->have_window)
    fprintf(out, "GPU active window %.3f ms: busy %.3f ms, idle %.3f ms (%.1f%%)\n", ms(s->window_e - s->window_s),
            ms(s->busy_ns), ms(s->idle_ns), 100 * s->idle_share);
  if (s->have_nvtx)
    fprintf(out, "inside NVTX ranges (%.3f ms): GPU busy %.3f ms, idle %.1f%%\n", ms(s->nvtx_ns), ms(s->nvtx_busy_ns),
            100 * s->nvtx_idle_share);
  fprintf(out, "kernels: %d launches, %d under 10 us, %.3f ms in total\n", s->launches, s->tiny_launches,
          ms(s->kernel_ns));
  int rc = s->n_kernels ? kernel_table(out, p, s, top) : 0;
  if (rc == 0 && p->n_copies) rc = copy_table(out, s);
  if (s->launch_calls)
    fprintf(out, "API: %d launches, %.2f us each on average; %d synchronize calls, %.3f ms\n", s->launch_calls,
            us(s->launch_ns) / s->launch_calls, s->sync_calls, ms(s->sync_ns));
  if (s->sync_records) fprintf(out, "synchronisation: %d waits, %.3f ms\n", s->sync_records, ms(s->sync_record_ns));
  for (int i = 0; i < p->n_notes; i++) fprintf(out, "note: %s\n", p->notes[i]);
  return rc ? rc : ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}
