/*
 * findings.c — the findings rules (findings.h). One function per rule; each
 * appends at most one finding.
 */
#include "profile/findings.h"

#include <stdarg.h>
#include <string.h>

#include "base/err.h"
#include "gpu/gpu.h"

static void add(json_t *list, const char *id, const char *severity, const char *title, json_t *data,
                const char *remediation, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add(json_t *list, const char *id, const char *severity, const char *title, json_t *data,
                const char *remediation, const char *fmt, ...) {
  char evidence[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(evidence, sizeof evidence, fmt, ap);
  va_end(ap);
  json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "id", id, "severity", severity, "title", title,
                                        "evidence", evidence, "data", data, "remediation", remediation));
}

static void rule_idle(json_t *out, const struct summary *s) {
  /* Inside the NVTX ranges when there are some (start-up is not the program's loop), else the active window. */
  bool nvtx = s->have_nvtx && s->nvtx_ns >= FINDINGS_IDLE_MIN_WINDOW_NS;
  int64_t window = nvtx ? s->nvtx_ns : s->window_e - s->window_s;
  int64_t idle = nvtx ? s->nvtx_ns - s->nvtx_busy_ns : s->idle_ns;
  double share = nvtx ? s->nvtx_idle_share : s->idle_share;
  if (!s->have_window || window < FINDINGS_IDLE_MIN_WINDOW_NS || share <= FINDINGS_IDLE_SHARE) return;
  add(out, "gpu_idle", "warn", "The GPU waits on the CPU",
      json_pack("{s:f,s:f,s:f,s:s}", "idle_share", share, "window_ms", window / 1e6, "idle_ms", idle / 1e6, "window",
                nvtx ? "nvtx_ranges" : "active"),
      "The program is CPU- or launch-bound: capture the steady loop in a CUDA graph (torch.cuda.graphs, "
      "cudaStreamBeginCapture), give the GPU larger batches, and move host work (data loading, Python) off the "
      "critical path (prefetch on another thread, pinned buffers).",
      "the GPU was idle %.1f%% of %s %.3f ms (%.3f ms without GPU work; threshold %.0f%%)", 100 * share,
      nvtx ? "the NVTX ranges'" : "its active window,", window / 1e6, idle / 1e6, 100 * FINDINGS_IDLE_SHARE);
}

static void rule_tiny(json_t *out, const struct summary *s) {
  if (s->tiny_launches < FINDINGS_TINY_MIN || s->tiny_launches < FINDINGS_TINY_SHARE * s->launches) return;
  add(out, "tiny_kernels", "warn", "Many tiny kernels",
      json_pack("{s:i,s:i}", "launches_under_10us", s->tiny_launches, "launches", s->launches),
      "Each launch costs a few microseconds of CPU and GPU scheduling whatever its size: fuse element-wise kernels "
      "(torch.compile, a hand-written fused kernel), batch small operations into one launch, or replay the sequence "
      "as a CUDA graph.",
      "%d of %d kernel launches ran under 10 us (threshold: %d and %.0f%% of launches)", s->tiny_launches,
      s->launches, FINDINGS_TINY_MIN, 100 * FINDINGS_TINY_SHARE);
}

static void rule_pageable(json_t *out, const struct summary *s) {
  int n = s->copies[PROF_HTOD].pageable + s->copies[PROF_DTOH].pageable;
  if (n < FINDINGS_PAGEABLE_MIN) return;
  uint64_t bytes = s->copies[PROF_HTOD].bytes + s->copies[PROF_DTOH].bytes;
  add(out, "pageable_copies", "warn", "Host<->device copies from pageable memory",
      json_pack("{s:i,s:i,s:i,s:f,s:f}", "pageable_copies", n, "htod_pageable", s->copies[PROF_HTOD].pageable,
                "dtoh_pageable", s->copies[PROF_DTOH].pageable, "htod_gbps", s->copies[PROF_HTOD].gbps, "dtoh_gbps",
                s->copies[PROF_DTOH].gbps),
      "Pageable copies are staged through a driver buffer and block the host: allocate the host buffers pinned "
      "(cudaMallocHost / cudaHostRegister, torch pin_memory=True), copy with cudaMemcpyAsync on a non-default "
      "stream and overlap the copies with compute; copy once outside the loop where the data does not change.",
      "%d host<->device copies (%.1f MB in all HtoD+DtoH) used pageable host memory; HtoD ran at %.2f GB/s, DtoH at "
      "%.2f GB/s (threshold: %d copies)",
      n, bytes / 1e6, s->copies[PROF_HTOD].gbps, s->copies[PROF_DTOH].gbps, FINDINGS_PAGEABLE_MIN);
}

static void rule_serialised(json_t *out, const struct summary *s) {
  if (s->launches == 0 || s->busy_ns == 0 || s->copy_ns < FINDINGS_COPY_BUSY_SHARE * s->busy_ns) return;
  double overlap = s->copy_ns ? (double)s->copy_overlap_ns / (double)s->copy_ns : 0;
  if (overlap >= FINDINGS_COPY_OVERLAP_MAX) return;
  add(out, "copy_serialised", "warn", "Copies serialise with compute",
      json_pack("{s:f,s:f,s:f}", "copy_ms", s->copy_ns / 1e6, "copy_share_of_busy",
                (double)s->copy_ns / (double)s->busy_ns, "overlap_share", overlap),
      "Copies and kernels take turns on the GPU: issue copies with cudaMemcpyAsync from pinned memory on their own "
      "stream, double-buffer (copy batch i+1 while batch i computes), and synchronise with events rather than the "
      "whole device.",
      "copies took %.3f ms, %.1f%% of the GPU's busy time, and only %.1f%% of that overlapped a kernel (thresholds: "
      ">= %.0f%% of busy time, < %.0f%% overlap)",
      s->copy_ns / 1e6, 100.0 * s->copy_ns / s->busy_ns, 100 * overlap, 100 * FINDINGS_COPY_BUSY_SHARE,
      100 * FINDINGS_COPY_OVERLAP_MAX);
}

/* Names of the throttling reasons seen in busy samples, "power cap, HW thermal". */
static void reason_names(uint64_t bits, char *buf, size_t len) {
  buf[0] = '\0';
  for (int i = 0; i < GPU_CLOCK_REASON_COUNT; i++) {
    if (!(bits & gpu_clock_reasons[i].bit) || gpu_clock_reasons[i].bit == GPU_CLOCK_REASON_GPU_IDLE) continue;
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "%s%s", n ? ", " : "", gpu_clock_reasons[i].name);
  }
}

static void rule_clock(json_t *out, const struct profile *p) {
  double hi = 0, lo = 0;
  int busy = 0;
  uint64_t reasons = 0;
  for (int i = 0; i < p->n_samples; i++) {
    const struct prof_sample *x = &p->samples[i];
    if (!(x->valid & (1u << PROF_C_SM_CLOCK))) continue;
    double c = x->v[PROF_C_SM_CLOCK];
    if (c > hi) hi = c;
    bool is_busy = (x->valid & (1u << PROF_C_UTIL)) && x->v[PROF_C_UTIL] > 0;
    if (!is_busy) continue;
    if (busy++ == 0 || c < lo) lo = c;
    if (x->have_reasons) reasons |= x->clock_reasons;
  }
  if (busy == 0 || hi <= 0 || (hi - lo) / hi <= FINDINGS_CLOCK_DROP) return;
  char why[256];
  reason_names(reasons, why, sizeof why);
  add(out, "clock_drop", "warn", "Clocks dropped during the run",
      json_pack("{s:f,s:f,s:i,s:s}", "max_sm_clock_mhz", hi, "min_busy_sm_clock_mhz", lo, "busy_samples", busy,
                "reasons", why),
      "The GPU slowed itself down: check the power limit and cooling (nvidia-smi -q -d PERFORMANCE,POWER,TEMPERATURE), "
      "compare with a run on an idle, cool card, and report times with the clocks they ran at.",
      "the SM clock fell to %.0f MHz while busy, %.0f%% below the run's %.0f MHz (threshold %.0f%%); clock-event "
      "reasons seen: %s",
      lo, 100 * (hi - lo) / hi, hi, 100 * FINDINGS_CLOCK_DROP, why[0] ? why : "none reported");
}

static void rule_dominant(json_t *out, const struct profile *p, const struct summary *s) {
  if (s->n_kernels == 0) return;
  const struct summary_kernel *k = &s->kernels[0];
  if (k->share < FINDINGS_DOMINANT_SHARE || k->total_ns < FINDINGS_DOMINANT_MIN_NS) return;
  add(out, "dominant_kernel", "info", "One kernel dominates",
      json_pack("{s:s,s:f,s:i,s:f}", "kernel", p->names[k->name], "share", k->share, "calls", k->calls, "total_ms",
                k->total_ns / 1e6),
      "Optimise this kernel first: re-run with --metrics 1 to read its DRAM bandwidth, SM throughput, occupancy, "
      "registers and spills under Nsight Compute and see where it sits on the roofline.",
      "%s took %.1f%% of all kernel time (%.3f ms over %d calls; threshold %.0f%%)", p->names[k->name],
      100 * k->share, k->total_ns / 1e6, k->calls, 100 * FINDINGS_DOMINANT_SHARE);
}

json_t *findings_evaluate(const struct profile *p, const struct summary *s) {
  json_t *out = json_array();
  rule_idle(out, s);
  rule_tiny(out, s);
  rule_pageable(out, s);
  rule_serialised(out, s);
  rule_clock(out, p);
  rule_dominant(out, p, s);
  return out;
}

int findings_text(FILE *out, const json_t *findings) {
  size_t i;
  const json_t *f;
  if (json_array_size(findings) == 0) fprintf(out, "findings: none crossed a threshold\n");
  json_array_foreach(findings, i, f) {
    fprintf(out, "[%s] %s (%s)\n  evidence: %s\n  remedy:   %s\n", json_string_value(json_object_get(f, "severity")),
            json_string_value(json_object_get(f, "title")), json_string_value(json_object_get(f, "id")),
            json_string_value(json_object_get(f, "evidence")), json_string_value(json_object_get(f, "remediation")));
  }
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}
