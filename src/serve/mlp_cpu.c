/*
 * mlp_cpu.c — the MLP on the CPU (see mlp_cpu.h).
 *
 * One layer is y[B, N] = act(x[B, K] · W[N, K]ᵀ + b[N]). Both x's rows and
 * W's rows are contiguous in K, so each output is a dot product of two
 * contiguous vectors. The fast path:
 *   - blocks W by NB rows (NB·K·4 bytes: 256 KB at K = 4096, stays in L2
 *     while every group of rows of x streams past it);
 *   - computes RB = 4 rows of x against 2 W rows at a time (dot4x2): each
 *     4-wide W load feeds 4 multiply-adds and each x load 2, with 8 vector
 *     accumulators (fits the 16 SSE registers);
 *   - uses GCC vector types (vectorized without reassociation flags or -m
 *     options), a scalar tail over K, and sums lanes in a fixed order;
 *   - leftovers (fewer than 4 rows, an odd last W row) go through dot4 /
 *     dot1 with 16 lanes of partial sums.
 * Napkin math: 2·B·N·K flops per layer; at batch 1 the cost is reading W
 * (4·N·K bytes of fp32), so small batches are memory-bound.
 * Single-threaded (no OpenMP; executors add parallelism across batches).
 *
 * Sections: GELU; dot products; one layer; init/run/free; the reference.
 */
#include "serve/mlp_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/bf16.h"

#define RB    4  /* rows of x per group */
#define NB    16 /* rows of W per block */
#define LANES 16

typedef float v4f __attribute__((vector_size(16))); /* SSE width: no ABI change, no -m flags */
#define NV (LANES / 4)                              /* vectors per row per chunk */

/* ---- GELU ---- */

static inline float gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

/* ---- dot products ---- */

static inline v4f load4(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The 16 lanes of acc[0..NV) summed in a fixed order. */
static inline float hsum(const v4f acc[NV]) {
  v4f s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  return (s[0] + s[2]) + (s[1] + s[3]);
}

/* out[r] = x[r·K ..] · w for r < RB. */
static void dot4(const float *restrict x, int k, const float *restrict w, float out[RB]) {
  v4f acc[RB][NV] = {{{0}}};
  int i = 0;
  for (; i + LANES <= k; i += LANES) {
    v4f wv[NV];
    for (int v = 0; v < NV; v++) wv[v] = load4(w + i + 4 * v);
    for (int r = 0; r < RB; r++) {
      const float *xr = x + (size_t)r * (size_t)k + (size_t)i;
      for (int v = 0; v < NV; v++) acc[r][v] += load4(xr + 4 * v) * wv[v];
    }
  }
  for (int r = 0; r < RB; r++) {
    float s = hsum(acc[r]);
    for (int j = i; j < k; j++) s += x[(size_t)r * (size_t)k + (size_t)j] * w[j];
    out[r] = s;
  }
}

/* out[r][c] = x[r·K ..] · w_c for r < RB, c < 2: each loaded vector feeds 2 or 4 products. */
static void dot4x2(const float *restrict x, int k, const float *restrict w0,
                   const float *restrict w1, float out[RB][2]) {
  v4f acc[RB][2] = {{{0}}};
  int i = 0;
  for (; i + 4 <= k; i += 4) {
    v4f a = load4(w0 + i), b = load4(w1 + i);
    for (int r = 0; r < RB; r++) {
      v4f xv = load4(x + (size_t)r * (size_t)k + (size_t)i);
      acc[r][0] += xv * a;
      acc[r][1] += xv * b;
    }
  }
  for (int r = 0; r < RB; r++)
    for (int c = 0; c < 2; c++) {
      const float *w = c ? w1 : w0;
      v4f s4 = acc[r][c];
      float s = (s4[0] + s4[2]) + (s4[1] + s4[3]);
      for (int j = i; j < k; j++) s += x[(size_t)r * (size_t)k + (size_t)j] * w[j];
      out[r][c] = s;
    }
}

/* x · w for one row. */
static float dot1(const float *restrict x, int k, const float *restrict w) {
  v4f acc[NV] = {0};
  int i = 0;
  for (; i + LANES <= k; i += LANES)
    for (int v = 0; v < NV; v++) acc[v] += load4(x + i + 4 * v) * load4(w + i + 4 * v);
  float s = hsum(acc);
  for (; i < k; i++) s += x[i] * w[i];
  return s;
}

/* ---- one layer ---- */

/* y[b, n] for rows b0.. (rb of them) and outputs n0..n1 of one layer. */
static void layer_block(const float *x, int k, const float *w, const float *bias, float *y, int n,
                        int b0, int rb, int n0, int n1, int act) {
  int j = n0;
  if (rb == RB)
    for (; j + 2 <= n1; j += 2) {
      float s2[RB][2];
      dot4x2(x + (size_t)b0 * (size_t)k, k, w + (size_t)j * (size_t)k,
             w + (size_t)(j + 1) * (size_t)k, s2);
      for (int r = 0; r < RB; r++)
        for (int c = 0; c < 2; c++) {
          float v = s2[r][c] + bias[j + c];
          y[(size_t)(b0 + r) * (size_t)n + (size_t)(j + c)] = act ? gelu(v) : v;
        }
    }
  for (; j < n1; j++) {
    const float *wj = w + (size_t)j * (size_t)k;
    float s[RB];
    if (rb == RB)
      dot4(x + (size_t)b0 * (size_t)k, k, wj, s);
    else
      for (int r = 0; r < rb; r++) s[r] = dot1(x + (size_t)(b0 + r) * (size_t)k, k, wj);
    for (int r = 0; r < rb; r++) {
      float v = s[r] + bias[j];
      y[(size_t)(b0 + r) * (size_t)n + (size_t)j] = act ? gelu(v) : v;
    }
  }
}

static void layer_fast(const float *x, int batch, int k, const float *w, const float *bias,
                       float *y, int n, int act) {
  for (int n0 = 0; n0 < n; n0 += NB) {
    int n1 = n0 + NB < n ? n0 + NB : n;
    for (int b0 = 0; b0 < batch; b0 += RB)
      layer_block(x, k, w, bias, y, n, b0, batch - b0 < RB ? batch - b0 : RB, n0, n1, act);
  }
}

/* ---- init / run / free ---- */

/* count values of tensor t (BF16 or F32, maybe unaligned) as a new fp32 array. */
static float *to_f32(const struct st_tensor *t) {
  float *out = malloc(sizeof *out * (size_t)(t->numel ? t->numel : 1));
  if (!out) return NULL;
  const unsigned char *p = t->data;
  for (uint64_t i = 0; i < t->numel; i++) {
    if (t->dtype == ST_BF16) {
      uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
      out[i] = bf16_to_f32(h);
    } else {
      memcpy(&out[i], p + 4 * i, 4); /* little-endian host */
    }
  }
  return out;
}

int mlp_cpu_init(struct mlp_cpu *r, const struct model *m, int max_batch) {
  memset(r, 0, sizeof *r);
  if (max_batch < 1) return err_set(ERR_INVALID, "mlp_cpu: max_batch %d must be >= 1", max_batch);
  int widest = 0, rc = 0;
  r->n_layers = m->n_layers;
  r->max_batch = max_batch;
  r->widths[0] = m->n_layers ? m->layers[0].k : 0;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    r->widths[i + 1] = l->n;
    widest = l->k > widest ? l->k : widest;
    widest = l->n > widest ? l->n : widest;
    if (l->weight->dtype != ST_BF16 && l->weight->dtype != ST_F32) {
      rc = err_set(ERR_UNSUPPORTED, "mlp_cpu: layer %d dtype %s (need BF16 or F32)", i,
                   safetensors_dtype_name(l->weight->dtype));
      goto out;
    }
    r->w[i] = to_f32(l->weight);
    r->b[i] = to_f32(l->bias);
    if (!r->w[i] || !r->b[i]) {
      rc = err_set(ERR_NOMEM, "mlp_cpu: out of memory converting layer %d", i);
      goto out;
    }
  }
  for (int i = 0; i < 2; i++) {
    r->act[i] = malloc(sizeof(float) * (size_t)max_batch * (size_t)(widest ? widest : 1));
    if (!r->act[i]) rc = err_set(ERR_NOMEM, "mlp_cpu: out of memory for batch %d", max_batch);
  }
out:
  if (rc) mlp_cpu_free(r);
  return rc;
}

int mlp_cpu_run(struct mlp_cpu *r, const float *x, int batch, float *y) {
  if (batch < 1 || batch > r->max_batch)
    return err_set(ERR_RANGE, "mlp_cpu: batch %d is outside 1..%d", batch, r->max_batch);
  const float *in = x;
  for (int i = 0; i < r->n_layers; i++) {
    int last = i == r->n_layers - 1;
    float *out = last ? y : r->act[i & 1];
    layer_fast(in, batch, r->widths[i], r->w[i], r->b[i], out, r->widths[i + 1], !last);
    in = out;
  }
  return 0;
}

void mlp_cpu_free(struct mlp_cpu *r) {
  for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
    free(r->w[i]);
    free(r->b[i]);
  }
  free(r->act[0]);
  free(r->act[1]);
  memset(r, 0, sizeof *r);
}

/* ---- the reference ---- */

int mlp_cpu_reference(const struct mlp_cpu *r, const float *x, int batch, float *y) {
  if (batch < 1) return err_set(ERR_RANGE, "mlp_cpu_reference: batch %d < 1", batch);
  int widest = 1, rc = 0;
  for (int i = 0; i <= r->n_layers; i++) widest = r->widths[i] > widest ? r->widths[i] : widest;
  double *a = malloc(sizeof *a * (size_t)batch * (size_t)widest);
  double *b = malloc(sizeof *b * (size_t)batch * (size_t)widest);
  if (!a || !b) {
    rc = err_set(ERR_NOMEM, "mlp_cpu_reference: out of memory");
    goto out;
  }
  int k0 = r->widths[0];
  for (size_t i = 0; i < (size_t)batch * (size_t)k0; i++) a[i] = x[i];
  for (int l = 0; l < r->n_layers; l++) {
    int k = r->widths[l], n = r->widths[l + 1];
    for (int row = 0; row < batch; row++) { /* k outermost: a different order than the fast path */
      double *out = b + (size_t)row * (size_t)n;
      for (int j = 0; j < n; j++) out[j] = r->b[l][j];
      for (int i = 0; i < k; i++) {
        double xi = a[(size_t)row * (size_t)k + (size_t)i];
        for (int j = 0; j < n; j++) out[j] += xi * r->w[l][(size_t)j * (size_t)k + (size_t)i];
      }
      if (l < r->n_layers - 1)
        for (int j = 0; j < n; j++) out[j] = 0.5 * out[j] * (1.0 + erf(out[j] / sqrt(2.0)));
    }
    double *t = a;
    a = b;
    b = t;
  }
  int nout = r->widths[r->n_layers];
  for (size_t i = 0; i < (size_t)batch * (size_t)nout; i++) y[i] = (float)a[i];
out:
  free(a);
  free(b);
  return rc;
}
