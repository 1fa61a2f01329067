/*
 * mlp_gpu.c — the MLP on the GPU through the CUDA plugin (see mlp_gpu.h).
 *
 * Sections: helpers; init/free; one batch (enqueue, graph capture, run).
 */
#include "serve/mlp_gpu.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/bf16.h"

/* ---- helpers ---- */



/* The plugin's result as a gpuops error carrying its message. */
static int plug(int rc, const char *what, const char *msg) {

  return rc ? err_set(rc, "mlp_gpu: %s: %s", what, msg) : 0;
}

/* A tensor's elements as bf16 words in a new buffer (BF16 copied, F32 rounded). */
static uint16_t *to_bf16(const struct st_tensor *t) {
  uint16_t *out = malloc((size_t)t->numel * 2 + 2);
  if (!out) return NULL;
  const unsigned char *p = t->data;
  for (uint64_t i = 0; i < t->numel; i++) {
    if (t->dtype == ST_BF16) {
      out[i] = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)); /* little-endian, maybe unaligned */
    } else {
      float f;
      memcpy(&f, p + 4 * i, 4);
      out[i] = bf16_from_f32(f);
    }
  }
  return out;
}

/* Upload a tensor as bf16 into a new device buffer *dst. */
static int upload(struct mlp_gpu *r, const struct st_tensor *t, void **dst, const char *what) {
  char msg[512] = "";
  uint16_t *h = to_bf16(t);
  if (!h) return err_set(ERR_NOMEM, "mlp_gpu: converting %s", what);
  size_t bytes = (size_t)t->numel * 2;
  int rc = plug(r->api->mem_alloc(dst, bytes, msg, sizeof msg), what, msg);
  if (!rc) rc = plug(r->api->memcpy_h2d(*dst, h, bytes, r->stream, msg, sizeof msg), what, msg);
  if (!rc) rc = plug(r->api->stream_sync(r->stream, msg, sizeof msg), what, msg);
  free(h);
  return rc;
}

/* ---- init/free ---- */

static int open_device(struct mlp_gpu *r) {
  char msg[512] = "";
  int rc = cudaplugin_load(&r->plugin);
  if (rc) return err_set(rc, "mlp_gpu: no CUDA plugin: %s", err_msg());
  r->api = r->plugin.api;
  int n = 0;
  rc = plug(r->api->device_count(&n, msg, sizeof msg), "counting GPUs", msg);
  if (!rc && n < 1) rc = err_set(ERR_NODEVICE, "mlp_gpu: no CUDA device");
  if (!rc) rc = plug(r->api->device_set(0, msg, sizeof msg), "selecting GPU 0", msg);
  struct cudaplugin_device dev;
  if (!rc) rc = plug(r->api->device_get(0, &dev, msg, sizeof msg), "reading GPU 0", msg);
  if (!rc) snprintf(r->device_name, sizeof r->device_name, "%s", dev.name);
  if (!rc) rc = plug(r->api->stream_create(&r->stream, msg, sizeof msg), "stream", msg);
  return rc;
}

int mlp_gpu_init(struct mlp_gpu *r, const struct model *m, int max_batch, bool use_graphs) {
  memset(r, 0, sizeof *r);
  if (max_batch < 1) return err_set(ERR_INVALID, "mlp_gpu: max_batch %d must be >= 1", max_batch);
  r->max_batch = max_batch;
  r->variant = CUDAPLUGIN_GEMM_BEST;
  r->use_graphs = use_graphs;
  int rc = open_device(r), widest = 0;
  char msg[512] = "", what[64];
  r->n_layers = m->n_layers;
  r->widths[0] = m->n_layers ? m->layers[0].k : 0;
  for (int i = 0; i < m->n_layers && !rc; i++) {
    const struct model_layer *l = &m->layers[i];
    r->widths[i + 1] = l->n;
    widest = l->k > widest ? l->k : widest;
    widest = l->n > widest ? l->n : widest;
    if (l->weight->dtype != ST_BF16 && l->weight->dtype != ST_F32) {
      rc = err_set(ERR_UNSUPPORTED, "mlp_gpu: layer %d dtype %s (need BF16 or F32)", i,
                   safetensors_dtype_name(l->weight->dtype));
      break;
    }
    snprintf(what, sizeof what, "layer %d weight", i);
    rc = upload(r, l->weight, &r->w[i], what);
    snprintf(what, sizeof what, "layer %d bias", i);
    if (!rc) rc = upload(r, l->bias, &r->b[i], what);
  }
  size_t act = (size_t)max_batch * (size_t)(widest ? widest : 1) * 2;
  for (int i = 0; i < 2 && !rc; i++)
    rc = plug(r->api->mem_alloc(&r->act[i], act, msg, sizeof msg), "activations", msg);
  size_t in = (size_t)max_batch * r->widths[0] * 2 + 2, out = (size_t)max_batch * r->widths[r->n_layers] * 2 + 2;
  if (!rc) rc = plug(r->api->host_alloc((void **)&r->h_in, in, msg, sizeof msg), "pinned input", msg);
  if (!rc) rc = plug(r->api->host_alloc((void **)&r->h_out, out, msg, sizeof msg), "pinned output", msg);
  if (!rc && !(r->graphs = calloc((size_t)max_batch + 1, sizeof *r->graphs)))
    rc = err_set(ERR_NOMEM, "mlp_gpu: graphs");
  if (rc) mlp_gpu_free(r);
  return rc;
}

void mlp_gpu_free(struct mlp_gpu *r) {
  const struct cudaplugin_api *a = r->api;
  if (a) {
    for (int i = 0; r->graphs && i <= r->max_batch; i++) a->graph_destroy(r->graphs[i]);
    for (int i = 0; i < r->n_layers; i++) a->mem_free(r->w[i]), a->mem_free(r->b[i]);
    a->mem_free(r->act[0]), a->mem_free(r->act[1]);
    a->host_free(r->h_in), a->host_free(r->h_out);
    if (r->stream) a->stream_destroy(r->stream);
  }
  free(r->graphs);
  if (r->plugin.handle) cudaplugin_unload(&r->plugin);
  memset(r, 0, sizeof *r);
}

/* ---- one batch ---- */

/* Copy up, one GEMM per layer (GELU fused but for the last), copy down: on r->stream. */
static int enqueue(struct mlp_gpu *r, int batch, char *msg, size_t len) {
  const struct cudaplugin_api *a = r->api;
  size_t in = (size_t)batch * r->widths[0] * 2, out = (size_t)batch * r->widths[r->n_layers] * 2;
  int rc = a->memcpy_h2d(r->act[0], r->h_in, in, r->stream, msg, len);
  int cur = 0;
  for (int i = 0; i < r->n_layers && !rc; i++) {
    int epi = i + 1 < r->n_layers ? CUDAPLUGIN_EPI_BIAS_GELU : CUDAPLUGIN_EPI_BIAS;
    rc = a->gemm_bf16(r->variant, r->act[cur], r->w[i], r->b[i], r->act[cur ^ 1], batch,
                      r->widths[i + 1], r->widths[i], epi, r->stream, msg, len);
    cur ^= 1;
  }
  if (!rc) rc = a->memcpy_d2h(r->h_out, r->act[cur], out, r->stream, msg, len);
  return rc;
}

/* The graph for this batch size, captured now if it is not there yet. */
static int graph_for(struct mlp_gpu *r, int batch, char *msg, size_t len) {
  if (r->graphs[batch]) return 0;
  const struct cudaplugin_api *a = r->api;
  int rc = a->graph_begin(r->stream, msg, len);
  if (rc) return rc;
  int erc = enqueue(r, batch, msg, len);
  cudaplugin_graph g = NULL;
  char msg2[256] = "";
  rc = a->graph_end(r->stream, &g, msg2, sizeof msg2); /* always end the capture */
  if (erc) {
    a->graph_destroy(g);
    return erc;
  }
  if (rc) snprintf(msg, len, "%s", msg2);
  if (!rc) r->graphs[batch] = g;
  return rc;
}

int mlp_gpu_run(struct mlp_gpu *r, const float *x, int batch, float *y) {
  if (batch < 1 || batch > r->max_batch)
    return err_set(ERR_RANGE, "mlp_gpu: batch %d outside 1..%d", batch, r->max_batch);
  size_t in = (size_t)batch * r->widths[0], out = (size_t)batch * r->widths[r->n_layers];
  for (size_t i = 0; i < in; i++) r->h_in[i] = bf16_from_f32(x[i]);
  char msg[512] = "";
  int rc = 0;
  if (r->use_graphs) {
    rc = graph_for(r, batch, msg, sizeof msg);
    if (!rc) rc = r->api->graph_launch(r->graphs[batch], r->stream, msg, sizeof msg);
  } else {
    rc = enqueue(r, batch, msg, sizeof msg);
  }
  if (!rc) rc = r->api->stream_sync(r->stream, msg, sizeof msg);
  if (rc) return err_set(rc, "mlp_gpu: batch of %d: %s", batch, msg);
  for (size_t i = 0; i < out; i++) y[i] = bf16_to_f32(r->h_out[i]);
  return 0;
}
