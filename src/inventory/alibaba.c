/*
 * alibaba.c — the Alibaba GPU trace 2023 node list, and the CSV reader the
 * fleet's task loader shares (see alibaba.h).
 *
 * Sections:
 *   1. the CSV reader: whole file in memory, one row at a time, fields with
 *      their line and column for messages;
 *   2. the node list: header check, one node per row, duplicate names through
 *      a small open-addressing hash set, all-or-nothing.
 */
#include "inventory/alibaba.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "inventory/spec.h"

/* ---- 1. the CSV reader --------------------------------------------------- */

static int read_all(const char *path, char **out, size_t *len) {
  int rc = 0;
  size_t cap = 1 << 16, used = 0;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  for (;;) {
    char *grown = realloc(buf, cap + 1);
    if (!grown) {
      rc = err_set(ERR_NOMEM, "out of memory reading '%s'", path);
      goto out;
    }
    buf = grown;
    used += fread(buf + used, 1, cap - used, f);
    if (ferror(f)) {
      rc = err_set(ERR_IO, "cannot read '%s': %s", path, strerror(errno));
      goto out;
    }
    if (used < cap) break;
    if (cap >= ALIBABA_CSV_MAX_BYTES) {
      rc = err_set(ERR_INVALID, "%s: larger than %u MiB; is this the right file?", path,
                   ALIBABA_CSV_MAX_BYTES >> 20);
      goto out;
    }
    cap *= 2;
  }
  buf[used] = '\0';
  *out = buf;
  *len = used;
  buf = NULL;
out:
  free(buf);
  fclose(f);
  return rc;
}

/* Is the rest of the current line blank (spaces, \r)? */
static bool blank_line(const struct alibaba_csv *c) {
  for (size_t i = c->pos; i < c->len && c->buf[i] != '\n'; i++)
    if (c->buf[i] != ' ' && c->buf[i] != '\t' && c->buf[i] != '\r') return false;
  return true;
}

/* Skip to the start of the next line; counts it. */
static void skip_line(struct alibaba_csv *c) {
  while (c->pos < c->len && c->buf[c->pos] != '\n') c->pos++;
  if (c->pos < c->len) c->pos++;
  c->line++;
}

/* One field starting at c->pos into out; stops at ',' '\n' or the end. */
static int read_field(struct alibaba_csv *c, int col, char *out) {
  size_t n = 0;
  bool quoted = c->pos < c->len && c->buf[c->pos] == '"';
  if (quoted) c->pos++;
  for (;;) {
    if (c->pos >= c->len) {
      if (quoted)
        return err_set(ERR_PARSE, "%s:%d: column %d: unterminated quoted field", c->name, c->line,
                       col + 1);
      break;
    }
    char ch = c->buf[c->pos];
    if (quoted && ch == '"') {
      if (c->pos + 1 < c->len && c->buf[c->pos + 1] == '"') {
        c->pos++; /* "" is a quote */
      } else {
        quoted = false;
        c->pos++;
        if (c->pos < c->len && c->buf[c->pos] != ',' && c->buf[c->pos] != '\n' &&
            c->buf[c->pos] != '\r')
          return err_set(ERR_PARSE, "%s:%d: column %d: text after a closing quote", c->name,
                         c->line, col + 1);
        continue;
      }
    } else if (!quoted && (ch == ',' || ch == '\n')) {
      break;
    } else if (quoted && ch == '\n') {
      return err_set(ERR_PARSE, "%s:%d: column %d: line break inside a quoted field", c->name,
                     c->line, col + 1);
    } else if (ch == '\0') {
      return err_set(ERR_PARSE, "%s:%d: column %d: NUL byte in the text", c->name, c->line,
                     col + 1);
    }
    if (n + 1 >= ALIBABA_CSV_MAX_FIELD)
      return err_set(ERR_PARSE, "%s:%d: column %d: field longer than %d bytes", c->name, c->line,
                     col + 1, ALIBABA_CSV_MAX_FIELD - 1);
    out[n++] = ch;
    c->pos++;
  }
  if (n > 0 && out[n - 1] == '\r') n--; /* CRLF line ends */
  out[n] = '\0';
  return 0;
}

/* Read one row of fields into c->field (c->pos at a line start that is not blank). */
static int read_row(struct alibaba_csv *c) {
  int n = 0;
  for (;;) {
    if (n >= ALIBABA_CSV_MAX_COLS)
      return err_set(ERR_PARSE, "%s:%d: more than %d fields", c->name, c->line,
                     ALIBABA_CSV_MAX_COLS);
    int rc = read_field(c, n, c->field[n]);
    if (rc) return rc;
    n++;
    if (c->pos < c->len && c->buf[c->pos] == ',') {
      c->pos++;
      continue;
    }
    break;
  }
  c->nfields = n;
  if (c->pos < c->len) c->pos++; /* the '\n' */
  return 0;
}

static int open_common(struct alibaba_csv *c) {
  c->line = 1;
  if (c->len >= 3 && !memcmp(c->buf, "\xEF\xBB\xBF", 3)) c->pos = 3; /* UTF-8 BOM */
  while (c->pos < c->len && blank_line(c)) skip_line(c);
  if (c->pos >= c->len) return err_set(ERR_PARSE, "%s:%d: empty file (no header row)", c->name, 1);
  int rc = read_row(c);
  if (rc) return rc;
  c->ncols = c->nfields;
  for (int i = 0; i < c->ncols; i++) {
    if (!c->field[i][0] || strlen(c->field[i]) >= sizeof c->header[i])
      return err_set(ERR_PARSE, "%s:%d: column %d: header names must be 1..63 characters", c->name,
                     c->line, i + 1);
    snprintf(c->header[i], sizeof c->header[i], "%s", c->field[i]);
    for (int j = 0; j < i; j++)
      if (!strcmp(c->header[j], c->header[i]))
        return err_set(ERR_PARSE, "%s:%d: column %d: '%s' appears twice in the header", c->name,
                       c->line, i + 1, c->header[i]);
  }
  c->line++;
  return 0;
}

int alibaba_csv_open_buf(struct alibaba_csv *c, const char *buf, size_t len, const char *name) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name && name[0] ? name : "<buffer>");
  c->buf = malloc(len + 1);
  if (!c->buf) return err_set(ERR_NOMEM, "out of memory reading %s", c->name);
  if (len) memcpy(c->buf, buf, len);
  c->buf[len] = '\0';
  c->len = len;
  int rc = open_common(c);
  if (rc) alibaba_csv_close(c);
  return rc;
}

int alibaba_csv_open(struct alibaba_csv *c, const char *path) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", path);
  int rc = read_all(path, &c->buf, &c->len);
  if (rc == 0) rc = open_common(c);
  if (rc) alibaba_csv_close(c);
  return rc;
}

void alibaba_csv_close(struct alibaba_csv *c) {
  free(c->buf);
  c->buf = NULL;
  c->len = c->pos = 0;
}

int alibaba_csv_column(const struct alibaba_csv *c, const char *name) {
  for (int i = 0; i < c->ncols; i++)
    if (!strcmp(c->header[i], name)) return i;
  return -1;
}

int alibaba_csv_next(struct alibaba_csv *c) {
  while (c->pos < c->len && blank_line(c)) skip_line(c);
  if (c->pos >= c->len) return 0;
  int rc = read_row(c);
  if (rc) return rc;
  if (c->nfields != c->ncols)
    return err_set(ERR_PARSE, "%s:%d: expected %d fields (as the header), got %d", c->name, c->line,
                   c->ncols, c->nfields);
  c->line++;
  return 1;
}

int alibaba_csv_error(const struct alibaba_csv *c, int col, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  /* c->line was advanced past the row by alibaba_csv_next. */
  return err_set(ERR_PARSE, "%s:%d: column %d (%s): %s", c->name, c->line - 1, col + 1,
                 col >= 0 && col < c->ncols ? c->header[col] : "?", what);
}

int alibaba_csv_int(const struct alibaba_csv *c, int col, int64_t min, int64_t max, bool empty_ok,
                    int64_t dflt, int64_t *out) {
  const char *s = c->field[col];
  if (!s[0]) {
    if (empty_ok) return *out = dflt, 0;
    return alibaba_csv_error(c, col, "empty; expected a whole number %lld..%lld", (long long)min,
                             (long long)max);
  }
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || isspace((unsigned char)s[0]) || v < min || v > max)
    return alibaba_csv_error(c, col, "expected a whole number %lld..%lld, got '%.40s'",
                             (long long)min, (long long)max, s);
  *out = v;
  return 0;
}

/* ---- 2. the node list ---------------------------------------------------- */

enum { COL_SN, COL_CPU, COL_MEM, COL_GPU, COL_MODEL, N_NODE_COLS };
static const char *const node_cols[N_NODE_COLS] = {"sn", "cpu_milli", "memory_mib", "gpu", "model"};

/* Open-addressing set of node names (indexes into inv->nodes) to refuse duplicates. */
struct nameset {
  int *slot; /* -1 empty, else node index */
  size_t cap;
};

static int nameset_init(struct nameset *s, size_t n) {
  s->cap = 64;
  while (s->cap < 2 * n + 2) s->cap *= 2;
  s->slot = malloc(s->cap * sizeof *s->slot);
  if (!s->slot) return err_set(ERR_NOMEM, "out of memory indexing node names");
  memset(s->slot, 0xff, s->cap * sizeof *s->slot);
  return 0;
}

/* Insert node i; returns the index of an earlier node with the same name, or -1. */
static int nameset_add(struct nameset *s, const struct inventory *inv, int i) {
  size_t h = rng_hash_str(inv->nodes[i].name) & (s->cap - 1);
  while (s->slot[h] >= 0) {
    if (!strcmp(inv->nodes[s->slot[h]].name, inv->nodes[i].name)) return s->slot[h];
    h = (h + 1) & (s->cap - 1);
  }
  s->slot[h] = i;
  return -1;
}

static bool valid_name(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n >= max) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("-_.:", *s)) return false;
  return true;
}

static int check_header(const struct alibaba_csv *c, int *col) {
  for (int k = 0; k < N_NODE_COLS; k++) {
    col[k] = alibaba_csv_column(c, node_cols[k]);
    if (col[k] < 0)
      return err_set(ERR_PARSE,
                     "%s:1: the header has no '%s' column (a node list has sn,cpu_milli,"
                     "memory_mib,gpu,model)",
                     c->name, node_cols[k]);
  }
  for (int i = 0; i < c->ncols; i++) {
    bool known = false;
    for (int k = 0; k < N_NODE_COLS; k++) known |= !strcmp(c->header[i], node_cols[k]);
    if (!known)
      return err_set(ERR_PARSE, "%s:1: column %d: unknown column '%s' in a node list", c->name,
                     i + 1, c->header[i]);
  }
  return 0;
}

/* Grow inv->nodes to hold one more. */
static int grow_nodes(struct inventory *inv, int *cap) {
  if (inv->n_nodes < *cap) return 0;
  int ncap = *cap ? *cap * 2 : 256;
  struct inv_node *grown = realloc(inv->nodes, (size_t)ncap * sizeof *grown);
  if (!grown) return err_set(ERR_NOMEM, "out of memory loading nodes");
  inv->nodes = grown;
  *cap = ncap;
  return 0;
}

/* Fill node n from the current row. */
static int parse_node(const struct alibaba_csv *c, const int *col, struct inv_node *n,
                      int *total_gpus) {
  int64_t cpu, mem, gpus;
  int rc;
  memset(n, 0, sizeof *n);
  if (!valid_name(c->field[col[COL_SN]], sizeof n->name))
    return alibaba_csv_error(
        c, col[COL_SN], "node names are 1..63 letters, digits, '-', '_', '.', ':'; got '%.40s'",
        c->field[col[COL_SN]]);
  snprintf(n->name, sizeof n->name, "%s", c->field[col[COL_SN]]);
  if ((rc = alibaba_csv_int(c, col[COL_CPU], 0, UINT32_MAX, false, 0, &cpu))) return rc;
  if ((rc = alibaba_csv_int(c, col[COL_MEM], 0, (int64_t)1 << 40, false, 0, &mem))) return rc;
  if ((rc = alibaba_csv_int(c, col[COL_GPU], 0, SPEC_MAX_GPUS_PER_NODE, false, 0, &gpus)))
    return rc;
  const char *model = c->field[col[COL_MODEL]];
  if (gpus > 0 && !model[0])
    return alibaba_csv_error(c, col[COL_MODEL], "a node with %lld GPUs needs a GPU model",
                             (long long)gpus);
  if (model[0] && !valid_name(model, 32))
    return alibaba_csv_error(c, col[COL_MODEL],
                             "model names are 1..31 letters, digits, '-', '_', '.'; got '%.40s'",
                             model);
  if (*total_gpus + gpus > SPEC_MAX_GPUS)
    return alibaba_csv_error(c, col[COL_GPU], "more than %d GPUs in the fleet", SPEC_MAX_GPUS);
  n->cpu_milli = (uint32_t)cpu;
  n->memory_mib = (uint64_t)mem;
  snprintf(n->state, sizeof n->state, "up");
  if (gpus == 0) return 0;
  n->gpus = calloc((size_t)gpus, sizeof *n->gpus);
  if (!n->gpus) return err_set(ERR_NOMEM, "out of memory loading node %s", n->name);
  const struct catalog_model *m = catalog_find(model);
  for (int i = 0; i < gpus; i++) {
    struct inv_gpu *g = &n->gpus[i];
    g->index = i;
    g->model = m;
    snprintf(g->model_name, sizeof g->model_name, "%s", m ? m->key : model);
    g->shared = true;
  }
  n->n_gpus = (int)gpus;
  *total_gpus += (int)gpus;
  return 0;
}

static int load_rows(struct alibaba_csv *c, struct inventory *inv) {
  int col[N_NODE_COLS], cap = 0, total_gpus = 0, rc;
  struct nameset names = {0};
  if ((rc = check_header(c, col))) return rc;
  if ((rc = nameset_init(&names, 1024))) return rc;
  while ((rc = alibaba_csv_next(c)) == 1) {
    if (inv->n_nodes >= SPEC_MAX_NODES) {
      rc = err_set(ERR_PARSE, "%s:%d: more than %d nodes", c->name, c->line - 1, SPEC_MAX_NODES);
      break;
    }
    if ((rc = grow_nodes(inv, &cap))) break;
    if ((rc = parse_node(c, col, &inv->nodes[inv->n_nodes], &total_gpus))) {
      inventory_node_clear(&inv->nodes[inv->n_nodes]);
      break;
    }
    inv->n_nodes++;
    if ((size_t)inv->n_nodes * 2 >= names.cap) { /* rebuild larger */
      free(names.slot);
      if ((rc = nameset_init(&names, (size_t)inv->n_nodes * 2))) break;
      for (int i = 0; i + 1 < inv->n_nodes; i++) nameset_add(&names, inv, i);
    }
    int dup = nameset_add(&names, inv, inv->n_nodes - 1);
    if (dup >= 0) {
      rc = alibaba_csv_error(c, col[COL_SN], "node '%s' is listed twice (also row %d)",
                             inv->nodes[dup].name, dup + 1);
      break;
    }
  }
  free(names.slot);
  if (rc == 0 && inv->n_nodes == 0)
    rc = err_set(ERR_PARSE, "%s:%d: no nodes (only a header)", c->name, c->line);
  return rc < 0 ? rc : 0;
}

static void name_fleet(struct inventory *inv, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(inv->name, sizeof inv->name, "%.*s", (int)strcspn(base, "."), base);
  snprintf(inv->source, sizeof inv->source, "%s", path);
  inv->seed = 1;
}

static int load(struct inventory *inv, struct alibaba_csv *c, int rc) {
  if (rc == 0) rc = load_rows(c, inv);
  if (rc == 0) name_fleet(inv, c->name);
  alibaba_csv_close(c);
  if (rc) inventory_free(inv);
  return rc;
}

int alibaba_load_nodes(struct inventory *inv, const char *path) {
  struct alibaba_csv *c = malloc(sizeof *c);
  inventory_init(inv);
  if (!c) return err_set(ERR_NOMEM, "out of memory reading %s", path);
  int rc = load(inv, c, alibaba_csv_open(c, path));
  free(c);
  return rc;
}

int alibaba_load_nodes_buf(struct inventory *inv, const char *buf, size_t len, const char *name) {
  struct alibaba_csv *c = malloc(sizeof *c);
  inventory_init(inv);
  if (!c) return err_set(ERR_NOMEM, "out of memory reading %s", name);
  int rc = load(inv, c, alibaba_csv_open_buf(c, buf ? buf : "", buf ? len : 0, name));
  free(c);
  return rc;
}
