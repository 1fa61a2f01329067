/*
 * hist.h — a log-bucketed latency histogram with 3 significant digits (the
 * accuracy of HdrHistogram with 3 significant figures; our own small code).
 *
 * Values are integers in nanoseconds from 1 ns to HIST_MAX_NS (about 73 min);
 * larger values are clamped to HIST_MAX_NS, 0 counts as 0. Each power of two
 * holds 2048 sub-buckets (1024 distinct above the first), so any value is
 * known to within 1/1024 (< 0.1%) of itself.
 *
 * Sections: lifetime, recording, queries.
 * Threads: a histogram is not locked; keep one per thread and merge them.
 */
#ifndef GPUOPS_BASE_HIST_H
#define GPUOPS_BASE_HIST_H

#include <stdint.h>

#define HIST_MAX_NS ((INT64_C(1) << 42) - 1) /* ~4398 s, above 1 hour */

struct hist;

/* --- lifetime --- */
/* A new, empty histogram (about 270 KB). NULL on OOM (err_set). Free with hist_free. */
struct hist *hist_new(void);
void hist_free(struct hist *h);
/* Forget every value. */
void hist_reset(struct hist *h);

/* --- recording --- */
/* Record one value (ns); negative values count as 0, huge ones as HIST_MAX_NS. */
void hist_record(struct hist *h, int64_t value_ns);
/* Record value_ns n times. */
void hist_record_n(struct hist *h, int64_t value_ns, uint64_t n);
/* Add every value of src into dst (src unchanged): the same as recording both into one. */
void hist_merge(struct hist *dst, const struct hist *src);

/* --- queries --- */
uint64_t hist_count(const struct hist *h);
/* Exact smallest / largest recorded value (after clamping); 0 when empty. */
int64_t hist_min(const struct hist *h);
int64_t hist_max(const struct hist *h);
/* Exact mean of the recorded values (ns); 0 when empty. */
double hist_mean(const struct hist *h);
/*
 * The value at percentile p (0..100), as HdrHistogram's "value at percentile":
 * the highest value equivalent (within the bucket's resolution) to the sample
 * of rank ceil(p/100 * count) (at least 1) in sorted order, so at least p% of
 * the samples are at or below it. p >= 100 gives hist_max; 0 when empty.
 */
int64_t hist_percentile(const struct hist *h, double p);

#endif
