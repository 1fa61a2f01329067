/*
 * top.h — the model and the frame of `gpuops top`: every GPU's latest sample
 * and health verdict, rendered as lines of text that a terminal view
 * (ncurses, cmd_top.c) draws and `--once` prints.
 *
 * Sections: the model (a sampler, XID histories, health per GPU); refreshing
 * it; the frame (lines with a level each, laid out to a width).
 *
 * A frame is a function of the model only: with the simulated backend and a
 * pinned clock (GPUOPS_SIM_TIME_NS) it is the same bytes every run. Values
 * the driver does not give show as "-", never as 0.
 *
 * Threads: a top uses its backend; one thread at a time (gpu.h).
 */
#ifndef GPUOPS_TELEMETRY_TOP_H
#define GPUOPS_TELEMETRY_TOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gpu/gpu.h"
#include "telemetry/health.h"
#include "telemetry/sampler.h"
#include "telemetry/thresholds.h"
#include "telemetry/xid.h"

/* ---- the model ---- */
struct top {
  struct sampler s;         /* the GPUs and their two latest samples */
  struct thresholds th;     /* what the health checks compare against */
  struct xid_history *xids; /* per GPU: XIDs seen by top_watch() */
  bool watching;            /* XID events are being received (xids are a source) */
  bool watch_unsupported;   /* the backend cannot deliver XID events */
  struct health_report rep; /* per-GPU verdicts and the node's, after top_refresh() */
  uint64_t refreshes;       /* top_refresh() calls */
};

/*
 * Set up t over backend b (borrowed; it must outlive t) with thresholds th
 * (copied; NULL: defaults) and host (copied; NULL: gethostname()). Lists the
 * GPUs but does not sample them. Returns 0, or the sampler's error
 * (ERR_NODEVICE when there is no GPU). Free with top_free() either way.
 */
int top_init(struct top *t, struct gpu_backend *b, const struct thresholds *th, const char *host);
void top_free(struct top *t);

/*
 * Sample every GPU once and evaluate its health (the PCIe-rate and GPM
 * metrics need a previous sample: refresh twice for a complete frame).
 * A GPU that fails or is lost is a finding in the frame, not an error.
 */
void top_refresh(struct top *t);

/*
 * Wait up to timeout_ms for XID events (0: only take what is queued) and
 * record them per GPU. Returns the number of events, 0 on timeout; a backend
 * that cannot deliver events sets t->watch_unsupported and returns 0 at once
 * from then on (the caller sleeps instead).
 */
int top_watch(struct top *t, int timeout_ms);

/* ---- the frame ---- */
enum top_level {
  TOP_LINE_TITLE = 0, /* the title line */
  TOP_LINE_HEAD,      /* column headers */
  TOP_LINE_OK,        /* a healthy GPU, a MIG instance, text */
  TOP_LINE_WARN,      /* a GPU with a WARN check */
  TOP_LINE_FAIL,      /* a GPU with a FAIL check, or lost */
};

struct top_line {
  enum top_level level;
  char *text; /* owned; no newline */
};

struct top_frame {
  int n, cap;
  struct top_line *lines; /* owned */
};

/*
 * Lay out t's latest state for a terminal `width` columns wide (0: no limit):
 * a title line (host, SIMULATED when it is, the node's verdict and action,
 * GPU count, backend, sample time), a table of one row
 * per GPU (utilisation, SM/tensor/DRAM active, memory, power vs limit,
 * temperatures, clocks, clock-event reasons, health flags and action; one
 * row more per MIG instance), then one line per failing or warning check. At
 * a narrow width the least important columns go first, then lines are cut.
 * *f is init'ed by the callee; free it with top_frame_free(). 0 or ERR_NOMEM.
 */
int top_render(const struct top *t, int width, struct top_frame *f);
void top_frame_free(struct top_frame *f);

/* Write the frame's lines, each ending in '\n'. 0 or ERR_IO. */
int top_frame_write(const struct top_frame *f, FILE *out);

#endif
