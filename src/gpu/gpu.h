/*
 * gpu.h — the GPU backend interface: one struct of function pointers, two
 * implementations (nvml.c: the driver's NVML through dlopen; sim.c: simulated
 * devices from the inventory).
 *
 * Sections: metrics (X-macro table, validity bits); static info; MIG; events;
 * the backend vtable; opening a backend; calls through it.
 *
 * Every measured value carries a validity bit: a value the driver does not
 * give (NOT_SUPPORTED, missing symbol, lost GPU) is invalid, never 0.
 * Sampling is stateful: GPM profiling metrics are the difference of two
 * samples, so the first gpu_sample() of a device has them invalid and each
 * later one has them over the interval since the previous call.
 *
 * Threads: a backend is used by one thread at a time (the exporter's sampler
 * thread owns it); different backends are independent.
 */
#ifndef GPUOPS_GPU_GPU_H
#define GPUOPS_GPU_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "inventory/inventory.h"

/* ---- metrics ---------------------------------------------------------------
 * X(ENUM, json key, unit). Counters are cumulative since driver load (ECC
 * aggregate: lifetime). Violation times are cumulative microseconds. GPM
 * utilisations are percent (0..100) as NVML gives them; rates MiB/s. */
#define GPU_METRICS(X)                                                    \
  X(GPU_UTIL, "gpu_util_pct", "%")                                        \
  X(MEM_COPY_UTIL, "mem_copy_util_pct", "%")                              \
  X(FB_USED, "fb_used_mib", "MiB")                                        \
  X(FB_FREE, "fb_free_mib", "MiB")                                        \
  X(FB_RESERVED, "fb_reserved_mib", "MiB")                                \
  X(GPU_TEMP, "gpu_temp_c", "C")                                          \
  X(MEM_TEMP, "memory_temp_c", "C")                                       \
  X(POWER, "power_w", "W")                                                \
  X(ENERGY, "energy_mj", "mJ")                                            \
  X(SM_CLOCK, "sm_clock_mhz", "MHz")                                      \
  X(MEM_CLOCK, "mem_clock_mhz", "MHz")                                    \
  X(PSTATE, "pstate", "P")                                                \
  X(CLOCK_REASONS, "clock_event_reasons", "bitmask")                      \
  X(VIOL_POWER, "violation_power_us", "us")                               \
  X(VIOL_THERMAL, "violation_thermal_us", "us")                           \
  X(VIOL_SYNC_BOOST, "violation_sync_boost_us", "us")                     \
  X(VIOL_BOARD_LIMIT, "violation_board_limit_us", "us")                   \
  X(VIOL_LOW_UTIL, "violation_low_util_us", "us")                         \
  X(VIOL_RELIABILITY, "violation_reliability_us", "us")                   \
  X(ECC_SBE_VOL, "ecc_corrected_volatile", "count")                       \
  X(ECC_DBE_VOL, "ecc_uncorrected_volatile", "count")                     \
  X(ECC_SBE_AGG, "ecc_corrected_aggregate", "count")                      \
  X(ECC_DBE_AGG, "ecc_uncorrected_aggregate", "count")                    \
  X(REMAP_CORRECTABLE, "remapped_rows_correctable", "count")              \
  X(REMAP_UNCORRECTABLE, "remapped_rows_uncorrectable", "count")          \
  X(REMAP_PENDING, "remapped_rows_pending", "bool")                       \
  X(REMAP_FAILURE, "remapped_rows_failure", "bool")                       \
  X(RETIRED_SBE, "retired_pages_sbe", "count")                            \
  X(RETIRED_DBE, "retired_pages_dbe", "count")                            \
  X(RETIRED_PENDING, "retired_pages_pending", "bool")                     \
  X(PCIE_REPLAY, "pcie_replay_count", "count")                            \
  X(RECOVERY_ACTION, "recovery_action", "enum")                           \
  X(XID_LAST, "xid_last", "xid")                                          \
  X(GPM_GR_ACTIVE, "gpm_graphics_active_pct", "%")                        \
  X(GPM_SM_ACTIVE, "gpm_sm_active_pct", "%")                              \
  X(GPM_SM_OCCUPANCY, "gpm_sm_occupancy_pct", "%")                        \
  X(GPM_TENSOR_ACTIVE, "gpm_tensor_active_pct", "%")                      \
  X(GPM_DRAM_ACTIVE, "gpm_dram_active_pct", "%")                          \
  X(GPM_FP64_ACTIVE, "gpm_fp64_active_pct", "%")                          \
  X(GPM_FP32_ACTIVE, "gpm_fp32_active_pct", "%")                          \
  X(GPM_FP16_ACTIVE, "gpm_fp16_active_pct", "%")                          \
  X(GPM_PCIE_TX, "gpm_pcie_tx_mibps", "MiB/s")                            \
  X(GPM_PCIE_RX, "gpm_pcie_rx_mibps", "MiB/s")                            \
  X(GPM_NVLINK_TX, "gpm_nvlink_tx_mibps", "MiB/s")                        \
  X(GPM_NVLINK_RX, "gpm_nvlink_rx_mibps", "MiB/s")

enum gpu_metric {
#define GPU_METRIC_ENUM(e, key, unit) GPU_M_##e,
  GPU_METRICS(GPU_METRIC_ENUM)
#undef GPU_METRIC_ENUM
      GPU_METRIC_COUNT
};
#define GPU_METRIC_FIRST_GPM GPU_M_GPM_GR_ACTIVE

/* NVML clock-event reason bits (nvmlClocksEventReasons*). */
#define GPU_CLOCK_REASON_GPU_IDLE 0x1ULL
#define GPU_CLOCK_REASON_APP_CLOCKS 0x2ULL
#define GPU_CLOCK_REASON_SW_POWER_CAP 0x4ULL
#define GPU_CLOCK_REASON_HW_SLOWDOWN 0x8ULL
#define GPU_CLOCK_REASON_SYNC_BOOST 0x10ULL
#define GPU_CLOCK_REASON_SW_THERMAL 0x20ULL
#define GPU_CLOCK_REASON_HW_THERMAL 0x40ULL
#define GPU_CLOCK_REASON_HW_POWER_BRAKE 0x80ULL
#define GPU_CLOCK_REASON_DISPLAY_CLOCK 0x100ULL

/* The reason bits with their short names: the exporter's `reason` label
 * values, `gpuops top`'s flags and the JSON of `gpuops devices` all use these. */
struct gpu_clock_reason {
  uint64_t bit;
  const char *name; /* "gpu_idle", "sw_power_cap", ... */
};
#define GPU_CLOCK_REASON_COUNT 9
extern const struct gpu_clock_reason gpu_clock_reasons[GPU_CLOCK_REASON_COUNT];

/* Driver's GPU recovery action (NVML field 230). */
enum gpu_recovery_action {
  GPU_RECOVERY_NONE = 0,
  GPU_RECOVERY_GPU_RESET = 1,
  GPU_RECOVERY_NODE_REBOOT = 2,
  GPU_RECOVERY_DRAIN_P2P = 3,
  GPU_RECOVERY_DRAIN_AND_RESET = 4,
};
const char *gpu_recovery_action_name(int action); /* "none", "gpu_reset", ... */

/* A set of metric values with their validity bits. */
struct gpu_values {
  double v[GPU_METRIC_COUNT];
  uint64_t valid; /* bit m set = v[m] is a real reading */
};
_Static_assert(GPU_METRIC_COUNT <= 64, "validity bitmask holds 64 metrics");

#define GPU_MIG_MAX 8

/* GPM metrics of one MIG GPU instance (only GPM metrics are ever valid). */
struct gpu_mig_values {
  int gi_id;      /* GPU instance id */
  int profile_id; /* NVML profile id */
  struct gpu_values val;
};

/* One sample of one device. */
struct gpu_sample {
  int64_t t_ns;          /* CLOCK_REALTIME of the reading */
  bool lost;             /* the GPU fell off the bus: every value invalid */
  struct gpu_values dev; /* whole-device values */
  int n_mig;             /* MIG instances sampled (MIG on) */
  struct gpu_mig_values mig[GPU_MIG_MAX];
};

void gpu_values_clear(struct gpu_values *vals);
void gpu_values_set(struct gpu_values *vals, enum gpu_metric m, double v);
/* True and *v = value when valid; false (and *v untouched) when invalid. */
bool gpu_values_get(const struct gpu_values *vals, enum gpu_metric m, double *v);
const char *gpu_metric_key(enum gpu_metric m);  /* "gpu_util_pct" */
const char *gpu_metric_unit(enum gpu_metric m); /* "%" */

/* ---- static information -------------------------------------------------- */
enum gpu_info_field { /* validity flags of struct gpu_info's optional fields */
  GPU_INFO_SM_COUNT = 1u << 0,
  GPU_INFO_MAX_SM_CLOCK = 1u << 1,
  GPU_INFO_MAX_MEM_CLOCK = 1u << 2,
  GPU_INFO_POWER_LIMIT = 1u << 3,
  GPU_INFO_MIG_MODE = 1u << 4,
  GPU_INFO_CUDA_VERSION = 1u << 5,
  GPU_INFO_CC = 1u << 6,
  GPU_INFO_PCI_DEVICE_ID = 1u << 7,
  GPU_INFO_GPM = 1u << 8,
};

struct gpu_info {
  int index;                 /* NVML index */
  char name[96];             /* "NVIDIA H200" */
  char uuid[96];             /* "GPU-5b4d677f-..." */
  char pci_bus_id[32];       /* "00000000:00:06.0" */
  char serial[32];           /* board serial, "" if unknown */
  char vbios_version[32];    /* firmware, "" if unknown */
  char driver_version[32];   /* "580.159.04" */
  uint64_t memory_total_mib; /* framebuffer */
  uint32_t valid;            /* GPU_INFO_* flags for the fields below */
  uint32_t pci_device_id;    /* 0x233510DE */
  int sm_count;              /* multiprocessors */
  uint32_t max_sm_clock_mhz;
  uint32_t max_mem_clock_mhz;
  uint32_t power_limit_mw;   /* enforced power limit */
  int cuda_version;          /* driver's CUDA version, 13000 = 13.0 */
  int cc_major, cc_minor;    /* compute capability */
  int mig_current, mig_pending; /* 1 enabled, 0 disabled */
  bool gpm_supported;        /* GPU performance monitoring available */
  bool simulated;            /* from the sim backend */
  char note[160];            /* why something about this GPU is off ("fell off the bus (XID 79)"), "" otherwise */
  const struct catalog_model *model; /* catalog match (by pci id or name), or NULL */
};

/* ---- MIG ------------------------------------------------------------------ */
struct gpu_mig_profile {
  int id;                   /* NVML profile id (19, 20, 15, 14, 9, 5, 0) */
  char name[32];            /* "1g.18gb" ("1g.18gb+me") */
  int compute_slices;       /* sliceCount */
  int max_instances;        /* instanceCount */
  int sm_count;             /* multiprocessorCount */
  uint64_t memory_mib;      /* memorySizeMB */
  int copy_engines, decoders, encoders, jpegs, ofas;
  int n_placements;
  struct mig_placement placements[CATALOG_MIG_MAX_STARTS]; /* profile_id, start */
  int placement_size;       /* memory slices each placement spans */
};

struct gpu_mig_instance {
  int gi_id;           /* GPU instance id */
  int profile_id;      /* NVML profile id */
  char profile_name[32];
  int start, size;     /* placement in memory slices */
  uint64_t memory_mib;
  int sm_count;
};

/* ---- events ---------------------------------------------------------------- */
enum gpu_event_type { GPU_EVENT_XID = 1 };
struct gpu_event {
  enum gpu_event_type type;
  int gpu_index;
  char uuid[96];
  uint64_t xid;     /* XID number for GPU_EVENT_XID */
  int gi_id, ci_id; /* MIG instance ids, -1 for the whole GPU */
  int64_t t_ns;     /* CLOCK_REALTIME when seen */
};

/* ---- the backend ----------------------------------------------------------- */
enum gpu_backend_kind { GPU_BACKEND_AUTO = 0, GPU_BACKEND_NVML, GPU_BACKEND_SIM };

struct gpu_options {
  enum gpu_backend_kind kind;
  bool allow_sim_fallback;        /* AUTO may fall back to sim (devices, dossier, bench) */
  const char *nvml_path;          /* NULL: $GPUOPS_NVML_LIBRARY or "libnvidia-ml.so.1" */
  const struct inventory *inv;    /* sim: fleet (NULL: built-in 8 x H200); borrowed */
  const char *sim_node;           /* sim: node to present (NULL: $GPUOPS_SIM_NODE, hostname match, else first) */
  const char *sim_state_path;     /* sim: fault state file (NULL: simstate_default_path()) */
};

struct gpu_backend;
struct gpu_backend_ops {
  const char *name; /* "nvml", "sim" */
  int (*open)(struct gpu_backend *b, const struct gpu_options *o);
  void (*close)(struct gpu_backend *b);
  int (*count)(struct gpu_backend *b); /* >= 0 devices, or negative error */
  int (*info)(struct gpu_backend *b, int index, struct gpu_info *out);
  int (*sample)(struct gpu_backend *b, int index, struct gpu_sample *out);
  /* Both return the number written (<= cap) or a negative error. */
  int (*mig_profiles)(struct gpu_backend *b, int index, struct gpu_mig_profile *out, int cap);
  int (*mig_instances)(struct gpu_backend *b, int index, struct gpu_mig_instance *out, int cap);
  /* Wait up to timeout_ms for XID events on any device; returns count (0 on timeout). */
  int (*wait_events)(struct gpu_backend *b, int timeout_ms, struct gpu_event *out, int cap);
};

struct gpu_backend {
  const struct gpu_backend_ops *ops;
  void *priv;            /* implementation state */
  bool simulated;        /* every value from this backend is simulated */
  char note[512];        /* why this backend was chosen (auto fallback reason), "" otherwise */
};

extern const struct gpu_backend_ops gpu_nvml_ops;
extern const struct gpu_backend_ops gpu_sim_ops;

/* "auto" | "nvml" | "sim" -> kind; ERR_INVALID with a message otherwise. */
int gpu_backend_kind_parse(const char *s, enum gpu_backend_kind *out);

/*
 * Open a backend. AUTO tries nvml (loads and sees >= 1 GPU), then sim if
 * o->allow_sim_fallback, recording the reason in (*out)->note. Without the
 * fallback AUTO fails with ERR_NOLIB/ERR_NODEVICE and a message saying to pass
 * --backend sim. Caller owns *out; release with gpu_close().
 */
int gpu_open(const struct gpu_options *o, struct gpu_backend **out);
void gpu_close(struct gpu_backend *b);
const char *gpu_backend_name(const struct gpu_backend *b);

int gpu_count(struct gpu_backend *b);
int gpu_get_info(struct gpu_backend *b, int index, struct gpu_info *out);
int gpu_sample(struct gpu_backend *b, int index, struct gpu_sample *out);
int gpu_mig_profiles(struct gpu_backend *b, int index, struct gpu_mig_profile *out, int cap);
int gpu_mig_instances(struct gpu_backend *b, int index, struct gpu_mig_instance *out, int cap);
int gpu_wait_events(struct gpu_backend *b, int timeout_ms, struct gpu_event *out, int cap);

#endif
