/*
 * table.c — text tables in three formats.
 * Sections: building; terminal (width by UTF-8 code points); CSV; JSON.
 */
#include "base/table.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct table {
  int ncols, nrows, cap;
  char **headers;
  char **cells; /* nrows * ncols */
};

int table_format_parse(const char *s, enum table_format *out) {
  if (s && !strcmp(s, "table")) *out = TABLE_FMT_TABLE;
  else if (s && !strcmp(s, "json")) *out = TABLE_FMT_JSON;
  else if (s && !strcmp(s, "csv")) *out = TABLE_FMT_CSV;
  else return err_set(ERR_INVALID, "unknown format '%s' (use table, json or csv)", s ? s : "");
  return 0;
}

const char *table_format_name(enum table_format f) {
  return f == TABLE_FMT_JSON ? "json" : f == TABLE_FMT_CSV ? "csv" : "table";
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

struct table *table_new(int ncols, const char *const *headers) {
  struct table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ncols = ncols;
  t->headers = calloc((size_t)ncols, sizeof *t->headers);
  if (!t->headers) {
    free(t);
    return NULL;
  }
  for (int i = 0; i < ncols; i++) t->headers[i] = dup_or_null(headers[i]);
  return t;
}

void table_free(struct table *t) {
  if (!t) return;
  for (int i = 0; i < t->ncols; i++) free(t->headers[i]);
  for (int i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->headers);
  free(t->cells);
  free(t);
}

int table_add_row(struct table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    int cap = t->cap ? t->cap * 2 : 16;
    char **c = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *c);
    if (!c) return err_set(ERR_NOMEM, "out of memory growing a table");
    t->cells = c;
    t->cap = cap;
  }
  char **row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
  for (int i = 0; i < t->ncols; i++) row[i] = dup_or_null(cells[i]);
  t->nrows++;
  return 0;
}

int table_add_rowf(struct table *t, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  const char *cells[64] = {0};
  int n = 0;
  char *p = buf;
  while (n < t->ncols && n < 64) {
    cells[n++] = p;
    char *bar = strchr(p, '|');
    if (!bar) break;
    *bar = '\0';
    p = bar + 1;
  }
  return table_add_row(t, cells);
}

int table_rows(const struct table *t) { return t->nrows; }

const char *table_cell(const struct table *t, int row, int col) {
  if (row < 0 || row >= t->nrows || col < 0 || col >= t->ncols) return NULL;
  return t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
}

/* ---- terminal ---- */
static int display_width(const char *s) {
  int w = 0;
  for (; s && *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++; /* count code points, not bytes */
  return w;
}

static void pad_cell(FILE *out, const char *s, int width, int last) {
  fputs(s ? s : "", out);
  if (!last)
    for (int i = display_width(s); i < width + 2; i++) fputc(' ', out);
}

static void write_terminal(const struct table *t, FILE *out) {
  int *w = calloc((size_t)t->ncols, sizeof *w);
  if (!w) return;
  for (int c = 0; c < t->ncols; c++) {
    w[c] = display_width(t->headers[c]);
    for (int r = 0; r < t->nrows; r++) {
      int cw = display_width(table_cell(t, r, c));
      if (cw > w[c]) w[c] = cw;
    }
  }
  for (int c = 0; c < t->ncols; c++) pad_cell(out, t->headers[c], w[c], c == t->ncols - 1);
  fputc('\n', out);
  for (int r = 0; r < t->nrows; r++) {
    for (int c = 0; c < t->ncols; c++) pad_cell(out, table_cell(t, r, c), w[c], c == t->ncols - 1);
    fputc('\n', out);
  }
  free(w);
}

/* ---- CSV ---- */
static void csv_field(FILE *out, const char *s) {
  if (!s) return;
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void write_csv(const struct table *t, FILE *out) {
  for (int c = 0; c < t->ncols; c++) {
    if (c) fputc(',', out);
    csv_field(out, t->headers[c]);
  }
  fputs("\r\n", out);
  for (int r = 0; r < t->nrows; r++) {
    for (int c = 0; c < t->ncols; c++) {
      if (c) fputc(',', out);
      csv_field(out, table_cell(t, r, c));
    }
    fputs("\r\n", out);
  }
}

/* ---- JSON ---- */
static json_t *cell_json(const char *s) {
  if (!s) return json_null();
  char *end;
  if (*s && strspn(s, "0123456789+-.eE") == strlen(s)) {
    double v = strtod(s, &end);
    if (*end == '\0') {
      if (!strpbrk(s, ".eE")) return json_integer(strtoll(s, NULL, 10));
      return json_real(v);
    }
  }
  return json_string(s);
}

static int write_json(const struct table *t, FILE *out) {
  json_t *arr = json_array();
  for (int r = 0; r < t->nrows; r++) {
    json_t *obj = json_object();
    for (int c = 0; c < t->ncols; c++) json_object_set_new(obj, t->headers[c], cell_json(table_cell(t, r, c)));
    json_array_append_new(arr, obj);
  }
  int rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(arr);
  return rc == 0 ? 0 : err_set(ERR_IO, "writing JSON failed");
}

int table_write(const struct table *t, FILE *out, enum table_format fmt) {
  switch (fmt) {
  case TABLE_FMT_TABLE: write_terminal(t, out); break;
  case TABLE_FMT_CSV: write_csv(t, out); break;
  case TABLE_FMT_JSON: return write_json(t, out);
  }
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}
