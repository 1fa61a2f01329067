/*
 * job_submit_gpuops.c — a Slurm job_submit plugin (JobSubmitPlugins=gpuops):
 * a job that asks for GPU memory with `--comment=gpuops:mem=20G` is given the
 * smallest MIG profile GRES configured on the cluster that holds it
 * (tres_per_node "gres:gpu:3g.71gb:1"); a request no profile holds is
 * rejected with a message saying so. See docs/maintenance.md, "Slurm".
 *
 * Configuration: the file $GPUOPS_JOBSUBMIT_CONF, else job_submit_gpuops.conf
 * beside $SLURM_CONF, else /etc/slurm/job_submit_gpuops.conf:
 *     model = H200
 *     types = 1g.18gb,3g.71gb     # the MIG GRES types the nodes carry
 *
 * Built against slurm.h alone and loaded into slurmctld, which provides the
 * symbols used (slurm_xstrdup, slurm_xfree, slurm_info, slurm_error from
 * libslurmfull): every string handed back to Slurm comes from its allocator.
 * Compiles src/catalog/ and gpumem.c only (no jansson, curl or libgpuops).
 *
 * Sections: Slurm's plugin symbols; configuration; the hooks.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "gpumem.h"

/* ---- Slurm's plugin symbols (libslurmfull, present in slurmctld) ---- */

extern char *slurm_xstrdup(const char *str);
extern void slurm_xfree(void **item);
extern void slurm_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern void slurm_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char plugin_name[] = "gpuops: GPU memory requests to MIG GRES";
const char plugin_type[] = "job_submit/gpuops";
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

static struct gpumem_config cfg;

/* ---- configuration ---- */

static void conf_path(char *dst, size_t len) {
  const char *env = getenv("GPUOPS_JOBSUBMIT_CONF"), *sc = getenv("SLURM_CONF");
  if (env && *env) {
    snprintf(dst, len, "%s", env);
  } else if (sc && *sc) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", sc);
    snprintf(dst, len, "%s/job_submit_gpuops.conf", dirname(dir));
  } else {
    snprintf(dst, len, "/etc/slurm/job_submit_gpuops.conf");
  }
}

/* Read the whole (small) file into buf. 0 or -1. */
static int read_small(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, len - 1, f);
  buf[n] = '\0';
  fclose(f);
  return 0;
}

int init(void) {
  char path[600], text[4096], why[256];
  conf_path(path, sizeof path);
  if (read_small(path, text, sizeof text) < 0) {
    slurm_error(
        "job_submit/gpuops: cannot read %s (set GPUOPS_JOBSUBMIT_CONF or create it: "
        "'model = H200' and 'types = 1g.18gb,3g.71gb')",
        path);
    return SLURM_ERROR;
  }
  if (gpumem_config_parse(text, &cfg, why, sizeof why) < 0) {
    slurm_error("job_submit/gpuops: %s: %s", path, why);
    return SLURM_ERROR;
  }
  slurm_info("job_submit/gpuops: %s: model %s, %d MIG types", path, cfg.model->key, cfg.n_types);
  return SLURM_SUCCESS;
}

int fini(void) { return SLURM_SUCCESS; }

/* ---- the hooks ---- */

/* Reject with msg: the message is Slurm's to free. */
static int reject(char **err_msg, const char *msg) {
  if (err_msg) {
    if (*err_msg) slurm_xfree((void **)err_msg);
    *err_msg = slurm_xstrdup(msg);
  }
  slurm_info("job_submit/gpuops: rejected: %s", msg);
  return ESLURM_INVALID_GRES;
}

int job_submit(job_desc_msg_t *job_desc, uint32_t submit_uid, char **err_msg) {
  char why[512], tres[128];
  uint64_t mib = 0;
  (void)submit_uid;
  int found = gpumem_request_parse(job_desc->comment, &mib, why, sizeof why);
  if (found == 0) return SLURM_SUCCESS;
  if (found < 0) return reject(err_msg, why);
  if (job_desc->tres_per_node && strstr(job_desc->tres_per_node, "gpu"))
    return reject(err_msg,
                  "gpuops: give either --comment=gpuops:mem=SIZE or --gres=gpu..., "
                  "not both");
  const struct catalog_mig_profile *p = gpumem_choose(&cfg, mib, why, sizeof why);
  if (!p) return reject(err_msg, why);
  if (job_desc->tres_per_node && *job_desc->tres_per_node)
    snprintf(tres, sizeof tres, "%s,gres:gpu:%s:1", job_desc->tres_per_node, p->name);
  else
    snprintf(tres, sizeof tres, "gres:gpu:%s:1", p->name);
  slurm_xfree((void **)&job_desc->tres_per_node);
  job_desc->tres_per_node = slurm_xstrdup(tres);
  slurm_info("job_submit/gpuops: %" PRIu64 " MiB of GPU memory -> %s", mib, tres);
  return SLURM_SUCCESS;
}

int job_modify(job_desc_msg_t *job_desc, void *job_ptr, uint32_t submit_uid, char **err_msg) {
  (void)job_ptr;
  if (!job_desc->comment) return SLURM_SUCCESS;
  return job_submit(job_desc, submit_uid, err_msg);
}
