/*
 * slurm_exec.c — the `slurm` executor (slurm_exec.h).
 *
 * Sections: command templates; observation; the operations; opening.
 */
#define _GNU_SOURCE
#include "maint/slurm_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "telemetry/slurmcheck.h"

#define CMD_TIMEOUT_MS      15000
#define TEMPLATE_TIMEOUT_MS 600000
#define MAX_WORDS           32

struct slurm_priv {
  char upgrade_cmd[512], reset_cmd[512], validate_cmd[512];
};

/* ---- command templates ---- */

/* Replace {key} in word by val (once each); writes into dst. */
static void subst(char *dst, size_t len, const char *word, const char *const *keys,
                  const char *const *vals, int nk) {
  size_t o = 0;
  for (const char *p = word; *p && o + 1 < len;) {
    int k = 0;
    for (; k < nk; k++)
      if (!strncmp(p, keys[k], strlen(keys[k]))) break;
    if (k < nk) {
      o += (size_t)snprintf(dst + o, len - o, "%s", vals[k]);
      if (o >= len) o = len - 1;
      p += strlen(keys[k]);
    } else {
      dst[o++] = *p++;
    }
  }
  dst[o] = '\0';
}

/* Run a template split on spaces, each word substituted (no shell). Exit status or error. */
static int run_template(const char *tmpl, const char *node, const char *kind, const char *version,
                        int gpu) {
  char buf[512], words[MAX_WORDS][256], gpus[16];
  const char *argv[MAX_WORDS + 1];
  const char *keys[] = {"{node}", "{kind}", "{version}", "{gpu}"};
  snprintf(gpus, sizeof gpus, "%d", gpu);
  const char *vals[] = {node, kind ? kind : "", version ? version : "", gpus};
  snprintf(buf, sizeof buf, "%s", tmpl);
  int n = 0;
  for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w && n < MAX_WORDS;
       w = strtok_r(NULL, " \t", &save)) {
    subst(words[n], sizeof words[n], w, keys, vals, 4);
    argv[n] = words[n];
    n++;
  }
  if (n == 0) return err_set(ERR_INVALID, "empty command template");
  argv[n] = NULL;
  char out[1024];
  int rc = slurmcheck_run(argv, out, sizeof out, TEMPLATE_TIMEOUT_MS);
  if (rc > 0) err_set(ERR_STATE, "%s (node %s): exit %d: %.200s", argv[0], node, rc, out);
  return rc;
}

/* ---- observation ---- */

/* "driver=550.54.15" (or "driver_550.54.15", the form the scontrol importer
 * also reads) in a comma-separated feature list. */
static void feature(const char *line, const char *key, char *dst, size_t len) {
  const char *f = strstr(line, " ActiveFeatures=");
  dst[0] = '\0';
  if (!f) return;
  f += strlen(" ActiveFeatures=");
  size_t flen = strcspn(f, " \n");
  char pat[32], alt[32];
  snprintf(pat, sizeof pat, "%s=", key);
  snprintf(alt, sizeof alt, "%s_", key);
  for (const char *p = f; p < f + flen;) {
    size_t n = strcspn(p, ", \n");
    bool hit = !strncmp(p, pat, strlen(pat)) || !strncmp(p, alt, strlen(alt));
    if (hit && n > strlen(pat)) {
      size_t v = n - strlen(pat);
      if (v >= len) v = len - 1;
      memcpy(dst, p + strlen(pat), v);
      dst[v] = '\0';
      return;
    }
    p += n + 1;
  }
}

static int running_jobs(const char *node) {
  char out[16384];
  const char *argv[] = {"squeue", "-h", "-w", node, "-t", "R", "-o", "%i", NULL};
  int rc = slurmcheck_run(argv, out, sizeof out, CMD_TIMEOUT_MS);
  if (rc != 0) return -1;
  int n = 0;
  for (const char *p = out; *p; p++) n += *p == '\n';
  return n;
}

static int slurm_observe(struct executor *e, const char *node, struct node_observation *o) {
  (void)e;
  char line[8192];
  const char *argv[] = {"scontrol", "show", "node", "-o", node, NULL};
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", node);
  int rc = slurmcheck_run(argv, line, sizeof line, CMD_TIMEOUT_MS);
  if (rc < 0) return rc;
  if (rc != 0) return err_set(ERR_NOTFOUND, "scontrol show node %s: %.200s", node, line);
  struct slurmcheck_node sn;
  if ((rc = slurmcheck_node_parse(line, &sn)) < 0) return rc;
  o->running_jobs = running_jobs(node);
  if (sn.reboot)
    o->state = NODE_STATE_REBOOTING;
  else if (sn.down)
    o->state = NODE_STATE_DOWN;
  else if (sn.drain)
    o->state = sn.allocated ? NODE_STATE_CORDONED : NODE_STATE_DRAINED;
  else
    o->state = NODE_STATE_UP;
  o->out_of_service = o->state != NODE_STATE_UP;
  snprintf(o->reason, sizeof o->reason, "%s", sn.reason);
  o->reason_is_gpuops = !strncmp(sn.reason, "gpuops:", 7);
  feature(line, "driver", o->driver_version, sizeof o->driver_version);
  feature(line, "firmware", o->firmware_version, sizeof o->firmware_version);
  o->healthy = o->state != NODE_STATE_DOWN &&
               strncmp(sn.reason, SLURMCHECK_REASON_PREFIX, strlen(SLURMCHECK_REASON_PREFIX));
  return 0;
}

/* ---- the operations ---- */

static int slurm_cordon(struct executor *e, const char *node, const char *reason) {
  char why[256];
  snprintf(why, sizeof why, "gpuops: %s", reason ? reason : "");
  if (e->dry_run) return 0;
  struct node_observation o;
  int rc = slurm_observe(e, node, &o);
  if (rc < 0) return rc;
  if (o.state == NODE_STATE_CORDONED || o.state == NODE_STATE_DRAINED) return 0; /* idempotent */
  return slurmcheck_node_update(node, true, why);
}

static int slurm_uncordon(struct executor *e, const char *node, bool force) {
  struct node_observation o;
  int rc = slurm_observe(e, node, &o);
  if (rc < 0) return rc;
  if (!o.out_of_service) return 0;
  if (!o.reason_is_gpuops && !force)
    return err_set(ERR_STATE, "node %s was drained by someone else (\"%s\"): not resuming it", node,
                   o.reason);
  return e->dry_run ? 0 : slurmcheck_node_update(node, false, NULL);
}

static int slurm_upgrade(struct executor *e, const char *node, enum upgrade_kind kind,
                         const char *version) {
  struct slurm_priv *p = e->priv;
  const char *k = kind == UPGRADE_FIRMWARE ? "firmware" : "driver";
  if (e->dry_run) return 0;
  if (p->upgrade_cmd[0]) {
    int rc = run_template(p->upgrade_cmd, node, k, version, -1);
    return rc > 0 ? ERR_STATE : rc;
  }
  char reason[128];
  snprintf(reason, sizeof reason, "reason=gpuops: upgrade %s %s", k, version);
  /* Not ASAP and no nextstate: Slurm 22.05 refuses nextstate=DRAIN, and an ASAP reboot resumes
   * the node when it comes back; a plain reboot of the node (drained by the rollout already)
   * brings it back still drained, for validation before it is resumed. */
  const char *argv[] = {"scontrol", "reboot", reason, node, NULL};
  char out[1024];
  int rc = slurmcheck_run(argv, out, sizeof out, CMD_TIMEOUT_MS);
  if (rc > 0) return err_set(ERR_STATE, "scontrol reboot %s: exit %d: %.200s", node, rc, out);
  return rc;
}

static int slurm_reset_gpu(struct executor *e, const char *node, int gpu) {
  struct slurm_priv *p = e->priv;
  if (!p->reset_cmd[0])
    return err_set(ERR_UNSUPPORTED,
                   "no GPU reset command configured for the slurm executor "
                   "(give one, e.g. 'ssh {node} nvidia-smi -r -i {gpu}')");
  if (e->dry_run) return 0;
  int rc = run_template(p->reset_cmd, node, NULL, NULL, gpu);
  return rc > 0 ? ERR_STATE : rc;
}

static int slurm_reboot(struct executor *e, const char *node) {
  if (e->dry_run) return 0;
  /* Not ASAP: an ASAP reboot puts the node back in service when it returns,
   * before remediation has validated it; the node is already drained, so a
   * plain reboot brings it back drained (as slurm_upgrade does). */
  const char *argv[] = {"scontrol", "reboot", "reason=gpuops: remediate reboot", node, NULL};
  char out[1024];
  int rc = slurmcheck_run(argv, out, sizeof out, CMD_TIMEOUT_MS);
  if (rc > 0) return err_set(ERR_STATE, "scontrol reboot %s: exit %d: %.200s", node, rc, out);
  return rc;
}

static int slurm_validate(struct executor *e, const char *node, bool *healthy) {
  struct slurm_priv *p = e->priv;
  if (p->validate_cmd[0]) {
    int rc = run_template(p->validate_cmd, node, NULL, NULL, -1);
    if (rc < 0) return rc;
    if (rc > 1) return err_set(ERR_STATE, "validate command for %s: unknown (exit %d)", node, rc);
    *healthy = rc == 0;
    return 0;
  }
  struct node_observation o;
  int rc = slurm_observe(e, node, &o);
  if (rc < 0) return rc;
  *healthy = o.healthy && o.state != NODE_STATE_REBOOTING;
  return 0;
}

static void slurm_close(struct executor *e) {
  free(e->priv);
  e->priv = NULL;
}

static const struct executor_ops slurm_ops = {
    .name = "slurm",
    .observe = slurm_observe,
    .cordon = slurm_cordon,
    .uncordon = slurm_uncordon,
    .upgrade = slurm_upgrade,
    .reset_gpu = slurm_reset_gpu,
    .reboot = slurm_reboot,
    .validate = slurm_validate,
    .close = slurm_close,
};

/* ---- opening ---- */

int slurm_executor_open_opts(struct executor *e, const char *slurm_conf,
                             const struct slurm_exec_options *o) {
  memset(e, 0, sizeof *e);
  if (slurm_conf && setenv("SLURM_CONF", slurm_conf, 1) < 0)
    return err_set(ERR_NOMEM, "cannot set SLURM_CONF");
  char out[1024];
  const char *argv[] = {"scontrol", "ping", NULL};
  int rc = slurmcheck_run(argv, out, sizeof out, CMD_TIMEOUT_MS);
  if (rc < 0) return rc;
  if (rc != 0 || !strstr(out, "UP"))
    return err_set(ERR_STATE, "slurmctld does not answer `scontrol ping`%s%s: %.200s",
                   slurm_conf ? " with SLURM_CONF=" : "", slurm_conf ? slurm_conf : "", out);
  struct slurm_priv *p = calloc(1, sizeof *p);
  if (!p) return err_set(ERR_NOMEM, "out of memory");
  if (o && o->upgrade_cmd) snprintf(p->upgrade_cmd, sizeof p->upgrade_cmd, "%s", o->upgrade_cmd);
  if (o && o->reset_cmd) snprintf(p->reset_cmd, sizeof p->reset_cmd, "%s", o->reset_cmd);
  if (o && o->validate_cmd)
    snprintf(p->validate_cmd, sizeof p->validate_cmd, "%s", o->validate_cmd);
  e->ops = &slurm_ops;
  e->priv = p;
  return 0;
}

int slurm_executor_open(struct executor *e, const char *slurm_conf) {
  return slurm_executor_open_opts(e, slurm_conf, NULL);
}

int slurm_exec_nodes(char ***names, int *n) {
  static char out[1 << 20];
  const char *argv[] = {"sinfo", "-h", "-N", "-o", "%N", NULL};
  *names = NULL, *n = 0;
  int rc = slurmcheck_run(argv, out, sizeof out, CMD_TIMEOUT_MS);
  if (rc < 0) return rc;
  if (rc != 0) return err_set(ERR_STATE, "sinfo: exit %d: %.200s", rc, out);
  int cap = 0;
  for (char *save = NULL, *w = strtok_r(out, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
    bool dup = false;
    for (int i = 0; i < *n && !dup; i++) dup = !strcmp((*names)[i], w);
    if (dup) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      char **g = realloc(*names, (size_t)cap * sizeof *g);
      if (!g) return err_set(ERR_NOMEM, "out of memory");
      *names = g;
    }
    if (!((*names)[*n] = strdup(w))) return err_set(ERR_NOMEM, "out of memory");
    (*n)++;
  }
  return 0;
}
