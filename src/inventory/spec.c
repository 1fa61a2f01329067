/*
 * spec.c — the YAML fleet spec reader (the format is docs/inventory.md).
 *
 * libfyaml builds a document (its diagnostics are collected, never printed);
 * this file walks it and fills an inventory. Every error names the file, the
 * line and the field path ("fleet.yaml:12: nodes[1].gpus.model: unknown GPU
 * model 'H300' (known: ...)"). Unknown keys are rejected with the list of
 * keys allowed there, so a typo never passes silently.
 *
 * Sections:
 *   1. context, errors, line numbers, paths
 *   2. the document tree: null, descriptions, the alias/tag/key pre-pass
 *   3. fields of a mapping
 *   4. scalars: strings, whole numbers, memory sizes
 *   5. hostlists ("gpu-[01-04]")
 *   6. gpus: model, count, uuids, MIG layouts
 *   7. node entries and defaults
 *   8. the fleet: top level, duplicate names, spec_parse
 */
#include "inventory/spec.h"

#include <errno.h>
#include <limits.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

#define PATH_LEN       192  /* "nodes[12].gpus.mig[3].instances[6]" and then some */
#define TEXT_LEN       1024 /* longest scalar read as text (hostlists, label values) */
#define MAX_MEMORY_MIB (1ull << 40)

/* ---- 1. context, errors, line numbers, paths -------------------------------- */

struct ctx {
  const char *file; /* name for messages */
  const char *buf;  /* the spec's text and its length */
  size_t len;
  struct inventory *inv; /* being filled */
  int cap_nodes;         /* capacity of inv->nodes, name_line, entry_of */
  int *name_line;        /* per node: line of the name: that made it */
  int *entry_of;         /* per node: its index in nodes: */
  int n_gpus;            /* GPUs so far, against SPEC_MAX_GPUS */
  int entry_nodes;       /* nodes the entry being read names; 0 while reading defaults */
};

/* A value in the document with where it is. */
struct val {
  struct fy_node *n; /* NULL when absent or empty */
  int line;          /* 1-based: the line of its key, or of itself */
  char path[PATH_LEN];
};

static int fail(const struct ctx *c, int code, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(const struct ctx *c, int code, int line, const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (path && path[0]) return err_set(code, "%s:%d: %s: %s", c->file, line, path, msg);
  return err_set(code, "%s:%d: %s", c->file, line, msg);
}

/* 1-based line where a node starts (first key or item for collections), else fallback. */
static int node_line(struct fy_node *n, int fallback) {
  void *it = NULL;
  if (!n) return fallback;
  switch (fy_node_get_type(n)) {
    case FYNT_SCALAR: {
      struct fy_token *t = fy_node_get_scalar_token(n);
      const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
      return m ? m->line + 1 : fallback;
    }
    case FYNT_MAPPING: {
      struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
      return p ? node_line(fy_node_pair_key(p), fallback) : fallback;
    }
    case FYNT_SEQUENCE: return node_line(fy_node_sequence_iterate(n, &it), fallback);
  }
  return fallback;
}

static void path_key(char *out, const char *parent, const char *key, size_t key_len) {
  snprintf(out, PATH_LEN, "%s%s%.*s", parent, parent[0] ? "." : "", (int)key_len, key);
}

static void path_index(char *out, const char *parent, int i) {
  snprintf(out, PATH_LEN, "%s[%d]", parent, i);
}

/* A list item as a val. */
static void item_val(struct val *out, const struct val *list, struct fy_node *item, int i) {
  out->n = item;
  out->line = node_line(item, list->line);
  path_index(out->path, list->path, i);
}

/* ---- 2. the document tree ---------------------------------------------------- */

static const char *scalar_text(struct fy_node *n, size_t *len) {
  const char *s = fy_node_get_scalar(n, len);
  if (!s) *len = 0;
  return s ? s : "";
}

/* YAML's null: an empty plain scalar, ~, null, Null, NULL. */
static bool is_null(struct fy_node *n) {
  if (!n) return true;
  if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN) return false;
  size_t len;
  const char *s = scalar_text(n, &len);
  if (len == 0 || (len == 1 && s[0] == '~')) return true;
  return len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4));
}

/* What a node is, for "expected X, got Y". */
static const char *describe(struct fy_node *n, char *buf, size_t len) {
  if (is_null(n)) return "nothing";
  if (fy_node_is_mapping(n)) return "a mapping";
  if (fy_node_is_sequence(n)) return "a list";
  size_t k;
  const char *s = scalar_text(n, &k);
  snprintf(buf, len, "'%.*s%s'", (int)(k > 40 ? 40 : k), s, k > 40 ? "..." : "");
  return buf;
}

/*
 * libfyaml 0.7.12 leaks when it unescapes some single-quoted scalars with ''
 * escapes or line folds (upstream issue #233), so a single-quoted scalar
 * holding either is refused from its raw text before anything asks for its
 * value; double quotes (\" and \n escapes) say the same safely.
 */
static int check_quotes(const struct ctx *c, struct fy_node *n, const char *path, int line) {
  if (fy_node_get_style(n) != FYNS_SINGLE_QUOTED) return 0;
  struct fy_token *t = fy_node_get_scalar_token(n);
  const struct fy_mark *start = t ? fy_token_start_mark(t) : NULL;
  const struct fy_mark *end = t ? fy_token_end_mark(t) : NULL;
  if (!start || !end || end->input_pos > c->len || start->input_pos + 2 > end->input_pos) return 0;
  for (size_t i = start->input_pos + 1; i + 1 < end->input_pos; i++) {
    if (c->buf[i] == '\'' || c->buf[i] == '\n' || c->buf[i] == '\r')
      return fail(c, ERR_INVALID, line, path,
                  "single-quoted strings with '' escapes or line breaks are not supported: "
                  "write it double-quoted");
  }
  return 0;
}

/* A mapping key must be a plain or quoted string. */
static int check_key(const struct ctx *c, struct fy_node *key, const char *path, int line) {
  size_t len;
  if (!key || !fy_node_is_scalar(key) || fy_node_get_style(key) == FYNS_ALIAS ||
      fy_node_get_tag(key, &len) || is_null(key))
    return fail(c, ERR_INVALID, line, path, "mapping keys must be plain strings");
  return check_quotes(c, key, path, line);
}

/* Reject what this reader does not take: aliases, tags, keys that are not strings. */
static int check_tree(const struct ctx *c, struct fy_node *n, const char *path, int line) {
  size_t len;
  int rc = 0;
  if (!n) return 0;
  line = node_line(n, line);
  if (fy_node_get_style(n) == FYNS_ALIAS) {
    const char *s = scalar_text(n, &len);
    return fail(c, ERR_INVALID, line, path,
                "YAML aliases (*%.*s) are not supported: repeat the value or put it under "
                "defaults:",
                (int)len, s);
  }
  const char *tag = fy_node_get_tag(n, &len);
  if (tag)
    return fail(c, ERR_INVALID, line, path, "YAML tags (%.*s) are not supported", (int)len, tag);
  if ((rc = check_quotes(c, n, path, line))) return rc;
  char sub[PATH_LEN];
  void *it = NULL;
  if (fy_node_is_mapping(n)) {
    struct fy_node_pair *p;
    while (rc == 0 && (p = fy_node_mapping_iterate(n, &it))) {
      struct fy_node *key = fy_node_pair_key(p);
      int key_line = node_line(key, line);
      if ((rc = check_key(c, key, path, key_line))) break;
      const char *k = scalar_text(key, &len);
      path_key(sub, path, k, len);
      rc = check_tree(c, fy_node_pair_value(p), sub, key_line);
    }
  } else if (fy_node_is_sequence(n)) {
    struct fy_node *item;
    for (int i = 0; rc == 0 && (item = fy_node_sequence_iterate(n, &it)); i++) {
      path_index(sub, path, i);
      rc = check_tree(c, item, sub, line);
    }
  }
  return rc;
}

static int expect_kind(const struct ctx *c, const struct val *v, bool ok, const char *want) {
  char d[64];
  if (ok) return 0;
  if (is_null(v->n))
    return fail(c, ERR_INVALID, v->line, v->path, "missing value (expected %s)", want);
  return fail(c, ERR_INVALID, v->line, v->path, "expected %s, got %s", want,
              describe(v->n, d, sizeof d));
}

static int expect_list(const struct ctx *c, const struct val *v) {
  return expect_kind(c, v, v->n && fy_node_is_sequence(v->n), "a list");
}

/* ---- 3. fields of a mapping --------------------------------------------------- */

struct field {
  const char *key;
  bool present;
  struct val v;
};

static void fields_init(struct field *f, const char *const *keys, int n) {
  memset(f, 0, (size_t)n * sizeof *f);
  for (int i = 0; i < n; i++) f[i].key = keys[i];
}

/* Edit distance of two short strings (keys); large when either is long. */
static int distance(const char *a, size_t la, const char *b) {
  size_t lb = strlen(b);
  int row[32];
  if (la >= 31 || lb >= 31) return 99;
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

static int unknown_key(const struct ctx *c, const struct val *map, struct fy_node *key,
                       const struct field *f, int nf) {
  size_t len;
  const char *k = scalar_text(key, &len);
  char allowed[256] = "", hint[64] = "", path[PATH_LEN];
  int best = 3;
  for (int i = 0; i < nf; i++) {
    size_t used = strlen(allowed);
    snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "", f[i].key);
    int d = distance(k, len, f[i].key);
    if (d < best) {
      best = d;
      snprintf(hint, sizeof hint, "; did you mean '%s'?", f[i].key);
    }
  }
  path_key(path, map->path, k, len);
  return fail(c, ERR_INVALID, node_line(key, map->line), path, "unknown key%s (allowed here: %s)",
              hint, allowed);
}

/* Fill f from the mapping map; every key must be one of f's. */
static int take_fields(const struct ctx *c, const struct val *map, struct field *f, int nf) {
  int rc = expect_kind(c, map, map->n && fy_node_is_mapping(map->n), "a mapping");
  if (rc) return rc;
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(map->n, &it))) {
    struct fy_node *key = fy_node_pair_key(p);
    size_t len;
    const char *k = scalar_text(key, &len);
    int i = 0;
    while (i < nf && !(strlen(f[i].key) == len && memcmp(f[i].key, k, len) == 0)) i++;
    if (i == nf) return unknown_key(c, map, key, f, nf);
    f[i].present = true;
    f[i].v.n = fy_node_pair_value(p);
    f[i].v.line = node_line(key, map->line);
    path_key(f[i].v.path, map->path, f[i].key, len);
  }
  return 0;
}

static int need(const struct ctx *c, const struct val *map, const struct field *f) {
  if (f->present) return 0;
  return fail(c, ERR_INVALID, map->line, map->path, "missing required key '%s'", f->key);
}

/* Two fields that say the same thing in different units: at most one. */
static int one_of(const struct ctx *c, const struct field *a, const struct field *b) {
  if (!a->present || !b->present) return 0;
  const struct field *later = a->v.line >= b->v.line ? a : b;
  return fail(c, ERR_INVALID, later->v.line, later->v.path, "give %s or %s, not both", a->key,
              b->key);
}

/* ---- 4. scalars ------------------------------------------------------------------ */

/* The text of a scalar value; an error naming `want` for anything else. */
static int scalar(const struct ctx *c, const struct val *v, const char *want, const char **s,
                  size_t *len) {
  int rc = expect_kind(c, v, v->n && !is_null(v->n) && fy_node_is_scalar(v->n), want);
  if (rc) return rc;
  *s = scalar_text(v->n, len);
  return 0;
}

/* Copy a string value into out (cap bytes with the NUL). */
static int get_text(const struct ctx *c, const struct val *v, char *out, size_t cap) {
  const char *s;
  size_t len;
  int rc = scalar(c, v, "a string", &s, &len);
  if (rc) return rc;
  int line = node_line(v->n, v->line);
  if (len >= cap)
    return fail(c, ERR_INVALID, line, v->path, "'%.*s...' is too long (at most %zu characters)",
                (int)(len < 24 ? len : 24), s, cap - 1); /* s is not NUL-terminated */
  if (memchr(s, '\0', len)) return fail(c, ERR_INVALID, line, v->path, "contains a NUL character");
  memcpy(out, s, len);
  out[len] = '\0';
  return 0;
}

static bool all_digits(const char *s, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

/* A whole number 0..max written plainly (not quoted). */
static int get_uint(const struct ctx *c, const struct val *v, uint64_t max, uint64_t *out) {
  const char *s;
  size_t len;
  int rc = scalar(c, v, "a whole number", &s, &len);
  if (rc) return rc;
  int line = node_line(v->n, v->line), k = (int)(len > 40 ? 40 : len);
  if (fy_node_get_style(v->n) != FYNS_PLAIN)
    return fail(c, ERR_INVALID, line, v->path,
                "expected a whole number, got the quoted string '%.*s'", k, s);
  if (s[0] == '-' && all_digits(s + 1, len - 1))
    return fail(c, ERR_INVALID, line, v->path, "%.*s is negative (expected 0 to %llu)", k, s,
                (unsigned long long)max);
  if (!all_digits(s, len))
    return fail(c, ERR_INVALID, line, v->path, "expected a whole number, got '%.*s'", k, s);
  char buf[24];
  unsigned long long x = 0;
  errno = 0;
  if (len < sizeof buf) {
    memcpy(buf, s, len);
    buf[len] = '\0';
    x = strtoull(buf, NULL, 10);
  }
  if (len >= sizeof buf || errno == ERANGE || x > max)
    return fail(c, ERR_INVALID, line, v->path, "%.*s is out of range (0 to %llu)", k, s,
                (unsigned long long)max);
  *out = x;
  return 0;
}

/* "2TiB", "512 GiB", "1024MiB" (binary units only) as MiB. */
static int get_memory(const struct ctx *c, const struct val *v, uint64_t *mib) {
  char text[64];
  int rc = get_text(c, v, text, sizeof text);
  if (rc) return rc;
  int line = node_line(v->n, v->line);
  char *end;
  errno = 0;
  unsigned long long x = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
  if (text[0] < '0' || text[0] > '9')
    return fail(c, ERR_INVALID, line, v->path,
                "expected a size like 2TiB, 512GiB or 1024MiB, got '%s'", text);
  if (errno == ERANGE) x = ULLONG_MAX; /* reported as out of range below */
  while (*end == ' ') end++;
  static const struct {
    const char *unit;
    int shift;
  } units[] = {{"MiB", 0}, {"GiB", 10}, {"TiB", 20}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcasecmp(end, units[i].unit) != 0) continue;
    if (x > (MAX_MEMORY_MIB >> units[i].shift))
      return fail(c, ERR_INVALID, line, v->path, "'%s' is out of range (at most %llu TiB)", text,
                  MAX_MEMORY_MIB >> 20);
    *mib = (uint64_t)x << units[i].shift;
    return 0;
  }
  return fail(c, ERR_INVALID, line, v->path,
              "'%s' needs a binary unit: MiB, GiB or TiB (e.g. 2TiB), or use memory_mib: N", text);
}

/* ---- 5. hostlists ------------------------------------------------------------------ */

struct names {
  char (*v)[INV_NAME_MAX];
  int n, cap;
};

static bool host_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_' || ch == '.';
}

static int names_add(struct names *ns, const char *s, size_t len, char *why, size_t wl) {
  if (len == 0) return snprintf(why, wl, "an empty name"), ERR_INVALID;
  for (size_t i = 0; i < len; i++) {
    if (!host_char(s[i]))
      return snprintf(why, wl, "'%c' is not allowed in a node name (letters, digits, - _ .)", s[i]),
             ERR_INVALID;
  }
  if (ns->n >= SPEC_MAX_NODES)
    return snprintf(why, wl, "more than %d nodes", SPEC_MAX_NODES), ERR_INVALID;
  if (ns->n == ns->cap) {
    int cap = ns->cap ? ns->cap * 2 : 16;
    void *grown = realloc(ns->v, (size_t)cap * sizeof *ns->v);
    if (!grown) return snprintf(why, wl, "out of memory"), ERR_NOMEM;
    ns->v = grown;
    ns->cap = cap;
  }
  memcpy(ns->v[ns->n], s, len);
  ns->v[ns->n++][len] = '\0';
  return 0;
}

static int too_long(char *why, size_t wl) {
  snprintf(why, wl, "a name longer than %d characters", INV_NAME_MAX - 1);
  return ERR_INVALID;
}

static int expand(struct names *ns, char *buf, size_t plen, const char *rest, size_t rlen,
                  char *why, size_t wl);

/* One item of a bracket, "7" or "01-04": each value, then the rest of the pattern. */
static int expand_range(struct names *ns, char *buf, size_t plen, const char *item, size_t ilen,
                        const char *rest, size_t rlen, char *why, size_t wl) {
  const char *dash = memchr(item, '-', ilen);
  size_t lo_len = dash ? (size_t)(dash - item) : ilen, hi_len = dash ? ilen - lo_len - 1 : ilen;
  const char *hi_s = dash ? dash + 1 : item;
  if (!all_digits(item, lo_len) || !all_digits(hi_s, hi_len) || lo_len > 9 || hi_len > 9)
    return snprintf(why, wl, "bad range '%.*s' (expected N or N-M)", (int)ilen, item), ERR_INVALID;
  unsigned long lo = strtoul(item, NULL, 10), hi = strtoul(hi_s, NULL, 10);
  if (hi < lo)
    return snprintf(why, wl, "range '%.*s' goes backwards", (int)ilen, item), ERR_INVALID;
  if (hi - lo >= SPEC_MAX_NODES)
    return snprintf(why, wl, "more than %d nodes", SPEC_MAX_NODES), ERR_INVALID;
  for (unsigned long x = lo; x <= hi; x++) {
    char num[16];
    int k = snprintf(num, sizeof num, "%0*lu", (int)lo_len, x); /* keeps lo's zero padding */
    if (plen + (size_t)k >= INV_NAME_MAX) return too_long(why, wl);
    memcpy(buf + plen, num, (size_t)k);
    int rc = expand(ns, buf, plen + (size_t)k, rest, rlen, why, wl);
    if (rc) return rc;
  }
  return 0;
}

/* Expand `rest` after the prefix already in buf[0..plen). */
static int expand(struct names *ns, char *buf, size_t plen, const char *rest, size_t rlen,
                  char *why, size_t wl) {
  const char *lb = memchr(rest, '[', rlen), *rb = memchr(rest, ']', rlen);
  if (rb && (!lb || rb < lb)) return snprintf(why, wl, "']' without '['"), ERR_INVALID;
  size_t lit = lb ? (size_t)(lb - rest) : rlen;
  if (plen + lit >= INV_NAME_MAX) return too_long(why, wl);
  memcpy(buf + plen, rest, lit);
  if (!lb) return names_add(ns, buf, plen + lit, why, wl);
  if (!rb) return snprintf(why, wl, "'[' without ']'"), ERR_INVALID;
  const char *items = lb + 1, *after = rb + 1;
  if (items == rb) return snprintf(why, wl, "empty '[]'"), ERR_INVALID;
  while (items < rb) {
    const char *comma = memchr(items, ',', (size_t)(rb - items));
    const char *end = comma ? comma : rb;
    int rc = expand_range(ns, buf, plen + lit, items, (size_t)(end - items), after,
                          rlen - (size_t)(after - rest), why, wl);
    if (rc) return rc;
    items = end + 1;
  }
  return 0;
}

/* "gpu-[01-04,07],login1" -> gpu-01 ... gpu-04, gpu-07, login1 (Slurm's hostlist form). */
static int hostlist_expand(const char *pattern, struct names *ns, char *why, size_t wl) {
  char buf[INV_NAME_MAX];
  const char *term = pattern;
  int depth = 0;
  for (const char *p = pattern;; p++) {
    if (*p == '[') depth++;
    if (*p == ']') depth--;
    if (*p && (*p != ',' || depth > 0)) continue;
    int rc = expand(ns, buf, 0, term, (size_t)(p - term), why, wl);
    if (rc || !*p) return rc;
    term = p + 1;
  }
}

/* ---- 6. gpus ----------------------------------------------------------------------- */

/* instances: ["3g.71gb@0", "9@4"] -> a valid layout of model m. */
static int parse_instances(const struct ctx *c, const struct val *v, const struct catalog_model *m,
                           struct mig_placement *p, int *np) {
  int rc = expect_list(c, v);
  if (rc) return rc;
  int n = fy_node_sequence_item_count(v->n);
  if (n > INV_MIG_MAX)
    return fail(c, ERR_INVALID, node_line(v->n, v->line), v->path,
                "%d instances; a GPU holds at most %d", n, CATALOG_MIG_COMPUTE_SLICES);
  struct val item;
  void *it = NULL;
  for (int i = 0; i < n; i++) {
    item_val(&item, v, fy_node_sequence_iterate(v->n, &it), i);
    char text[64], why[256];
    if ((rc = get_text(c, &item, text, sizeof text))) return rc;
    if (mig_placement_parse(m, text, &p[i], why, sizeof why) < 0)
      return fail(c, ERR_INVALID, item.line, item.path, "%s", why);
    if (!mig_layout_valid(m, p, i + 1, why, sizeof why))
      return fail(c, ERR_INVALID, item.line, item.path, "invalid MIG layout for %s: %s", m->key,
                  why);
  }
  *np = n;
  return 0;
}

/* gpus: [0, 1] or all -> sel[]; each GPU at most once across a node's mig: entries. */
static int parse_gpu_list(const struct ctx *c, const struct val *v, int n_gpus, int entry,
                          int *owner, bool *sel) {
  size_t len;
  if (v->n && fy_node_is_scalar(v->n) && !is_null(v->n)) {
    const char *s = scalar_text(v->n, &len);
    if (len != 3 || memcmp(s, "all", 3) != 0)
      return expect_kind(c, v, false, "a list of GPU indices or all");
    for (int g = 0; g < n_gpus; g++) sel[g] = true;
  } else {
    int rc = expect_kind(c, v, v->n && fy_node_is_sequence(v->n), "a list of GPU indices or all");
    if (rc) return rc;
    if (fy_node_sequence_item_count(v->n) == 0)
      return fail(c, ERR_INVALID, v->line, v->path, "selects no GPUs");
    struct fy_node *item;
    void *it = NULL;
    for (int i = 0; (item = fy_node_sequence_iterate(v->n, &it)); i++) {
      struct val iv;
      uint64_t g;
      item_val(&iv, v, item, i);
      if ((rc = get_uint(c, &iv, SPEC_MAX_GPUS_PER_NODE, &g))) return rc;
      if ((int)g >= n_gpus)
        return fail(c, ERR_INVALID, iv.line, iv.path,
                    "GPU index %d is out of range: this node has %d GPUs (0-%d)", (int)g, n_gpus,
                    n_gpus - 1);
      if (sel[g]) return fail(c, ERR_INVALID, iv.line, iv.path, "GPU %d is listed twice", (int)g);
      sel[g] = true;
    }
  }
  for (int g = 0; g < n_gpus; g++) {
    if (sel[g] && owner[g] >= 0)
      return fail(c, ERR_INVALID, v->line, v->path, "GPU %d already has a MIG layout from mig[%d]",
                  g, owner[g]);
    if (sel[g]) owner[g] = entry;
  }
  return 0;
}

static int parse_mig_entry(const struct ctx *c, const struct val *v, int entry,
                           struct inv_gpu *gpus, int n_gpus, int *owner) {
  static const char *const keys[] = {"gpus", "instances"};
  struct field f[2];
  struct mig_placement p[INV_MIG_MAX];
  bool sel[SPEC_MAX_GPUS_PER_NODE] = {false};
  int np = 0, rc;
  fields_init(f, keys, 2);
  if ((rc = take_fields(c, v, f, 2)) || (rc = need(c, v, &f[0])) || (rc = need(c, v, &f[1])))
    return rc;
  if ((rc = parse_instances(c, &f[1].v, gpus[0].model, p, &np))) return rc;
  if ((rc = parse_gpu_list(c, &f[0].v, n_gpus, entry, owner, sel))) return rc;
  for (int g = 0; g < n_gpus; g++) {
    if (!sel[g]) continue;
    gpus[g].mig_enabled = true;
    gpus[g].n_mig = np;
    memcpy(gpus[g].mig, p, (size_t)np * sizeof *p);
  }
  return 0;
}

static int parse_mig(const struct ctx *c, const struct val *v, struct inv_gpu *gpus, int n_gpus) {
  int owner[SPEC_MAX_GPUS_PER_NODE], rc = expect_list(c, v);
  if (rc) return rc;
  if (n_gpus == 0)
    return fail(c, ERR_INVALID, v->line, v->path, "MIG layouts given for a node with no GPUs");
  for (int g = 0; g < n_gpus; g++) owner[g] = -1;
  struct fy_node *item;
  void *it = NULL;
  for (int i = 0; (item = fy_node_sequence_iterate(v->n, &it)); i++) {
    struct val iv;
    item_val(&iv, v, item, i);
    if ((rc = parse_mig_entry(c, &iv, i, gpus, n_gpus, owner))) return rc;
  }
  return 0;
}

static int parse_uuids(const struct ctx *c, const struct val *v, struct inv_gpu *gpus, int n_gpus) {
  int rc = expect_list(c, v);
  if (rc) return rc;
  if (c->entry_nodes == 0)
    return fail(c, ERR_INVALID, v->line, v->path,
                "uuids name single GPUs: give them per node, not in defaults");
  if (c->entry_nodes > 1)
    return fail(c, ERR_INVALID, v->line, v->path,
                "uuids name single GPUs, but this entry names %d nodes", c->entry_nodes);
  int n = fy_node_sequence_item_count(v->n);
  if (n != n_gpus)
    return fail(c, ERR_INVALID, v->line, v->path, "%d uuids for %d GPUs (give one per GPU)", n,
                n_gpus);
  struct fy_node *item;
  void *it = NULL;
  for (int i = 0; (item = fy_node_sequence_iterate(v->n, &it)); i++) {
    struct val iv;
    item_val(&iv, v, item, i);
    if ((rc = get_text(c, &iv, gpus[i].uuid, sizeof gpus[i].uuid))) return rc;
    if (strncmp(gpus[i].uuid, "GPU-", 4) != 0)
      return fail(c, ERR_INVALID, iv.line, iv.path, "'%s' is not a GPU UUID (GPU-...)",
                  gpus[i].uuid);
    for (int j = 0; j < i; j++) {
      if (strcmp(gpus[j].uuid, gpus[i].uuid) == 0)
        return fail(c, ERR_INVALID, iv.line, iv.path, "uuid '%s' is given twice", gpus[i].uuid);
    }
  }
  return 0;
}

static int unknown_model(const struct ctx *c, const struct val *v, const char *name) {
  char known[160] = "";
  int n;
  const struct catalog_model *all = catalog_models(&n);
  for (int i = 0; i < n; i++) {
    size_t used = strlen(known);
    snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", all[i].key);
  }
  return fail(c, ERR_INVALID, node_line(v->n, v->line), v->path,
              "unknown GPU model '%s' (known: %s)", name, known);
}

/* The gpus: block; replaces t's GPUs. */
static int parse_gpus(const struct ctx *c, const struct val *v, struct inv_node *t) {
  enum { G_MODEL, G_COUNT, G_UUIDS, G_MIG, N_G };
  static const char *const keys[N_G] = {"model", "count", "uuids", "mig"};
  struct field f[N_G];
  struct inv_gpu *gpus = NULL;
  char model_name[64];
  uint64_t count = 0;
  int rc;
  fields_init(f, keys, N_G);
  if ((rc = take_fields(c, v, f, N_G)) || (rc = need(c, v, &f[G_MODEL])) ||
      (rc = need(c, v, &f[G_COUNT])))
    return rc;
  if ((rc = get_text(c, &f[G_MODEL].v, model_name, sizeof model_name))) return rc;
  const struct catalog_model *m = catalog_find(model_name);
  if (!m) return unknown_model(c, &f[G_MODEL].v, model_name);
  if ((rc = get_uint(c, &f[G_COUNT].v, SPEC_MAX_GPUS_PER_NODE, &count))) return rc;
  gpus = calloc(count ? count : 1, sizeof *gpus);
  if (!gpus) return err_set(ERR_NOMEM, "%s: out of memory", c->file);
  for (int i = 0; i < (int)count; i++) gpus[i] = (struct inv_gpu){.index = i, .model = m};
  if (f[G_UUIDS].present && (rc = parse_uuids(c, &f[G_UUIDS].v, gpus, (int)count))) goto out;
  if (f[G_MIG].present && (rc = parse_mig(c, &f[G_MIG].v, gpus, (int)count))) goto out;
  free(t->gpus);
  t->gpus = gpus;
  t->n_gpus = (int)count;
  gpus = NULL;
out:
  free(gpus);
  return rc;
}

/* ---- 7. node entries and defaults -------------------------------------------------- */

enum {
  F_NAME,
  F_CPUS,
  F_CPU_MILLI,
  F_MEMORY,
  F_MEMORY_MIB,
  F_DRIVER,
  F_FIRMWARE,
  F_STATE,
  F_LABELS,
  F_GPUS,
  N_NODE_FIELDS
};
static const char *const node_keys[N_NODE_FIELDS] = {"name",       "cpus",   "cpu_milli", "memory",
                                                     "memory_mib", "driver", "firmware",  "state",
                                                     "labels",     "gpus"};

static int parse_labels(const struct ctx *c, const struct val *v, struct inv_node *t) {
  int rc = expect_kind(c, v, v->n && fy_node_is_mapping(v->n), "a mapping of label: value");
  if (rc) return rc;
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(v->n, &it))) {
    size_t len;
    const char *k = scalar_text(fy_node_pair_key(p), &len);
    struct val lv = {.n = fy_node_pair_value(p), .line = node_line(fy_node_pair_key(p), v->line)};
    char key[256], value[TEXT_LEN];
    path_key(lv.path, v->path, k, len);
    if (len == 0 || len >= sizeof key || memchr(k, '\0', len))
      return fail(c, ERR_INVALID, lv.line, lv.path, "label keys are 1 to %zu characters",
                  sizeof key - 1);
    memcpy(key, k, len);
    key[len] = '\0';
    if ((rc = get_text(c, &lv, value, sizeof value))) return rc;
    if ((rc = inventory_node_set_label(t, key, value))) return rc;
  }
  return 0;
}

static int parse_state(const struct ctx *c, const struct val *v, struct inv_node *t) {
  char s[16];
  int rc = get_text(c, v, s, sizeof s);
  if (rc) return rc;
  if (strcmp(s, "up") && strcmp(s, "drain") && strcmp(s, "down"))
    return fail(c, ERR_INVALID, node_line(v->n, v->line), v->path,
                "unknown state '%s' (expected up, drain or down)", s);
  snprintf(t->state, sizeof t->state, "%s", s);
  return 0;
}

/* Apply every field but name to the template t (defaults first, then a node's own). */
static int apply_node_fields(const struct ctx *c, const struct field *f, struct inv_node *t) {
  uint64_t x;
  int rc;
  if ((rc = one_of(c, &f[F_CPUS], &f[F_CPU_MILLI])) ||
      (rc = one_of(c, &f[F_MEMORY], &f[F_MEMORY_MIB])))
    return rc;
  if (f[F_CPUS].present) {
    if ((rc = get_uint(c, &f[F_CPUS].v, UINT32_MAX / 1000, &x))) return rc;
    t->cpu_milli = (uint32_t)x * 1000;
  }
  if (f[F_CPU_MILLI].present) {
    if ((rc = get_uint(c, &f[F_CPU_MILLI].v, UINT32_MAX, &x))) return rc;
    t->cpu_milli = (uint32_t)x;
  }
  if (f[F_MEMORY].present && (rc = get_memory(c, &f[F_MEMORY].v, &t->memory_mib))) return rc;
  if (f[F_MEMORY_MIB].present &&
      (rc = get_uint(c, &f[F_MEMORY_MIB].v, MAX_MEMORY_MIB, &t->memory_mib)))
    return rc;
  if (f[F_DRIVER].present &&
      (rc = get_text(c, &f[F_DRIVER].v, t->driver_version, sizeof t->driver_version)))
    return rc;
  if (f[F_FIRMWARE].present &&
      (rc = get_text(c, &f[F_FIRMWARE].v, t->firmware_version, sizeof t->firmware_version)))
    return rc;
  if (f[F_STATE].present && (rc = parse_state(c, &f[F_STATE].v, t))) return rc;
  if (f[F_LABELS].present && (rc = parse_labels(c, &f[F_LABELS].v, t))) return rc;
  if (f[F_GPUS].present && (rc = parse_gpus(c, &f[F_GPUS].v, t))) return rc;
  return 0;
}

static int parse_defaults(struct ctx *c, const struct val *v, struct inv_node *d) {
  struct field f[N_NODE_FIELDS];
  fields_init(f, node_keys, N_NODE_FIELDS);
  c->entry_nodes = 0;
  int rc = take_fields(c, v, f + 1, N_NODE_FIELDS - 1); /* every key but name */
  return rc ? rc : apply_node_fields(c, f, d);
}

/* Append a copy of t named `name` to the fleet. */
static int push_node(struct ctx *c, const struct inv_node *t, const char *name, int entry,
                     int line) {
  struct inventory *inv = c->inv;
  if (inv->n_nodes == c->cap_nodes) {
    int cap = c->cap_nodes ? c->cap_nodes * 2 : 16;
    struct inv_node *nodes = realloc(inv->nodes, (size_t)cap * sizeof *nodes);
    if (nodes) inv->nodes = nodes;
    int *lines = nodes ? realloc(c->name_line, (size_t)cap * sizeof *lines) : NULL;
    if (lines) c->name_line = lines;
    int *entries = lines ? realloc(c->entry_of, (size_t)cap * sizeof *entries) : NULL;
    if (!entries) return err_set(ERR_NOMEM, "%s: out of memory", c->file);
    c->entry_of = entries;
    c->cap_nodes = cap;
  }
  struct inv_node *n = &inv->nodes[inv->n_nodes];
  int rc = inventory_node_copy(n, t);
  if (rc) return rc;
  snprintf(n->name, sizeof n->name, "%s", name);
  c->name_line[inv->n_nodes] = line;
  c->entry_of[inv->n_nodes] = entry;
  inv->n_nodes++;
  c->n_gpus += t->n_gpus;
  return 0;
}

static int parse_entry(struct ctx *c, const struct val *v, int entry,
                       const struct inv_node *defaults) {
  struct field f[N_NODE_FIELDS];
  struct names ns = {0};
  struct inv_node t;
  char pattern[TEXT_LEN], why[160];
  int rc;
  fields_init(f, node_keys, N_NODE_FIELDS);
  if ((rc = take_fields(c, v, f, N_NODE_FIELDS)) || (rc = need(c, v, &f[F_NAME])) ||
      (rc = get_text(c, &f[F_NAME].v, pattern, sizeof pattern)))
    return rc;
  const struct val *name = &f[F_NAME].v;
  int name_line = node_line(name->n, name->line);
  if ((rc = hostlist_expand(pattern, &ns, why, sizeof why))) {
    free(ns.v);
    return rc == ERR_NOMEM
               ? err_set(rc, "%s: out of memory", c->file)
               : fail(c, rc, name_line, name->path, "bad node name '%.64s': %s", pattern, why);
  }
  if ((rc = inventory_node_copy(&t, defaults))) {
    free(ns.v);
    return rc;
  }
  c->entry_nodes = ns.n;
  if ((rc = apply_node_fields(c, f, &t))) goto out;
  if ((int64_t)c->n_gpus + (int64_t)ns.n * t.n_gpus > SPEC_MAX_GPUS) {
    rc = fail(c, ERR_INVALID, name_line, name->path, "the fleet would have more than %d GPUs",
              SPEC_MAX_GPUS);
    goto out;
  }
  for (int i = 0; i < ns.n && rc == 0; i++) rc = push_node(c, &t, ns.v[i], entry, name_line);
out:
  free(ns.v);
  inventory_node_clear(&t);
  return rc;
}

/* ---- 8. the fleet ------------------------------------------------------------------- */

struct name_ref {
  const char *name;
  int node;
};

static int name_ref_cmp(const void *a, const void *b) {
  const struct name_ref *x = a, *y = b;
  int k = strcmp(x->name, y->name);
  return k ? k : (x->node > y->node) - (x->node < y->node);
}

/* Node names are unique across the fleet; report the first repeat in file order. */
static int check_duplicates(const struct ctx *c) {
  const struct inventory *inv = c->inv;
  struct name_ref *refs = malloc((size_t)(inv->n_nodes ? inv->n_nodes : 1) * sizeof *refs);
  if (!refs) return err_set(ERR_NOMEM, "%s: out of memory", c->file);
  for (int i = 0; i < inv->n_nodes; i++) refs[i] = (struct name_ref){inv->nodes[i].name, i};
  qsort(refs, (size_t)inv->n_nodes, sizeof *refs, name_ref_cmp);
  int first = -1, later = -1;
  for (int i = 0, run = 0; i + 1 < inv->n_nodes; i++) {
    if (strcmp(refs[i].name, refs[i + 1].name) != 0) {
      run = i + 1;
      continue;
    }
    if (later < 0 || refs[i + 1].node < later) later = refs[i + 1].node, first = refs[run].node;
  }
  free(refs);
  if (later < 0) return 0;
  char path[PATH_LEN];
  snprintf(path, sizeof path, "nodes[%d].name", c->entry_of[later]);
  return fail(c, ERR_INVALID, c->name_line[later], path,
              "duplicate node name '%s' (also from nodes[%d] at line %d)", inv->nodes[later].name,
              c->entry_of[first], c->name_line[first]);
}

/* The fleet name when the spec gives none: the file's base name without .yaml/.yml. */
static void default_fleet_name(const char *file, char *out, size_t cap) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  size_t len = strlen(base);
  if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
    len -= 5;
  else if (len > 4 && strcmp(base + len - 4, ".yml") == 0)
    len -= 4;
  if (len >= cap) len = cap - 1;
  snprintf(out, cap, "%.*s", (int)len, len ? base : "fleet");
}

static int parse_nodes(struct ctx *c, const struct val *v, const struct inv_node *defaults) {
  int rc = expect_list(c, v);
  if (rc) return rc;
  if (fy_node_sequence_item_count(v->n) == 0)
    return fail(c, ERR_INVALID, v->line, v->path, "a fleet needs at least one node");
  struct fy_node *item;
  void *it = NULL;
  for (int i = 0; (item = fy_node_sequence_iterate(v->n, &it)); i++) {
    struct val iv;
    item_val(&iv, v, item, i);
    if ((rc = parse_entry(c, &iv, i, defaults))) return rc;
  }
  return check_duplicates(c);
}

static int parse_fleet(struct ctx *c, struct fy_node *root) {
  enum { T_FLEET, T_SEED, T_DEFAULTS, T_NODES, N_T };
  static const char *const keys[N_T] = {"fleet", "seed", "defaults", "nodes"};
  struct field f[N_T];
  struct val top = {.n = root, .line = node_line(root, 1), .path = ""};
  struct inv_node defaults;
  struct inventory *inv = c->inv;
  int rc;
  memset(&defaults, 0, sizeof defaults);
  snprintf(defaults.state, sizeof defaults.state, "up");
  fields_init(f, keys, N_T);
  if (!fy_node_is_mapping(root)) {
    char d[64];
    rc = fail(c, ERR_INVALID, top.line, "",
              "the top level must be a mapping (fleet:, seed:, defaults:, nodes:), got %s",
              describe(root, d, sizeof d));
    goto out;
  }
  if ((rc = take_fields(c, &top, f, N_T)) || (rc = need(c, &top, &f[T_NODES]))) goto out;
  if (f[T_FLEET].present) {
    if ((rc = get_text(c, &f[T_FLEET].v, inv->name, sizeof inv->name))) goto out;
    if (!inv->name[0]) {
      rc = fail(c, ERR_INVALID, f[T_FLEET].v.line, "fleet", "the fleet name is empty");
      goto out;
    }
  } else {
    default_fleet_name(c->file, inv->name, sizeof inv->name);
  }
  inv->seed = 1;
  if (f[T_SEED].present && (rc = get_uint(c, &f[T_SEED].v, UINT64_MAX, &inv->seed))) goto out;
  if (f[T_DEFAULTS].present && (rc = parse_defaults(c, &f[T_DEFAULTS].v, &defaults))) goto out;
  rc = parse_nodes(c, &f[T_NODES].v, &defaults);
out:
  inventory_node_clear(&defaults);
  return rc;
}

/* Length of the UTF-8 sequence at s (n bytes left), 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len = s[0] < 0x80                    ? 1
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
  if (len == 0 || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (len == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
  if (len == 3 && s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
  if (len == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
  if (len == 4 && s[0] == 0xF4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
  return len;
}

/*
 * Check the raw text before libfyaml sees it: UTF-8 only, no control
 * characters but tab and line breaks, no %directives. libfyaml 0.7.12 can
 * hang on invalid UTF-8 in a directive (upstream issue #101, fixed later),
 * and a fleet spec has no use for directives.
 */
static int check_text(const struct ctx *c, const char *buf, size_t len) {
  const unsigned char *s = (const unsigned char *)buf;
  int line = 1, col = 1;
  for (size_t i = 0; i < len; col++) {
    if (col == 1 && s[i] == '%')
      return err_set(ERR_PARSE,
                     "%s:%d:1: YAML directives (%%...) are not supported in a fleet spec", c->file,
                     line);
    size_t k = utf8_len(s + i, len - i);
    if (k == 0)
      return err_set(ERR_PARSE, "%s:%d:%d: not UTF-8 text (byte 0x%02X); save the file as UTF-8",
                     c->file, line, col, s[i]);
    if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') || s[i] == 0x7F)
      return err_set(ERR_PARSE, "%s:%d:%d: control character 0x%02X in the text", c->file, line,
                     col, s[i]);
    if (s[i] == '\n') line++, col = 0;
    i += k;
  }
  return 0;
}

/* libfyaml's first collected error as ours, or 0 when there is none. */
static int syntax_error(const struct ctx *c, struct fy_diag *diag) {
  void *it = NULL;
  struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
  if (!e) return 0;
  return err_set(ERR_PARSE, "%s:%d:%d: YAML syntax error: %s", c->file, e->line > 0 ? e->line : 1,
                 e->column > 0 ? e->column : 1, e->msg ? e->msg : "malformed YAML");
}

int spec_parse(struct inventory *inv, const char *buf, size_t len, const char *name) {
  struct ctx c = {.file = name, .buf = buf, .len = len, .inv = inv};
  struct fy_diag *diag = NULL;
  struct fy_parser *fyp = NULL;
  struct fy_document *doc = NULL, *extra = NULL;
  struct fy_diag_cfg dcfg;
  struct fy_parse_cfg pcfg;
  struct fy_node *root;
  int rc = 0;
  inventory_init(inv);
  if ((rc = check_text(&c, buf, len))) return rc;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL; /* collect, never print */
  dcfg.colorize = false;
  diag = fy_diag_create(&dcfg);
  if (!diag) goto nomem;
  fy_diag_set_collect_errors(diag, true);
  pcfg = (struct fy_parse_cfg){.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
  fyp = fy_parser_create(&pcfg);
  if (!fyp || fy_parser_set_string(fyp, buf, len) != 0) goto nomem;
  doc = fy_parse_load_document(fyp);
  if ((rc = syntax_error(&c, diag))) goto out;
  root = doc ? fy_document_root(doc) : NULL;
  if (!root) {
    rc = err_set(ERR_INVALID,
                 "%s:1: empty fleet spec: expected a mapping with a nodes: list (see "
                 "docs/inventory.md)",
                 name);
    goto out;
  }
  extra = fy_parse_load_document(fyp);
  if ((rc = syntax_error(&c, diag))) goto out;
  if (extra) {
    rc = fail(&c, ERR_PARSE, node_line(fy_document_root(extra), 1), "",
              "a second YAML document ('---'): a fleet spec is one document");
    goto out;
  }
  if ((rc = check_tree(&c, root, "", 1)) || (rc = parse_fleet(&c, root))) goto out;
  snprintf(inv->source, sizeof inv->source, "%s", name);
  goto out;
nomem:
  rc = err_set(ERR_NOMEM, "%s: out of memory starting the YAML parser", name);
out:
  if (extra) fy_parse_document_destroy(fyp, extra);
  if (doc) fy_parse_document_destroy(fyp, doc);
  if (fyp) fy_parser_destroy(fyp);
  if (diag) fy_diag_destroy(diag);
  free(c.name_line);
  free(c.entry_of);
  if (rc) inventory_free(inv);
  return rc;
}
