/*
 * suite.c — the kernel descriptors and the GPU and CPU runs (see suite.h).
 *
 * GPU run, per (kernel, size): allocate, then per variant: check on fresh
 * random inputs with the output poisoned (0xff bytes: NaN in fp32 and bf16),
 * first the small shape in full, then the benchmark shape sampled (>= 4096
 * outputs against fp64); a failure is FAILED and not timed. Then warm up and
 * sample with CUDA events around the launch alone, the L2 flushed before each
 * sample by a memset of twice its size (unless --hot; --flush read reads it
 * instead, leaving no dirty lines to write back), inputs rotated over
 * enough copies to exceed 3 x L2. Ten samples of each ceiling are taken before
 * each (kernel, size), so the ceilings are measured across the whole run.
 *
 * Sections: descriptors; selection; GPU buffers and launches; checks; GPU
 * timing; GPU run; CPU run.
 */
#define _GNU_SOURCE
#include "bench/suite.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"
#include "base/timeutil.h"
#include "gpu/gpu.h"
#include "kernels/bf16.h"
#include "kernels/gemm_ref.h"
#include "kernels/norm_ref.h"
#include "kernels/reduce_ref.h"
#include "kernels/softmax_ref.h"
#include "kernels/transpose_ref.h"

enum { F32 = CUDAPLUGIN_F32, BF16 = CUDAPLUGIN_BF16 };
enum { GPU = BENCH_SIZE_GPU, CPU = BENCH_SIZE_CPU, CHK = BENCH_SIZE_CHECK };
#define VENDOR_NO (-1)
#define CPU_NO    (-2)
#define NORM_EPS  1e-5f

/* ---- descriptors ------------------------------------------------------------------- */

static const struct bench_size reduce_sizes[] = {
    {"2^28", (size_t)1 << 28, 0, 0, F32, GPU},
    {"2^22", (size_t)1 << 22, 0, 0, F32, CPU},
    {"1000003", 1000003, 0, 0, F32, CHK},
};
static const struct bench_size transpose_sizes[] = {
    {"16384x16384", 0, 16384, 16384, F32, GPU},
    {"1024x2048", 0, 1024, 2048, F32, CPU},
    {"320x192", 0, 320, 192, F32, CHK},
};
static const struct bench_size softmax_sizes[] = {
    {"f32-8192x8192", 0, 8192, 8192, F32, GPU},   {"f32-4096x50304", 0, 4096, 50304, F32, GPU},
    {"bf16-8192x8192", 0, 8192, 8192, BF16, GPU}, {"bf16-4096x50304", 0, 4096, 50304, BF16, GPU},
    {"f32-256x4096", 0, 256, 4096, F32, CPU},     {"bf16-256x4096", 0, 256, 4096, BF16, CPU},
    {"f32-37x1000", 0, 37, 1000, F32, CHK},       {"bf16-37x1000", 0, 37, 1000, BF16, CHK},
    /* the long rows' full check: rows split over clusters of 2-8 CTAs, as at x 50304 */
    {"f32-37x50304", 0, 37, 50304, F32, CHK},     {"bf16-37x50304", 0, 37, 50304, BF16, CHK},
};
static const struct bench_size norm_sizes[] = {
    {"16384x4096", 0, 16384, 4096, BF16, GPU},
    {"16384x8192", 0, 16384, 8192, BF16, GPU},
    {"256x4096", 0, 256, 4096, BF16, CPU},
    {"37x1000", 0, 37, 1000, BF16, CHK},
};
/* GEMM: {name, 0, M, N, bf16, flags, K, epilogue, ceiling}. The skinny shapes (M <= 128)
   must read all of W for little math, so they are held to the read ceiling. */
enum { NOEPI = CUDAPLUGIN_EPI_NONE, GELU = CUDAPLUGIN_EPI_BIAS_GELU };
static const struct bench_size gemm_sizes[] = {
    {"8192x8192x8192", 0, 8192, 8192, BF16, GPU, 8192, NOEPI, NULL},
    {"4096x4096x4096", 0, 4096, 4096, BF16, GPU, 4096, NOEPI, NULL},
    {"2048x4096x4096", 0, 2048, 4096, BF16, GPU, 4096, NOEPI, NULL},
    {"2048x8192x8192", 0, 2048, 8192, BF16, GPU, 8192, NOEPI, NULL},
    {"128x4096x4096", 0, 128, 4096, BF16, GPU, 4096, NOEPI, "read"},
    {"128x8192x8192", 0, 128, 8192, BF16, GPU, 8192, NOEPI, "read"},
    {"16x4096x4096", 0, 16, 4096, BF16, GPU, 4096, NOEPI, "read"},
    {"16x8192x8192", 0, 16, 8192, BF16, GPU, 8192, NOEPI, "read"},
    {"8192x8192x8192-gelu", 0, 8192, 8192, BF16, GPU, 8192, GELU, NULL},
    {"64x8192x8192-gelu", 0, 64, 8192, BF16, GPU, 8192, GELU, "read"},
    {"128x512x512", 0, 128, 512, BF16, CPU, 512, NOEPI, NULL},
    {"128x512x512-gelu", 0, 128, 512, BF16, CPU, 512, GELU, NULL},
    /* partial tiles in M, N and K; K of 16 k-tiles so that 7-splitk splits it 4 ways */
    {"200x136x1000", 0, 200, 136, BF16, CHK, 1000, NOEPI, NULL},
    {"200x136x1000-gelu", 0, 200, 136, BF16, CHK, 1000, GELU, NULL},
};
#define NSIZES(a) ((int)(sizeof(a) / sizeof(a[0])))

static const struct bench_kernel kernels[] = {
    {BK_REDUCE,
     "reduce",
     "sum of an fp32 vector",
     "read",
     3,
     {"0-naive", "1-vec4", "2-vec4x4"},
     "cub",
     NSIZES(reduce_sizes),
     reduce_sizes},
    {BK_TRANSPOSE,
     "transpose",
     "fp32 2-D transpose",
     "copy",
     3,
     {"0-naive", "1-tile32", "2-tile64v4"},
     NULL,
     NSIZES(transpose_sizes),
     transpose_sizes},
    {BK_SOFTMAX,
     "softmax",
     "row-wise softmax, fp32 and bf16",
     "copy",
     39,
     {"0-naive", "1-block", "2-regs", "3-unroll", "4-smem", "5-cluster", "6-clregs", "7-fold",
      "8-fold32", "9-tma", "10-tmakeep", "11-tma16", "12-async", "13-foldef", "14-regs2",
      "15-regsef", "16-lean", "17-l2pass", "18-l2pass2", "19-lean2", "20-l2plain",
      "21-l2plain2", "22-stream", "23-stream4", "24-clpush", "25-clpush8",
      "26-fold1", "27-l2pass8", "28-l2pass3", "29-foldx", "30-foldx8", "31-l2clu",
      "32-l2clu4", "33-clpushx", "34-fold1s", "35-l2clu2", "36-l2club", "37-l2clu2b",
      "38-fold1u8"},
     NULL,
     NSIZES(softmax_sizes),
     softmax_sizes},
    {BK_LAYERNORM,
     "layernorm",
     "layernorm with weight and bias, bf16 in/out, fp32 math",
     "copy",
     12,
     {"0-naive", "1-block", "2-stream", "3-warp", "4-onepass", "5-tma", "6-async", "7-hint",
      "8-onered", "9-red128", "10-pipe", "11-onered2"},
     NULL,
     NSIZES(norm_sizes),
     norm_sizes},
    {BK_RMSNORM,
     "rmsnorm",
     "rmsnorm with weight, bf16 in/out, fp32 math",
     "copy",
     12,
     {"0-naive", "1-block", "2-stream", "3-warp", "4-onepass", "5-tma", "6-async", "7-hint",
      "8-onered", "9-red128", "10-pipe", "11-onered2"},
     NULL,
     NSIZES(norm_sizes),
     norm_sizes},
    {BK_GEMM,
     "gemm",
     "C = A.W^T (+ bias, + exact GELU), bf16 in/out, fp32 accumulate",
     "matrix",
     12,
     {"0-naive", "1-smem", "2-regs", "3-mma", "4-wgmma", "5-overlap", "6-auto", "7-splitk",
      "8-tmastore", "9-sk64", "10-streamk", "11-pingpong"},
     "cublaslt",
     NSIZES(gemm_sizes),
     gemm_sizes},
};

const struct bench_kernel *bench_suite_kernels(int *n) {
  *n = NSIZES(kernels);
  return kernels;
}

const struct bench_kernel *bench_suite_find(const char *name) {
  for (int i = 0; i < NSIZES(kernels); i++)
    if (name && !strcmp(kernels[i].name, name)) return &kernels[i];
  return NULL;
}

static size_t esize(int dtype) { return dtype == BF16 ? 2 : 4; }
/* Elements of the (first) input: gemm's A is M x K. */
static size_t elems(const struct bench_size *s) {
  if (s->k) return (size_t)s->rows * (size_t)s->k;
  return s->n ? s->n : (size_t)s->rows * (size_t)s->cols;
}

double bench_suite_bytes(const struct bench_kernel *k, const struct bench_size *s) {
  double e = (double)elems(s), w = (double)esize(s->dtype);
  switch (k->id) {
    case BK_REDUCE: return e * w + 4;
    case BK_LAYERNORM: return 2 * e * w + 2.0 * s->cols * w;
    case BK_RMSNORM: return 2 * e * w + (double)s->cols * w;
    case BK_GEMM: /* A, W and C once, the bias when used */
      return w * ((double)s->rows * s->k + (double)s->cols * s->k + (double)s->rows * s->cols +
                  (s->epi ? s->cols : 0));
    default: return 2 * e * w;
  }
}

double bench_suite_flops(const struct bench_kernel *k, const struct bench_size *s) {
  double e = (double)elems(s);
  switch (k->id) {
    case BK_REDUCE: return e;
    case BK_TRANSPOSE: return 0;
    case BK_SOFTMAX: return 5 * e;   /* max, sub, exp, add, mul */
    case BK_LAYERNORM: return 8 * e; /* sum, sub, square, add, sub, mul, mul, add */
    case BK_GEMM: return 2.0 * s->rows * s->cols * s->k; /* the epilogue's few per output aside */
    default: return 5 * e;           /* square, add, mul, mul (+ rsqrt per row) */
  }
}

/* ---- selection ------------------------------------------------------------------ */

/* "2", "regs" or "2-regs" names variant i of k. */
static bool variant_matches(const struct bench_kernel *k, int i, const char *want) {
  const char *name = k->variants[i], *dash = strchr(name, '-');
  if (!strcmp(want, name)) return true;
  if (dash && !strcmp(want, dash + 1)) return true;
  return dash && (size_t)(dash - name) == strlen(want) &&
         !strncmp(want, name, (size_t)(dash - name));
}

static bool variant_selected(const struct bench_kernel *k, int i, const char *want) {
  if (!want) return true;
  if (i == VENDOR_NO) return k->vendor && !strcmp(want, k->vendor);
  return variant_matches(k, i, want);
}

static bool size_selected(const struct bench_size *s, const char *want, unsigned mode_flag) {
  return want ? !strcmp(want, s->name) : (s->flags & mode_flag) != 0;
}

/* Whether the ", "-separated list in buf already holds word. */
static bool listed(const char *buf, const char *word) {
  size_t n = strlen(word);
  for (const char *p = buf; (p = strstr(p, word)); p += n)
    if ((p == buf || p[-1] == ' ') && (p[n] == ',' || p[n] == 0)) return true;
  return false;
}

/* "a, b, c" of every kernel's names (kind 0), variants (1) or sizes (2) into buf, each once. */
static void list_valid(const struct bench_kernel *only, int kind, char *buf, size_t len) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < NSIZES(kernels); i++) {
    const struct bench_kernel *kn = &kernels[i];
    if (only && kn != only) continue;
    if (kind == 0)
      k += (size_t)snprintf(buf + k, len > k ? len - k : 0, "%s%s", k ? ", " : "", kn->name);
    for (int j = 0; kind == 1 && j < kn->nvariants; j++)
      k += (size_t)snprintf(buf + k, len > k ? len - k : 0, "%s%s", k ? ", " : "", kn->variants[j]);
    if (kind == 1 && kn->vendor)
      k += (size_t)snprintf(buf + k, len > k ? len - k : 0, "%s%s", k ? ", " : "", kn->vendor);
    for (int j = 0; kind == 2 && j < kn->nsizes && k < len; j++)
      if (!listed(buf, kn->sizes[j].name))
        k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? ", " : "", kn->sizes[j].name);
    if (k >= len) break;
  }
}

int bench_suite_validate(const struct bench_options *o) {
  char valid[1024];
  const struct bench_kernel *only = NULL;
  if (o->kernel && !(only = bench_suite_find(o->kernel))) {
    list_valid(NULL, 0, valid, sizeof valid);
    return err_set(ERR_INVALID, "unknown kernel \"%s\"; valid kernels: %s", o->kernel, valid);
  }
  bool vfound = !o->variant || !strcmp(o->variant, "cpu-ref"), sfound = !o->size;
  for (int i = 0; i < NSIZES(kernels); i++) {
    const struct bench_kernel *k = &kernels[i];
    if (only && k != only) continue;
    for (int j = VENDOR_NO; o->variant && j < k->nvariants; j++)
      vfound |= variant_selected(k, j, o->variant);
    for (int j = 0; o->size && j < k->nsizes; j++) sfound |= !strcmp(o->size, k->sizes[j].name);
  }
  if (!vfound) {
    list_valid(only, 1, valid, sizeof valid);
    return err_set(ERR_INVALID,
                   "unknown variant \"%s\"%s%s; valid variants (by full name, number or name): %s",
                   o->variant, only ? " for kernel " : "", only ? only->name : "", valid);
  }
  if (!sfound) {
    list_valid(only, 2, valid, sizeof valid);
    return err_set(ERR_INVALID, "unknown size \"%s\"%s%s; valid sizes: %s", o->size,
                   only ? " for kernel " : "", only ? only->name : "", valid);
  }
  return 0;
}

/* A result row with the descriptor's fields filled. */
static void result_init(struct bench_result *r, const struct bench_kernel *k,
                        const struct bench_size *s, int variant_no) {
  memset(r, 0, sizeof *r);
  snprintf(r->kernel, sizeof r->kernel, "%s", k->name);
  snprintf(r->size, sizeof r->size, "%s", s->name);
  snprintf(r->variant, sizeof r->variant, "%s",
           variant_no == VENDOR_NO ? k->vendor
           : variant_no == CPU_NO  ? "cpu-ref"
                                   : k->variants[variant_no]);
  r->variant_no = variant_no;
  r->bytes = bench_suite_bytes(k, s);
  r->flops = bench_suite_flops(k, s);
  snprintf(r->ceiling, sizeof r->ceiling, "%s",
           variant_no == CPU_NO ? "" : s->ceiling ? s->ceiling : k->ceiling);
}

/* ---- GPU buffers and launches ------------------------------------------------------ */

enum { MAX_ROT = 4, CEIL_SAMPLES = 10, POOL_CAP = 4096, NFLAVOURS = 6, MATRIX_N = 8192 };
/* Every ceiling kernel timed: which plugin entry (0 copy, 1 read, 2 cuBLASLt bf16 GEMM at
   8192^3: the matrix rate, sampled only when a GEMM is selected), its variant, its name. */
static const struct {
  int which, variant;
  const char *name;
} flavours[NFLAVOURS] = {
    {0, 0, "copy/0-stride"}, {0, 1, "copy/1-onepass"}, {0, 2, "copy/2-memcpy"},
    {1, 0, "read/0-stride"}, {1, 1, "read/1-onepass"}, {2, 0, "matrix/cublaslt"},
};

struct gctx {
  const struct cudaplugin_api *api;
  cudaplugin_stream s;
  cudaplugin_event e0, e1;
  char err[512];
  size_t l2;   /* bytes */
  void *flush; /* 2 x L2, memset before each sample */
  size_t flush_bytes;
  void *csrc, *cdst; /* ceiling buffers */
  size_t cbytes;
  float *sink;             /* 4096 floats for ceiling_read */
  void *ma, *mw, *mc;      /* matrix ceiling: MATRIX_N^2 bf16 each; NULL when not sampled */
  double *pool[NFLAVOURS]; /* ceiling samples, ms, per flavour */
  int npool[NFLAVOURS];
  bool hot, flush_read;
  struct rng rng;
  FILE *log;
};

struct gcase {
  struct gctx *g;
  const struct bench_kernel *k;
  const struct bench_size *sz;
  void *in[MAX_ROT], *out, *w, *b, *ws; /* gemm: in = A, w = W, b = bias */
  int nrot, rot, variant;
  size_t in_bytes, out_bytes, ws_bytes;
};

/* A plugin call's result as a gpuops error with the plugin's message. */
static int plug(struct gctx *g, int rc, const char *what) {
  if (rc == 0) return 0;
  return err_set(rc, "%s: %s", what, g->err);
}

static int launch(struct gcase *c, int variant, const void *in) {
  struct gctx *g = c->g;
  const struct cudaplugin_api *a = g->api;
  const struct bench_size *s = c->sz;
  char *e = g->err;
  size_t el = sizeof g->err;
  switch (c->k->id) {
    case BK_REDUCE:
      if (variant == VENDOR_NO)
        return a->cub_reduce_sum_f32(in, s->n, c->out, c->ws, c->ws_bytes, g->s, e, el);
      return a->reduce_sum_f32(variant, in, s->n, c->out, c->ws, c->ws_bytes, g->s, e, el);
    case BK_TRANSPOSE: return a->transpose_f32(variant, in, c->out, s->rows, s->cols, g->s, e, el);
    case BK_SOFTMAX:
      return a->softmax_rows(variant, s->dtype, in, c->out, s->rows, s->cols, c->ws, g->s, e, el);
    case BK_LAYERNORM:
      return a->layernorm_bf16(variant, in, c->w, c->b, c->out, s->rows, s->cols, NORM_EPS, g->s, e,
                               el);
    case BK_GEMM: {
      const void *bias = s->epi ? c->b : NULL;
      if (variant == VENDOR_NO)
        return a->vendor_gemm_bf16(in, c->w, bias, c->out, s->rows, s->cols, s->k, s->epi, g->s, e,
                                   el);
      return a->gemm_bf16(variant, in, c->w, bias, c->out, s->rows, s->cols, s->k, s->epi, g->s, e,
                          el);
    }
    default:
      return a->rmsnorm_bf16(variant, in, c->w, c->out, s->rows, s->cols, NORM_EPS, g->s, e, el);
  }
}

/* Input ranges: never zeros; norms get a mean away from 0 so the centring matters. */
static void input_range(const struct bench_kernel *k, float *lo, float *hi) {
  *lo = -1.0f, *hi = 1.0f;
  if (k->id == BK_SOFTMAX) *lo = -8.0f, *hi = 8.0f;
  if (k->id == BK_LAYERNORM || k->id == BK_RMSNORM) *lo = -1.0f, *hi = 3.0f;
}

/* Fresh random inputs (every rotation copy, and w, b) from new seeds. */
static int fill_inputs(struct gcase *c) {
  struct gctx *g = c->g;
  float lo, hi;
  input_range(c->k, &lo, &hi);
  size_t n = elems(c->sz);
  for (int i = 0; i < c->nrot; i++) {
    int rc = g->api->fill_uniform(c->in[i], n, c->sz->dtype, rng_u64(&g->rng), lo, hi, g->s, g->err,
                                  sizeof g->err);
    if (rc) return plug(g, rc, "filling inputs");
  }
  bool gemm = c->k->id == BK_GEMM;
  size_t wn = gemm ? (size_t)c->sz->cols * (size_t)c->sz->k : (size_t)c->sz->cols;
  if (c->w && g->api->fill_uniform(c->w, wn, BF16, rng_u64(&g->rng), gemm ? -1.0f : 0.5f,
                                   gemm ? 1.0f : 1.5f, g->s, g->err, sizeof g->err))
    return plug(g, ERR_DRIVER, "filling the weight");
  if (c->b && g->api->fill_uniform(c->b, (size_t)c->sz->cols, BF16, rng_u64(&g->rng), -0.5f, 0.5f,
                                   g->s, g->err, sizeof g->err))
    return plug(g, ERR_DRIVER, "filling the bias");
  return 0;
}

static void case_free(struct gcase *c) {
  const struct cudaplugin_api *a = c->g->api;
  for (int i = 0; i < MAX_ROT; i++) a->mem_free(c->in[i]);
  a->mem_free(c->out);
  a->mem_free(c->w);
  a->mem_free(c->b);
  a->mem_free(c->ws);
  memset(c->in, 0, sizeof c->in);
  c->out = c->w = c->b = c->ws = NULL;
}

static int dalloc(struct gctx *g, void **p, size_t bytes, const char *what) {
  return plug(g, g->api->mem_alloc(p, bytes, g->err, sizeof g->err), what);
}

/* Scratch bytes for every reduce variant and CUB. */
static int reduce_ws(struct gctx *g, size_t n, size_t *bytes) {
  *bytes = 0;
  for (int v = -1; v <= 2; v++) {
    size_t b = 0;
    int rc = g->api->reduce_workspace(v, n, &b, g->err, sizeof g->err);
    if (rc) return plug(g, rc, "reduce workspace");
    if (b > *bytes) *bytes = b;
  }
  return 0;
}

static int case_alloc(struct gctx *g, const struct bench_kernel *k, const struct bench_size *s,
                      struct gcase *c) {
  memset(c, 0, sizeof *c);
  c->g = g, c->k = k, c->sz = s;
  c->in_bytes = elems(s) * esize(s->dtype);
  c->out_bytes = k->id == BK_REDUCE ? sizeof(float) : c->in_bytes;
  if (k->id == BK_GEMM) c->out_bytes = (size_t)s->rows * (size_t)s->cols * 2;
  size_t want = 3 * g->l2;
  c->nrot = (int)((want + c->in_bytes - 1) / c->in_bytes);
  if (c->nrot > MAX_ROT) c->nrot = MAX_ROT;
  if (c->nrot < 1) c->nrot = 1;
  int rc = 0;
  for (int i = 0; i < c->nrot && !rc; i++) rc = dalloc(g, &c->in[i], c->in_bytes, "input buffer");
  if (!rc) rc = dalloc(g, &c->out, c->out_bytes, "output buffer");
  if (!rc && k->id == BK_REDUCE) rc = reduce_ws(g, s->n, &c->ws_bytes);
  if (!rc && k->id == BK_SOFTMAX) c->ws_bytes = 2 * (size_t)s->rows * sizeof(float);
  if (!rc && c->ws_bytes) rc = dalloc(g, &c->ws, c->ws_bytes, "workspace");
  if (!rc && c->ws)
    rc = plug(g, g->api->mem_set(c->ws, 0, c->ws_bytes, g->s, g->err, sizeof g->err), "workspace");
  if (!rc && (k->id == BK_LAYERNORM || k->id == BK_RMSNORM))
    rc = dalloc(g, &c->w, (size_t)s->cols * 2, "weight");
  if (!rc && (k->id == BK_LAYERNORM || k->id == BK_GEMM))
    rc = dalloc(g, &c->b, (size_t)s->cols * 2, "bias");
  if (!rc && k->id == BK_GEMM) rc = dalloc(g, &c->w, (size_t)s->cols * (size_t)s->k * 2, "W");
  if (!rc) rc = fill_inputs(c);
  if (rc) case_free(c);
  return rc;
}

/* ---- checks ------------------------------------------------------------------------ */

static int d2h(struct gctx *g, void *dst, const void *src, size_t bytes) {
  return plug(g, g->api->memcpy_d2h(dst, src, bytes, g->s, g->err, sizeof g->err), "copying back");
}

/* Largest error of the reduce output relative to sum |x|. */
static int check_reduce(struct gcase *c, double *err) {
  float *x = malloc(c->in_bytes), got = 0;
  if (!x) return err_set(ERR_NOMEM, "check: %zu bytes", c->in_bytes);
  int rc = d2h(c->g, x, c->in[0], c->in_bytes);
  if (!rc) rc = d2h(c->g, &got, c->out, sizeof got);
  if (!rc) {
    double abs = 0, ref = reduce_ref_sum(x, c->sz->n, &abs);
    *err = isfinite(got) ? fabs((double)got - ref) / (abs > 0 ? abs : 1) : INFINITY;
  }
  free(x);
  return rc;
}

/* Exact comparison: everywhere (full) or at 4096 random positions. */
static int check_transpose(struct gcase *c, bool full, double *err) {
  struct gctx *g = c->g;
  int rows = c->sz->rows, cols = c->sz->cols, rc = 0;
  *err = 0;
  if (!full) {
    for (int i = 0; i < 4096 && !rc; i++) {
      size_t r = rng_below(&g->rng, (uint64_t)rows), col = rng_below(&g->rng, (uint64_t)cols);
      float x = 0, y = 0;
      rc = d2h(g, &x, (const float *)c->in[0] + r * (size_t)cols + col, 4);
      if (!rc) rc = d2h(g, &y, (const float *)c->out + col * (size_t)rows + r, 4);
      if (!rc && !(x == y)) *err = isfinite(y) ? fmax(*err, fabs((double)x - y)) : INFINITY;
    }
    return rc;
  }
  float *x = malloc(c->in_bytes), *y = malloc(c->in_bytes), *ref = malloc(c->in_bytes);
  if (!x || !y || !ref) rc = err_set(ERR_NOMEM, "check: %zu bytes", 3 * c->in_bytes);
  if (!rc) rc = d2h(g, x, c->in[0], c->in_bytes);
  if (!rc) rc = d2h(g, y, c->out, c->in_bytes);
  if (!rc) {
    transpose_ref_f32(x, ref, rows, cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
      if (!(y[i] == ref[i]))
        *err = isfinite(y[i]) ? fmax(*err, fabs((double)y[i] - ref[i])) : INFINITY;
  }
  free(x), free(y), free(ref);
  return rc;
}

/* Element error: softmax relative to |ref| (outputs are positive); norms relative to max(1, |ref|).
 */
static double elem_err(const struct bench_kernel *k, double got, double ref) {
  if (!isfinite(got)) return INFINITY;
  double d = fabs(got - ref);
  if (k->id == BK_SOFTMAX) return d / (fabs(ref) > 1e-30 ? fabs(ref) : 1e-30);
  return d / (fabs(ref) > 1 ? fabs(ref) : 1);
}

/* Rows checked: all (full) or 8 (first, last, six random): >= 8 x 1000 outputs. */
static int check_rows(struct gcase *c, bool full, double *err) {
  struct gctx *g = c->g;
  const struct bench_size *s = c->sz;
  size_t w = esize(s->dtype), rowb = (size_t)s->cols * w;
  int nrows = full ? s->rows : 8, rc = 0;
  char *x = malloc(rowb), *y = malloc(rowb);
  uint16_t *wt = malloc((size_t)s->cols * 2), *bs = malloc((size_t)s->cols * 2);
  double *ref = malloc((size_t)s->cols * sizeof *ref);
  *err = 0;
  if (!x || !y || !wt || !bs || !ref)
    rc = err_set(ERR_NOMEM, "check: row buffers of %zu bytes", rowb);
  if (!rc && c->w) rc = d2h(g, wt, c->w, (size_t)s->cols * 2);
  if (!rc && c->b) rc = d2h(g, bs, c->b, (size_t)s->cols * 2);
  for (int i = 0; i < nrows && !rc; i++) {
    size_t r = full     ? (size_t)i
               : i == 0 ? 0
               : i == 1 ? (size_t)s->rows - 1
                        : rng_below(&g->rng, (uint64_t)s->rows);
    rc = d2h(g, x, (const char *)c->in[0] + r * rowb, rowb);
    if (!rc) rc = d2h(g, y, (const char *)c->out + r * rowb, rowb);
    if (rc) break;
    if (c->k->id == BK_SOFTMAX && s->dtype == F32)
      softmax_ref_row_f32((const float *)x, s->cols, ref);
    if (c->k->id == BK_SOFTMAX && s->dtype == BF16)
      softmax_ref_row_bf16((const uint16_t *)x, s->cols, ref);
    if (c->k->id == BK_LAYERNORM)
      norm_ref_layernorm_row((const uint16_t *)x, wt, bs, s->cols, NORM_EPS, ref);
    if (c->k->id == BK_RMSNORM)
      norm_ref_rmsnorm_row((const uint16_t *)x, wt, s->cols, NORM_EPS, ref);
    for (int j = 0; j < s->cols; j++) {
      double got = s->dtype == F32 ? ((const float *)y)[j] : bf16_to_f32(((const uint16_t *)y)[j]);
      double e = elem_err(c->k, got, ref[j]);
      if (!(e <= *err)) *err = e;
    }
  }
  free(x), free(y), free(wt), free(bs), free(ref);
  return rc;
}

/* GEMM: the whole of A, W and C copied back, then every output (full) or 4096 random ones
   against the fp64 reference; error |got - ref| / (|ref| + sqrt(sum (a w)^2)). */
static int check_gemm(struct gcase *c, bool full, double *err) {
  struct gctx *g = c->g;
  const struct bench_size *s = c->sz;
  size_t an = (size_t)s->rows * s->k, wn = (size_t)s->cols * s->k, cn = (size_t)s->rows * s->cols;
  uint16_t *a = malloc(an * 2), *w = malloc(wn * 2), *y = malloc(cn * 2), *b = malloc((size_t)s->cols * 2);
  int rc = 0;
  *err = 0;
  if (!a || !w || !y || !b) rc = err_set(ERR_NOMEM, "check: %zu bytes", 2 * (an + wn + cn));
  if (!rc) rc = d2h(g, a, c->in[0], an * 2);
  if (!rc) rc = d2h(g, w, c->w, wn * 2);
  if (!rc) rc = d2h(g, y, c->out, cn * 2);
  if (!rc) rc = d2h(g, b, c->b, (size_t)s->cols * 2);
  size_t count = full ? cn : 4096;
  for (size_t i = 0; i < count && !rc; i++) {
    size_t m = full ? i / (size_t)s->cols : rng_below(&g->rng, (uint64_t)s->rows);
    size_t n = full ? i % (size_t)s->cols : rng_below(&g->rng, (uint64_t)s->cols);
    double scale = 0;
    double ref = gemm_ref_one(a + m * s->k, w + n * s->k, s->k, b + n, s->epi, &scale);
    double e = gemm_ref_err(bf16_to_f32(y[m * s->cols + n]), ref, scale);
    if (!(e <= *err)) *err = e;
  }
  free(a), free(w), free(y), free(b);
  return rc;
}

/* The threshold by kernel and precision (docs/kernels.md, "Correctness"). */
static double tolerance(const struct bench_kernel *k, const struct bench_size *s) {
  switch (k->id) {
    case BK_REDUCE: return 1e-5;
    case BK_TRANSPOSE: return 0;
    case BK_SOFTMAX: return s->dtype == F32 ? 1e-4 : 1e-2;
    default: return 1e-2;
  }
}

/*
 * Fresh inputs, poisoned output, one launch, comparison. Sets r->status (OK,
 * FAILED, UNSUPPORTED, ERROR), r->max_err and r->tol, r->note on failure.
 * Returns a negative code only when the GPU itself failed.
 */
static int check_variant(struct gcase *c, int variant, bool full, struct bench_result *r) {
  struct gctx *g = c->g;
  const char *where = full ? "full check" : "sampled check";
  int rc = fill_inputs(c);
  if (!rc)
    rc = plug(g, g->api->mem_set(c->out, 0xff, c->out_bytes, g->s, g->err, sizeof g->err),
              "poisoning");
  /* The plugin's contract: a zeroed workspace before a variant's first call
     (reduce's vec variants keep a ticket there; the naive one overwrites it). */
  if (!rc && c->ws)
    rc = plug(g, g->api->mem_set(c->ws, 0, c->ws_bytes, g->s, g->err, sizeof g->err), "workspace");
  if (rc) return rc;
  int lrc = launch(c, variant, c->in[0]);
  if (!lrc) lrc = g->api->stream_sync(g->s, g->err, sizeof g->err);
  if (lrc) {
    r->status = lrc == ERR_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_ERROR;
    snprintf(r->note, sizeof r->note, "%s at %s: %s", where, c->sz->name, g->err);
    return lrc == ERR_UNSUPPORTED || lrc == ERR_INVALID ? 0 : err_set(lrc, "%s", r->note);
  }
  double e = 0;
  if (c->k->id == BK_REDUCE)
    rc = check_reduce(c, &e);
  else if (c->k->id == BK_TRANSPOSE)
    rc = check_transpose(c, full, &e);
  else if (c->k->id == BK_GEMM)
    rc = check_gemm(c, full, &e);
  else
    rc = check_rows(c, full, &e);
  if (rc) return rc;
  r->tol = tolerance(c->k, c->sz);
  if (e > r->max_err || !(e == e)) r->max_err = e;
  if (!(e <= r->tol)) {
    r->status = BENCH_FAILED;
    snprintf(r->note, sizeof r->note, "%s at %s: error %.3g over the threshold %.3g", where,
             c->sz->name, e, r->tol);
  }
  return 0;
}

/* ---- GPU timing -------------------------------------------------------------------- */

/* Events around fn(arg) alone; the L2 flush before it is not timed. */
static int timed(struct gctx *g, int (*fn)(void *), void *arg, double *ms) {
  const struct cudaplugin_api *a = g->api;
  int rc = 0;
  if (!g->hot && !g->flush_read)
    rc = plug(g, a->mem_set(g->flush, 0x5a, g->flush_bytes, g->s, g->err, sizeof g->err),
              "L2 flush");
  else if (!g->hot)
    rc = plug(g, a->ceiling_read(1, g->flush, g->flush_bytes, g->sink, g->s, g->err, sizeof g->err),
              "L2 flush");
  if (!rc) rc = plug(g, a->event_record(g->e0, g->s, g->err, sizeof g->err), "event");
  if (!rc) rc = fn(arg);
  if (!rc) rc = plug(g, a->event_record(g->e1, g->s, g->err, sizeof g->err), "event");
  if (!rc) rc = plug(g, a->stream_sync(g->s, g->err, sizeof g->err), "synchronize");
  float f = 0;
  if (!rc) rc = plug(g, a->event_elapsed_ms(g->e0, g->e1, &f, g->err, sizeof g->err), "event time");
  *ms = f;
  return rc;
}

static int case_launch(void *arg) {
  struct gcase *c = arg;
  const void *in = c->in[c->rot];
  c->rot = (c->rot + 1) % c->nrot;
  int rc = launch(c, c->variant, in);
  return rc ? err_set(rc, "%s %s: %s", c->k->name, c->sz->name, c->g->err) : 0;
}

static int case_sample(void *ctx, double *ms) {
  struct gcase *c = ctx;
  return timed(c->g, case_launch, c, ms);
}

struct ceil_arg {
  struct gctx *g;
  int f; /* index into flavours[] */
};

static int ceil_launch(void *arg) {
  struct ceil_arg *ca = arg;
  struct gctx *g = ca->g;
  int v = flavours[ca->f].variant, rc;
  if (flavours[ca->f].which == 2)
    rc = g->api->vendor_gemm_bf16(g->ma, g->mw, NULL, g->mc, MATRIX_N, MATRIX_N, MATRIX_N,
                                  CUDAPLUGIN_EPI_NONE, g->s, g->err, sizeof g->err);
  else if (flavours[ca->f].which == 0)
    rc = g->api->ceiling_copy(v, g->csrc, g->cdst, g->cbytes, g->s, g->err, sizeof g->err);
  else
    rc = g->api->ceiling_read(v, g->csrc, g->cbytes, g->sink, g->s, g->err, sizeof g->err);
  return plug(g, rc, flavours[ca->f].name);
}

/* CEIL_SAMPLES more samples of each ceiling flavour into the pools. */
static int ceiling_samples(struct gctx *g) {
  for (int f = 0; f < NFLAVOURS; f++) {
    if (flavours[f].which == 2 && !g->ma) continue;
    struct ceil_arg ca = {g, f};
    double ms;
    int rc = timed(g, ceil_launch, &ca, &ms); /* warm-up */
    for (int i = 0; i < CEIL_SAMPLES && !rc && g->npool[f] < POOL_CAP; i++) {
      rc = timed(g, ceil_launch, &ca, &ms);
      if (!rc) g->pool[f][g->npool[f]++] = ms;
    }
    if (rc) return rc;
  }
  return 0;
}

/* Warm up (one launch; two more when it is short), then sample. */
static int time_variant(struct gcase *c, const struct bench_stop *stop, struct bench_result *r) {
  double ms = 0;
  int rc = timed(c->g, case_launch, c, &ms);
  for (int i = 0; i < 2 && !rc && ms < 10.0; i++) rc = timed(c->g, case_launch, c, &ms);
  if (rc) return rc;
  struct bench_source src = {case_sample, c};
  return bench_measure(&src, stop, &r->st, r->note, sizeof r->note);
}

/* ---- GPU run ----------------------------------------------------------------------- */

/* Driver version and SM clock (MHz) from NVML; quietly nothing when NVML is absent. */
static void nvml_read(char *driver, size_t dlen, double *sm_mhz) {
  struct gpu_options o = {.kind = GPU_BACKEND_NVML};
  struct gpu_backend *b = NULL;
  *sm_mhz = 0;
  if (gpu_open(&o, &b)) {
    err_clear();
    return;
  }
  struct gpu_info info;
  if (driver && !gpu_get_info(b, 0, &info)) snprintf(driver, dlen, "%s", info.driver_version);
  struct gpu_sample s;
  double v;
  if (!gpu_sample(b, 0, &s) && gpu_values_get(&s.dev, GPU_M_SM_CLOCK, &v)) *sm_mhz = v;
  gpu_close(b);
  err_clear();
}

static void log_line(struct gctx *g, const struct bench_result *r) {
  if (!g->log) return;
  fprintf(g->log, "bench: %-9s %-16s %-11s %-11s", r->kernel, r->size, r->variant,
          bench_status_name(r->status));
  if (r->status == BENCH_OK)
    fprintf(g->log, " median %.4f ms noise %.2f%% n=%d err %.2g", r->st.median, 100 * r->st.noise,
            r->st.n, r->max_err);
  else
    fprintf(g->log, " %s", r->note);
  fprintf(g->log, "\n");
  fflush(g->log);
}

/* The small full-check shape of k with the dtype (and epilogue) of s: the one
   with s's columns when there is one (so a kernel that splits long rows over
   clusters is checked in full with the same split), else the first. */
static const struct bench_size *check_size(const struct bench_kernel *k,
                                           const struct bench_size *s) {
  const struct bench_size *first = NULL;
  for (int i = 0; i < k->nsizes; i++) {
    const struct bench_size *c = &k->sizes[i];
    if (!(c->flags & CHK) || c->dtype != s->dtype || c->epi != s->epi) continue;
    if (c->cols == s->cols && c != s) return c;
    if (!first) first = c;
  }
  return first;
}

/* One (kernel, size): every selected variant checked, then timed. */
static int run_case(struct gctx *g, const struct bench_kernel *k, const struct bench_size *s,
                    const struct bench_options *o, struct bench_run *run) {
  struct gcase big, small;
  const struct bench_size *cs = check_size(k, s);
  int rc = ceiling_samples(g);
  if (!rc) rc = case_alloc(g, k, s, &big);
  if (rc) return rc;
  rc = cs ? case_alloc(g, k, cs, &small) : err_set(ERR_INTERNAL, "%s: no check size", k->name);
  if (rc) {
    case_free(&big);
    return rc;
  }
  for (int v = 0; v < k->nvariants + (k->vendor ? 1 : 0) && !rc; v++) {
    int vno = v < k->nvariants ? v : VENDOR_NO;
    if (!variant_selected(k, vno, o->variant)) continue;
    struct bench_result r;
    result_init(&r, k, s, vno);
    rc = check_variant(&small, vno, true, &r);
    if (!rc && r.status == BENCH_OK) rc = check_variant(&big, vno, false, &r);
    big.variant = vno;
    big.rot = 0;
    if (!rc && r.status == BENCH_OK) rc = time_variant(&big, &o->stop, &r);
    if (rc && r.status == BENCH_OK) {
      r.status = BENCH_ERROR;
      snprintf(r.note, sizeof r.note, "%s", err_msg());
    }
    int arc = bench_run_add(run, &r);
    log_line(g, &r);
    if (arc) rc = arc;
  }
  case_free(&small);
  case_free(&big);
  return rc;
}

/* The matrix-rate ceiling's buffers, random bf16 (never zeros: they run faster). Without
   cuBLASLt the ceiling is left out (one line in the log) and GEMMs have no % of ceiling. */
static int matrix_open(struct gctx *g) {
  size_t bytes = (size_t)MATRIX_N * MATRIX_N * 2, n = bytes / 2;
  int rc = dalloc(g, &g->ma, bytes, "matrix ceiling A");
  if (!rc) rc = dalloc(g, &g->mw, bytes, "matrix ceiling W");
  if (!rc) rc = dalloc(g, &g->mc, bytes, "matrix ceiling C");
  if (!rc) rc = plug(g, g->api->fill_uniform(g->ma, n, BF16, 11, -1, 1, g->s, g->err, sizeof g->err), "fill");
  if (!rc) rc = plug(g, g->api->fill_uniform(g->mw, n, BF16, 12, -1, 1, g->s, g->err, sizeof g->err), "fill");
  int vrc = rc ? rc
               : g->api->vendor_gemm_bf16(g->ma, g->mw, NULL, g->mc, MATRIX_N, MATRIX_N, MATRIX_N,
                                          CUDAPLUGIN_EPI_NONE, g->s, g->err, sizeof g->err);
  if (!rc && vrc == ERR_NOLIB) {
    if (g->log) fprintf(g->log, "bench: no matrix-rate ceiling: %s\n", g->err);
    g->api->mem_free(g->ma), g->api->mem_free(g->mw), g->api->mem_free(g->mc);
    g->ma = g->mw = g->mc = NULL;
    return 0;
  }
  return rc ? rc : plug(g, vrc, "matrix ceiling (cuBLASLt)");
}

static int gctx_open(struct gctx *g, const struct cudaplugin_api *api,
                     const struct bench_options *o, struct bench_run *run) {
  memset(g, 0, sizeof *g);
  g->api = api, g->hot = o->hot, g->flush_read = o->flush_read, g->log = o->log;
  rng_seed(&g->rng, (uint64_t)time_wall_ns());
  int n = 0, rc = plug(g, api->device_count(&n, g->err, sizeof g->err), "counting CUDA devices");
  if (!rc && n < 1) rc = err_set(ERR_NODEVICE, "no CUDA device");
  if (!rc) rc = plug(g, api->device_set(0, g->err, sizeof g->err), "selecting GPU 0");
  struct cudaplugin_device dev;
  if (!rc) rc = plug(g, api->device_get(0, &dev, g->err, sizeof g->err), "reading GPU 0");
  if (rc) return rc;
  snprintf(run->mode, sizeof run->mode, "gpu");
  snprintf(run->gpu_name, sizeof run->gpu_name, "%s", dev.name);
  int rt = 0, drv = 0;
  if (!api->runtime_version(&rt, &drv, g->err, sizeof g->err))
    snprintf(run->cuda, sizeof run->cuda, "runtime %d.%d, driver %d.%d", rt / 1000, rt % 1000 / 10,
             drv / 1000, drv % 1000 / 10);
  g->l2 = dev.l2_bytes > 0 ? (size_t)dev.l2_bytes : (size_t)50 << 20;
  g->flush_bytes = 2 * g->l2;
  g->cbytes = (size_t)1 << 30;
  rc = plug(g, api->stream_create(&g->s, g->err, sizeof g->err), "stream");
  if (!rc) rc = plug(g, api->event_create(&g->e0, g->err, sizeof g->err), "event");
  if (!rc) rc = plug(g, api->event_create(&g->e1, g->err, sizeof g->err), "event");
  if (!rc) rc = dalloc(g, &g->flush, g->flush_bytes, "L2 flush buffer");
  if (!rc) rc = dalloc(g, &g->csrc, g->cbytes, "ceiling source");
  if (!rc) rc = dalloc(g, &g->cdst, g->cbytes, "ceiling destination");
  if (!rc) rc = dalloc(g, (void **)&g->sink, 4096 * sizeof(float), "ceiling sink");
  if (!rc)
    rc = plug(g,
              api->fill_uniform(g->csrc, g->cbytes / 4, F32, 7, -1, 1, g->s, g->err, sizeof g->err),
              "fill");
  for (int f = 0; f < NFLAVOURS && !rc; f++)
    if (!(g->pool[f] = malloc(POOL_CAP * sizeof(double))))
      rc = err_set(ERR_NOMEM, "ceiling samples");
  if (!rc && (!o->kernel || !strcmp(o->kernel, "gemm"))) rc = matrix_open(g);
  return rc;
}

static void gctx_close(struct gctx *g) {
  const struct cudaplugin_api *a = g->api;
  if (!a) return;
  a->mem_free(g->flush), a->mem_free(g->csrc), a->mem_free(g->cdst), a->mem_free(g->sink);
  a->mem_free(g->ma), a->mem_free(g->mw), a->mem_free(g->mc);
  a->event_destroy(g->e0), a->event_destroy(g->e1);
  a->stream_destroy(g->s);
  for (int f = 0; f < NFLAVOURS; f++) free(g->pool[f]);
}

/* The ceilings from the pooled samples: "copy" and "read" are the fastest
   flavour of each by median (what kernels are held to), then every flavour. */
static int ceilings_finish(struct gctx *g, struct bench_run *run) {
  struct bench_ceiling all[NFLAVOURS];
  for (int f = 0; f < NFLAVOURS; f++) {
    memset(&all[f], 0, sizeof all[f]);
    snprintf(all[f].name, sizeof all[f].name, "%s", flavours[f].name);
    double mn = MATRIX_N;
    all[f].bytes = flavours[f].which == 2 ? 3 * mn * mn * 2 : (double)g->cbytes * (flavours[f].which == 0 ? 2 : 1);
    all[f].flops = flavours[f].which == 2 ? 2 * mn * mn * mn : 0;
    if (g->npool[f] == 0) continue; /* not sampled (the matrix ceiling without a GEMM) */
    int rc = bench_stats_compute(g->pool[f], g->npool[f], &all[f].st);
    if (rc) return rc;
  }
  static const char *const names[] = {"copy", "read", "matrix"};
  for (int which = 0; which < 3; which++) {
    int best = -1;
    for (int f = 0; f < NFLAVOURS; f++)
      if (flavours[f].which == which && g->npool[f] > 0 &&
          (best < 0 || all[f].st.median < all[best].st.median))
        best = f;
    if (best < 0) continue;
    struct bench_ceiling *c = &run->ceilings[run->nceilings++];
    *c = all[best];
    snprintf(c->name, sizeof c->name, "%s", names[which]);
  }
  for (int f = 0; f < NFLAVOURS && run->nceilings < BENCH_MAX_CEILINGS; f++)
    if (g->npool[f] > 0) run->ceilings[run->nceilings++] = all[f];
  return 0;
}

int bench_suite_run_gpu(const struct cudaplugin_api *api, const struct bench_options *o,
                        struct bench_run *run) {
  struct gctx g;
  int rc = gctx_open(&g, api, o, run);
  run->max_noise = o->stop.max_noise;
  run->hot = o->hot;
  snprintf(run->flush, sizeof run->flush, "%s", o->hot ? "none" : o->flush_read ? "read" : "write");
  if (!rc) rc = ceiling_samples(&g); /* also brings the clocks up before the first reading */
  if (!rc) nvml_read(run->driver, sizeof run->driver, &run->sm_clock_before_mhz);
  for (int i = 0; i < NSIZES(kernels) && !rc; i++) {
    const struct bench_kernel *k = &kernels[i];
    if (o->kernel && strcmp(o->kernel, k->name)) continue;
    for (int j = 0; j < k->nsizes && !rc; j++)
      if (size_selected(&k->sizes[j], o->size, GPU)) rc = run_case(&g, k, &k->sizes[j], o, run);
  }
  if (!rc) rc = ceiling_samples(&g);
  if (!rc) {
    nvml_read(NULL, 0, &run->sm_clock_after_mhz);
    run->throttled = run->sm_clock_before_mhz > 0 && run->sm_clock_after_mhz > 0 &&
                     run->sm_clock_after_mhz < 0.97 * run->sm_clock_before_mhz;
    rc = ceilings_finish(&g, run);
  }
  gctx_close(&g);
  return rc;
}

/* ---- CPU run ----------------------------------------------------------------------- */

struct ccase {
  const struct bench_kernel *k;
  const struct bench_size *s;
  void *in, *out;
  uint16_t *w, *b;
  double *scratch;
};

static int cpu_sample(void *ctx, double *ms) {
  struct ccase *c = ctx;
  const struct bench_size *s = c->s;
  int64_t t0 = time_mono_ns();
  volatile double sink = 0;
  switch (c->k->id) {
    case BK_REDUCE: sink = reduce_ref_sum(c->in, s->n, NULL); break;
    case BK_TRANSPOSE: transpose_ref_f32(c->in, c->out, s->rows, s->cols); break;
    case BK_SOFTMAX:
      if (s->dtype == F32)
        softmax_ref_f32(c->in, c->out, s->rows, s->cols, c->scratch);
      else
        softmax_ref_bf16(c->in, c->out, s->rows, s->cols, c->scratch);
      break;
    case BK_LAYERNORM:
      norm_ref_layernorm(c->in, c->w, c->b, c->out, s->rows, s->cols, NORM_EPS, c->scratch);
      break;
    case BK_GEMM: gemm_ref_bf16(c->in, c->w, c->b, c->out, s->rows, s->cols, s->k, s->epi); break;
    default: norm_ref_rmsnorm(c->in, c->w, c->out, s->rows, s->cols, NORM_EPS, c->scratch); break;
  }
  (void)sink;
  *ms = (double)(time_mono_ns() - t0) * 1e-6;
  return 0;
}

static void cpu_fill(void *p, size_t n, int dtype, struct rng *r, float lo, float hi) {
  for (size_t i = 0; i < n; i++) {
    float v = lo + (hi - lo) * (float)rng_uniform(r);
    if (dtype == F32)
      ((float *)p)[i] = v;
    else
      ((uint16_t *)p)[i] = bf16_from_f32(v);
  }
}

static int cpu_case(const struct bench_kernel *k, const struct bench_size *s,
                    const struct bench_options *o, struct rng *rng, struct bench_run *run) {
  struct ccase c = {k, s, NULL, NULL, NULL, NULL, NULL};
  size_t n = elems(s), bytes = n * esize(s->dtype);
  size_t wn = (size_t)(s->cols ? s->cols : 1) * (size_t)(s->k ? s->k : 1);
  size_t outb = k->id == BK_REDUCE ? 4 : k->id == BK_GEMM ? (size_t)s->rows * s->cols * 2 : bytes;
  int rc = 0;
  c.in = malloc(bytes);
  c.out = malloc(outb);
  c.w = malloc(wn * 2);
  c.b = malloc((size_t)(s->cols ? s->cols : 1) * 2);
  c.scratch = malloc((size_t)(s->cols ? s->cols : 1) * sizeof(double));
  if (!c.in || !c.out || !c.w || !c.b || !c.scratch) {
    rc = err_set(ERR_NOMEM, "bench: %s %s needs %zu bytes", k->name, s->name, 2 * bytes);
    goto out;
  }
  float lo, hi;
  input_range(k, &lo, &hi);
  cpu_fill(c.in, n, s->dtype, rng, lo, hi);
  if (k->id == BK_GEMM)
    cpu_fill(c.w, wn, BF16, rng, -1.0f, 1.0f);
  else
    cpu_fill(c.w, (size_t)s->cols, BF16, rng, 0.5f, 1.5f);
  cpu_fill(c.b, (size_t)s->cols, BF16, rng, -0.5f, 0.5f);
  struct bench_result r;
  result_init(&r, k, s, CPU_NO);
  double ms;
  cpu_sample(&c, &ms); /* warm-up: page faults, caches */
  struct bench_source src = {cpu_sample, &c};
  rc = bench_measure(&src, &o->stop, &r.st, r.note, sizeof r.note);
  if (!rc) rc = bench_run_add(run, &r);
  if (!rc && o->log)
    fprintf(o->log, "bench: %-9s %-16s cpu-ref     median %.4f ms noise %.2f%% n=%d\n", k->name,
            s->name, r.st.median, 100 * r.st.noise, r.st.n);
out:
  free(c.in), free(c.out), free(c.w), free(c.b), free(c.scratch);
  return rc;
}

int bench_suite_run_cpu(const struct bench_options *o, struct bench_run *run) {
  snprintf(run->mode, sizeof run->mode, "cpu");
  snprintf(run->gpu_name, sizeof run->gpu_name, "CPU");
  run->max_noise = o->stop.max_noise;
  run->hot = true; /* no cache flush on the CPU */
  snprintf(run->flush, sizeof run->flush, "none");
  if (o->variant && strcmp(o->variant, "cpu-ref"))
    return err_set(ERR_INVALID,
                   "CPU mode times the CPU references only (variant \"cpu-ref\"), not \"%s\"",
                   o->variant);
  struct rng rng;
  rng_seed(&rng, 42);
  int rc = 0;
  for (int i = 0; i < NSIZES(kernels) && !rc; i++) {
    const struct bench_kernel *k = &kernels[i];
    if (o->kernel && strcmp(o->kernel, k->name)) continue;
    for (int j = 0; j < k->nsizes && !rc; j++)
      if (size_selected(&k->sizes[j], o->size, CPU)) rc = cpu_case(k, &k->sizes[j], o, &rng, run);
  }
  return rc;
}
