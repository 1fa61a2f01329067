/*
 * simstate.c — the simulated fleet's injected faults in a small JSON file.
 *
 * The file (one object, written by jansson):
 *   {"version": 1,
 *    "faults": [{"node": "sim-node-0", "gpu": 3, "kind": "xid", "value": 79,
 *                "t_ns": 1764382639000000000}, ...]}
 *
 * Readers just read it: writers never change it in place. A writer takes an
 * exclusive flock on "<path>.lock", reads the file, writes the new content to
 * a temporary file in the same folder and rename()s it over the old one, so a
 * reader sees either the old or the new file, never half of one, and two
 * writers never lose each other's faults.
 *
 * Sections: fault names; default path; reading (parse + validate); writing
 * (folder, lock, temp file + rename); the public add/clear.
 */
#include "gpu/simstate.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "gpu/gpu.h"

#define STATE_VERSION 1
#define FIX_HINT      "run `gpuops sim clear` (no arguments) to reset it, or delete the file"

/* ---- fault names ---------------------------------------------------------- */
static const char *const fault_names[] = {
#define SIM_FAULT_NAME(e, name) name,
    SIM_FAULTS(SIM_FAULT_NAME)
#undef SIM_FAULT_NAME
};

const char *sim_fault_name(enum sim_fault_kind k) {
  return (unsigned)k < SIM_FAULT_COUNT ? fault_names[k] : "unknown";
}

int sim_fault_parse(const char *name, enum sim_fault_kind *out) {
  for (int k = 0; name && k < SIM_FAULT_COUNT; k++) {
    if (!strcmp(name, fault_names[k])) {
      *out = (enum sim_fault_kind)k;
      return 0;
    }
  }
  char known[256] = "";
  for (int k = 0; k < SIM_FAULT_COUNT; k++) {
    size_t len = strlen(known);
    snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", fault_names[k]);
  }
  return err_set(ERR_INVALID, "unknown fault kind '%s' (known: %s)", name ? name : "(none)", known);
}

/* ---- default path ------------------------------------------------------- */
const char *simstate_default_path(void) {
  static _Thread_local char path[PATH_MAX];
  const char *env = getenv("GPUOPS_SIM_STATE");
  const char *xdg = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  if (env && *env)
    snprintf(path, sizeof path, "%s", env);
  else if (xdg && *xdg)
    snprintf(path, sizeof path, "%s/gpuops/sim-state.json", xdg);
  else if (home && *home)
    snprintf(path, sizeof path, "%s/.local/state/gpuops/sim-state.json", home);
  else
    snprintf(path, sizeof path, "/tmp/gpuops-sim-state-%u.json", (unsigned)getuid());
  return path;
}

/* ---- reading -------------------------------------------------------------- */

/* One entry of "faults" into *f; ERR_PARSE naming the file and entry. */
static int parse_fault(const char *path, size_t i, json_t *e, struct sim_fault *f) {
  memset(f, 0, sizeof *f);
  json_t *node = json_object_get(e, "node"), *gpu = json_object_get(e, "gpu");
  json_t *kind = json_object_get(e, "kind"), *value = json_object_get(e, "value");
  json_t *t = json_object_get(e, "t_ns");
  const char *why = NULL;
  if (!json_is_object(e))
    why = "is not an object";
  else if (!json_is_string(node) || !json_string_length(node) ||
           json_string_length(node) >= sizeof f->node)
    why = "needs \"node\": a non-empty string of at most 63 characters";
  else if (!json_is_integer(gpu) || json_integer_value(gpu) < 0 ||
           json_integer_value(gpu) > INT_MAX)
    why = "needs \"gpu\": a GPU index >= 0";
  else if (!json_is_string(kind) || sim_fault_parse(json_string_value(kind), &f->kind) < 0)
    why =
        "needs \"kind\": one of xid, ecc-uncorrectable, row-remap-failure, thermal, "
        "fall-off-bus, recovery-action";
  else if ((value && !json_is_integer(value)) || (t && !json_is_integer(t)))
    why = "has a \"value\" or \"t_ns\" that is not an integer";
  if (why)
    return err_set(ERR_PARSE, "%s: faults[%zu] %s; the simulated fault state is corrupt: " FIX_HINT,
                   path, i, why);
  snprintf(f->node, sizeof f->node, "%s", json_string_value(node));
  f->gpu = (int)json_integer_value(gpu);
  f->value = value ? json_integer_value(value) : 0;
  f->t_ns = t ? json_integer_value(t) : 0;
  return 0;
}

/* Check the top level and copy the faults out. */
static int parse_state(const char *path, json_t *root, struct sim_fault **out, int *n) {
  json_t *version = json_object_get(root, "version");
  json_t *faults = json_object_get(root, "faults");
  if (!json_is_object(root) || !json_is_integer(version) || !json_is_array(faults))
    return err_set(
        ERR_PARSE,
        "%s: not a gpuops simulator state (want {\"version\": 1, \"faults\": [...]}): " FIX_HINT,
        path);
  if (json_integer_value(version) != STATE_VERSION)
    return err_set(ERR_PARSE, "%s: state version %lld, this gpuops reads version %d: " FIX_HINT,
                   path, (long long)json_integer_value(version), STATE_VERSION);
  size_t count = json_array_size(faults);
  if (count > INT_MAX / 2) return err_set(ERR_PARSE, "%s: too many faults (%zu)", path, count);
  struct sim_fault *arr = calloc(count ? count : 1, sizeof *arr);
  if (!arr) return err_set(ERR_NOMEM, "out of memory reading %s", path);
  for (size_t i = 0; i < count; i++) {
    int rc = parse_fault(path, i, json_array_get(faults, i), &arr[i]);
    if (rc < 0) {
      free(arr);
      return rc;
    }
  }
  *out = arr;
  *n = (int)count;
  return 0;
}

int simstate_load(const char *path, struct sim_fault **out, int *n) {
  *out = NULL;
  *n = 0;
  if (!path || !*path) return err_set(ERR_INVALID, "no simulator state file given");
  int rc = 0;
  json_t *root = NULL;
  FILE *fp = fopen(path, "r");
  if (!fp) {
    if (errno == ENOENT) return 0; /* no file yet: no faults */
    return err_set(ERR_IO, "cannot read simulator state %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fileno(fp), &st) == 0 && st.st_size == 0) goto out; /* empty file: no faults */
  json_error_t jerr;
  root = json_loadf(fp, 0, &jerr);
  if (!root) {
    rc = err_set(ERR_PARSE, "%s:%d:%d: %s; the simulated fault state is corrupt: " FIX_HINT, path,
                 jerr.line, jerr.column, jerr.text);
    goto out;
  }
  rc = parse_state(path, root, out, n);
out:
  json_decref(root);
  fclose(fp);
  return rc;
}

/* ---- writing -------------------------------------------------------------- */

/* mkdir -p of the folder holding path. */
static int make_parent_dirs(const char *path) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return err_set(ERR_INVALID, "simulator state path too long: %s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
      return err_set(ERR_IO, "cannot create folder %s for the simulator state: %s", dir,
                     strerror(errno));
    *p = saved;
    if (!saved) return 0;
  }
}

/* Open "<path>.lock" and hold an exclusive flock on it; returns the fd or an error. */
static int lock_state(const char *path) {
  char lock[PATH_MAX];
  if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
    return err_set(ERR_INVALID, "simulator state path too long: %s", path);
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return err_set(ERR_IO, "cannot open lock file %s: %s", lock, strerror(errno));
  while (flock(fd, LOCK_EX) < 0) {
    if (errno == EINTR) continue;
    int e = errno;
    close(fd);
    return err_set(ERR_IO, "cannot lock %s: %s", lock, strerror(e));
  }
  return fd;
}

static void unlock_state(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}

static json_t *faults_to_json(const struct sim_fault *f, int n) {
  json_t *arr = json_array();
  for (int i = 0; arr && i < n; i++) {
    json_t *e = json_pack("{s:s, s:i, s:s, s:I, s:I}", "node", f[i].node, "gpu", f[i].gpu, "kind",
                          sim_fault_name(f[i].kind), "value", (json_int_t)f[i].value, "t_ns",
                          (json_int_t)f[i].t_ns);
    if (!e || json_array_append_new(arr, e) < 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr ? json_pack("{s:i, s:o}", "version", STATE_VERSION, "faults", arr) : NULL;
}

/* Write the faults to a temp file beside path, then rename it over path. */
static int write_state(const char *path, const struct sim_fault *f, int n) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
    return err_set(ERR_INVALID, "simulator state path too long: %s", path);
  json_t *root = faults_to_json(f, n);
  if (!root) return err_set(ERR_NOMEM, "out of memory writing %s", path);
  int rc = 0;
  FILE *fp = NULL;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = err_set(ERR_IO, "cannot create a temporary file beside %s: %s", path, strerror(errno));
    goto out;
  }
  fchmod(fd, 0644); /* readable by every process that samples the simulated fleet */
  fp = fdopen(fd, "w");
  if (!fp) {
    close(fd);
    rc = err_set(ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (json_dumpf(root, fp, JSON_INDENT(2)) < 0 || fputc('\n', fp) == EOF || fflush(fp) != 0 ||
      fsync(fileno(fp)) < 0) {
    rc = err_set(ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (fclose(fp) != 0) {
    fp = NULL;
    rc = err_set(ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    goto out;
  }
  fp = NULL;
  if (rename(tmp, path) < 0) rc = err_set(ERR_IO, "cannot replace %s: %s", path, strerror(errno));
out:
  if (fp) fclose(fp);
  if (rc < 0 && fd >= 0) unlink(tmp);
  json_decref(root);
  return rc;
}

/* ---- add / clear ------------------------------------------------------------ */

static int check_fault(const struct sim_fault *f) {
  if (!f) return err_set(ERR_INVALID, "no fault given");
  if (!f->node[0] || !memchr(f->node, '\0', sizeof f->node))
    return err_set(ERR_INVALID, "a fault needs a node name (at most 63 characters)");
  if (f->gpu < 0) return err_set(ERR_INVALID, "GPU index %d is negative", f->gpu);
  if ((unsigned)f->kind >= SIM_FAULT_COUNT)
    return err_set(ERR_INVALID, "unknown fault kind %d", (int)f->kind);
  if (f->kind == SIM_FAULT_XID && f->value <= 0)
    return err_set(ERR_INVALID, "an xid fault needs the XID number (> 0), got %lld",
                   (long long)f->value);
  if (f->kind == SIM_FAULT_RECOVERY_ACTION &&
      (f->value < GPU_RECOVERY_NONE || f->value > GPU_RECOVERY_DRAIN_AND_RESET))
    return err_set(ERR_INVALID,
                   "recovery action %lld is not one of 0 none, 1 gpu_reset, 2 node_reboot, "
                   "3 drain_p2p, 4 drain_and_reset",
                   (long long)f->value);
  if (f->value < 0)
    return err_set(ERR_INVALID, "fault value %lld is negative", (long long)f->value);
  return 0;
}

int simstate_add(const char *path, const struct sim_fault *f) {
  int rc = check_fault(f);
  if (rc < 0) return rc;
  if (!path || !*path) return err_set(ERR_INVALID, "no simulator state file given");
  if ((rc = make_parent_dirs(path)) < 0) return rc;
  int lock = lock_state(path);
  if (lock < 0) return lock;
  struct sim_fault *arr = NULL, *grown = NULL;
  int n = 0;
  if ((rc = simstate_load(path, &arr, &n)) < 0) goto out;
  grown = realloc(arr, (size_t)(n + 1) * sizeof *arr);
  if (!grown) {
    rc = err_set(ERR_NOMEM, "out of memory adding a fault to %s", path);
    goto out;
  }
  arr = grown;
  arr[n] = *f;
  if (arr[n].t_ns <= 0) {
    /* Stamp it now, strictly after every fault already there, so each one
     * has its own time and event readers can tell new from seen. */
    int64_t t = time_wall_ns();
    for (int i = 0; i < n; i++)
      if (arr[i].t_ns >= t) t = arr[i].t_ns + 1;
    arr[n].t_ns = t;
  }
  rc = write_state(path, arr, n + 1);
out:
  free(arr);
  unlock_state(lock);
  return rc;
}

/* Does fault f match the (node, gpu) selection of a clear? */
static bool clear_matches(const struct sim_fault *f, const char *node, int gpu) {
  return (!node || !strcmp(f->node, node)) && (gpu < 0 || f->gpu == gpu);
}

int simstate_clear(const char *path, const char *node, int gpu, int *removed) {
  if (removed) *removed = 0;
  if (!path || !*path) return err_set(ERR_INVALID, "no simulator state file given");
  if (node && !*node) node = NULL;
  int rc = make_parent_dirs(path);
  if (rc < 0) return rc;
  int lock = lock_state(path);
  if (lock < 0) return lock;
  struct sim_fault *arr = NULL;
  int n = 0, kept = 0;
  rc = simstate_load(path, &arr, &n);
  if (rc == ERR_PARSE && !node && gpu < 0) {
    rc = write_state(path, NULL, 0); /* clearing everything repairs a corrupt file */
    goto out;
  }
  if (rc < 0) {
    err_wrap(rc, "cannot clear only some faults");
    goto out;
  }
  for (int i = 0; i < n; i++)
    if (!clear_matches(&arr[i], node, gpu)) arr[kept++] = arr[i];
  if (kept != n) rc = write_state(path, arr, kept);
  if (rc == 0 && removed) *removed = n - kept;
out:
  free(arr);
  unlock_state(lock);
  return rc;
}
