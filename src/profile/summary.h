/*
 * summary.h — where the time of a profiled run went: top kernels by total GPU
 * time, copies by kind with achieved bandwidth, GPU busy vs idle, API time
 * (launch overhead, synchronisation) and the number of launches under 10 µs.
 *
 * The active window is from the first to the last GPU activity (kernel,
 * copy, memset) of the run: process start-up and CUDA initialisation are
 * outside it, so "idle" means gaps between GPU work the program asked for.
 * Busy time is the union of kernel and copy intervals on any device. When
 * NVTX ranges were recorded, busy and idle are also given inside their union
 * (the work the program marked, start-up excluded).
 *
 * Ownership: summary_compute fills a caller-owned struct; free with summary_free.
 */
#ifndef GPUOPS_PROFILE_SUMMARY_H
#define GPUOPS_PROFILE_SUMMARY_H

#include <jansson.h>
#include <stdio.h>

#include "profile/profile.h"

#define SUMMARY_TINY_NS 10000 /* a launch under 10 µs is "tiny" */

struct summary_kernel {
  int name;                   /* index into the profile's names */
  int calls;
  int64_t total_ns, min_ns, max_ns;
  double share;               /* of all kernel time, 0..1 */
};

struct summary_copy {
  int count, pageable;        /* pageable: copies whose host side is pageable */
  uint64_t bytes;
  int64_t time_ns;
  double gbps;                /* bytes / time, 10^9 bytes per second; 0 when no time */
};

struct summary {
  struct summary_kernel *kernels; /* by total time, largest first */
  int n_kernels;                  /* distinct names */
  int launches, tiny_launches;    /* kernel launches, of which under SUMMARY_TINY_NS */
  int64_t kernel_ns;              /* sum of kernel durations */
  struct summary_copy copies[PROF_COPY_KINDS];
  int64_t copy_ns;                /* copies (not memsets), summed */
  int64_t copy_overlap_ns;        /* of which overlapping a kernel */
  bool have_window;
  int64_t window_s, window_e;     /* the active window (wall ns) */
  int64_t busy_ns, idle_ns;       /* within the window */
  double idle_share;              /* idle / window, 0..1 */
  bool have_nvtx;                 /* NVTX ranges were recorded */
  int64_t nvtx_ns, nvtx_busy_ns;  /* the union of the ranges, and the GPU busy time inside it */
  double nvtx_idle_share;         /* 1 - busy / ranges, 0..1 */
  int launch_calls, sync_calls;   /* API records (with --api / --nvtx) */
  int64_t launch_ns, sync_ns;     /* their summed durations */
  int sync_records;               /* CUPTI synchronisation records */
  int64_t sync_record_ns;
};

/* Compute over a sorted profile (profile_sort). 0 or ERR_NOMEM. */
int summary_compute(const struct profile *p, struct summary *s);
void summary_free(struct summary *s);

/* summary.json: {"run", "window", "kernels": [...], "copies": [...], "api", "notes"}. New reference. */
json_t *summary_json(const struct profile *p, const struct summary *s, int top);
/* The same for people: a few lines and tables. 0 or ERR_IO. */
int summary_text(FILE *out, const struct profile *p, const struct summary *s, int top);

#endif
