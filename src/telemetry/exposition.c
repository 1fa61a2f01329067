/*
 * exposition.c — GPU telemetry as dcgm-exporter and gpuops families
 * (exposition.h).
 *
 * The DCGM_* names, types and HELP strings are dcgm-exporter's
 * (etc/default-counters.csv and etc/dcp-metrics-included.csv: "DCGM FIELD,
 * Prometheus metric type, help message"); the violation, ECC, retired-page,
 * FB_RESERVED and ROW_REMAP_PENDING families are the csv's commented-out or
 * DCGM's own fields, enabled here. Profiling ratios come from NVML GPM in
 * percent (divided by 100); GPM's PCIe/NVLink rates are MiB/s (times 2^20
 * for bytes/s).
 *
 * Sections: the family tables; labels; DCGM families; gpuops families.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/exposition.h"

/* ---- the family tables ---- */

struct family {
  const char *name;
  enum gpu_metric m;
  enum prom_type type;
  double scale; /* exported = value * scale */
  const char *help;
};

#define G    PROM_GAUGE
#define C    PROM_COUNTER
#define M(x) GPU_M_##x

/* Whole-device families, in dcgm-exporter's csv order. */
static const struct family dev_families[] = {
    {"DCGM_FI_DEV_SM_CLOCK", M(SM_CLOCK), G, 1, "SM clock frequency (in MHz)."},
    {"DCGM_FI_DEV_MEM_CLOCK", M(MEM_CLOCK), G, 1, "Memory clock frequency (in MHz)."},
    {"DCGM_FI_DEV_MEMORY_TEMP", M(MEM_TEMP), G, 1, "Memory temperature (in C)."},
    {"DCGM_FI_DEV_GPU_TEMP", M(GPU_TEMP), G, 1, "GPU temperature (in C)."},
    {"DCGM_FI_DEV_POWER_USAGE", M(POWER), G, 1, "Power draw (in W)."},
    {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", M(ENERGY), C, 1,
     "Total energy consumption since boot (in mJ)."},
    {"DCGM_FI_DEV_PCIE_REPLAY_COUNTER", M(PCIE_REPLAY), C, 1, "Total number of PCIe retries."},
    {"DCGM_FI_DEV_GPU_UTIL", M(GPU_UTIL), G, 1, "GPU utilization (in %)."},
    {"DCGM_FI_DEV_MEM_COPY_UTIL", M(MEM_COPY_UTIL), G, 1, "Memory utilization (in %)."},
    {"DCGM_FI_DEV_POWER_VIOLATION", M(VIOL_POWER), C, 1,
     "Throttling duration due to power constraints (in us)."},
    {"DCGM_FI_DEV_THERMAL_VIOLATION", M(VIOL_THERMAL), C, 1,
     "Throttling duration due to thermal constraints (in us)."},
    {"DCGM_FI_DEV_SYNC_BOOST_VIOLATION", M(VIOL_SYNC_BOOST), C, 1,
     "Throttling duration due to sync-boost constraints (in us)."},
    {"DCGM_FI_DEV_BOARD_LIMIT_VIOLATION", M(VIOL_BOARD_LIMIT), C, 1,
     "Throttling duration due to board limit constraints (in us)."},
    {"DCGM_FI_DEV_LOW_UTIL_VIOLATION", M(VIOL_LOW_UTIL), C, 1,
     "Throttling duration due to low utilization (in us)."},
    {"DCGM_FI_DEV_RELIABILITY_VIOLATION", M(VIOL_RELIABILITY), C, 1,
     "Throttling duration due to reliability constraints (in us)."},
    {"DCGM_FI_DEV_FB_FREE", M(FB_FREE), G, 1, "Framebuffer memory free (in MiB)."},
    {"DCGM_FI_DEV_FB_USED", M(FB_USED), G, 1, "Framebuffer memory used (in MiB)."},
    {"DCGM_FI_DEV_FB_RESERVED", M(FB_RESERVED), G, 1, "Framebuffer memory reserved (in MiB)."},
    {"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", M(ECC_SBE_VOL), C, 1,
     "Total number of single-bit volatile ECC errors."},
    {"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", M(ECC_DBE_VOL), C, 1,
     "Total number of double-bit volatile ECC errors."},
    {"DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", M(ECC_SBE_AGG), C, 1,
     "Total number of single-bit persistent ECC errors."},
    {"DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", M(ECC_DBE_AGG), C, 1,
     "Total number of double-bit persistent ECC errors."},
    {"DCGM_FI_DEV_RETIRED_SBE", M(RETIRED_SBE), C, 1,
     "Total number of retired pages due to single-bit errors."},
    {"DCGM_FI_DEV_RETIRED_DBE", M(RETIRED_DBE), C, 1,
     "Total number of retired pages due to double-bit errors."},
    {"DCGM_FI_DEV_RETIRED_PENDING", M(RETIRED_PENDING), C, 1,
     "Total number of pages pending retirement."},
    {"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", M(REMAP_UNCORRECTABLE), C, 1,
     "Number of remapped rows for uncorrectable errors"},
    {"DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", M(REMAP_CORRECTABLE), C, 1,
     "Number of remapped rows for correctable errors"},
    {"DCGM_FI_DEV_ROW_REMAP_FAILURE", M(REMAP_FAILURE), G, 1,
     "Whether remapping of rows has failed"},
    {"DCGM_FI_DEV_ROW_REMAP_PENDING", M(REMAP_PENDING), G, 1,
     "Whether remapping of rows is pending"},
    {"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", M(CLOCK_REASONS), G, 1,
     "Current clock throttle reasons."},
};

#define PCT   (1.0 / 100.0)
#define MIBPS (1024.0 * 1024.0)

/* Profiling families (GPM), per GPU or per MIG instance. */
static const struct family prof_families[] = {
    {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", M(GPM_GR_ACTIVE), G, PCT,
     "Ratio of time the graphics engine is active."},
    {"DCGM_FI_PROF_SM_ACTIVE", M(GPM_SM_ACTIVE), G, PCT,
     "The ratio of cycles an SM has at least 1 warp assigned."},
    {"DCGM_FI_PROF_SM_OCCUPANCY", M(GPM_SM_OCCUPANCY), G, PCT,
     "The ratio of number of warps resident on an SM."},
    {"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", M(GPM_TENSOR_ACTIVE), G, PCT,
     "Ratio of cycles the tensor (HMMA) pipe is active."},
    {"DCGM_FI_PROF_DRAM_ACTIVE", M(GPM_DRAM_ACTIVE), G, PCT,
     "Ratio of cycles the device memory interface is active sending or receiving data."},
    {"DCGM_FI_PROF_PIPE_FP64_ACTIVE", M(GPM_FP64_ACTIVE), G, PCT,
     "Ratio of cycles the fp64 pipes are active."},
    {"DCGM_FI_PROF_PIPE_FP32_ACTIVE", M(GPM_FP32_ACTIVE), G, PCT,
     "Ratio of cycles the fp32 pipes are active."},
    {"DCGM_FI_PROF_PIPE_FP16_ACTIVE", M(GPM_FP16_ACTIVE), G, PCT,
     "Ratio of cycles the fp16 pipes are active."},
    {"DCGM_FI_PROF_PCIE_TX_BYTES", M(GPM_PCIE_TX), G, MIBPS,
     "The rate of data transmitted over the PCIe bus - including both protocol headers and data "
     "payloads - in bytes per second."},
    {"DCGM_FI_PROF_PCIE_RX_BYTES", M(GPM_PCIE_RX), G, MIBPS,
     "The rate of data received over the PCIe bus - including both protocol headers and data "
     "payloads - in bytes per second."},
    {"DCGM_FI_PROF_NVLINK_TX_BYTES", M(GPM_NVLINK_TX), G, MIBPS,
     "The rate of data transmitted over NVLink, not including protocol headers, in bytes per "
     "second."},
    {"DCGM_FI_PROF_NVLINK_RX_BYTES", M(GPM_NVLINK_RX), G, MIBPS,
     "The rate of data received over NVLink, not including protocol headers, in bytes per second."},
};

#undef G
#undef C
#undef M


#define NFAM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- labels ---- */

/* Per-GPU label lists: dcgm-exporter's for the device and each MIG instance, and gpuops' own. */
struct gpu_labels {
  struct prom_buf dev;
  struct prom_buf inst[GPU_MIG_MAX];
  struct prom_buf own; /* snake_case, for gpuops_* */
};

void exposition_node_labels(struct prom_buf *labels, const char *hostname, bool simulated) {
  prom_label(labels, "hostname", hostname);
  if (simulated) prom_label(labels, "simulated", "true");
}

/* gpuops_* labels: Prometheus conventions (snake_case). */
static void own_labels(const struct sampler_gpu *g, const struct exposition_input *in,
                       struct prom_buf *b) {
  char num[32];
  bool info = g->info_rc == 0;
  snprintf(num, sizeof num, "%d", g->index);
  prom_label(b, "gpu", num);
  if (info) prom_label(b, "uuid", g->info.uuid);
  if (info) prom_label(b, "pci_bus_id", g->info.pci_bus_id);
  snprintf(num, sizeof num, "nvidia%d", g->index);
  prom_label(b, "device", num);
  if (info) prom_label(b, "model_name", g->info.name);
  exposition_node_labels(b, in->hostname, in->simulated);
}

static void make_labels(const struct sampler_gpu *g, const struct gpu_mig_instance *inst,
                        const struct exposition_input *in, struct prom_buf *b) {
  char num[32];
  bool info = g->info_rc == 0;
  snprintf(num, sizeof num, "%d", g->index);
  prom_label(b, "gpu", num);
  if (info) prom_label(b, "UUID", g->info.uuid);
  if (info) prom_label(b, "pci_bus_id", g->info.pci_bus_id);
  snprintf(num, sizeof num, "nvidia%d", g->index);
  prom_label(b, "device", num);
  if (info) prom_label(b, "modelName", g->info.name);
  if (inst) {
    prom_label(b, "GPU_I_PROFILE", inst->profile_name);
    snprintf(num, sizeof num, "%d", inst->gi_id);
    prom_label(b, "GPU_I_ID", num);
  }
  prom_label(b, "Hostname", in->hostname);
  if (info) prom_label(b, "DCGM_FI_DRIVER_VERSION", g->info.driver_version);
  if (in->simulated) prom_label(b, "simulated", "true");
}

static void labels_build(const struct exposition_input *in, struct gpu_labels *l) {
  for (int i = 0; i < in->s->n; i++) {
    const struct sampler_gpu *g = &in->s->gpus[i];
    prom_buf_init(&l[i].dev);
    make_labels(g, NULL, in, &l[i].dev);
    prom_buf_init(&l[i].own);
    own_labels(g, in, &l[i].own);
    for (int k = 0; k < GPU_MIG_MAX; k++) {
      prom_buf_init(&l[i].inst[k]);
      if (!g->have_cur || k >= g->cur.n_mig) continue;
      const struct gpu_mig_instance *inst = sampler_instance(g, g->cur.mig[k].gi_id);
      struct gpu_mig_instance unnamed = {.gi_id = g->cur.mig[k].gi_id};
      if (!inst) {
        snprintf(unnamed.profile_name, sizeof unnamed.profile_name, "profile-%d",
                 g->cur.mig[k].profile_id);
        inst = &unnamed;
      }
      make_labels(g, inst, in, &l[i].inst[k]);
    }
  }
}

static void labels_free(struct gpu_labels *l, int n) {
  for (int i = 0; i < n; i++) {
    prom_buf_free(&l[i].dev);
    prom_buf_free(&l[i].own);
    for (int k = 0; k < GPU_MIG_MAX; k++) prom_buf_free(&l[i].inst[k]);
  }
}

/* ---- DCGM families ---- */

static void dev_family(struct prom_writer *w, const struct family *f,
                       const struct exposition_input *in, const struct gpu_labels *l) {
  prom_family(w, f->name, f->type, f->help);
  for (int i = 0; i < in->s->n; i++) {
    const struct sampler_gpu *g = &in->s->gpus[i];
    double v;
    if (g->have_cur && gpu_values_get(&g->cur.dev, f->m, &v))
      prom_sample(w, l[i].dev.p, NULL, v * f->scale);
  }
}

/* The last XID of GPU i: the watcher's, else the sample's, else 0 while a watcher runs. */
static bool last_xid(const struct exposition_input *in, int i, double *v) {
  const struct sampler_gpu *g = &in->s->gpus[i];
  if (in->xids && in->xids[i].last_xid) return *v = in->xids[i].last_xid, true;
  if (g->have_cur && gpu_values_get(&g->cur.dev, GPU_M_XID_LAST, v)) return true;
  if (in->events_ok) return *v = 0, true;
  return false;
}

static void xid_family(struct prom_writer *w, const struct exposition_input *in,
                       const struct gpu_labels *l) {
  prom_family(w, "DCGM_FI_DEV_XID_ERRORS", PROM_GAUGE, "Value of the last XID error encountered.");
  for (int i = 0; i < in->s->n; i++) {
    double v;
    if (last_xid(in, i, &v)) prom_sample(w, l[i].dev.p, NULL, v);
  }
}

static void prof_family(struct prom_writer *w, const struct family *f,
                        const struct exposition_input *in, const struct gpu_labels *l) {
  prom_family(w, f->name, f->type, f->help);
  for (int i = 0; i < in->s->n; i++) {
    const struct sampler_gpu *g = &in->s->gpus[i];
    double v;
    if (!g->have_cur) continue;
    if (g->cur.n_mig == 0) {
      if (gpu_values_get(&g->cur.dev, f->m, &v)) prom_sample(w, l[i].dev.p, NULL, v * f->scale);
      continue;
    }
    for (int k = 0; k < g->cur.n_mig && k < GPU_MIG_MAX; k++)
      if (gpu_values_get(&g->cur.mig[k].val, f->m, &v))
        prom_sample(w, l[i].inst[k].p, NULL, v * f->scale);
  }
}

/* ---- gpuops families ---- */

static void xid_counts(struct prom_writer *w, const struct exposition_input *in,
                       const struct gpu_labels *l) {
  prom_family(w, "gpuops_xid_errors_total", PROM_COUNTER,
              "XID errors reported by the driver since the exporter started, by XID number.");
  for (int i = 0; in->xids && i < in->s->n; i++)
    for (int k = 0; k < in->xids[i].n; k++) {
      char extra[32];
      snprintf(extra, sizeof extra, "xid=\"%u\"", in->xids[i].e[k].xid);
      prom_sample(w, l[i].own.p, extra, (double)in->xids[i].e[k].count);
    }
}

static void health_families(struct prom_writer *w, const struct exposition_input *in,
                            const struct gpu_labels *l) {
  const struct health_report *h = in->health;
  int n = h->n_gpus < in->s->n ? h->n_gpus : in->s->n;
  prom_family(
      w, "gpuops_health_check_status", PROM_GAUGE,
      "Result of one health check: 0 pass, 1 warn, 2 fail (checks not applicable are omitted).");
  for (int i = 0; i < n; i++)
    for (int c = 0; c < HEALTH_CHECK_COUNT; c++) {
      if (h->gpus[i].checks[c].status == VERDICT_NA) continue;
      char extra[64];
      snprintf(extra, sizeof extra, "check=\"%s\"", health_check_name((enum health_check_id)c));
      prom_sample(w, l[i].own.p, extra, (double)h->gpus[i].checks[c].status);
    }
  prom_family(w, "gpuops_gpu_healthy", PROM_GAUGE,
              "1 when no health check of the GPU fails (the GPU availability SLI), else 0.");
  for (int i = 0; i < n; i++) prom_sample(w, l[i].own.p, NULL, h->gpus[i].status != VERDICT_FAIL);
}

static void reason_family(struct prom_writer *w, const struct exposition_input *in,
                          const struct gpu_labels *l) {
  prom_family(w, "gpuops_clock_event_reason", PROM_GAUGE,
              "1 when the clock event (throttle) reason is active on the GPU, else 0.");
  for (int i = 0; i < in->s->n; i++) {
    const struct sampler_gpu *g = &in->s->gpus[i];
    double v;
    if (!g->have_cur || !gpu_values_get(&g->cur.dev, GPU_M_CLOCK_REASONS, &v)) continue;
    uint64_t mask = (uint64_t)v;
    for (size_t k = 0; k < GPU_CLOCK_REASON_COUNT; k++) {
      char extra[48];
      snprintf(extra, sizeof extra, "reason=\"%s\"", gpu_clock_reasons[k].name);
      prom_sample(w, l[i].own.p, extra, (mask & gpu_clock_reasons[k].bit) ? 1 : 0);
    }
  }
}

static void recovery_family(struct prom_writer *w, const struct exposition_input *in,
                            const struct gpu_labels *l) {
  prom_family(
      w, "gpuops_gpu_recovery_action", PROM_GAUGE,
      "The driver's GPU recovery action (NVML field 230): 0 none, 1 GPU reset, 2 node reboot, "
      "3 drain P2P, 4 drain and reset.");
  for (int i = 0; i < in->s->n; i++) {
    const struct sampler_gpu *g = &in->s->gpus[i];
    double v;
    if (g->have_cur && gpu_values_get(&g->cur.dev, GPU_M_RECOVERY_ACTION, &v))
      prom_sample(w, l[i].own.p, NULL, v);
  }
}

static void node_family(struct prom_writer *w, const struct exposition_input *in) {
  struct prom_buf labels;
  prom_buf_init(&labels);
  exposition_node_labels(&labels, in->hostname, in->simulated);
  prom_family(w, "gpuops_node_health_status", PROM_GAUGE,
              "Node health verdict: 0 healthy, 1 degraded, 2 failed.");
  prom_sample(w, labels.p, NULL, (double)in->health->verdict);
  prom_buf_free(&labels);
}

void exposition_render(struct prom_buf *out, enum prom_format fmt,
                       const struct exposition_input *in) {
  struct gpu_labels *l = calloc((size_t)(in->s->n > 0 ? in->s->n : 1), sizeof *l);
  if (!l) {
    out->oom = true;
    return;
  }
  labels_build(in, l);
  struct prom_writer w;
  prom_writer_init(&w, out, fmt);
  for (size_t f = 0; f < NFAM(dev_families); f++) {
    dev_family(&w, &dev_families[f], in, l);
    if (!strcmp(dev_families[f].name, "DCGM_FI_DEV_MEM_COPY_UTIL"))
      xid_family(&w, in, l); /* csv order */
  }
  for (size_t f = 0; f < NFAM(prof_families); f++) prof_family(&w, &prof_families[f], in, l);
  xid_counts(&w, in, l);
  if (in->health) health_families(&w, in, l);
  reason_family(&w, in, l);
  recovery_family(&w, in, l);
  if (in->health) node_family(&w, in);
  labels_free(l, in->s->n);
  free(l);
}
