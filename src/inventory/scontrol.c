/*
 * scontrol.c — `scontrol show node -o` output into the inventory.
 *
 * Sections:
 *   1. reading the file;
 *   2. splitting one line into Key=Value fields (values may hold spaces:
 *      Reason=..., OS=...; a word that is not Key=... continues the value
 *      before it);
 *   3. the GRES field: full GPUs by model, MIG profiles packed onto GPUs;
 *   4. state, versions, labels; one node; the whole file.
 *
 * Mapping (docs/maintenance.md, "The fleet from Slurm"): NodeName -> name;
 * CPUTot -> cpu_milli (x1000); RealMemory (MiB) -> memory_mib; Gres gpu:TYPE:N
 * -> N GPUs of the catalog model TYPE names (h200, h100, a100, a100-40gb, any
 * case, '_' for '-'; an unknown type keeps its name with no catalog model);
 * gpu:PROFILE:N (a MIG profile name such as 1g.18gb) -> N MIG instances packed
 * first-fit onto as few GPUs of the model that has that profile as the
 * placement rule allows; State -> up / drain / down; Reason, Partitions,
 * State, features -> labels slurm.*; the driver/firmware version from a
 * feature word driver_VERSION / firmware_VERSION, or from Comment=
 * "gpuops:driver=V,firmware=F".
 */
#define _GNU_SOURCE
#include "inventory/scontrol.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "catalog/mig.h"
#include "inventory/spec.h"

#define MAX_FIELDS 96

/* ---- 1. reading ---- */

static int read_all(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
  if (!f) return err_set(ERR_IO, "cannot read %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  int rc = 0;
  while (buf) {
    if (n + 4096 > cap) {
      char *g = cap < (64u << 20) ? realloc(buf, cap *= 2) : NULL;
      if (!g) {
        rc = err_set(ERR_INVALID, "%s: larger than 64 MiB: not scontrol output", path);
        break;
      }
      buf = g;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  if (!buf && rc == 0) rc = err_set(ERR_NOMEM, "reading %s: out of memory", path);
  if (f != stdin) fclose(f);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  buf[n] = 0;
  *out = buf, *len = n;
  return 0;
}

/* ---- 2. fields ---- */

struct field {
  const char *key;
  char *value;
};

static bool starts_key(const char *w) {
  if (!isalpha((unsigned char)*w)) return false;
  while (isalnum((unsigned char)*w) || *w == '_') w++;
  return *w == '=';
}

/* Split line (modified in place) into fields; returns their number or -1 when too many. */
static int split(char *line, struct field *f, int max) {
  int n = 0;
  char *save = NULL;
  for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
    if (starts_key(w) || n == 0) {
      if (n == max) return -1;
      char *eq = strchr(w, '=');
      if (eq) *eq = 0;
      f[n].key = w;
      f[n].value = eq ? eq + 1 : w + strlen(w);
      n++;
    } else {
      char *p = w - 1; /* glue the word back onto the value before it: find the NUL strtok left */
      while (p > line && *p) p--;
      if (!*p) *p = ' ';
    }
  }
  return n;
}

static const char *get(const struct field *f, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(f[i].key, key)) return f[i].value;
  return NULL;
}

/* ---- 3. GRES ---- */

/* A catalog model from a GRES type: h200, H100, a100_40gb ... */
static const struct catalog_model *model_of_type(const char *type) {
  char t[64];
  snprintf(t, sizeof t, "%s", type);
  for (char *p = t; *p; p++) *p = *p == '_' ? '-' : *p;
  const struct catalog_model *m = catalog_find(t);
  if (m) return m;
  int n;
  const struct catalog_model *all = catalog_models(&n);
  size_t tl = strlen(t);
  for (int i = 0; i < n; i++) /* a prefix of the key before its size: "h100" -> H100-80GB */
    if (!strncasecmp(all[i].key, t, tl) && (all[i].key[tl] == '-' || !all[i].key[tl]))
      return &all[i];
  return NULL;
}

/* The model whose MIG profile is named type (prefer `hint`), and that profile. */
static const struct catalog_mig_profile *profile_of_type(const char *type,
                                                         const struct catalog_model *hint,
                                                         const struct catalog_model **model) {
  const struct catalog_mig_profile *p = hint ? catalog_mig_profile_by_name(hint, type) : NULL;
  if (p) return *model = hint, p;
  int n;
  const struct catalog_model *all = catalog_models(&n);
  for (int i = 0; i < n; i++)
    if ((p = catalog_mig_profile_by_name(&all[i], type))) return *model = &all[i], p;
  return NULL;
}

static struct inv_gpu *add_gpu(struct inv_node *node, const struct catalog_model *m,
                               const char *name, int *cap) {
  if (node->n_gpus >= SPEC_MAX_GPUS_PER_NODE) return NULL;
  if (node->n_gpus == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    struct inv_gpu *g = realloc(node->gpus, (size_t)*cap * sizeof *g);
    if (!g) return NULL;
    node->gpus = g;
  }
  struct inv_gpu *g = &node->gpus[node->n_gpus];
  memset(g, 0, sizeof *g);
  g->index = node->n_gpus++;
  g->model = m;
  if (!m) snprintf(g->model_name, sizeof g->model_name, "%s", name);
  return g;
}

/* Place one instance of profile p first-fit on the node's MIG GPUs of model m, or on a new one. */
static int place_instance(struct inv_node *node, const struct catalog_model *m,
                          const struct catalog_mig_profile *p, int *cap) {
  int starts[CATALOG_MIG_MAX_STARTS];
  for (int i = 0; i < node->n_gpus; i++) {
    struct inv_gpu *g = &node->gpus[i];
    if (!g->mig_enabled || g->model != m || g->n_mig >= INV_MIG_MAX - 1) continue;
    if (mig_free_starts(m, g->mig, g->n_mig, p->id, starts) > 0) {
      g->mig[g->n_mig++] = (struct mig_placement){p->id, starts[0]};
      return 0;
    }
  }
  struct inv_gpu *g = add_gpu(node, m, NULL, cap);
  if (!g) return -1;
  g->mig_enabled = true;
  g->mig[g->n_mig++] = (struct mig_placement){p->id, p->starts[0]};
  return 0;
}

struct gres_item {
  char type[64];
  long count;
};

/* Parse "gpu:h200:2(S:0-1),gpu:1g.18gb:7,shard:4" into gpu items. Returns the number or -1 (why
 * set). */
static int parse_gres(const char *gres, struct gres_item *items, int max, char *why, size_t wl) {
  if (!gres || !*gres || !strcmp(gres, "(null)")) return 0;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", gres);
  int n = 0;
  char *save = NULL;
  for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
    char *paren = strchr(it, '(');
    if (paren) *paren = 0;
    char *parts[4] = {0};
    int np = 0;
    for (char *s2 = NULL, *p = strtok_r(it, ":", &s2); p && np < 4; p = strtok_r(NULL, ":", &s2))
      parts[np++] = p;
    if (np == 0 || strcmp(parts[0], "gpu")) continue; /* other GRES (shard, nic) are not GPUs */
    const char *type = np >= 3 ? parts[1] : "", *cnt = np >= 3   ? parts[2]
                                                       : np == 2 ? parts[1]
                                                                 : "1";
    char *end;
    errno = 0;
    long c = strtol(cnt, &end, 10);
    if (*end || c < 0 || c > SPEC_MAX_GPUS_PER_NODE * 7 || errno) {
      snprintf(why, wl, "'%s': count '%s' is not a whole number from 0 to %d", gres, cnt,
               SPEC_MAX_GPUS_PER_NODE * 7);
      return -1;
    }
    if (n == max) {
      snprintf(why, wl, "'%s': more than %d GPU types", gres, max);
      return -1;
    }
    snprintf(items[n].type, sizeof items[n].type, "%s", type);
    items[n++].count = c;
  }
  return n;
}

/* Fill node->gpus from the GRES field. */
static int node_gpus(struct inv_node *node, const char *gres, const char *where) {
  struct gres_item items[16];
  char why[300];
  int n = parse_gres(gres, items, 16, why, sizeof why), cap = 0;
  if (n < 0) return err_set(ERR_INVALID, "%s: Gres: %s", where, why);
  const struct catalog_model *full = NULL; /* the node's full-GPU model, a hint for MIG names */
  for (int i = 0; i < n; i++)
    if (!full && items[i].type[0]) full = model_of_type(items[i].type);
  for (int i = 0; i < n; i++) {
    const struct catalog_model *m = NULL;
    const struct catalog_mig_profile *p =
        items[i].type[0] ? profile_of_type(items[i].type, full, &m) : NULL;
    for (long k = 0; k < items[i].count; k++) {
      int rc = p ? place_instance(node, m, p, &cap)
               : add_gpu(node, items[i].type[0] ? model_of_type(items[i].type) : NULL,
                         items[i].type[0] ? items[i].type : "gpu", &cap)
                   ? 0
                   : -1;
      if (rc < 0)
        return err_set(ERR_INVALID,
                       "%s: Gres '%s': more than %d GPUs on one node (or out of memory)", where,
                       gres, SPEC_MAX_GPUS_PER_NODE);
    }
  }
  return 0;
}

/* ---- 4. state, versions, labels, nodes ---- */

static const char *map_state(const char *s) {
  if (!s) return "up";
  if (strstr(s, "DOWN") || strchr(s, '*') || strstr(s, "NOT_RESPONDING") ||
      strstr(s, "POWERED_DOWN") || strstr(s, "FUTURE"))
    return "down";
  if (strstr(s, "DRAIN") || strstr(s, "FAIL") || strstr(s, "MAINT") || strstr(s, "REBOOT"))
    return "drain";
  return "up";
}

/* driver_V / firmware_V (or driver=V) in a feature list, or gpuops:driver=V,firmware=F in a comment. */
static void versions(struct inv_node *node, const char *features, const char *comment) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", features ? features : "");
  char *save = NULL;
  for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
    /* driver_V or driver=V: the slurm executor reads both forms too */
    if (!strncmp(w, "driver_", 7) || !strncmp(w, "driver=", 7))
      snprintf(node->driver_version, INV_VERSION_MAX, "%s", w + 7);
    if (!strncmp(w, "firmware_", 9) || !strncmp(w, "firmware=", 9))
      snprintf(node->firmware_version, INV_VERSION_MAX, "%s", w + 9);
  }
  const char *c = comment ? strstr(comment, "gpuops:") : NULL;
  if (!c) return;
  snprintf(buf, sizeof buf, "%s", c + 7);
  for (char *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
    if (!strncmp(w, "driver=", 7)) snprintf(node->driver_version, INV_VERSION_MAX, "%s", w + 7);
    if (!strncmp(w, "firmware=", 9)) snprintf(node->firmware_version, INV_VERSION_MAX, "%s", w + 9);
  }
}

static int number(const char *v, const char *key, const char *where, uint64_t max, uint64_t *out) {
  if (!v) return *out = 0, 0;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || errno || x > max || *v == '-')
    return err_set(ERR_INVALID, "%s: %s: '%s' is not a whole number from 0 to %llu", where, key, v,
                   (unsigned long long)max);
  *out = x;
  return 0;
}

static int node_labels(struct inv_node *node, const struct field *f, int n) {
  static const char *const keys[][2] = {{"Partitions", "slurm.partitions"},
                                        {"State", "slurm.state"},
                                        {"Reason", "slurm.reason"},
                                        {"ActiveFeatures", "slurm.features"}};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = get(f, n, keys[i][0]);
    if (v && *v && strcmp(v, "(null)")) {
      int rc = inventory_node_set_label(node, keys[i][1], v);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

static bool valid_name(const char *s) {
  if (!*s || strlen(s) >= INV_NAME_MAX) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
  return true;
}

static int parse_node(struct inv_node *node, struct field *f, int n, const char *where) {
  const char *name = get(f, n, "NodeName");
  if (!name)
    return err_set(ERR_INVALID, "%s: no NodeName= field: not `scontrol show node -o` output",
                   where);
  if (!valid_name(name))
    return err_set(ERR_INVALID,
                   "%s: NodeName: '%s' is not a node name (letters, digits, - _ ., under %d)",
                   where, name, INV_NAME_MAX);
  snprintf(node->name, sizeof node->name, "%s", name);
  uint64_t cpus = 0, mem = 0;
  int rc = number(get(f, n, "CPUTot"), "CPUTot", where, 4294967, &cpus);
  if (rc == 0) rc = number(get(f, n, "RealMemory"), "RealMemory", where, 1ULL << 40, &mem);
  if (rc < 0) return rc;
  node->cpu_milli = (uint32_t)(cpus * 1000);
  node->memory_mib = mem;
  snprintf(node->state, sizeof node->state, "%s", map_state(get(f, n, "State")));
  const char *feat = get(f, n, "ActiveFeatures");
  versions(node, feat && strcmp(feat, "(null)") ? feat : get(f, n, "AvailableFeatures"),
           get(f, n, "Comment"));
  rc = node_gpus(node, get(f, n, "Gres"), where);
  return rc < 0 ? rc : node_labels(node, f, n);
}

static int add_line(struct inventory *inv, char *line, const char *where, int *cap) {
  struct field f[MAX_FIELDS];
  if (line[0] == ' ' || line[0] == '\t')
    return err_set(
        ERR_INVALID,
        "%s: an indented line: this is `scontrol show node` without -o (one node per line)", where);
  int n = split(line, f, MAX_FIELDS);
  if (n < 0) return err_set(ERR_INVALID, "%s: more than %d fields on one line", where, MAX_FIELDS);
  if (inv->n_nodes >= SPEC_MAX_NODES)
    return err_set(ERR_INVALID, "%s: more than %d nodes", where, SPEC_MAX_NODES);
  if (inv->n_nodes == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    struct inv_node *g = realloc(inv->nodes, (size_t)*cap * sizeof *g);
    if (!g) return err_set(ERR_NOMEM, "%s: out of memory", where);
    inv->nodes = g;
  }
  struct inv_node *node = &inv->nodes[inv->n_nodes];
  memset(node, 0, sizeof *node);
  int rc = parse_node(node, f, n, where);
  if (rc == 0 && inventory_node(inv, node->name))
    rc = err_set(ERR_INVALID, "%s: NodeName: '%s' appears twice", where, node->name);
  if (rc < 0) {
    inventory_node_clear(node);
    return rc;
  }
  inv->n_nodes++;
  return 0;
}

int inventory_load_scontrol_buf(struct inventory *inv, const char *buf, size_t len,
                                const char *name) {
  inventory_init(inv);
  char *text = malloc(len + 1);
  if (!text) return err_set(ERR_NOMEM, "%s: out of memory", name);
  memcpy(text, buf, len);
  text[len] = 0;
  int rc = 0, lineno = 0, cap = 0;
  char *save = NULL;
  if (memchr(buf, 0, len)) rc = err_set(ERR_INVALID, "%s: a NUL byte: not text", name);
  for (char *line = rc ? NULL : strtok_r(text, "\n", &save); line && rc == 0;
       line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r') line[--l] = 0;
    if (strspn(line, " \t") == l) continue;
    char where[300];
    snprintf(where, sizeof where, "%s:%d", name, lineno);
    rc = add_line(inv, line, where, &cap);
  }
  free(text);
  if (rc == 0 && inv->n_nodes == 0)
    rc = err_set(ERR_INVALID, "%s: no nodes (expected `scontrol show node -o` output)", name);
  if (rc < 0) {
    inventory_free(inv);
    return rc;
  }
  snprintf(inv->name, sizeof inv->name, "slurm");
  snprintf(inv->source, sizeof inv->source, SCONTROL_SOURCE_PREFIX "%s", name);
  inv->seed = 1;
  return 0;
}

int inventory_load_scontrol(struct inventory *inv, const char *path) {
  char *buf = NULL;
  size_t len = 0;
  inventory_init(inv);
  int rc = read_all(path, &buf, &len);
  if (rc < 0) return rc;
  rc = inventory_load_scontrol_buf(inv, buf, len, path);
  free(buf);
  return rc;
}
