/*
 * top.c — the model and the frame of `gpuops top` (top.h).
 *
 * Sections: the model (init, free, refresh, XID watch); cells (one GPU's
 * values as short strings); layout (column widths, dropping columns to fit);
 * the frame (title, table, findings).
 */
#define _GNU_SOURCE /* vasprintf */
#include "telemetry/top.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"

/* ---- the model ---- */

int top_init(struct top *t, struct gpu_backend *b, const struct thresholds *th, const char *host) {
  memset(t, 0, sizeof *t);
  health_report_init(&t->rep);
  if (th)
    t->th = *th;
  else
    thresholds_default(&t->th);
  int rc = sampler_init(&t->s, b);
  if (rc < 0) return rc;
  t->xids = calloc((size_t)t->s.n, sizeof *t->xids);
  t->rep.gpus = calloc((size_t)t->s.n, sizeof *t->rep.gpus);
  if (!t->xids || !t->rep.gpus) return err_set(ERR_NOMEM, "out of memory for %d GPUs", t->s.n);
  for (int i = 0; i < t->s.n; i++) xid_history_init(&t->xids[i]);
  if (host)
    snprintf(t->rep.host, sizeof t->rep.host, "%s", host);
  else if (gethostname(t->rep.host, sizeof t->rep.host - 1) != 0)
    snprintf(t->rep.host, sizeof t->rep.host, "unknown");
  snprintf(t->rep.backend, sizeof t->rep.backend, "%s", gpu_backend_name(b));
  t->rep.simulated = b->simulated;
  return 0;
}

void top_free(struct top *t) {
  free(t->xids);
  health_report_free(&t->rep);
  sampler_free(&t->s);
  memset(t, 0, sizeof *t);
}

void top_refresh(struct top *t) {
  sampler_pass(&t->s);
  t->rep.t_ns = time_wall_ns();
  for (int i = 0; i < t->s.n; i++) {
    struct health_input in;
    sampler_health_input(&t->s.gpus[i], t->watching ? &t->xids[i] : NULL, &in);
    health_evaluate_gpu(&t->th, &in, i, t->rep.t_ns, &t->rep.gpus[i]);
  }
  t->rep.n_gpus = t->s.n;
  health_report_finish(&t->rep);
  t->refreshes++;
}

int top_watch(struct top *t, int timeout_ms) {
  if (t->watch_unsupported) return 0;
  struct gpu_event ev[16];
  int total = 0, got;
  do {
    got = gpu_wait_events(t->s.b, total ? 0 : timeout_ms, ev, 16);
    if (got < 0) {
      t->watch_unsupported = true;
      return total;
    }
    t->watching = true;
    for (int i = 0; i < got; i++)
      if (ev[i].type == GPU_EVENT_XID && ev[i].gpu_index >= 0 && ev[i].gpu_index < t->s.n)
        xid_history_record(&t->xids[ev[i].gpu_index], (unsigned)ev[i].xid, ev[i].t_ns);
    total += got;
  } while (got == 16);
  return total;
}

/* ---- cells ---- */

enum col {
  COL_GPU,
  COL_NAME,
  COL_UTIL,
  COL_SM,
  COL_TENSOR,
  COL_DRAM,
  COL_MEM,
  COL_POWER,
  COL_TEMP,
  COL_HBM,
  COL_CLOCKS,
  COL_REASONS,
  COL_HEALTH,
  COL_ACTION,
  COL_COUNT
};

/* Header, how readily the column goes at a narrow width (0 never, higher first), alignment. */
static const struct {
  const char *head;
  int drop;
  bool right;
} cols[COL_COUNT] = {
    [COL_GPU] = {"GPU", 0, true},           [COL_NAME] = {"NAME", 5, false},
    [COL_UTIL] = {"UTIL", 1, true},         [COL_SM] = {"SM", 2, true},
    [COL_TENSOR] = {"TENSOR", 4, true},     [COL_DRAM] = {"DRAM", 4, true},
    [COL_MEM] = {"MEMORY", 2, true},        [COL_POWER] = {"POWER/LIMIT", 2, true},
    [COL_TEMP] = {"TEMP", 1, true},         [COL_HBM] = {"HBM", 5, true},
    [COL_CLOCKS] = {"SM/MEM MHz", 3, true}, [COL_REASONS] = {"CLOCK EVENTS", 3, false},
    [COL_HEALTH] = {"HEALTH", 0, false},    [COL_ACTION] = {"ACTION", 1, false},
};

#define CELL_MAX 96

struct row {
  enum top_level level;
  char cell[COL_COUNT][CELL_MAX];
};

static void put(char *cell, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(char *cell, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cell, CELL_MAX, fmt, ap);
  va_end(ap);
}

/* "73%" or "-" when the value is invalid (never 0). */
static void put_pct(char *cell, const struct gpu_values *v, enum gpu_metric m) {
  double x;
  if (gpu_values_get(v, m, &x))
    put(cell, "%.0f%%", x);
  else
    put(cell, "-");
}

static void put_reasons(char *cell, const struct gpu_values *v) {
  double x;
  if (!gpu_values_get(v, GPU_M_CLOCK_REASONS, &x)) {
    put(cell, "-");
    return;
  }
  uint64_t mask = (uint64_t)x;
  if (!mask) {
    put(cell, "none");
    return;
  }
  size_t k = 0;
  cell[0] = '\0';
  for (size_t i = 0; i < GPU_CLOCK_REASON_COUNT && k < CELL_MAX; i++)
    if (mask & gpu_clock_reasons[i].bit)
      k +=
          (size_t)snprintf(cell + k, CELL_MAX - k, "%s%s", k ? "," : "", gpu_clock_reasons[i].name);
}

/* "87.7/140.4G 62%": framebuffer used of the board's total. */
static void put_memory(char *cell, const struct sampler_gpu *g, const struct gpu_values *v) {
  double used, fr, res;
  if (!gpu_values_get(v, GPU_M_FB_USED, &used)) {
    put(cell, "-");
    return;
  }
  double total = g->info_rc == 0 ? (double)g->info.memory_total_mib : 0;
  if (total <= 0 && gpu_values_get(v, GPU_M_FB_FREE, &fr) &&
      gpu_values_get(v, GPU_M_FB_RESERVED, &res))
    total = used + fr + res;
  if (total <= 0) {
    put(cell, "%.1fG", used / 1024.0);
    return;
  }
  put(cell, "%.1f/%.1fG %.0f%%", used / 1024.0, total / 1024.0, 100.0 * used / total);
}

/* "552/700W 79%": power against the enforced limit, or the power alone. */
static void put_power(char *cell, const struct sampler_gpu *g, const struct gpu_values *v) {
  double w;
  if (!gpu_values_get(v, GPU_M_POWER, &w)) {
    put(cell, "-");
    return;
  }
  if (g->info_rc < 0 || !(g->info.valid & GPU_INFO_POWER_LIMIT) || g->info.power_limit_mw == 0) {
    put(cell, "%.0fW", w);
    return;
  }
  double lim = g->info.power_limit_mw / 1000.0;
  put(cell, "%.0f/%.0fW %.0f%%", w, lim, 100.0 * w / lim);
}

static void put_clocks(char *cell, const struct gpu_values *v) {
  double sm, mem;
  bool have_sm = gpu_values_get(v, GPU_M_SM_CLOCK, &sm),
       have_mem = gpu_values_get(v, GPU_M_MEM_CLOCK, &mem);
  if (!have_sm && !have_mem) {
    put(cell, "-");
    return;
  }
  char a[16] = "-", b[16] = "-";
  if (have_sm) snprintf(a, sizeof a, "%.0f", sm);
  if (have_mem) snprintf(b, sizeof b, "%.0f", mem);
  put(cell, "%s/%s", a, b);
}

static void put_temp(char *cell, const struct gpu_values *v, enum gpu_metric m) {
  double c;
  if (gpu_values_get(v, m, &c))
    put(cell, "%.0fC", c);
  else
    put(cell, "-");
}

/* "ok", or "FAIL xid:79,ecc_uncorrectable" naming the checks that did not pass. */
static void put_health(char *cell, const struct health_gpu *h) {
  if (h->status == VERDICT_PASS) {
    put(cell, "ok");
    return;
  }
  if (h->status == VERDICT_NA) {
    put(cell, "n/a");
    return;
  }
  size_t k = (size_t)snprintf(cell, CELL_MAX, "%s", h->status == VERDICT_FAIL ? "FAIL" : "WARN");
  const char *sep = " ";
  for (int c = 0; c < HEALTH_CHECK_COUNT && k < CELL_MAX; c++) {
    enum verdict_status s = h->checks[c].status;
    if (s != VERDICT_WARN && s != VERDICT_FAIL) continue;
    k += (size_t)snprintf(cell + k, CELL_MAX - k, "%s%s", sep,
                          health_check_name((enum health_check_id)c));
    if (c == HEALTH_CHECK_XID && h->n_xids > 0 && k < CELL_MAX)
      k += (size_t)snprintf(cell + k, CELL_MAX - k, ":%u", h->xids[0].xid);
    sep = ",";
  }
}

static enum top_level level_of(const struct health_gpu *h) {
  return h->status == VERDICT_FAIL   ? TOP_LINE_FAIL
         : h->status == VERDICT_WARN ? TOP_LINE_WARN
                                     : TOP_LINE_OK;
}

/* "H200" from "NVIDIA H200". */
static const char *short_name(const struct sampler_gpu *g) {
  if (g->info_rc < 0 || !g->info.name[0]) return "?";
  return strncmp(g->info.name, "NVIDIA ", 7) == 0 ? g->info.name + 7 : g->info.name;
}

static void gpu_row(const struct sampler_gpu *g, const struct health_gpu *h, struct row *r) {
  for (int c = 0; c < COL_COUNT; c++) put(r->cell[c], "-");
  r->level = level_of(h);
  put(r->cell[COL_GPU], "%d", g->index);
  put(r->cell[COL_NAME], "%s", short_name(g));
  put_health(r->cell[COL_HEALTH], h);
  if (h->status == VERDICT_WARN || h->status == VERDICT_FAIL)
    put(r->cell[COL_ACTION], "%s", verdict_action_name(h->action));
  if (!g->have_cur) return; /* lost, or never sampled: nothing to show but the verdict */
  const struct gpu_values *v = &g->cur.dev;
  put_pct(r->cell[COL_UTIL], v, GPU_M_GPU_UTIL);
  put_pct(r->cell[COL_SM], v, GPU_M_GPM_SM_ACTIVE);
  put_pct(r->cell[COL_TENSOR], v, GPU_M_GPM_TENSOR_ACTIVE);
  put_pct(r->cell[COL_DRAM], v, GPU_M_GPM_DRAM_ACTIVE);
  put_memory(r->cell[COL_MEM], g, v);
  put_power(r->cell[COL_POWER], g, v);
  put_temp(r->cell[COL_TEMP], v, GPU_M_GPU_TEMP);
  put_temp(r->cell[COL_HBM], v, GPU_M_MEM_TEMP);
  put_clocks(r->cell[COL_CLOCKS], v);
  put_reasons(r->cell[COL_REASONS], v);
}

/* A MIG instance: its GPM activity under its GPU's row. */
static void mig_row(const struct sampler_gpu *g, const struct gpu_mig_values *m, struct row *r) {
  for (int c = 0; c < COL_COUNT; c++) r->cell[c][0] = '\0';
  r->level = TOP_LINE_OK;
  const struct gpu_mig_instance *inst = sampler_instance(g, m->gi_id);
  put(r->cell[COL_GPU], "%d/gi%d", g->index, m->gi_id);
  put(r->cell[COL_NAME], "%s", inst ? inst->profile_name : "MIG");
  put_pct(r->cell[COL_SM], &m->val, GPU_M_GPM_SM_ACTIVE);
  put_pct(r->cell[COL_TENSOR], &m->val, GPU_M_GPM_TENSOR_ACTIVE);
  put_pct(r->cell[COL_DRAM], &m->val, GPU_M_GPM_DRAM_ACTIVE);
  if (inst) put(r->cell[COL_MEM], "%.1fG", inst->memory_mib / 1024.0);
}

/* ---- layout ---- */

/* Which columns to show at this width: drop the most droppable (rightmost first) until the rows
 * fit. */
static void choose_columns(const int *w, int width, bool *show) {
  for (int c = 0; c < COL_COUNT; c++) show[c] = true;
  for (;;) {
    int total = -2;
    for (int c = 0; c < COL_COUNT; c++)
      if (show[c]) total += w[c] + 2;
    if (width <= 0 || total <= width) return;
    int victim = -1;
    for (int c = 0; c < COL_COUNT; c++)
      if (show[c] && cols[c].drop > 0 && (victim < 0 || cols[c].drop >= cols[victim].drop))
        victim = c;
    if (victim < 0) return; /* only essential columns left: lines get cut */
    show[victim] = false;
  }
}

/* ---- the frame ---- */

static int add_line(struct top_frame *f, int width, enum top_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add_line(struct top_frame *f, int width, enum top_level level, const char *fmt, ...) {
  if (f->n == f->cap) {
    int cap = f->cap ? 2 * f->cap : 32;
    struct top_line *l = realloc(f->lines, (size_t)cap * sizeof *l);
    if (!l) return err_set(ERR_NOMEM, "out of memory for the top frame");
    f->lines = l, f->cap = cap;
  }
  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (n < 0) return err_set(ERR_NOMEM, "out of memory for the top frame");
  while (n > 0 && text[n - 1] == ' ') text[--n] = '\0';
  if (width > 0 && n > width) text[width] = '\0';
  f->lines[f->n++] = (struct top_line){level, text};
  return 0;
}

static int add_row(struct top_frame *f, int width, const struct row *r, const int *w,
                   const bool *show) {
  char buf[COL_COUNT * (CELL_MAX + 2) + 1];
  size_t k = 0;
  for (int c = 0; c < COL_COUNT; c++) {
    if (!show[c]) continue;
    int pad = w[c] - (int)strlen(r->cell[c]);
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%*s%s%*s", k ? "  " : "",
                          cols[c].right ? pad : 0, "", r->cell[c], cols[c].right ? 0 : pad, "");
  }
  return add_line(f, width, r->level, "%s", buf);
}

static int title(const struct top *t, int width, struct top_frame *f) {
  int64_t newest = 0;
  for (int i = 0; i < t->s.n; i++)
    if (t->s.gpus[i].have_cur && t->s.gpus[i].cur.t_ns > newest) newest = t->s.gpus[i].cur.t_ns;
  char when[40] = "no sample";
  if (newest) time_iso8601(newest, when, sizeof when);
  const struct health_report *r = &t->rep;
  char verdict[96];
  snprintf(verdict, sizeof verdict, "%s", health_verdict_name(r->verdict));
  if (r->action != VERDICT_ACTION_NONE)
    snprintf(verdict + strlen(verdict), sizeof verdict - strlen(verdict), ", action %s",
             verdict_action_name(r->action));
  /* Most important first, so a narrow terminal cuts the least: host, simulated or not, the verdict.
   */
  return add_line(f, width, TOP_LINE_TITLE,
                  "gpuops top | %s |%s node %s | %d GPU%s | backend %s | %s", r->host,
                  r->simulated ? " SIMULATED |" : "", verdict, t->s.n, t->s.n == 1 ? "" : "s",
                  r->backend, when);
}

/* One line per check that did not pass, and per GPU whose sample is stale. */
static int findings(const struct top *t, int width, struct top_frame *f) {
  int rc = 0;
  for (int i = 0; i < t->s.n && rc == 0; i++) {
    const struct sampler_gpu *g = &t->s.gpus[i];
    const struct health_gpu *h = &t->rep.gpus[i];
    if (g->sample_rc < 0 && g->sample_rc != ERR_GPU_LOST && g->have_cur)
      rc = add_line(f, width, TOP_LINE_WARN, "GPU %d: sample failed, showing the last good one: %s",
                    i, g->sample_msg);
    for (int c = 0; c < HEALTH_CHECK_COUNT && rc == 0; c++) {
      const struct health_check *k = &h->checks[c];
      if (k->status != VERDICT_WARN && k->status != VERDICT_FAIL) continue;
      rc = add_line(f, width, k->status == VERDICT_FAIL ? TOP_LINE_FAIL : TOP_LINE_WARN,
                    "GPU %d %s %s: %s -> %s", i, verdict_status_name(k->status),
                    health_check_name((enum health_check_id)c), k->message,
                    verdict_action_name(k->action));
    }
  }
  return rc;
}

/* The table's rows: one per GPU, one more per MIG instance. *out owned by the caller. */
static int table_rows(const struct top *t, struct row **out, int *n) {
  int cap = t->s.n;
  for (int i = 0; i < t->s.n; i++)
    if (t->s.gpus[i].have_cur) cap += t->s.gpus[i].cur.n_mig;
  struct row *rows = calloc((size_t)cap + 1, sizeof *rows);
  if (!rows) return err_set(ERR_NOMEM, "out of memory for the top frame");
  int k = 0;
  for (int i = 0; i < t->s.n; i++) {
    const struct sampler_gpu *g = &t->s.gpus[i];
    gpu_row(g, &t->rep.gpus[i], &rows[k++]);
    for (int m = 0; g->have_cur && m < g->cur.n_mig && m < GPU_MIG_MAX; m++)
      mig_row(g, &g->cur.mig[m], &rows[k++]);
  }
  *out = rows, *n = k;
  return 0;
}

int top_render(const struct top *t, int width, struct top_frame *f) {
  memset(f, 0, sizeof *f);
  struct row *rows = NULL, head = {.level = TOP_LINE_HEAD};
  int n = 0, w[COL_COUNT];
  bool show[COL_COUNT];
  int rc = table_rows(t, &rows, &n);
  if (rc < 0) goto out;
  for (int c = 0; c < COL_COUNT; c++) {
    put(head.cell[c], "%s", cols[c].head);
    w[c] = (int)strlen(cols[c].head);
    for (int i = 0; i < n; i++)
      if ((int)strlen(rows[i].cell[c]) > w[c]) w[c] = (int)strlen(rows[i].cell[c]);
  }
  choose_columns(w, width, show);
  if ((rc = title(t, width, f)) < 0) goto out;
  if ((rc = add_row(f, width, &head, w, show)) < 0) goto out;
  for (int i = 0; i < n && rc == 0; i++) rc = add_row(f, width, &rows[i], w, show);
  if (rc == 0) rc = findings(t, width, f);
out:
  free(rows);
  if (rc < 0) top_frame_free(f);
  return rc;
}

void top_frame_free(struct top_frame *f) {
  for (int i = 0; i < f->n; i++) free(f->lines[i].text);
  free(f->lines);
  memset(f, 0, sizeof *f);
}

int top_frame_write(const struct top_frame *f, FILE *out) {
  for (int i = 0; i < f->n; i++) fprintf(out, "%s\n", f->lines[i].text);
  return ferror(out) ? err_set(ERR_IO, "writing the top frame failed") : 0;
}
