/*
 * thresholds.c — health thresholds: defaults and the YAML file
 * (thresholds.h). libfyaml builds the document with its diagnostics
 * collected, never printed; every error names file:line and the key.
 *
 * Sections: defaults; the key table; parsing.
 */
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "telemetry/health.h"
#include "telemetry/thresholds.h"

/* ---- defaults ---- */

void thresholds_default(struct thresholds *t) {
  memset(t, 0, sizeof *t);
  t->xid_window_s = 3600;
  t->ecc_dbe_volatile_max = 0;
  t->ecc_dbe_aggregate_max = -1;
  t->retired_pages_max = 60; /* NVIDIA's page-retirement RMA threshold */
  t->gpu_temp_warn_c = 87;
  t->memory_temp_warn_c = 95;
  t->pcie_replay_warn_per_min = 8; /* DCGM's PCIe replay-rate health threshold */
  t->clocks_busy_util_pct = 80;
  t->clocks_low_ratio = 0.5;
}

/* ---- the key table ---- */

struct key {
  const char *name;
  size_t off;    /* offset of the double in struct thresholds */
  double lo, hi; /* accepted range */
};

#define KEY(f, lo, hi) \
  { #f, offsetof(struct thresholds, f), lo, hi }
static const struct key keys[] = {
    KEY(xid_window_s, 0, 31536000),        KEY(ecc_dbe_volatile_max, 0, 1e12),
    KEY(ecc_dbe_aggregate_max, -1, 1e12),  KEY(retired_pages_max, 1, 1e6),
    KEY(gpu_temp_warn_c, 0, 200),          KEY(memory_temp_warn_c, 0, 200),
    KEY(pcie_replay_warn_per_min, 0, 1e9), KEY(clocks_busy_util_pct, 0, 100),
    KEY(clocks_low_ratio, 0, 1),
};
#undef KEY

/* ---- parsing ---- */

/* 1-based line of a scalar node; 0 when it has none (a list or mapping). */
static int line_of(struct fy_node *n) {
  struct fy_token *t = n && fy_node_is_scalar(n) ? fy_node_get_scalar_token(n) : NULL;
  const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
  return m ? m->line + 1 : 0;
}

static int set_number(struct thresholds *t, const struct key *k, struct fy_node *v,
                      const char *name, int line) {
  size_t len = 0;
  const char *s = v && fy_node_is_scalar(v) ? fy_node_get_scalar(v, &len) : NULL;
  char text[64];
  if (!s || len == 0 || len >= sizeof text)
    return err_set(ERR_INVALID, "%s:%d: %s: expected a number", name, line, k->name);
  memcpy(text, s, len);
  text[len] = '\0';
  char *end = NULL;
  errno = 0;
  double x = strtod(text, &end);
  if (errno || *end || !isfinite(x))
    return err_set(ERR_INVALID, "%s:%d: %s: '%s' is not a number", name, line, k->name, text);
  if (x < k->lo || x > k->hi)
    return err_set(ERR_RANGE, "%s:%d: %s: %s is out of range (%g..%g)", name, line, k->name, text,
                   k->lo, k->hi);
  memcpy((char *)t + k->off, &x, sizeof x);
  return 0;
}

static int set_disabled(struct thresholds *t, struct fy_node *v, const char *name, int line) {
  if (!v || !fy_node_is_sequence(v))
    return err_set(ERR_INVALID, "%s:%d: disable: expected a list of check names, e.g. [thermal]",
                   name, line);
  void *it = NULL;
  struct fy_node *item;
  while ((item = fy_node_sequence_iterate(v, &it))) {
    size_t len = 0;
    const char *s = fy_node_is_scalar(item) ? fy_node_get_scalar(item, &len) : NULL;
    char text[64];
    int l = line_of(item) ?: line;
    if (!s || len == 0 || len >= sizeof text)
      return err_set(ERR_INVALID, "%s:%d: disable: expected a check name", name, l);
    memcpy(text, s, len);
    text[len] = '\0';
    enum health_check_id id;
    if (health_check_parse(text, &id) < 0) return err_wrap(ERR_INVALID, "%s:%d: disable", name, l);
    t->disabled[id] = true;
  }
  return 0;
}

static int set_key(struct thresholds *t, struct fy_node *k, struct fy_node *v, const char *name) {
  size_t len = 0;
  const char *s = k && fy_node_is_scalar(k) ? fy_node_get_scalar(k, &len) : NULL;
  int line = line_of(k) ?: 1;
  char key[64];
  if (!s || len == 0 || len >= sizeof key)
    return err_set(ERR_INVALID, "%s:%d: expected a key name", name, line);
  memcpy(key, s, len);
  key[len] = '\0';
  if (!strcmp(key, "disable")) return set_disabled(t, v, name, line);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(key, keys[i].name)) return set_number(t, &keys[i], v, name, line_of(v) ?: line);
  char known[512] = "disable";
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    snprintf(known + strlen(known), sizeof known - strlen(known), ", %s", keys[i].name);
  return err_set(ERR_INVALID, "%s:%d: unknown key '%s' (known: %s)", name, line, key, known);
}

static int first_diag(struct fy_diag *diag, const char *name) {
  void *it = NULL;
  struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
  if (!e) return 0;
  return err_set(ERR_PARSE, "%s:%d:%d: YAML syntax error: %s", name, e->line > 0 ? e->line : 1,
                 e->column > 0 ? e->column : 1, e->msg ? e->msg : "malformed YAML");
}

int thresholds_parse(struct thresholds *t, const char *buf, size_t len, const char *name) {
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  struct fy_parser *fyp = NULL;
  struct fy_document *doc = NULL;
  struct thresholds work = *t;
  int rc = 0;
  if (!diag) return err_set(ERR_NOMEM, "%s: out of memory starting the YAML parser", name);
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
  fyp = fy_parser_create(&pcfg);
  if (!fyp || fy_parser_set_string(fyp, buf, len) != 0) {
    rc = err_set(ERR_NOMEM, "%s: out of memory starting the YAML parser", name);
    goto out;
  }
  doc = fy_parse_load_document(fyp);
  if ((rc = first_diag(diag, name))) goto out;
  struct fy_node *root = doc ? fy_document_root(doc) : NULL;
  if (!root) goto out; /* an empty file: the defaults */
  if (!fy_node_is_mapping(root)) {
    rc = err_set(ERR_INVALID,
                 "%s:1: expected a mapping of threshold: value (see docs/telemetry.md)", name);
    goto out;
  }
  void *it = NULL;
  struct fy_node_pair *p;
  while (rc == 0 && (p = fy_node_mapping_iterate(root, &it)))
    rc = set_key(&work, fy_node_pair_key(p), fy_node_pair_value(p), name);
  if (rc == 0) *t = work;
out:
  if (doc) fy_parse_document_destroy(fyp, doc);
  if (fyp) fy_parser_destroy(fyp);
  fy_diag_destroy(diag);
  return rc;
}

int thresholds_load(struct thresholds *t, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(ERR_IO, "cannot open thresholds file %s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len + 4096 > cap) {
      char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
      if (!nb || cap > (1u << 20)) {
        free(nb ? nb : buf);
        buf = NULL;
        rc = nb ? err_set(ERR_INVALID, "%s: larger than 1 MiB; not a thresholds file", path)
                : err_set(ERR_NOMEM, "out of memory reading %s", path);
        goto out;
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = err_set(ERR_IO, "cannot read %s: %s", path, strerror(errno));
    goto out;
  }
  rc = thresholds_parse(t, buf ? buf : "", len, path);
out:
  free(buf);
  fclose(f);
  return rc;
}
