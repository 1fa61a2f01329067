/*
 * sampler.c — the GPUs of one backend and their latest samples (sampler.h).
 *
 * Sections: init and free; one pass; views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "telemetry/sampler.h"

/* ---- init and free ---- */

static void read_info(struct sampler *s, struct sampler_gpu *g) {
  memset(&g->info, 0, sizeof g->info);
  g->info.index = g->index;
  g->info_rc = gpu_get_info(s->b, g->index, &g->info);
}

static void read_instances(struct sampler *s, struct sampler_gpu *g) {
  g->n_inst = 0;
  if (g->info_rc < 0 || !(g->info.valid & GPU_INFO_MIG_MODE) || g->info.mig_current != 1) return;
  int n = gpu_mig_instances(s->b, g->index, g->inst, GPU_MIG_MAX);
  g->n_inst = n > 0 ? n : 0;
}

int sampler_init(struct sampler *s, struct gpu_backend *b) {
  memset(s, 0, sizeof *s);
  s->b = b;
  int n = gpu_count(b);
  if (n < 0) return n;
  if (n == 0) return err_set(ERR_NODEVICE, "the %s backend sees no GPU", gpu_backend_name(b));
  s->gpus = calloc((size_t)n, sizeof *s->gpus);
  if (!s->gpus) return err_set(ERR_NOMEM, "out of memory for %d GPUs", n);
  s->n = n;
  for (int i = 0; i < n; i++) {
    s->gpus[i].index = i;
    read_info(s, &s->gpus[i]);
    read_instances(s, &s->gpus[i]);
  }
  return 0;
}

void sampler_free(struct sampler *s) {
  free(s->gpus);
  memset(s, 0, sizeof *s);
}

/* ---- one pass ---- */

/* MIG instances changed under us (a sample lists instances we do not know). */
static bool instances_changed(const struct sampler_gpu *g) {
  if (g->cur.n_mig != g->n_inst) return true;
  for (int k = 0; k < g->cur.n_mig; k++)
    if (!sampler_instance(g, g->cur.mig[k].gi_id)) return true;
  return false;
}

/* Sample one GPU; returns 1 when it failed with an error other than lost. */
static int sample_one(struct sampler *s, struct sampler_gpu *g, bool *ok) {
  struct gpu_sample fresh;
  memset(&fresh, 0, sizeof fresh);
  if (g->info_rc < 0) read_info(s, g);
  int rc = gpu_sample(s->b, g->index, &fresh);
  g->sample_rc = rc < 0 ? rc : 0;
  g->sample_msg[0] = '\0';
  if (rc < 0) snprintf(g->sample_msg, sizeof g->sample_msg, "%s", err_msg());
  if (rc == ERR_GPU_LOST || (rc == 0 && fresh.lost)) {
    g->sample_rc = ERR_GPU_LOST;
    g->have_cur = g->have_prev = false; /* nothing current about a GPU the driver cannot reach */
    return 0;
  }
  if (rc < 0) return 1; /* keep the last good sample */
  g->prev = g->cur;
  g->have_prev = g->have_cur;
  g->cur = fresh;
  g->have_cur = true;
  if (instances_changed(g)) read_instances(s, g);
  *ok = true;
  return 0;
}

int sampler_pass(struct sampler *s) {
  int failed = 0;
  bool any_ok = false;
  for (int i = 0; i < s->n; i++) failed += sample_one(s, &s->gpus[i], &any_ok);
  s->passes++;
  s->errors += (uint64_t)failed;
  if (any_ok) s->last_ok_ns = time_wall_ns();
  return failed;
}

/* ---- views ---- */

const struct gpu_mig_instance *sampler_instance(const struct sampler_gpu *g, int gi_id) {
  for (int k = 0; k < g->n_inst; k++)
    if (g->inst[k].gi_id == gi_id) return &g->inst[k];
  return NULL;
}

void sampler_health_input(const struct sampler_gpu *g, const struct xid_history *xids,
                          struct health_input *in) {
  memset(in, 0, sizeof *in);
  in->info = g->info_rc == 0 ? &g->info : NULL;
  in->cur = g->have_cur ? &g->cur : NULL;
  in->prev = g->have_prev ? &g->prev : NULL;
  in->sample_rc = g->sample_rc;
  in->sample_msg = g->sample_msg[0] ? g->sample_msg : NULL;
  in->xids = xids;
}
