/*
 * sim_exec.c — the simulated fleet behind the executor interface.
 *
 * Sections:
 *   1. the state file: path, lock, load, save, creation from the inventory;
 *   2. simulated time: jobs ending, upgrades finishing, the out-of-service count;
 *   3. observation;
 *   4. the executor's operations (each: lock, load, advance, change, save);
 *   5. opening, the human drain, the report.
 *
 * The file is JSON: {"version":1, "max_out_of_service":N, "nodes":{name:{...}}}
 * with per node: drained (bool), reason, down (bool), rebooting_until_ms,
 * upgrade_target, upgrade_kind, driver, firmware, jobs, jobs_end_ms, drain_ms,
 * upgrade_ms, upgrade_fail, validate_fail, upgrades. Times are wall-clock ms.
 */
#define _GNU_SOURCE
#include "maint/sim_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/timeutil.h"
#include "gpu/simstate.h"

#define GPUOPS_PREFIX "gpuops: "

struct sim_priv {
  char path[512];
  int default_upgrade_ms;
};

/* ---- 1. the state file ---- */

const char *sim_exec_default_path(void) {
  static char buf[512];
  const char *env = getenv("GPUOPS_SIM_FLEET");
  if (env && *env) return env;
  const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(buf, sizeof buf, "%s/gpuops/sim-fleet.json", xdg);
  else if (home && *home)
    snprintf(buf, sizeof buf, "%s/.local/state/gpuops/sim-fleet.json", home);
  else
    snprintf(buf, sizeof buf, "/tmp/gpuops-sim-fleet-%u.json", (unsigned)getuid());
  return buf;
}

static int64_t now_ms(void) { return time_wall_ns() / 1000000; }

/* mkdir -p of the file's folder. */
static void make_parent(const char *path) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(dir, 0755);
    *p = '/';
  }
}

/* Exclusive lock on "<path>.lock"; returns the fd or a negative code. */
static int lock_state(const char *path) {
  char lp[600];
  snprintf(lp, sizeof lp, "%s.lock", path);
  make_parent(lp);
  int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(ERR_IO, "sim fleet: cannot open lock %s: %s", lp, strerror(errno));
  while (flock(fd, LOCK_EX) < 0)
    if (errno != EINTR) {
      close(fd);
      return err_set(ERR_IO, "sim fleet: cannot lock %s: %s", lp, strerror(errno));
    }
  return fd;
}

static void unlock_state(int fd) {
  if (fd >= 0) close(fd); /* closing drops the flock */
}

/* Load the doc; a missing file gives an empty doc with no nodes. */
static int load_doc(const char *path, json_t **out) {
  if (access(path, F_OK) != 0) {
    *out = json_pack("{s:i, s:i, s:{}}", "version", 1, "max_out_of_service", 0, "nodes");
    return *out ? 0 : ERR_NOMEM;
  }
  int rc = jsonio_load_file(path, out);
  if (rc < 0) return rc;
  if (!json_is_object(json_object_get(*out, "nodes"))) {
    json_decref(*out);
    *out = NULL;
    return err_set(ERR_PARSE, "sim fleet %s: no \"nodes\" object (delete the file to start over)",
                   path);
  }
  return 0;
}

static int save_doc(const char *path, json_t *doc) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  if (json_dump_file(doc, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) != 0)
    return err_set(ERR_IO, "sim fleet: cannot write %s", tmp);
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return err_set(ERR_IO, "sim fleet: cannot replace %s: %s", path, strerror(errno));
  }
  return 0;
}

static int64_t geti(json_t *n, const char *k) { return json_integer_value(json_object_get(n, k)); }
static bool getb(json_t *n, const char *k) { return json_is_true(json_object_get(n, k)); }
static const char *gets(json_t *n, const char *k) {
  const char *s = json_string_value(json_object_get(n, k));
  return s ? s : "";
}
static void seti(json_t *n, const char *k, int64_t v) {
  json_object_set_new(n, k, json_integer(v));
}
static void setb(json_t *n, const char *k, bool v) { json_object_set_new(n, k, json_boolean(v)); }
static void sets(json_t *n, const char *k, const char *v) {
  json_object_set_new(n, k, json_string(v));
}

/* An integer label, or def when absent. */
static int label_int(const struct inv_node *n, const char *key, int def, int lo, int *out) {
  const char *v = inventory_label(n, key);
  if (!v) return *out = def, 0;
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > 86400000)
    return err_set(ERR_INVALID, "node %s: label %s: '%s' is not a whole number from %d to 86400000",
                   n->name, key, v, lo);
  return *out = (int)x, 0;
}

static int label_fail(const struct inv_node *n, const char *key, bool *out) {
  const char *v = inventory_label(n, key);
  *out = false;
  if (!v || !strcmp(v, "ok")) return 0;
  if (!strcmp(v, "fail")) return *out = true, 0;
  return err_set(ERR_INVALID, "node %s: label %s: '%s' (use fail or ok)", n->name, key, v);
}

/* A node's entry as the inventory describes it. */
static int node_from_inventory(const struct inv_node *n, int default_upgrade_ms, json_t **out) {
  int jobs = 0, drain_ms = 0, upgrade_ms = 0;
  bool ufail = false, vfail = false;
  int rc = label_int(n, "sim.jobs", 0, 0, &jobs);
  if (!rc) rc = label_int(n, "sim.drain_ms", 0, -1, &drain_ms);
  if (!rc) rc = label_int(n, "sim.upgrade_ms", default_upgrade_ms, 0, &upgrade_ms);
  if (!rc) rc = label_fail(n, "sim.upgrade", &ufail);
  if (!rc) rc = label_fail(n, "sim.validate", &vfail);
  if (rc) return rc;
  bool drained = !strcmp(n->state, "drain"), down = !strcmp(n->state, "down");
  *out = json_pack("{s:b, s:s, s:b, s:I, s:s, s:i, s:s, s:s, s:i, s:I, s:i, s:i, s:b, s:b, s:i}",
                   "drained", drained, "reason",
                   drained ? "maintenance (set by a person)"
                   : down  ? "down at start"
                           : "",
                   "down", down, "rebooting_until_ms", (json_int_t)0, "upgrade_target", "",
                   "upgrade_kind", 0, "driver", n->driver_version, "firmware", n->firmware_version,
                   "jobs", jobs, "jobs_end_ms", (json_int_t)0, "drain_ms", drain_ms, "upgrade_ms",
                   upgrade_ms, "upgrade_fail", ufail, "validate_fail", vfail, "upgrades", 0);
  return *out ? 0 : ERR_NOMEM;
}

/* ---- 2. simulated time ---- */

static bool out_of_service(json_t *n) {
  return getb(n, "drained") || getb(n, "down") || geti(n, "rebooting_until_ms") > 0;
}

/* Let time pass for one node: jobs end, an upgrade or reboot finishes. True when something changed.
 */
static bool advance_node(json_t *n, int64_t now) {
  bool changed = false;
  int64_t end = geti(n, "jobs_end_ms");
  if (geti(n, "jobs") > 0 && end > 0 && now >= end)
    seti(n, "jobs", 0), seti(n, "jobs_end_ms", 0), changed = true;
  int64_t until = geti(n, "rebooting_until_ms");
  if (until <= 0 || now < until) return changed;
  seti(n, "rebooting_until_ms", 0);
  const char *target = gets(n, "upgrade_target");
  if (!*target) return true; /* a plain reboot */
  if (getb(n, "upgrade_fail")) {
    char why[200];
    snprintf(why, sizeof why, "upgrade to %s failed (injected): node did not come back", target);
    setb(n, "down", true);
    sets(n, "reason", why);
  } else {
    sets(n, geti(n, "upgrade_kind") == UPGRADE_FIRMWARE ? "firmware" : "driver", target);
  }
  sets(n, "upgrade_target", "");
  return true;
}

/* Advance every node and record the most nodes out of service seen at once. True when something
 * changed. */
static bool advance(json_t *doc) {
  int64_t now = now_ms();
  int out = 0;
  bool changed = false;
  const char *name;
  json_t *n;
  json_object_foreach(json_object_get(doc, "nodes"), name, n) {
    changed |= advance_node(n, now);
    out += out_of_service(n);
  }
  if (out > geti(doc, "max_out_of_service")) seti(doc, "max_out_of_service", out), changed = true;
  return changed;
}

/* ---- 3. observation ---- */

static bool node_faulty(const char *node) {
  struct sim_fault *f = NULL;
  int n = 0;
  bool bad = false;
  if (simstate_load(simstate_default_path(), &f, &n) < 0) return false;
  for (int i = 0; i < n && !bad; i++) bad = !strcmp(f[i].node, node);
  free(f);
  return bad;
}

static void fill_observation(json_t *n, const char *name, struct node_observation *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", name);
  int jobs = (int)geti(n, "jobs");
  if (getb(n, "down"))
    o->state = NODE_STATE_DOWN;
  else if (geti(n, "rebooting_until_ms") > 0)
    o->state = NODE_STATE_REBOOTING;
  else if (getb(n, "drained"))
    o->state = jobs > 0 ? NODE_STATE_CORDONED : NODE_STATE_DRAINED;
  else
    o->state = NODE_STATE_UP;
  o->out_of_service = out_of_service(n);
  snprintf(o->reason, sizeof o->reason, "%s", gets(n, "reason"));
  o->reason_is_gpuops = !strncmp(o->reason, GPUOPS_PREFIX, strlen(GPUOPS_PREFIX));
  snprintf(o->driver_version, sizeof o->driver_version, "%s", gets(n, "driver"));
  snprintf(o->firmware_version, sizeof o->firmware_version, "%s", gets(n, "firmware"));
  o->running_jobs = o->state == NODE_STATE_DOWN || o->state == NODE_STATE_REBOOTING ? 0 : jobs;
  o->healthy = o->state != NODE_STATE_DOWN && o->state != NODE_STATE_REBOOTING &&
               !getb(n, "validate_fail") && !node_faulty(name);
}

/* ---- 4. operations ---- */

enum sim_op {
  OP_OBSERVE,
  OP_CORDON,
  OP_UNCORDON,
  OP_UNCORDON_FORCE,
  OP_UPGRADE,
  OP_REBOOT,
  OP_EVICT,
  OP_HUMAN_DRAIN
};

struct op_args {
  const char *reason;
  enum upgrade_kind kind;
  const char *version;
  struct node_observation *obs;
};

static int apply(json_t *n, const char *name, enum sim_op op, const struct op_args *a) {
  char why[256];
  int64_t now = now_ms();
  switch (op) {
    case OP_OBSERVE: fill_observation(n, name, a->obs); return 0;
    case OP_HUMAN_DRAIN:
      setb(n, "drained", true);
      sets(n, "reason", a->reason);
      return 0;
    case OP_CORDON:
      snprintf(why, sizeof why, GPUOPS_PREFIX "%s", a->reason ? a->reason : "cordoned");
      if (!getb(n, "drained") && geti(n, "jobs") > 0 && geti(n, "drain_ms") >= 0)
        seti(n, "jobs_end_ms", now + geti(n, "drain_ms"));
      setb(n, "drained", true);
      sets(n, "reason", why);
      return 0;
    case OP_UNCORDON:
    case OP_UNCORDON_FORCE:
      if (!getb(n, "drained")) return 0;
      if (op == OP_UNCORDON && strncmp(gets(n, "reason"), GPUOPS_PREFIX, strlen(GPUOPS_PREFIX)))
        return err_set(ERR_STATE,
                       "sim: node %s was drained by a person (%s); not returning it to service",
                       name, gets(n, "reason"));
      setb(n, "drained", false);
      sets(n, "reason", getb(n, "down") ? gets(n, "reason") : "");
      return 0;
    case OP_EVICT: seti(n, "jobs", 0), seti(n, "jobs_end_ms", 0); return 0;
    case OP_REBOOT:
    case OP_UPGRADE:
      if (getb(n, "down")) return err_set(ERR_STATE, "sim: node %s is down", name);
      if (geti(n, "rebooting_until_ms") > 0) return 0; /* in flight already */
      if (op == OP_UPGRADE) {
        if (!strcmp(gets(n, a->kind == UPGRADE_FIRMWARE ? "firmware" : "driver"), a->version))
          return 0;
        sets(n, "upgrade_target", a->version);
        seti(n, "upgrade_kind", a->kind);
        seti(n, "upgrades", geti(n, "upgrades") + 1);
      }
      seti(n, "jobs", 0);
      seti(n, "rebooting_until_ms", now + (geti(n, "upgrade_ms") > 0 ? geti(n, "upgrade_ms") : 1));
      return 0;
  }
  return err_set(ERR_INTERNAL, "sim: unknown operation %d", (int)op);
}

/* Lock, load, advance, apply op to node, save (unless only observing), unlock. */
static int run_op(struct executor *e, const char *node, enum sim_op op, const struct op_args *a) {
  struct sim_priv *p = e->priv;
  json_t *doc = NULL;
  int fd = lock_state(p->path), rc = fd < 0 ? fd : load_doc(p->path, &doc);
  if (rc < 0) goto out;
  json_t *n = json_object_get(json_object_get(doc, "nodes"), node);
  if (!n) {
    rc = err_set(ERR_NOTFOUND, "sim: node '%s' is not in the simulated fleet (%s)", node, p->path);
    goto out;
  }
  bool changed = advance(doc);
  struct node_observation ignored;
  struct op_args observe_only = {.obs = &ignored};
  if (e->dry_run && op != OP_OBSERVE)
    op = OP_OBSERVE, a = &observe_only; /* dry run: change nothing */
  rc = apply(n, node, op, a);
  if (rc == 0 && op != OP_OBSERVE)
    advance(doc), changed = true; /* count what this change took out of service */
  if (changed) {
    int rc2 = save_doc(p->path, doc);
    if (rc == 0) rc = rc2;
  }
out:
  json_decref(doc);
  unlock_state(fd);
  return rc;
}

static int sim_observe(struct executor *e, const char *node, struct node_observation *out) {
  struct op_args a = {.obs = out};
  return run_op(e, node, OP_OBSERVE, &a);
}
static int sim_cordon(struct executor *e, const char *node, const char *reason) {
  struct op_args a = {.reason = reason};
  return run_op(e, node, OP_CORDON, &a);
}
static int sim_uncordon(struct executor *e, const char *node, bool force) {
  struct op_args a = {0};
  return run_op(e, node, force ? OP_UNCORDON_FORCE : OP_UNCORDON, &a);
}
static int sim_upgrade(struct executor *e, const char *node, enum upgrade_kind kind,
                       const char *version) {
  struct op_args a = {.kind = kind, .version = version};
  return run_op(e, node, OP_UPGRADE, &a);
}
static int sim_reset_gpu(struct executor *e, const char *node, int gpu) {
  struct node_observation o;
  int rc = sim_observe(e, node, &o); /* the node must exist */
  if (rc < 0 || e->dry_run) return rc;
  return simstate_clear(simstate_default_path(), node, gpu, NULL);
}
static int sim_reboot(struct executor *e, const char *node) {
  struct op_args a = {0};
  int rc = run_op(e, node, OP_REBOOT, &a);
  if (rc < 0 || e->dry_run) return rc;
  return simstate_clear(simstate_default_path(), node, -1, NULL);
}
static int sim_validate(struct executor *e, const char *node, bool *healthy) {
  struct node_observation o;
  int rc = sim_observe(e, node, &o);
  if (rc < 0) return rc;
  *healthy = o.healthy;
  return 0;
}
static int sim_evict(struct executor *e, const char *node) {
  struct op_args a = {0};
  return run_op(e, node, OP_EVICT, &a);
}
static void sim_close(struct executor *e) {
  free(e->priv);
  e->priv = NULL;
}

static const struct executor_ops sim_ops = {
    .name = "sim",
    .observe = sim_observe,
    .cordon = sim_cordon,
    .uncordon = sim_uncordon,
    .upgrade = sim_upgrade,
    .reset_gpu = sim_reset_gpu,
    .reboot = sim_reboot,
    .validate = sim_validate,
    .close = sim_close,
    .evict = sim_evict,
};

/* ---- 5. opening, human drain, report ---- */

/* Add every inventory node the file lacks. */
static int add_missing(json_t *nodes, const struct inventory *inv, int upgrade_ms, bool *changed) {
  for (int i = 0; i < inv->n_nodes; i++) {
    if (json_object_get(nodes, inv->nodes[i].name)) continue;
    json_t *n = NULL;
    int rc = node_from_inventory(&inv->nodes[i], upgrade_ms, &n);
    if (rc < 0) return rc;
    json_object_set_new(nodes, inv->nodes[i].name, n);
    *changed = true;
  }
  return 0;
}

int sim_exec_open(struct executor *e, const struct inventory *inv,
                  const struct sim_exec_options *o) {
  memset(e, 0, sizeof *e);
  struct sim_priv *p = calloc(1, sizeof *p);
  if (!p) return err_set(ERR_NOMEM, "sim executor: out of memory");
  snprintf(p->path, sizeof p->path, "%s",
           o && o->state_path ? o->state_path : sim_exec_default_path());
  p->default_upgrade_ms = o && o->upgrade_ms >= 0 ? o->upgrade_ms : 20;
  json_t *doc = NULL;
  bool changed = false;
  int fd = lock_state(p->path), rc = fd < 0 ? fd : load_doc(p->path, &doc);
  if (rc == 0)
    rc = add_missing(json_object_get(doc, "nodes"), inv, p->default_upgrade_ms, &changed);
  if (rc == 0 && changed) {
    advance(doc);
    rc = save_doc(p->path, doc);
  }
  json_decref(doc);
  unlock_state(fd);
  if (rc < 0) {
    free(p);
    return rc;
  }
  e->ops = &sim_ops;
  e->priv = p;
  return 0;
}

int sim_exec_human_drain(struct executor *e, const char *node, const char *reason) {
  struct op_args a = {.reason = reason};
  return run_op(e, node, OP_HUMAN_DRAIN, &a);
}

int sim_exec_report(const char *state_path, json_t **out) {
  *out = NULL;
  const char *path = state_path ? state_path : sim_exec_default_path();
  int fd = lock_state(path), rc = fd < 0 ? fd : load_doc(path, out);
  if (rc == 0) advance(*out);
  unlock_state(fd);
  return rc;
}
