/*
 * health.c — health checks, GPU and node verdicts, the /health JSON, and
 * collecting a verdict from a backend (health.h).
 *
 * Precedence (issue 4, DESIGN.md): the driver's own recovery action (NVML
 * field 230, announced by XID 154) comes first — when it says reset or
 * reboot, that is the GPU's action whatever milder action an XID calls for.
 * Otherwise the GPU's action is the most severe action of its WARN/FAIL
 * checks. N/A (not measurable here) never makes a GPU unhealthy.
 *
 * Sections: names; check helpers; the checks (one function each); one GPU;
 * the node; JSON out; JSON in; collecting.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "telemetry/health.h"
#include "telemetry/sampler.h"

/* ---- names ---- */

static const char *const check_names[] = {
#define NAME(e, name, what) name,
    HEALTH_CHECKS(NAME)
#undef NAME
};
static const char *const check_whats[] = {
#define WHAT(e, name, what) what,
    HEALTH_CHECKS(WHAT)
#undef WHAT
};

const char *health_check_name(enum health_check_id id) {
  return (unsigned)id < HEALTH_CHECK_COUNT ? check_names[id] : "unknown";
}

const char *health_check_what(enum health_check_id id) {
  return (unsigned)id < HEALTH_CHECK_COUNT ? check_whats[id] : "";
}

int health_check_parse(const char *name, enum health_check_id *out) {
  for (int i = 0; name && i < HEALTH_CHECK_COUNT; i++)
    if (!strcmp(name, check_names[i])) return *out = (enum health_check_id)i, 0;
  char known[400] = "";
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++)
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
             check_names[i]);
  return err_set(ERR_INVALID, "unknown check '%s' (known: %s)", name ? name : "(null)", known);
}

const char *health_verdict_name(enum health_verdict v) {
  switch (v) {
    case HEALTH_HEALTHY: return "healthy";
    case HEALTH_DEGRADED: return "degraded";
    case HEALTH_FAILED: return "failed";
  }
  return "unknown";
}

/* ---- check helpers ---- */

static void set(struct health_check *c, enum verdict_status s, enum verdict_action a,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set(struct health_check *c, enum verdict_status s, enum verdict_action a,
                const char *fmt, ...) {
  c->status = s;
  c->action = s == VERDICT_WARN || s == VERDICT_FAIL ? a : VERDICT_ACTION_NONE;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->message, sizeof c->message, fmt, ap);
  va_end(ap);
}

/* A device value of the current sample. */
static bool val(const struct health_input *in, enum gpu_metric m, double *v) {
  return in->cur && gpu_values_get(&in->cur->dev, m, v);
}

static bool reasons(const struct health_input *in, uint64_t *mask) {
  double v;
  if (!val(in, GPU_M_CLOCK_REASONS, &v)) return false;
  *mask = (uint64_t)v;
  return true;
}

/* "hw_thermal, sw_thermal" for the set bits of mask among the slowdown reasons. */
static void reason_text(uint64_t mask, char *buf, size_t len) {
  static const struct {
    uint64_t bit;
    const char *name;
  } names[] = {{GPU_CLOCK_REASON_HW_THERMAL, "hw_thermal"},
               {GPU_CLOCK_REASON_SW_THERMAL, "sw_thermal"},
               {GPU_CLOCK_REASON_HW_SLOWDOWN, "hw_slowdown"},
               {GPU_CLOCK_REASON_HW_POWER_BRAKE, "hw_power_brake"},
               {GPU_CLOCK_REASON_SW_POWER_CAP, "sw_power_cap"},
               {GPU_CLOCK_REASON_APP_CLOCKS, "app_clocks"},
               {GPU_CLOCK_REASON_SYNC_BOOST, "sync_boost"}};
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (mask & names[i].bit)
      snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", names[i].name);
  if (!buf[0]) snprintf(buf, len, "none");
}

#define THERMAL_BITS (GPU_CLOCK_REASON_HW_THERMAL | GPU_CLOCK_REASON_SW_THERMAL)

/* ---- the checks ---- */

static void check_recovery(const struct health_input *in, struct health_check *c) {
  double v;
  if (!val(in, GPU_M_RECOVERY_ACTION, &v)) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "not reported (driver before R550, or no current sample)");
    return;
  }
  int code = (int)v, known = 1;
  enum verdict_action a = verdict_action_from_recovery(code, &known);
  if (code == GPU_RECOVERY_NONE) {
    set(c, VERDICT_PASS, a, "driver recovery action: none");
    return;
  }
  set(c, VERDICT_FAIL, a, "the driver asks for a recovery action: %s (NVML field 230)%s",
      known ? gpu_recovery_action_name(code) : "unknown",
      known ? "" : "; reboot the node to be safe");
}

static void check_lost(const struct health_input *in, struct health_check *c) {
  if (in->sample_rc == ERR_GPU_LOST || (in->cur && in->cur->lost)) {
    set(c, VERDICT_FAIL, VERDICT_ACTION_REBOOT_NODE,
        "the GPU has fallen off the bus (XID 79): the driver cannot reach it%s%s",
        in->sample_msg ? ": " : "", in->sample_msg ? in->sample_msg : "");
    return;
  }
  if (in->sample_rc < 0) {
    set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE, "cannot read the GPU: %s",
        in->sample_msg ? in->sample_msg : err_desc(in->sample_rc));
    return;
  }
  if (!in->cur) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE, "not sampled");
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "the GPU answers");
}

static void check_ecc(const struct thresholds *t, const struct health_input *in,
                      struct health_check *c) {
  double vol = 0, agg = 0;
  bool have_vol = val(in, GPU_M_ECC_DBE_VOL, &vol), have_agg = val(in, GPU_M_ECC_DBE_AGG, &agg);
  if (!have_vol && !have_agg) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "ECC counters not reported (ECC off, or no current sample)");
    return;
  }
  if (have_vol && vol > t->ecc_dbe_volatile_max) {
    set(c, VERDICT_FAIL, VERDICT_ACTION_RESET_GPU,
        "%.0f uncorrectable ECC error%s since the driver loaded (threshold %.0f)", vol,
        vol == 1 ? "" : "s", t->ecc_dbe_volatile_max);
    return;
  }
  if (have_agg && t->ecc_dbe_aggregate_max >= 0 && agg > t->ecc_dbe_aggregate_max) {
    set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE,
        "%.0f uncorrectable ECC errors over the GPU's life (threshold %.0f)", agg,
        t->ecc_dbe_aggregate_max);
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "%s%.0f volatile, %s%.0f lifetime uncorrectable errors",
      have_vol ? "" : "n/a ", vol, have_agg ? "" : "n/a ", agg);
}

static void check_remap(const struct health_input *in, struct health_check *c) {
  double fail = 0, pending = 0, unc = 0, cor = 0;
  bool hf = val(in, GPU_M_REMAP_FAILURE, &fail), hp = val(in, GPU_M_REMAP_PENDING, &pending);
  bool hu = val(in, GPU_M_REMAP_UNCORRECTABLE, &unc), hc = val(in, GPU_M_REMAP_CORRECTABLE, &cor);
  if (!hf && !hp && !hu && !hc) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "row remapping not reported (GPU before A100, or no current sample)");
    return;
  }
  if (hf && fail > 0) {
    set(c, VERDICT_FAIL, VERDICT_ACTION_DRAIN_AND_REPAIR,
        "row remapping failed (%.0f rows remapped for uncorrectable errors): the memory cannot be "
        "repaired in the field",
        unc);
    return;
  }
  if (hp && pending > 0) {
    set(c, VERDICT_WARN, VERDICT_ACTION_RESET_GPU,
        "a row remap is pending: reset the GPU when idle to activate it (%.0f uncorrectable, %.0f "
        "correctable rows remapped)",
        unc, cor);
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "%.0f uncorrectable, %.0f correctable rows remapped",
      unc, cor);
}

static void check_retired(const struct thresholds *t, const struct health_input *in,
                          struct health_check *c) {
  double sbe = 0, dbe = 0, pending = 0;
  bool hs = val(in, GPU_M_RETIRED_SBE, &sbe), hd = val(in, GPU_M_RETIRED_DBE, &dbe);
  bool hp = val(in, GPU_M_RETIRED_PENDING, &pending);
  if (!hs && !hd && !hp) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "not applicable: this GPU remaps rows instead of retiring pages (A100, Hopper)");
    return;
  }
  if (sbe + dbe >= t->retired_pages_max) {
    set(c, VERDICT_FAIL, VERDICT_ACTION_DRAIN_AND_REPAIR,
        "%.0f pages retired (%.0f single-bit, %.0f double-bit; RMA threshold %.0f)", sbe + dbe, sbe,
        dbe, t->retired_pages_max);
    return;
  }
  if (hp && pending > 0) {
    set(c, VERDICT_WARN, VERDICT_ACTION_RESET_GPU,
        "a page retirement is pending: reset the GPU when idle to activate it");
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "%.0f pages retired", sbe + dbe);
}

/* How bad one XID is here: catalog severity, with XID 154 deferring to the recovery field. */
static void xid_grade(unsigned xid, const struct health_input *in, enum verdict_status *s,
                      enum verdict_action *a) {
  const struct xid_info *x = xid_lookup(xid);
  double rec;
  if (xid == 154 && val(in, GPU_M_RECOVERY_ACTION, &rec)) {
    *s = VERDICT_PASS; /* the recovery_action check reads what it announced */
    *a = VERDICT_ACTION_NONE;
    return;
  }
  *s = x ? x->severity : VERDICT_WARN;
  *a = x ? x->action : VERDICT_ACTION_INVESTIGATE;
}

/* Add (xid, count, t) to out's list, merging duplicates. */
static void xid_add(struct health_gpu *out, unsigned xid, uint64_t count, int64_t t_ns) {
  for (int i = 0; i < out->n_xids; i++)
    if (out->xids[i].xid == xid) {
      if (t_ns > out->xids[i].last_ns) out->xids[i].last_ns = t_ns;
      if (count > out->xids[i].count) out->xids[i].count = count;
      return;
    }
  if (out->n_xids < HEALTH_XIDS_MAX)
    out->xids[out->n_xids++] = (struct health_xid){.xid = xid, .count = count, .last_ns = t_ns};
}

/* Sort the GPU's XIDs: most severe first, then most recent. */
static void xid_sort(const struct health_input *in, struct health_gpu *out) {
  for (int i = 1; i < out->n_xids; i++)
    for (int j = i; j > 0; j--) {
      enum verdict_status sa, sb;
      enum verdict_action aa, ab;
      xid_grade(out->xids[j - 1].xid, in, &sa, &aa);
      xid_grade(out->xids[j].xid, in, &sb, &ab);
      bool swap = sb > sa || (sb == sa && ab > aa) ||
                  (sb == sa && ab == aa && out->xids[j].last_ns > out->xids[j - 1].last_ns);
      if (!swap) break;
      struct health_xid tmp = out->xids[j];
      out->xids[j] = out->xids[j - 1];
      out->xids[j - 1] = tmp;
    }
}

static void check_xid(const struct thresholds *t, const struct health_input *in, int64_t now_ns,
                      struct health_gpu *out, struct health_check *c) {
  double last = 0;
  bool have_last = val(in, GPU_M_XID_LAST, &last);
  out->n_xids = 0;
  int64_t window_ns = (int64_t)(t->xid_window_s * 1e9);
  for (int i = 0; in->xids && i < in->xids->n; i++) {
    const struct xid_seen *s = &in->xids->e[i];
    if (now_ns - s->last_ns <= window_ns) xid_add(out, s->xid, s->count, s->last_ns);
  }
  if (have_last && last > 0) xid_add(out, (unsigned)last, 1, in->cur->t_ns);
  if (!in->xids && !have_last) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "no XID source: NVML reports XIDs only to a process waiting for them (use --watch SECONDS, "
        "or --from the exporter's /health)");
    return;
  }
  if (out->n_xids == 0) {
    set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "no XID in the last %.0f s", t->xid_window_s);
    return;
  }
  xid_sort(in, out);
  const struct health_xid *w = &out->xids[0];
  enum verdict_status s;
  enum verdict_action a;
  xid_grade(w->xid, in, &s, &a);
  const struct xid_info *x = xid_lookup(w->xid);
  char more[64] = "";
  if (out->n_xids > 1)
    snprintf(more, sizeof more, " (and %d other XID%s)", out->n_xids - 1,
             out->n_xids > 2 ? "s" : "");
  set(c, s, a, "XID %u: %s%s", w->xid,
      x ? x->meaning : "not in gpuops' catalog; see NVIDIA's Xid catalog", more);
}

static void check_thermal(const struct thresholds *t, const struct health_input *in,
                          struct health_check *c) {
  uint64_t mask = 0;
  double temp = 0, mtemp = 0;
  bool hr = reasons(in, &mask), ht = val(in, GPU_M_GPU_TEMP, &temp),
       hm = val(in, GPU_M_MEM_TEMP, &mtemp);
  if (!hr && !ht && !hm) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE, "no temperature or clock reasons reported");
    return;
  }
  bool hot = (ht && temp >= t->gpu_temp_warn_c) || (hm && mtemp >= t->memory_temp_warn_c);
  bool slowdown = (mask & THERMAL_BITS) || ((mask & GPU_CLOCK_REASON_HW_SLOWDOWN) && hot);
  if (slowdown || hot) {
    char r[128];
    reason_text(mask & (THERMAL_BITS | GPU_CLOCK_REASON_HW_SLOWDOWN), r, sizeof r);
    set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE,
        "%s: GPU %.0f C, memory %.0f C (warn at %.0f / %.0f C), slowdown reasons: %s; check "
        "cooling and airflow",
        slowdown ? "thermal slowdown active" : "running hot", temp, mtemp, t->gpu_temp_warn_c,
        t->memory_temp_warn_c, r);
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "GPU %.0f C, memory %.0f C, no thermal slowdown", temp,
      mtemp);
}

static void check_power(const struct thresholds *t, const struct health_input *in,
                        struct health_check *c) {
  uint64_t mask = 0;
  double temp = 0, mtemp = 0, w = 0;
  if (!reasons(in, &mask)) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE, "clock event reasons not reported");
    return;
  }
  bool ht = val(in, GPU_M_GPU_TEMP, &temp), hm = val(in, GPU_M_MEM_TEMP, &mtemp);
  bool hot = (ht && temp >= t->gpu_temp_warn_c) || (hm && mtemp >= t->memory_temp_warn_c);
  bool hw_power = (mask & GPU_CLOCK_REASON_HW_POWER_BRAKE) ||
                  ((mask & GPU_CLOCK_REASON_HW_SLOWDOWN) && !hot && !(mask & THERMAL_BITS));
  val(in, GPU_M_POWER, &w);
  if (hw_power) {
    set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE,
        "hardware power slowdown active (%s) at %.0f W: the board or an external power-brake "
        "signal "
        "(PSU, chassis) cut the clocks",
        mask & GPU_CLOCK_REASON_HW_POWER_BRAKE ? "hw_power_brake" : "hw_slowdown", w);
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "%s at %.0f W",
      mask & GPU_CLOCK_REASON_SW_POWER_CAP ? "at its power cap (normal under full load)"
                                           : "no power slowdown",
      w);
}

static void check_pcie(const struct thresholds *t, const struct health_input *in,
                       struct health_check *c) {
  double a = 0, b = 0;
  if (!in->prev || !in->cur || !gpu_values_get(&in->prev->dev, GPU_M_PCIE_REPLAY, &a) ||
      !gpu_values_get(&in->cur->dev, GPU_M_PCIE_REPLAY, &b) || in->cur->t_ns <= in->prev->t_ns) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "needs two samples with the PCIe replay counter (--interval MS > 0)");
    return;
  }
  double dt_s = (double)(in->cur->t_ns - in->prev->t_ns) * 1e-9;
  double per_min = b >= a ? (b - a) / dt_s * 60.0 : 0; /* a reset counter reads as no replays */
  if (per_min > t->pcie_replay_warn_per_min) {
    set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE,
        "%.1f PCIe replays/min over %.1f s (warn above %.1f): reseat the GPU or check the PCIe "
        "link "
        "(lspci -vv, AER errors)",
        per_min, dt_s, t->pcie_replay_warn_per_min);
    return;
  }
  set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "%.1f PCIe replays/min over %.1f s (%.0f in all)",
      per_min, dt_s, b);
}

static void check_clocks(const struct thresholds *t, const struct health_input *in,
                         struct health_check *c) {
  double util = 0, sm = 0;
  uint64_t mask = 0;
  bool hr = reasons(in, &mask);
  if (!val(in, GPU_M_GPU_UTIL, &util) || !val(in, GPU_M_SM_CLOCK, &sm) || !in->info ||
      !(in->info->valid & GPU_INFO_MAX_SM_CLOCK) || in->info->max_sm_clock_mhz == 0) {
    set(c, VERDICT_NA, VERDICT_ACTION_NONE,
        "needs utilisation, SM clock and its maximum (no utilisation in MIG mode)");
    return;
  }
  double max = in->info->max_sm_clock_mhz, floor_mhz = t->clocks_low_ratio * max;
  if (util < t->clocks_busy_util_pct || sm >= floor_mhz) {
    set(c, VERDICT_PASS, VERDICT_ACTION_NONE, "SM clock %.0f of %.0f MHz at %.0f%% utilisation", sm,
        max, util);
    return;
  }
  uint64_t explained = mask & (THERMAL_BITS | GPU_CLOCK_REASON_HW_SLOWDOWN |
                               GPU_CLOCK_REASON_HW_POWER_BRAKE | GPU_CLOCK_REASON_SW_POWER_CAP);
  char r[128];
  reason_text(hr ? mask : 0, r, sizeof r);
  if (explained) {
    set(c, VERDICT_PASS, VERDICT_ACTION_NONE,
        "SM clock %.0f of %.0f MHz at %.0f%% utilisation, explained by %s", sm, max, util, r);
    return;
  }
  set(c, VERDICT_WARN, VERDICT_ACTION_INVESTIGATE,
      "SM clock stuck low: %.0f of %.0f MHz at %.0f%% utilisation with no slowdown reason "
      "(reasons: "
      "%s); check locked or application clocks (nvidia-smi -q -d CLOCK, nvidia-smi -rgc)",
      sm, max, util, r);
}

/* ---- one GPU ---- */

static void identity(const struct health_input *in, int index, struct health_gpu *out) {
  out->index = index;
  if (!in->info) return;
  snprintf(out->uuid, sizeof out->uuid, "%s", in->info->uuid);
  snprintf(out->name, sizeof out->name, "%s", in->info->name);
  snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "%s", in->info->pci_bus_id);
  out->simulated = in->info->simulated;
}

static void run_checks(const struct thresholds *t, const struct health_input *in, int64_t now_ns,
                       struct health_gpu *out) {
  struct health_check *c = out->checks;
  check_recovery(in, &c[HEALTH_CHECK_RECOVERY_ACTION]);
  check_lost(in, &c[HEALTH_CHECK_GPU_LOST]);
  check_ecc(t, in, &c[HEALTH_CHECK_ECC_UNCORRECTABLE]);
  check_remap(in, &c[HEALTH_CHECK_ROW_REMAP]);
  check_retired(t, in, &c[HEALTH_CHECK_RETIRED_PAGES]);
  check_xid(t, in, now_ns, out, &c[HEALTH_CHECK_XID]);
  check_thermal(t, in, &c[HEALTH_CHECK_THERMAL]);
  check_power(t, in, &c[HEALTH_CHECK_POWER]);
  check_pcie(t, in, &c[HEALTH_CHECK_PCIE_REPLAY]);
  check_clocks(t, in, &c[HEALTH_CHECK_CLOCKS]);
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++)
    if (t->disabled[i])
      set(&c[i], VERDICT_NA, VERDICT_ACTION_NONE, "disabled in the thresholds file");
}

/* The check that decides: worst status, then most severe action; -1 when all pass or N/A. */
static int deciding_check(const struct health_gpu *g) {
  int best = -1;
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++) {
    const struct health_check *c = &g->checks[i];
    if (c->status != VERDICT_WARN && c->status != VERDICT_FAIL) continue;
    if (best < 0 || c->status > g->checks[best].status ||
        (c->status == g->checks[best].status && c->action > g->checks[best].action))
      best = i;
  }
  return best;
}

void health_evaluate_gpu(const struct thresholds *t, const struct health_input *in, int index,
                         int64_t now_ns, struct health_gpu *out) {
  struct thresholds defaults;
  if (!t) thresholds_default(&defaults), t = &defaults;
  memset(out, 0, sizeof *out);
  identity(in, index, out);
  run_checks(t, in, now_ns, out);
  double rec;
  out->recovery_action = val(in, GPU_M_RECOVERY_ACTION, &rec) ? (int)rec : -1;
  int d = deciding_check(out);
  out->status = d < 0 ? VERDICT_PASS : out->checks[d].status;
  out->action = d < 0 ? VERDICT_ACTION_NONE : out->checks[d].action;
  const struct health_check *rc = &out->checks[HEALTH_CHECK_RECOVERY_ACTION];
  if (rc->status == VERDICT_FAIL) { /* the driver's word comes first */
    d = HEALTH_CHECK_RECOVERY_ACTION;
    out->action = rc->action;
  }
  if (d >= 0)
    snprintf(out->reason, sizeof out->reason, "%s: %s", check_names[d], out->checks[d].message);
}

/* ---- the node ---- */

void health_report_init(struct health_report *r) { memset(r, 0, sizeof *r); }

void health_report_free(struct health_report *r) {
  free(r->gpus);
  memset(r, 0, sizeof *r);
}

void health_report_finish(struct health_report *r) {
  enum verdict_status worst = VERDICT_PASS;
  enum verdict_action action = VERDICT_ACTION_NONE;
  int bad = 0;
  for (int i = 0; i < r->n_gpus; i++) {
    const struct health_gpu *g = &r->gpus[i];
    worst = verdict_status_worse(worst, g->status);
    if (g->action > action) action = g->action;
    bad += g->status == VERDICT_WARN || g->status == VERDICT_FAIL;
  }
  r->verdict = worst == VERDICT_FAIL   ? HEALTH_FAILED
               : worst == VERDICT_WARN ? HEALTH_DEGRADED
                                       : HEALTH_HEALTHY;
  r->action = action;
  if (bad == 0) {
    snprintf(r->summary, sizeof r->summary, "healthy: %d GPU%s pass%s", r->n_gpus,
             r->n_gpus == 1 ? "" : "s", r->simulated ? " (simulated)" : "");
    return;
  }
  size_t k =
      (size_t)snprintf(r->summary, sizeof r->summary, "%s (%s):", health_verdict_name(r->verdict),
                       verdict_action_name(action));
  const char *sep = " ";
  for (int i = 0; i < r->n_gpus && k < sizeof r->summary; i++) {
    const struct health_gpu *g = &r->gpus[i];
    if (g->status != VERDICT_WARN && g->status != VERDICT_FAIL) continue;
    k += (size_t)snprintf(r->summary + k, sizeof r->summary - k, "%sGPU %d %s (%s)", sep, g->index,
                          verdict_action_name(g->action), g->reason);
    sep = "; ";
  }
}

int health_report_exit_code(const struct health_report *r, bool fail_on_warn) {
  if (r->verdict == HEALTH_FAILED) return 1;
  return r->verdict == HEALTH_DEGRADED && fail_on_warn ? 1 : 0;
}

/* ---- JSON out ---- */

static json_t *iso_time(int64_t t_ns) {
  char buf[40];
  return json_string(time_iso8601(t_ns, buf, sizeof buf));
}

static json_t *xid_json(const struct health_xid *x) {
  const struct xid_info *info = xid_lookup(x->xid);
  return json_pack("{s:I,s:I,s:o,s:s,s:s}", "xid", (json_int_t)x->xid, "count",
                   (json_int_t)x->count, "last_seen", iso_time(x->last_ns), "meaning",
                   info ? info->meaning : "not in the catalog", "action",
                   verdict_action_name(info ? info->action : VERDICT_ACTION_INVESTIGATE));
}

static json_t *gpu_json(const struct health_gpu *g) {
  json_t *checks = json_array(), *xids = json_array();
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++) {
    const struct health_check *c = &g->checks[i];
    json_array_append_new(checks, json_pack("{s:s,s:s,s:s,s:s}", "name", check_names[i], "status",
                                            verdict_status_name(c->status), "action",
                                            verdict_action_name(c->action), "message", c->message));
  }
  for (int i = 0; i < g->n_xids; i++) json_array_append_new(xids, xid_json(&g->xids[i]));
  json_t *rec = g->recovery_action >= 0 ? json_string(gpu_recovery_action_name(g->recovery_action))
                                        : json_null();
  return json_pack("{s:i,s:s,s:s,s:s,s:b,s:s,s:b,s:s,s:s,s:o,s:o,s:s,s:o,s:o}", "index", g->index,
                   "uuid", g->uuid, "name", g->name, "pci_bus_id", g->pci_bus_id, "simulated",
                   g->simulated, "status", verdict_status_name(g->status), "healthy",
                   g->status != VERDICT_FAIL, "action", verdict_action_name(g->action),
                   "action_text", verdict_action_text(g->action), "recovery_action", rec,
                   "recovery_action_code",
                   g->recovery_action >= 0 ? json_integer(g->recovery_action) : json_null(),
                   "reason", g->reason, "xids", xids, "checks", checks);
}

json_t *health_report_json(const struct health_report *r) {
  json_t *gpus = json_array();
  for (int i = 0; i < r->n_gpus; i++) json_array_append_new(gpus, gpu_json(&r->gpus[i]));
  return json_pack("{s:s,s:s,s:o,s:s,s:b,s:s,s:s,s:s,s:s,s:o}", "schema", "gpuops.health/v1",
                   "host", r->host, "time", iso_time(r->t_ns), "backend", r->backend, "simulated",
                   r->simulated, "verdict", health_verdict_name(r->verdict), "action",
                   verdict_action_name(r->action), "action_text", verdict_action_text(r->action),
                   "summary", r->summary, "gpus", gpus);
}

/* ---- JSON in ---- */

static const char *str_field(const json_t *o, const char *key, const char *where, int *rc) {
  const char *s = json_string_value(json_object_get(o, key));
  if (!s && *rc == 0)
    *rc = err_set(ERR_PARSE, "/health document: %s: missing string \"%s\"", where, key);
  return s ? s : "";
}

static int parse_check(const json_t *c, struct health_gpu *g, const char *where) {
  int rc = 0;
  const char *name = str_field(c, "name", where, &rc), *st = str_field(c, "status", where, &rc);
  const char *act = str_field(c, "action", where, &rc), *msg = str_field(c, "message", where, &rc);
  if (rc) return rc;
  enum health_check_id id;
  if (health_check_parse(name, &id) < 0) return 0; /* a newer exporter's check: skip it */
  struct health_check *hc = &g->checks[id];
  if (verdict_status_parse(st, &hc->status) < 0 || verdict_action_parse(act, &hc->action) < 0)
    return err_wrap(ERR_PARSE, "/health document: %s check %s", where, name);
  snprintf(hc->message, sizeof hc->message, "%s", msg);
  return 0;
}

static int parse_gpu(const json_t *o, struct health_gpu *g, int pos) {
  char where[32];
  snprintf(where, sizeof where, "gpus[%d]", pos);
  if (!json_is_object(o)) return err_set(ERR_PARSE, "/health document: %s is not an object", where);
  int rc = 0;
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++) g->checks[i].status = VERDICT_NA;
  g->index = (int)json_integer_value(json_object_get(o, "index"));
  snprintf(g->uuid, sizeof g->uuid, "%s", str_field(o, "uuid", where, &rc));
  snprintf(g->name, sizeof g->name, "%s", str_field(o, "name", where, &rc));
  snprintf(g->pci_bus_id, sizeof g->pci_bus_id, "%s", str_field(o, "pci_bus_id", where, &rc));
  snprintf(g->reason, sizeof g->reason, "%s", str_field(o, "reason", where, &rc));
  const char *st = str_field(o, "status", where, &rc), *act = str_field(o, "action", where, &rc);
  if (rc) return rc;
  if (verdict_status_parse(st, &g->status) < 0 || verdict_action_parse(act, &g->action) < 0)
    return err_wrap(ERR_PARSE, "/health document: %s", where);
  g->simulated = json_is_true(json_object_get(o, "simulated"));
  json_t *code = json_object_get(o, "recovery_action_code");
  g->recovery_action = json_is_integer(code) ? (int)json_integer_value(code) : -1;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(o, "checks"), i,
                     c) if ((rc = parse_check(c, g, where))) return rc;
  json_array_foreach(json_object_get(o, "xids"), i, c) {
    if (g->n_xids >= HEALTH_XIDS_MAX) break;
    g->xids[g->n_xids++] =
        (struct health_xid){.xid = (unsigned)json_integer_value(json_object_get(c, "xid")),
                            .count = (uint64_t)json_integer_value(json_object_get(c, "count"))};
  }
  return 0;
}

static int parse_verdict(const char *s, enum health_verdict *v) {
  for (int i = HEALTH_HEALTHY; i <= HEALTH_FAILED; i++)
    if (!strcmp(s, health_verdict_name((enum health_verdict)i)))
      return *v = (enum health_verdict)i, 0;
  return err_set(ERR_PARSE, "/health document: verdict '%s' is not healthy, degraded or failed", s);
}

int health_report_from_json(const json_t *doc, struct health_report *r) {
  health_report_init(r);
  int rc = 0;
  if (!json_is_object(doc)) return err_set(ERR_PARSE, "/health document: not a JSON object");
  const char *schema = str_field(doc, "schema", "top level", &rc);
  if (rc == 0 && strcmp(schema, "gpuops.health/v1") != 0)
    return err_set(ERR_PARSE, "/health document: schema '%s' is not gpuops.health/v1", schema);
  snprintf(r->host, sizeof r->host, "%s", str_field(doc, "host", "top level", &rc));
  snprintf(r->backend, sizeof r->backend, "%s", str_field(doc, "backend", "top level", &rc));
  snprintf(r->summary, sizeof r->summary, "%s", str_field(doc, "summary", "top level", &rc));
  const char *verdict = str_field(doc, "verdict", "top level", &rc);
  const char *action = str_field(doc, "action", "top level", &rc);
  json_t *gpus = json_object_get(doc, "gpus");
  if (rc == 0 && !json_is_array(gpus))
    rc = err_set(ERR_PARSE, "/health document: missing array \"gpus\"");
  if (rc) return rc;
  if ((rc = parse_verdict(verdict, &r->verdict)) < 0) return rc;
  if (verdict_action_parse(action, &r->action) < 0) return err_wrap(ERR_PARSE, "/health document");
  r->simulated = json_is_true(json_object_get(doc, "simulated"));
  r->t_ns = time_wall_ns();
  size_t n = json_array_size(gpus);
  r->gpus = calloc(n ? n : 1, sizeof *r->gpus);
  if (!r->gpus) return err_set(ERR_NOMEM, "out of memory reading /health");
  for (size_t i = 0; i < n; i++, r->n_gpus++)
    if ((rc = parse_gpu(json_array_get(gpus, i), &r->gpus[i], (int)i)) < 0) break;
  if (rc < 0) health_report_free(r);
  return rc;
}

/* ---- collecting ---- */

/* Wait up to ms for XID events on b, recording them per GPU; returns 0 or the error (not fatal). */
static int watch_events(struct gpu_backend *b, int ms, struct xid_history *hist, int n) {
  int64_t deadline = time_mono_ns() + (int64_t)ms * 1000000LL;
  struct gpu_event ev[16];
  for (;;) {
    int64_t left_ms = (deadline - time_mono_ns()) / 1000000LL;
    if (left_ms <= 0) return 0;
    int got = gpu_wait_events(b, (int)left_ms, ev, 16);
    if (got < 0) return got;
    for (int i = 0; i < got; i++)
      if (ev[i].type == GPU_EVENT_XID && ev[i].gpu_index >= 0 && ev[i].gpu_index < n)
        xid_history_record(&hist[ev[i].gpu_index], (unsigned)ev[i].xid, ev[i].t_ns);
  }
}

static void pause_or_watch(struct gpu_backend *b, const struct health_collect_opts *o,
                           struct xid_history *hist, int n, bool *watched) {
  int wait_ms = o->watch_ms > o->interval_ms ? o->watch_ms : o->interval_ms;
  *watched = false;
  if (o->watch_ms > 0) {
    int rc = watch_events(b, wait_ms, hist, n);
    if (rc == 0) {
      *watched = true;
      return;
    }
    fprintf(stderr, "gpuops health: cannot watch XID events: %s\n", err_msg());
  }
  if (o->interval_ms > 0) time_sleep_ns((int64_t)o->interval_ms * 1000000LL);
}

int health_collect(struct gpu_backend *b, const struct health_collect_opts *o,
                   struct health_report *r) {
  struct sampler s;
  struct xid_history *hist = NULL;
  health_report_init(r);
  int rc = sampler_init(&s, b);
  if (rc < 0) goto out;
  hist = calloc((size_t)s.n, sizeof *hist);
  r->gpus = calloc((size_t)s.n, sizeof *r->gpus);
  if (!hist || !r->gpus) {
    rc = err_set(ERR_NOMEM, "out of memory for %d GPUs", s.n);
    goto out;
  }
  sampler_pass(&s);
  bool watched = false;
  if (o->interval_ms > 0 || o->watch_ms > 0) {
    pause_or_watch(b, o, hist, s.n, &watched);
    sampler_pass(&s);
  }
  if (o->host)
    snprintf(r->host, sizeof r->host, "%s", o->host);
  else if (gethostname(r->host, sizeof r->host - 1) != 0)
    snprintf(r->host, sizeof r->host, "unknown");
  snprintf(r->backend, sizeof r->backend, "%s", gpu_backend_name(b));
  r->simulated = b->simulated;
  r->t_ns = time_wall_ns();
  for (int i = 0; i < s.n; i++) {
    struct health_input in;
    sampler_health_input(&s.gpus[i], watched ? &hist[i] : NULL, &in);
    health_evaluate_gpu(o->t, &in, i, r->t_ns, &r->gpus[i]);
  }
  r->n_gpus = s.n;
  health_report_finish(r);
out:
  free(hist);
  sampler_free(&s);
  if (rc < 0) health_report_free(r);
  return rc;
}
