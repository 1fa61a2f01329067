/*
 * sim.c — the simulated GPU backend: the GPUs of one inventory node, with
 * the static figures of the real chips and readings that are the same in
 * every process.
 *
 * Same in every process (DESIGN.md): nothing a reading shows depends on the
 * process that took it, except GPM's previous-sample time (GPM is stateful,
 * as on the real driver). Time-varying values are closed-form functions of
 * (fleet seed, node, GPU, wall time); injected faults come from the state file
 * (simstate.c), re-read on every info and sample call, so a fault injected by
 * `gpuops sim inject` shows in an exporter that is already running.
 *
 * The load model. Each GPU (or, with MIG on, each GPU instance) has a busy
 * fraction
 *   u(t) = level + a1 sin(w1 t + p1) + a2 sin(w2 t + p2) + a3 (h[k+1] - h[k]) sin(pi s)
 * where t is seconds since SIM_EPOCH, k = floor(t / 30 s), s = t / 30 s - k,
 * and h[k] = rng_hash_unit(key, k) in [0, 1): two waves plus one random bump
 * per 30 s bucket. A fifth of the GPUs (instances) are idle (u = 0). The
 * amplitudes add up to min(level, 1 - level), so u stays in [0, 1].
 * Power = idle + span * u(t) + a 1.5 W wiggle, and the energy counter is its
 * exact integral from SIM_EPOCH: the waves integrate to cosines and the bumps
 * telescope (the integral over bucket j is (h[j+1] - h[j]) * 2 * 30 s / pi),
 * so E(t) is closed-form, monotonic and the same everywhere. Temperature
 * follows the mean power of the last 60 s, (E(t) - E(t - 60)) / 60.
 *
 * The clock: CLOCK_REALTIME, or $GPUOPS_SIM_TIME_NS (a wall time in ns) when
 * set, re-read on each call, so tests and demos can pin the readings. Event
 * bookkeeping (which injected XIDs are new) always uses the real clock.
 *
 * Sections: clock; load model; the backend's state and open/close; static
 * info; faults of one GPU; sample; MIG; events; the ops table.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"
#include "base/timeutil.h"
#include "gpu/gpu.h"
#include "gpu/simstate.h"

#define SIM_EPOCH_NS       1577836800000000000LL /* 2020-01-01T00:00:00Z: the energy counter's zero */
#define BUMP_S             30.0                  /* width of one random-bump bucket, seconds */
#define TEMP_WINDOW_S      60.0                  /* temperature follows the mean power over this */
#define THERMAL_FAULT_C    95.0                  /* GPU temperature under a thermal fault */
#define EVENT_POLL_NS      50000000LL /* wait_events re-reads the state file this often */
#define XID_FALLEN_OFF_BUS 79

_Static_assert(INV_MIG_MAX <= GPU_MIG_MAX, "a sample holds every MIG instance");

/* ---- clock ---------------------------------------------------------------- */

/* Now, as the simulated readings see it: $GPUOPS_SIM_TIME_NS or the wall clock. */
static int sim_now(int64_t *t_ns) {
  const char *pin = getenv("GPUOPS_SIM_TIME_NS");
  if (!pin || !*pin) {
    *t_ns = time_wall_ns();
    return 0;
  }
  char *end = NULL;
  errno = 0;
  long long v = strtoll(pin, &end, 10);
  if (errno || *end || v < SIM_EPOCH_NS)
    return err_set(ERR_INVALID,
                   "GPUOPS_SIM_TIME_NS='%s' is not a wall time in nanoseconds since 1970 "
                   "(at or after 2020-01-01, e.g. 1764382639000000000); unset it to use the clock",
                   pin);
  *t_ns = v;
  return 0;
}

static double sim_seconds(int64_t t_ns) { return (double)(t_ns - SIM_EPOCH_NS) * 1e-9; }

/* ---- load model ----------------------------------------------------------- */

struct load {
  uint64_t key;      /* hash key of this GPU or instance */
  double level;      /* mean busy fraction; 0 = idle */
  double a1, w1, p1; /* slow wave: amplitude, rad/s, phase */
  double a2, w2, p2; /* fast wave */
  double a3;         /* random-bump amplitude */
};

/* A value in [0, 1) that depends only on key and salt. */
static double unit(uint64_t key, uint64_t salt) {
  return rng_hash_unit(key ^ rng_hash64(salt + 0x51ED270B2A9C4F1DULL));
}

static void load_make(uint64_t key, struct load *l) {
  memset(l, 0, sizeof *l);
  l->key = key;
  if (unit(key, 1) < 0.2) return; /* idle */
  l->level = 0.35 + 0.6 * unit(key, 2);
  double m = fmin(l->level, 1.0 - l->level);
  l->a1 = 0.5 * m;
  l->w1 = 2 * M_PI / (240.0 + 360.0 * unit(key, 3));
  l->p1 = 2 * M_PI * unit(key, 4);
  l->a2 = 0.2 * m;
  l->w2 = 2 * M_PI / (37.0 + 60.0 * unit(key, 5));
  l->p2 = 2 * M_PI * unit(key, 6);
  l->a3 = 0.3 * m;
}

static double bump_h(const struct load *l, double k) {
  return rng_hash_unit(l->key ^ rng_hash64((uint64_t)(int64_t)k * 2 + 1));
}

/* u(t), t in seconds since SIM_EPOCH. */
static double load_at(const struct load *l, double t) {
  if (l->level == 0) return 0;
  double k = floor(t / BUMP_S), s = t / BUMP_S - k;
  double bump = (bump_h(l, k + 1) - bump_h(l, k)) * sin(M_PI * s);
  return l->level + l->a1 * sin(l->w1 * t + l->p1) + l->a2 * sin(l->w2 * t + l->p2) + l->a3 * bump;
}

/* The integral of u from 0 to t (busy-seconds). */
static double load_integral(const struct load *l, double t) {
  if (l->level == 0) return 0;
  double k = floor(t / BUMP_S), s = t / BUMP_S - k;
  double hk = bump_h(l, k), hk1 = bump_h(l, k + 1);
  double bumps = (BUMP_S / M_PI) * (2.0 * (hk - bump_h(l, 0)) + (hk1 - hk) * (1.0 - cos(M_PI * s)));
  return l->level * t - l->a1 / l->w1 * (cos(l->w1 * t + l->p1) - cos(l->p1)) -
         l->a2 / l->w2 * (cos(l->w2 * t + l->p2) - cos(l->p2)) + l->a3 * bumps;
}

/* Mean of u over [t0, t1]; u(t1) when the interval is empty. */
static double load_mean(const struct load *l, double t0, double t1) {
  if (t1 <= t0) return load_at(l, t1);
  return (load_integral(l, t1) - load_integral(l, t0)) / (t1 - t0);
}

/* ---- the backend's state, open and close ------------------------------------ */

/* One simulated GPU: what open() derives once. */
struct sim_gpu {
  const struct inv_gpu *g;
  const struct catalog_model *m;
  uint64_t key;                                /* seed + node + index */
  struct load whole;                           /* the GPU's load (MIG off) */
  int n_mig;                                   /* MIG instances (MIG on) */
  struct load mig[INV_MIG_MAX];                /* each instance's load */
  double mig_weight[INV_MIG_MAX];              /* compute slices / 7 */
  double idle_w, span_w;                       /* power at u = 0, and added at u = 1 */
  double wiggle_w, wiggle_w_rad, wiggle_phase; /* small ripple on top */
  double base_temp_c, temp_span_c;             /* temperature at idle power, and added at full */
  bool gpm_have;                               /* a previous sample exists (GPM valid) */
  int64_t gpm_prev_ns;                         /* its time */
};

struct sim {
  struct inventory owned; /* the built-in fleet when o->inv is NULL */
  bool owns;
  const struct inventory *inv;
  const struct inv_node *node;
  char *state_path;
  int64_t last_event_ns; /* real wall time: open, then last delivered XID */
  struct sim_gpu *gpus;  /* node->n_gpus */
};

static uint64_t gpu_key(uint64_t seed, const char *node, int index) {
  return rng_hash64(rng_hash64(seed) ^ rng_hash_str(node) ^ rng_hash64((uint64_t)index + 0xC0FFEE));
}

static void sim_gpu_make(const struct inventory *inv, const struct inv_node *node, int index,
                         struct sim_gpu *sg) {
  memset(sg, 0, sizeof *sg);
  sg->g = &node->gpus[index];
  sg->m = sg->g->model;
  sg->key = gpu_key(inv->seed, node->name, index);
  load_make(sg->key, &sg->whole);
  if (sg->g->mig_enabled) {
    sg->n_mig = sg->g->n_mig < INV_MIG_MAX ? sg->g->n_mig : INV_MIG_MAX;
    for (int i = 0; i < sg->n_mig; i++) {
      const struct catalog_mig_profile *p = catalog_mig_profile(sg->m, sg->g->mig[i].profile_id);
      load_make(rng_hash64(sg->key ^ rng_hash64(0x1000 + (uint64_t)i)), &sg->mig[i]);
      sg->mig_weight[i] = p ? (double)p->compute_slices / CATALOG_MIG_COMPUTE_SLICES : 0;
    }
  }
  double limit_w = sg->m->power_limit_w;
  sg->idle_w = 0.173 * limit_w * (0.98 + 0.04 * unit(sg->key, 10)); /* H200: 121 W of 700 */
  sg->span_w = 0.95 * limit_w - sg->idle_w;
  sg->wiggle_w = 1.5;
  sg->wiggle_w_rad = 2 * M_PI / (20.0 + 40.0 * unit(sg->key, 11));
  sg->wiggle_phase = 2 * M_PI * unit(sg->key, 12);
  sg->base_temp_c = 35.0 + 4.0 * unit(sg->key, 13); /* H200 idle: 37 C */
  sg->temp_span_c = 33.0 + 6.0 * unit(sg->key, 14);
}

/* Device busy fraction: its own load, or the instances' weighted by compute slices. */
static double dev_load_at(const struct sim_gpu *sg, double t) {
  if (!sg->g->mig_enabled) return load_at(&sg->whole, t);
  double u = 0;
  for (int i = 0; i < sg->n_mig; i++) u += sg->mig_weight[i] * load_at(&sg->mig[i], t);
  return u;
}

static double dev_load_integral(const struct sim_gpu *sg, double t) {
  if (!sg->g->mig_enabled) return load_integral(&sg->whole, t);
  double s = 0;
  for (int i = 0; i < sg->n_mig; i++) s += sg->mig_weight[i] * load_integral(&sg->mig[i], t);
  return s;
}

static double power_w(const struct sim_gpu *sg, double t) {
  return sg->idle_w + sg->span_w * dev_load_at(sg, t) +
         sg->wiggle_w * sin(sg->wiggle_w_rad * t + sg->wiggle_phase);
}

/* Exact integral of power_w from SIM_EPOCH to t, joules. */
static double energy_j(const struct sim_gpu *sg, double t) {
  double ripple = -sg->wiggle_w / sg->wiggle_w_rad *
                  (cos(sg->wiggle_w_rad * t + sg->wiggle_phase) - cos(sg->wiggle_phase));
  return sg->idle_w * t + sg->span_w * dev_load_integral(sg, t) + ripple;
}

/* "a, b, c" of the fleet's node names into buf (truncated with "..."). */
static void node_names(const struct inventory *inv, char *buf, size_t len) {
  buf[0] = '\0';
  for (int i = 0; i < inv->n_nodes; i++) {
    size_t used = strlen(buf);
    if (used + strlen(inv->nodes[i].name) + 8 >= len) {
      snprintf(buf + used, len - used, ", ... (%d in all)", inv->n_nodes);
      return;
    }
    snprintf(buf + used, len - used, "%s%s", i ? ", " : "", inv->nodes[i].name);
  }
}

/* The node to present: o->sim_node, $GPUOPS_SIM_NODE, the host's name, else the first. */
static int pick_node(const struct inventory *inv, const char *want, const struct inv_node **out) {
  if (inv->n_nodes <= 0)
    return err_set(ERR_NOTFOUND, "fleet '%s' (%s) has no nodes to simulate", inv->name,
                   inv->source);
  if (!want || !*want) want = getenv("GPUOPS_SIM_NODE");
  if (want && *want) {
    *out = inventory_node(inv, want);
    if (*out) return 0;
    char names[400];
    node_names(inv, names, sizeof names);
    return err_set(ERR_NOTFOUND, "node '%s' is not in fleet '%s' (%s); its nodes: %s", want,
                   inv->name, inv->source, names);
  }
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) == 0 && (*out = inventory_node(inv, host))) return 0;
  char *dot = strchr(host, '.');
  if (dot) *dot = '\0';
  if (host[0] && (*out = inventory_node(inv, host))) return 0;
  *out = &inv->nodes[0];
  return 0;
}

static void sim_close(struct gpu_backend *b) {
  struct sim *s = b->priv;
  if (!s) return;
  if (s->owns) inventory_free(&s->owned);
  free(s->state_path);
  free(s->gpus);
  free(s);
  b->priv = NULL;
}

static int sim_open(struct gpu_backend *b, const struct gpu_options *o) {
  int64_t now = 0;
  int rc = sim_now(&now); /* reject a bad $GPUOPS_SIM_TIME_NS up front */
  if (rc < 0) return rc;
  struct sim *s = calloc(1, sizeof *s);
  if (!s) return err_set(ERR_NOMEM, "out of memory opening the sim backend");
  b->priv = s;
  inventory_init(&s->owned);
  s->inv = o ? o->inv : NULL;
  if (!s->inv) {
    if ((rc = inventory_default(&s->owned)) < 0) goto out;
    s->owns = true;
    s->inv = &s->owned;
  }
  if ((rc = pick_node(s->inv, o ? o->sim_node : NULL, &s->node)) < 0) goto out;
  const char *path = o && o->sim_state_path ? o->sim_state_path : simstate_default_path();
  s->state_path = strdup(path);
  s->gpus = calloc(s->node->n_gpus > 0 ? (size_t)s->node->n_gpus : 1, sizeof *s->gpus);
  if (!s->state_path || !s->gpus) {
    rc = err_set(ERR_NOMEM, "out of memory opening the sim backend");
    goto out;
  }
  for (int i = 0; i < s->node->n_gpus; i++) sim_gpu_make(s->inv, s->node, i, &s->gpus[i]);
  s->last_event_ns = time_wall_ns();
  b->simulated = true;
out:
  if (rc < 0) sim_close(b);
  return rc;
}

static int sim_count(struct gpu_backend *b) {
  struct sim *s = b->priv;
  return s->node->n_gpus;
}

/* ---- static info ------------------------------------------------------------ */

static void derive_uuid(uint64_t key, char *buf, size_t len) {
  uint64_t h1 = rng_hash64(key ^ 0x5555AAAA0001ULL), h2 = rng_hash64(key ^ 0x5555AAAA0002ULL);
  snprintf(buf, len, "GPU-%08x-%04x-%04x-%04x-%012llx", (unsigned)(h1 >> 32),
           (unsigned)(h1 >> 16) & 0xffff, (unsigned)h1 & 0xffff, (unsigned)(h2 >> 48),
           (unsigned long long)(h2 & 0xffffffffffffULL));
}

static void gpu_uuid(const struct sim_gpu *sg, char *buf, size_t len) {
  if (sg->g->uuid[0])
    snprintf(buf, len, "%s", sg->g->uuid);
  else
    derive_uuid(sg->key, buf, len);
}

/* PCI bus number: an HGX board's eight buses, else index + 1 (distinct up to 255 GPUs). */
static unsigned bus_number(int index, int n_gpus) {
  static const unsigned hgx[8] = {0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB};
  return n_gpus <= 8 ? hgx[index] : (unsigned)(index % 255) + 1;
}

/* The driver's CUDA version (13000 = 13.0) by driver branch; 0 when not known. */
static int cuda_for_driver(const char *driver) {
  static const struct {
    int branch, cuda;
  } map[] = {{580, 13000}, {575, 12090}, {570, 12080}, {565, 12070}, {560, 12060},
             {555, 12050}, {550, 12040}, {545, 12030}, {535, 12020}, {530, 12010},
             {525, 12000}, {520, 11080}, {515, 11070}, {510, 11060}, {470, 11040}};
  int branch = atoi(driver);
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (branch >= map[i].branch) return map[i].cuda;
  return 0;
}

static bool is_hopper(const struct catalog_model *m) {
  return m->architecture && !strcmp(m->architecture, "Hopper");
}

static void fill_info(const struct sim *s, const struct sim_gpu *sg, int index,
                      struct gpu_info *out) {
  const struct catalog_model *m = sg->m;
  snprintf(out->name, sizeof out->name, "%s", m->product_name);
  gpu_uuid(sg, out->uuid, sizeof out->uuid);
  snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "00000000:%02X:00.0",
           bus_number(index, s->node->n_gpus));
  snprintf(out->serial, sizeof out->serial, "%013llu",
           1650000000000ULL + rng_hash64(sg->key ^ 0x5E41A1ULL) % 10000000000ULL);
  const char *fw = s->node->firmware_version[0] ? s->node->firmware_version
                   : !strcmp(m->key, "H200")    ? "96.00.A5.00.1A" /* the real card's */
                                                : "";
  snprintf(out->vbios_version, sizeof out->vbios_version, "%s", fw);
  const char *drv = s->node->driver_version[0] ? s->node->driver_version : "580.159.04";
  snprintf(out->driver_version, sizeof out->driver_version, "%s", drv);
  out->memory_total_mib = m->memory_mib;
  out->pci_device_id = m->pci_device_id;
  out->sm_count = m->sm_count;
  out->max_sm_clock_mhz = m->max_sm_clock_mhz;
  out->max_mem_clock_mhz = m->max_mem_clock_mhz;
  out->power_limit_mw = m->power_limit_w * 1000;
  out->cuda_version = cuda_for_driver(drv);
  out->cc_major = m->cc_major;
  out->cc_minor = m->cc_minor;
  out->mig_current = out->mig_pending = sg->g->mig_enabled ? 1 : 0;
  out->gpm_supported = is_hopper(m);
  out->valid = GPU_INFO_SM_COUNT | GPU_INFO_MAX_SM_CLOCK | GPU_INFO_MAX_MEM_CLOCK |
               GPU_INFO_POWER_LIMIT | GPU_INFO_MIG_MODE | GPU_INFO_CC | GPU_INFO_PCI_DEVICE_ID |
               GPU_INFO_GPM | (out->cuda_version ? GPU_INFO_CUDA_VERSION : 0);
  out->simulated = true;
  out->model = m;
}

/* ---- faults of one GPU ------------------------------------------------------- */

struct fault_view {
  bool lost; /* fall-off-bus */
  int64_t lost_t_ns;
  bool thermal;
  int64_t thermal_since_ns; /* earliest thermal fault */
  int64_t ecc_dbe;          /* uncorrectable ECC errors */
  int ecc_faults;           /* rows waiting for a remap */
  bool remap_failure;
  int recovery; /* latest recovery-action value */
  int64_t recovery_t_ns;
  int64_t xid_last; /* latest XID number, 0 none */
  int64_t xid_t_ns;
};

static void view_add(struct fault_view *v, const struct sim_fault *f) {
  switch (f->kind) {
    case SIM_FAULT_XID:
      if (!v->xid_last || f->t_ns >= v->xid_t_ns) {
        v->xid_last = f->value;
        v->xid_t_ns = f->t_ns;
      }
      break;
    case SIM_FAULT_ECC_UNCORRECTABLE:
      v->ecc_dbe += f->value > 0 ? f->value : 1; /* the count defaults to one error */
      v->ecc_faults++;
      break;
    case SIM_FAULT_ROW_REMAP_FAILURE: v->remap_failure = true; break;
    case SIM_FAULT_THERMAL:
      if (!v->thermal || f->t_ns < v->thermal_since_ns) v->thermal_since_ns = f->t_ns;
      v->thermal = true;
      break;
    case SIM_FAULT_FALLEN_OFF_BUS:
      if (!v->lost || f->t_ns < v->lost_t_ns) v->lost_t_ns = f->t_ns;
      v->lost = true;
      break;
    case SIM_FAULT_RECOVERY_ACTION:
      if (f->t_ns >= v->recovery_t_ns) {
        v->recovery = (int)f->value;
        v->recovery_t_ns = f->t_ns;
      }
      break;
    case SIM_FAULT_COUNT: break;
  }
}

/* Read the state file and fold the faults of (this node, GPU index) into *v. */
static int faults_of(struct sim *s, int index, struct fault_view *v) {
  memset(v, 0, sizeof *v);
  struct sim_fault *f = NULL;
  int n = 0;
  int rc = simstate_load(s->state_path, &f, &n);
  if (rc < 0) return rc;
  for (int i = 0; i < n; i++)
    if (f[i].gpu == index && !strcmp(f[i].node, s->node->name)) view_add(v, &f[i]);
  free(f);
  return 0;
}

static int sim_info(struct gpu_backend *b, int index, struct gpu_info *out) {
  struct sim *s = b->priv;
  struct fault_view v;
  int rc = faults_of(s, index, &v);
  if (rc < 0) return rc;
  fill_info(s, &s->gpus[index], index, out);
  if (v.lost)
    snprintf(out->note, sizeof out->note,
             "simulated fault: fell off the bus (XID 79); static figures shown, readings fail");
  return 0;
}

/* ---- sample ------------------------------------------------------------------ */

#define SET(vals, m, x) gpu_values_set((vals), GPU_M_##m, (x))

static double round_to(double x, double step) { return round(x / step) * step; }
static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

/* Framebuffer in use: a job's footprint that changes every 30 minutes; 0 when idle. */
static double fb_used_mib(const struct sim_gpu *sg, double t, double usable_mib) {
  uint64_t bucket = (uint64_t)(int64_t)floor(t / 1800.0);
  if (!sg->g->mig_enabled)
    return sg->whole.level > 0 ? round(usable_mib * (0.35 + 0.6 * unit(sg->key, 100 + bucket))) : 0;
  double used = 0;
  for (int i = 0; i < sg->n_mig; i++) {
    const struct catalog_mig_profile *p = catalog_mig_profile(sg->m, sg->g->mig[i].profile_id);
    if (p && sg->mig[i].level > 0)
      used += round((double)p->memory_mib * (0.4 + 0.5 * unit(sg->mig[i].key, 100 + bucket)));
  }
  return used;
}

/* Utilisation, memory, power, energy, temperature, clocks and their reasons. */
static void fill_load(const struct sim_gpu *sg, double t, const struct fault_view *fv, int64_t t_ns,
                      struct gpu_values *val) {
  const struct catalog_model *m = sg->m;
  double u = clamp01(dev_load_at(sg, t)), util = round(100.0 * u);
  if (!sg->g->mig_enabled) { /* NVML has no utilisation rates in MIG mode */
    SET(val, GPU_UTIL, util);
    SET(val, MEM_COPY_UTIL, round(util * (0.3 + 0.3 * unit(sg->key, 20))));
  }
  double reserved = round((double)m->memory_mib * 616.0 / 143771.0); /* H200: 616 MiB */
  double used = fb_used_mib(sg, t, (double)m->memory_mib - reserved);
  SET(val, FB_RESERVED, reserved);
  SET(val, FB_USED, used);
  SET(val, FB_FREE, (double)m->memory_mib - reserved - used);
  SET(val, POWER, round_to(power_w(sg, t), 0.001));
  SET(val, ENERGY, round(energy_j(sg, t) * 1000.0));
  double mean_w = (energy_j(sg, t) - energy_j(sg, t - TEMP_WINDOW_S)) / TEMP_WINDOW_S;
  double heat = clamp01((mean_w - sg->idle_w) / sg->span_w);
  double temp = fv->thermal ? THERMAL_FAULT_C : round(sg->base_temp_c + sg->temp_span_c * heat);
  SET(val, GPU_TEMP, temp);
  SET(val, MEM_TEMP, fv->thermal ? temp - 3 : round(sg->base_temp_c - 2 + 40.0 * heat));
  double sm_clock = m->max_sm_clock_mhz;
  uint64_t reasons = util < 1 ? GPU_CLOCK_REASON_GPU_IDLE : 0;
  if (fv->thermal) {
    sm_clock = round_to(0.5 * sm_clock, 15);
    reasons |=
        GPU_CLOCK_REASON_HW_SLOWDOWN | GPU_CLOCK_REASON_HW_THERMAL | GPU_CLOCK_REASON_SW_THERMAL;
  }
  SET(val, SM_CLOCK, sm_clock);
  SET(val, MEM_CLOCK, m->max_mem_clock_mhz);
  SET(val, PSTATE, 0);
  SET(val, CLOCK_REASONS, (double)reasons);
  double thermal_us = fv->thermal && t_ns > fv->thermal_since_ns
                          ? floor((double)(t_ns - fv->thermal_since_ns) / 1000.0)
                          : 0;
  SET(val, VIOL_POWER, 0);
  SET(val, VIOL_THERMAL, thermal_us);
  SET(val, VIOL_SYNC_BOOST, 0);
  /* Board-limit, low-utilisation and reliability counters: nvidia-smi -q on the
   * H200 lists none of them, so they stay invalid (unsupported). */
}

/* ECC, row remapping, retired pages, PCIe replays, recovery action, last XID. */
static void fill_health(const struct sim_gpu *sg, const struct fault_view *fv,
                        struct gpu_values *val) {
  SET(val, ECC_SBE_VOL, 0);
  SET(val, ECC_SBE_AGG, 0);
  SET(val, ECC_DBE_VOL, (double)fv->ecc_dbe);
  SET(val, ECC_DBE_AGG, (double)fv->ecc_dbe);
  SET(val, REMAP_CORRECTABLE, 0);
  SET(val, REMAP_UNCORRECTABLE, fv->ecc_faults);
  SET(val, REMAP_PENDING, fv->ecc_faults > 0);
  SET(val, REMAP_FAILURE, fv->remap_failure);
  if (!is_hopper(sg->m)) { /* Hopper remaps rows; NVML says retired pages are unsupported */
    SET(val, RETIRED_SBE, 0);
    SET(val, RETIRED_DBE, 0);
    SET(val, RETIRED_PENDING, 0);
  }
  SET(val, PCIE_REPLAY, 0);
  SET(val, RECOVERY_ACTION, fv->recovery);
  SET(val, XID_LAST, (double)fv->xid_last);
}

/* GPM metrics from the mean busy fraction over the interval; factors fixed per key. */
static void fill_gpm(uint64_t key, double ubar, struct gpu_values *val) {
  double pct = 100.0 * clamp01(ubar);
  SET(val, GPM_GR_ACTIVE, pct);
  SET(val, GPM_SM_ACTIVE, pct * 0.92);
  SET(val, GPM_SM_OCCUPANCY, pct * (0.35 + 0.3 * unit(key, 30)));
  SET(val, GPM_TENSOR_ACTIVE, pct * (0.2 + 0.4 * unit(key, 31)));
  SET(val, GPM_DRAM_ACTIVE, pct * (0.3 + 0.4 * unit(key, 32)));
  SET(val, GPM_FP64_ACTIVE, pct * 0.01);
  SET(val, GPM_FP32_ACTIVE, pct * (0.05 + 0.15 * unit(key, 33)));
  SET(val, GPM_FP16_ACTIVE, pct * (0.05 + 0.1 * unit(key, 34)));
  SET(val, GPM_PCIE_TX, 0.8 + 20.0 * pct); /* idle: ~0.8 MiB/s, as on the card */
  SET(val, GPM_PCIE_RX, 0.4 + 30.0 * pct);
  SET(val, GPM_NVLINK_TX, 400.0 * pct);
  SET(val, GPM_NVLINK_RX, 400.0 * pct);
}

static void fill_gpm_all(struct sim_gpu *sg, double t0, double t, struct gpu_sample *out) {
  for (int i = 0; i < sg->n_mig; i++) {
    out->mig[i].gi_id = i + 1;
    out->mig[i].profile_id = sg->g->mig[i].profile_id;
  }
  out->n_mig = sg->n_mig;
  if (!sg->gpm_have || !is_hopper(sg->m)) return;
  double dev = sg->g->mig_enabled ? 0 : load_mean(&sg->whole, t0, t);
  for (int i = 0; i < sg->n_mig; i++) {
    double ui = load_mean(&sg->mig[i], t0, t);
    dev += sg->mig_weight[i] * ui;
    fill_gpm(sg->mig[i].key, ui, &out->mig[i].val);
  }
  fill_gpm(sg->key, dev, &out->dev);
}

static int sim_sample(struct gpu_backend *b, int index, struct gpu_sample *out) {
  struct sim *s = b->priv;
  struct sim_gpu *sg = &s->gpus[index];
  struct fault_view fv;
  int64_t now = 0;
  int rc = sim_now(&now);
  if (rc < 0 || (rc = faults_of(s, index, &fv)) < 0) return rc;
  out->t_ns = now;
  if (fv.lost) {
    out->lost = true;
    sg->gpm_have = false; /* a GPU that comes back starts GPM afresh */
    char uuid[96];
    gpu_uuid(sg, uuid, sizeof uuid);
    return err_set(ERR_GPU_LOST,
                   "%s GPU %d (%s) has fallen off the bus (XID 79, simulated fault); clear it "
                   "with `gpuops sim clear --node %s --gpu %d`",
                   s->node->name, index, uuid, s->node->name, index);
  }
  double t = sim_seconds(now), t0 = sim_seconds(sg->gpm_prev_ns);
  fill_load(sg, t, &fv, now, &out->dev);
  fill_health(sg, &fv, &out->dev);
  fill_gpm_all(sg, t0, t, out);
  sg->gpm_have = true;
  sg->gpm_prev_ns = now;
  return 0;
}

/* ---- MIG ------------------------------------------------------------------------ */

/* Engines of one GPU instance of a profile: the H200's table (mig-profiles.txt)
 * for Hopper; for Ampere the A100's, as NVIDIA's MIG user guide lists it
 * (1g: no decoder unless +me or two memory slices; 2g 1, 3g and 4g 2, 7g 5). */
static void profile_engines(const struct catalog_model *m, const struct catalog_mig_profile *p,
                            struct gpu_mig_profile *out) {
  bool full = p->memory_slices == CATALOG_MIG_MEMORY_SLICES;
  int cs = p->compute_slices;
  out->encoders = 0;
  out->ofas = full || p->media_extension ? 1 : 0;
  if (is_hopper(m)) {
    out->copy_engines = full ? 8 : cs;
    out->decoders = out->jpegs = cs;
    return;
  }
  static const int ampere_decoders[8] = {0, 0, 1, 2, 2, 0, 0, 5}; /* by compute slices */
  out->copy_engines = cs;
  out->decoders = cs == 1 ? (p->media_extension || p->memory_slices == 2) : ampere_decoders[cs & 7];
  out->jpegs = out->ofas;
}

static int sim_mig_profiles(struct gpu_backend *b, int index, struct gpu_mig_profile *out,
                            int cap) {
  struct sim *s = b->priv;
  const struct catalog_model *m = s->gpus[index].m;
  if (m->n_mig_profiles == 0)
    return err_set(ERR_UNSUPPORTED, "%s (GPU %d of %s) has no MIG", m->product_name, index,
                   s->node->name);
  int n = 0;
  for (int i = 0; i < m->n_mig_profiles && n < cap; i++, n++) {
    const struct catalog_mig_profile *p = &m->mig_profiles[i];
    memset(&out[n], 0, sizeof out[n]);
    out[n].id = p->id;
    snprintf(out[n].name, sizeof out[n].name, "%s", p->name);
    out[n].compute_slices = p->compute_slices;
    out[n].max_instances = p->max_instances;
    out[n].sm_count = p->sm_count;
    out[n].memory_mib = p->memory_mib;
    profile_engines(m, p, &out[n]);
    out[n].n_placements = p->n_starts;
    for (int k = 0; k < p->n_starts; k++)
      out[n].placements[k] = (struct mig_placement){.profile_id = p->id, .start = p->starts[k]};
    out[n].placement_size = p->memory_slices;
  }
  return n;
}

/* Instances of the inventory's layout, gi_id 1, 2, ... in layout order (0 when MIG is off). */
static int sim_mig_instances(struct gpu_backend *b, int index, struct gpu_mig_instance *out,
                             int cap) {
  struct sim *s = b->priv;
  const struct sim_gpu *sg = &s->gpus[index];
  int n = 0;
  for (int i = 0; i < sg->n_mig && n < cap; i++) {
    const struct catalog_mig_profile *p = catalog_mig_profile(sg->m, sg->g->mig[i].profile_id);
    if (!p)
      return err_set(ERR_INTERNAL, "%s GPU %d: MIG profile %d is not a %s profile", s->node->name,
                     index, sg->g->mig[i].profile_id, sg->m->key);
    out[n] = (struct gpu_mig_instance){.gi_id = i + 1,
                                       .profile_id = p->id,
                                       .start = sg->g->mig[i].start,
                                       .size = p->memory_slices,
                                       .memory_mib = p->memory_mib,
                                       .sm_count = p->sm_count};
    snprintf(out[n].profile_name, sizeof out[n].profile_name, "%s", p->name);
    n++;
  }
  return n;
}

/* ---- events ---------------------------------------------------------------------- */

static int by_time(const void *a, const void *b) {
  const struct sim_fault *x = a, *y = b;
  return (x->t_ns > y->t_ns) - (x->t_ns < y->t_ns);
}

/* XIDs of this node newer than the last delivered, oldest first; returns count or error. */
static int collect_events(struct sim *s, struct gpu_event *out, int cap) {
  struct sim_fault *f = NULL;
  int n = 0, kept = 0;
  int rc = simstate_load(s->state_path, &f, &n);
  if (rc < 0) return rc;
  for (int i = 0; i < n; i++) {
    bool xid = f[i].kind == SIM_FAULT_XID || f[i].kind == SIM_FAULT_FALLEN_OFF_BUS;
    if (xid && f[i].t_ns > s->last_event_ns && f[i].gpu < s->node->n_gpus &&
        !strcmp(f[i].node, s->node->name))
      f[kept++] = f[i];
  }
  if (kept > 1) qsort(f, (size_t)kept, sizeof *f, by_time);
  int k = 0;
  for (; k < kept && k < cap; k++) {
    struct gpu_event *e = &out[k];
    memset(e, 0, sizeof *e);
    e->type = GPU_EVENT_XID;
    e->gpu_index = f[k].gpu;
    gpu_uuid(&s->gpus[f[k].gpu], e->uuid, sizeof e->uuid);
    e->xid = f[k].kind == SIM_FAULT_XID ? (uint64_t)f[k].value : XID_FALLEN_OFF_BUS;
    e->gi_id = e->ci_id = -1;
    e->t_ns = f[k].t_ns;
    s->last_event_ns = f[k].t_ns;
  }
  free(f);
  return k;
}

static int sim_wait_events(struct gpu_backend *b, int timeout_ms, struct gpu_event *out, int cap) {
  struct sim *s = b->priv;
  if (!out || cap <= 0) return err_set(ERR_INVALID, "wait_events needs room for one event or more");
  int64_t deadline = time_mono_ns() + (timeout_ms > 0 ? (int64_t)timeout_ms * 1000000LL : 0);
  for (;;) {
    int n = collect_events(s, out, cap);
    if (n != 0) return n;
    int64_t left = deadline - time_mono_ns();
    if (left <= 0) return 0;
    time_sleep_ns(left < EVENT_POLL_NS ? left : EVENT_POLL_NS);
  }
}

/* ---- the ops table ------------------------------------------------------------------ */

const struct gpu_backend_ops gpu_sim_ops = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .count = sim_count,
    .info = sim_info,
    .sample = sim_sample,
    .mig_profiles = sim_mig_profiles,
    .mig_instances = sim_mig_instances,
    .wait_events = sim_wait_events,
};
