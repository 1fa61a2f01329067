/*
 * health.h — GPU health verdicts with the action each failure calls for.
 *
 * Per GPU, a fixed list of checks, each PASS / WARN / FAIL / N-A with an
 * action and a one-line message; the GPU's status is the worst check, and its
 * action is the driver's own recovery action (NVML field 230) when the driver
 * names one, else the most severe action of its checks. The node verdict is
 * healthy (no WARN or FAIL), degraded (a WARN) or failed (a FAIL), and its
 * action the most severe GPU action.
 *
 * Sections: checks; results; evaluation (pure: samples in, verdicts out);
 * the node; JSON (the /health schema, both ways); collecting from a backend.
 *
 * Threads: everything here works on caller-owned data; health_collect() uses
 * the backend it is given (one thread at a time, gpu.h).
 */
#ifndef GPUOPS_TELEMETRY_HEALTH_H
#define GPUOPS_TELEMETRY_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "telemetry/thresholds.h"
#include "telemetry/verdict.h"
#include "telemetry/xid.h"

/* ---- checks: X(ENUM, name (the metric's check label), what it looks at) ---- */
#define HEALTH_CHECKS(X)                                                                        \
  X(RECOVERY_ACTION, "recovery_action", "the driver's GPU recovery action (NVML field 230)")    \
  X(GPU_LOST, "gpu_lost", "the GPU answers (has not fallen off the bus)")                       \
  X(ECC_UNCORRECTABLE, "ecc_uncorrectable", "uncorrectable ECC errors, volatile and aggregate") \
  X(ROW_REMAP, "row_remap", "row-remap failure and remaps pending a reset")                     \
  X(RETIRED_PAGES, "retired_pages", "retired memory pages (GPUs before A100)")                  \
  X(XID, "xid", "XID errors seen recently, by the catalog's severity")                          \
  X(THERMAL, "thermal", "thermal slowdown and temperatures")                                    \
  X(POWER, "power", "hardware power brake / slowdown")                                          \
  X(PCIE_REPLAY, "pcie_replay", "PCIe replay rate between two samples")                         \
  X(CLOCKS, "clocks", "SM clock stuck low while the GPU is busy")

enum health_check_id {
#define HEALTH_CHECK_ENUM(e, name, what) HEALTH_CHECK_##e,
  HEALTH_CHECKS(HEALTH_CHECK_ENUM)
#undef HEALTH_CHECK_ENUM
      HEALTH_CHECK_COUNT
};
_Static_assert(HEALTH_CHECK_COUNT <= THRESHOLDS_MAX_CHECKS, "thresholds can disable every check");

const char *health_check_name(enum health_check_id id); /* "ecc_uncorrectable" */
const char *health_check_what(enum health_check_id id);
/* Name -> id; 0 or ERR_INVALID naming the known checks. */
int health_check_parse(const char *name, enum health_check_id *out);

/* ---- results ---- */
struct health_check {
  enum verdict_status status;
  enum verdict_action action; /* NONE unless WARN/FAIL */
  char message[256];
};

#define HEALTH_XIDS_MAX 8 /* XIDs listed per GPU in a result */

struct health_xid {
  unsigned xid;
  uint64_t count;
  int64_t last_ns; /* CLOCK_REALTIME */
};

struct health_gpu {
  int index;
  char uuid[96];
  char name[96];
  char pci_bus_id[32];
  bool simulated;
  struct health_check checks[HEALTH_CHECK_COUNT];
  enum verdict_status status; /* worst check (PASS when all are N/A) */
  enum verdict_action action; /* driver's recovery action first, else the worst check's */
  int recovery_action;        /* NVML enum, -1 unknown */
  int n_xids;
  struct health_xid xids[HEALTH_XIDS_MAX]; /* recent XIDs, most severe first */
  char reason[320]; /* the finding that decided status and action; "" when PASS */
};

enum health_verdict { HEALTH_HEALTHY = 0, HEALTH_DEGRADED = 1, HEALTH_FAILED = 2 };
const char *health_verdict_name(enum health_verdict v); /* "healthy", "degraded", "failed" */

struct health_report {
  char host[256];
  char backend[16]; /* "nvml", "sim" */
  bool simulated;
  int64_t t_ns; /* CLOCK_REALTIME of the evaluation */
  int n_gpus;
  struct health_gpu *gpus; /* owned: health_report_free() */
  enum health_verdict verdict;
  enum verdict_action action;
  char summary[512]; /* one line for people and for node-problem-detector */
};

void health_report_init(struct health_report *r);
void health_report_free(struct health_report *r);

/* ---- evaluation ---- */

/* What one GPU's checks look at. Everything is borrowed. */
struct health_input {
  const struct gpu_info *info;    /* NULL when the info could not be read */
  const struct gpu_sample *prev;  /* an earlier sample (PCIe replay rate), or NULL */
  const struct gpu_sample *cur;   /* the latest sample, or NULL when it failed */
  int sample_rc;                  /* 0, or the sample's error (ERR_GPU_LOST: fallen off the bus) */
  const char *sample_msg;         /* its message, or NULL */
  const struct xid_history *xids; /* XIDs seen by an event watcher, or NULL */
};

/*
 * Evaluate one GPU at now_ns (CLOCK_REALTIME) into *out (index and identity
 * from in->info). A sample's XID_LAST (the sim's injected XIDs) counts as an
 * XID seen at the sample's time. Never fails.
 */
void health_evaluate_gpu(const struct thresholds *t, const struct health_input *in, int index,
                         int64_t now_ns, struct health_gpu *out);

/* Fill r's verdict, action and summary from its GPUs. */
void health_report_finish(struct health_report *r);

/* Exit status of a health check: 1 when failed, or degraded and fail_on_warn; else 0. */
int health_report_exit_code(const struct health_report *r, bool fail_on_warn);

/* ---- JSON (docs/telemetry.md: "/health") ---- */

/* The /health document. New reference, NULL on OOM. */
json_t *health_report_json(const struct health_report *r);
/* Read a /health document back (gpuops health --from URL). ERR_PARSE naming the field. */
int health_report_from_json(const json_t *doc, struct health_report *r);

/* ---- collecting from a backend ---- */
struct health_collect_opts {
  const struct thresholds *t; /* NULL: defaults */
  int interval_ms;            /* between the two samples (PCIe rate, GPM); 0: one sample */
  int watch_ms;               /* wait this long for XID events before the last sample (0: none) */
  const char *host;           /* NULL: gethostname() */
};

/*
 * Sample every GPU of b (twice, interval_ms apart, waiting for XID events
 * meanwhile when watch_ms > 0), evaluate and fill *r (init'ed by the callee;
 * the caller frees it). Returns 0, or a negative error when the GPUs cannot
 * be listed at all (a GPU that fails to sample is a finding, not an error).
 */
int health_collect(struct gpu_backend *b, const struct health_collect_opts *o,
                   struct health_report *r);

#endif
