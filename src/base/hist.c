/*
 * hist.c — the log-bucketed histogram (hist.h).
 *
 * Layout: bucket 0 covers 0..2047 at resolution 1; bucket b >= 1 covers
 * [1024 << b, 2048 << b) at resolution 1 << b, stored as its upper 1024
 * sub-buckets. Index of v: b = bit length of (v | 2047) - 11, then
 * ((b + 1) << 10) + (v >> b) - 1024.
 *
 * Sections: indexing, lifetime, recording, queries.
 */
#include "base/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

enum { SUB_BITS = 11, SUB_HALF = 1 << (SUB_BITS - 1), N_BUCKETS = 32 };
#define N_COUNTS ((N_BUCKETS + 1) * SUB_HALF)

struct hist {
  uint64_t count;
  int64_t min, max;
  long double sum;
  uint64_t counts[N_COUNTS];
};

/* --- indexing --- */

static int index_of(int64_t v) {
  int bucket = 64 - __builtin_clzll((uint64_t)v | (2 * SUB_HALF - 1)) - SUB_BITS;
  return ((bucket + 1) << (SUB_BITS - 1)) + (int)(v >> bucket) - SUB_HALF;
}

/* Highest value that falls in counts[i]. */
static int64_t highest_at(int i) {
  int bucket = (i >> (SUB_BITS - 1)) - 1;
  int64_t sub = (i & (SUB_HALF - 1)) + SUB_HALF;
  if (bucket < 0) return i; /* bucket 0, lower half: exact */
  return ((sub + 1) << bucket) - 1;
}

static int64_t clamp(int64_t v) { return v < 0 ? 0 : v > HIST_MAX_NS ? HIST_MAX_NS : v; }

/* --- lifetime --- */

struct hist *hist_new(void) {
  struct hist *h = calloc(1, sizeof *h);
  if (!h) err_set(ERR_NOMEM, "histogram: out of memory (%zu bytes)", sizeof *h);
  return h;
}

void hist_free(struct hist *h) { free(h); }

void hist_reset(struct hist *h) { memset(h, 0, sizeof *h); }

/* --- recording --- */

void hist_record_n(struct hist *h, int64_t value_ns, uint64_t n) {
  if (!n) return;
  int64_t v = clamp(value_ns);
  h->counts[index_of(v)] += n;
  if (!h->count || v < h->min) h->min = v;
  if (!h->count || v > h->max) h->max = v;
  h->count += n;
  h->sum += (long double)v * n;
}

void hist_record(struct hist *h, int64_t value_ns) { hist_record_n(h, value_ns, 1); }

void hist_merge(struct hist *dst, const struct hist *src) {
  if (!src->count) return;
  for (int i = 0; i < N_COUNTS; i++) dst->counts[i] += src->counts[i];
  if (!dst->count || src->min < dst->min) dst->min = src->min;
  if (!dst->count || src->max > dst->max) dst->max = src->max;
  dst->count += src->count;
  dst->sum += src->sum;
}

/* --- queries --- */

uint64_t hist_count(const struct hist *h) { return h->count; }
int64_t hist_min(const struct hist *h) { return h->count ? h->min : 0; }
int64_t hist_max(const struct hist *h) { return h->count ? h->max : 0; }
double hist_mean(const struct hist *h) { return h->count ? (double)(h->sum / h->count) : 0; }

int64_t hist_percentile(const struct hist *h, double p) {
  if (!h->count) return 0;
  if (p >= 100) return h->max;
  if (p < 0) p = 0;
  /* the small slack keeps e.g. 0.99 * 100 (= 99.00000000000001) at rank 99 */
  double want = ceil(p / 100.0 * (double)h->count - 1e-9);
  uint64_t rank = want < 1 ? 1 : (uint64_t)want, seen = 0;
  for (int i = 0; i < N_COUNTS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      int64_t v = highest_at(i);
      return v > h->max ? h->max : v < h->min ? h->min : v;
    }
  }
  return h->max;
}
