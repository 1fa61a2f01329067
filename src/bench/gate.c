/* gate.c — regression gate against a baseline of the same GPU model (see gate.h). */
#include "bench/gate.h"

#include <string.h>

#include "base/err.h"

double bench_gate_allowance(double noise_base, double noise_cur, double threshold) {
  double a = threshold;
  if (noise_base > a) a = noise_base;
  if (noise_cur > a) a = noise_cur;
  return a;
}

int bench_gate_check(const struct bench_run *base, const struct bench_run *cur, double threshold,
                     FILE *report, struct bench_gate *out) {
  memset(out, 0, sizeof *out);
  if (strcmp(base->mode, cur->mode) || strcmp(base->gpu_name, cur->gpu_name))
    return err_set(ERR_INVALID,
                   "the baseline was measured on %s (%s mode) and this run is on %s (%s mode): a "
                   "baseline gates "
                   "only runs on the same GPU model; save one here with --save-baseline FILE",
                   base->gpu_name, base->mode, cur->gpu_name, cur->mode);
  for (int i = 0; i < base->nresults; i++) {
    const struct bench_result *b = &base->results[i];
    if (b->status != BENCH_OK) continue;
    const struct bench_result *c = bench_run_find(cur, b->kernel, b->size, b->variant);
    if (!c) continue; /* not run this time (--kernel/--size filters) */
    if (c->status != BENCH_OK) {
      out->missing++;
      if (report)
        fprintf(report, "gate: %s %s %s: timed in the baseline, %s now (%s)\n", b->kernel, b->size,
                b->variant, bench_status_name(c->status), c->note);
      continue;
    }
    out->compared++;
    double allow = bench_gate_allowance(b->st.noise, c->st.noise, threshold);
    double ratio = c->st.median / b->st.median;
    if (ratio > 1.0 + allow) {
      out->regressions++;
      if (report)
        fprintf(report,
                "REGRESSION %s %s %s: median %.4f ms vs baseline %.4f ms (%.1f%% slower; allowed "
                "%.1f%% = "
                "max(noise %.2f%%, %.2f%%, threshold %.1f%%))\n",
                c->kernel, c->size, c->variant, c->st.median, b->st.median, 100.0 * (ratio - 1.0),
                100.0 * allow, 100.0 * b->st.noise, 100.0 * c->st.noise, 100.0 * threshold);
    }
  }
  return 0;
}
