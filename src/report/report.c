/*
 * report.c — dossier rendering.
 * Sections: building sections; cell text; terminal; HTML (escaping, page).
 */
#include "report/report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- building ---- */
json_t *report_section(const char *id, const char *title, const char *status, const char *summary) {
  return json_pack("{s:s,s:s,s:s,s:s,s:[],s:[]}", "id", id, "title", title, "status", status, "summary",
                   summary ? summary : "", "notes", "tables");
}

json_t *report_add_table(json_t *section, const char *title, const char *const *columns, int ncols) {
  json_t *cols = json_array(), *rows = json_array();
  for (int i = 0; i < ncols; i++) json_array_append_new(cols, json_string(columns[i]));
  json_t *t = json_pack("{s:s,s:o,s:o}", "title", title ? title : "", "columns", cols, "rows", rows);
  json_array_append_new(json_object_get(section, "tables"), t);
  return rows;
}

void report_add_note(json_t *section, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  json_array_append_new(json_object_get(section, "notes"), json_string(buf));
}

/* ---- cells ---- */
static void cell_text(const json_t *v, char *buf, size_t len) {
  if (json_is_string(v)) snprintf(buf, len, "%s", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v)) snprintf(buf, len, "%.4g", json_real_value(v));
  else if (json_is_boolean(v)) snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
  else snprintf(buf, len, "n/a");
}

static const char *str(const json_t *o, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : dflt;
}

static const char *status_mark(const char *status) {
  if (!strcmp(status, "ok")) return "✓";
  if (!strcmp(status, "warn")) return "!";
  if (!strcmp(status, "fail")) return "✗";
  return "·";
}

/* ---- terminal ---- */
static void text_table(FILE *out, const json_t *t) {
  const json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows");
  size_t nc = json_array_size(cols), nr = json_array_size(rows);
  if (nc == 0 || nc > 32) return;
  int w[32] = {0};
  char cell[256];
  for (size_t c = 0; c < nc; c++) w[c] = (int)strlen(json_string_value(json_array_get(cols, c)));
  for (size_t r = 0; r < nr; r++)
    for (size_t c = 0; c < nc; c++) {
      cell_text(json_array_get(json_array_get(rows, r), c), cell, sizeof cell);
      int l = (int)strlen(cell);
      if (l > w[c]) w[c] = l;
    }
  const char *title = str(t, "title", "");
  if (title[0]) fprintf(out, "  %s\n", title);
  fprintf(out, "   ");
  for (size_t c = 0; c < nc; c++) fprintf(out, " %-*s", w[c], json_string_value(json_array_get(cols, c)));
  fputc('\n', out);
  for (size_t r = 0; r < nr; r++) {
    fprintf(out, "   ");
    for (size_t c = 0; c < nc; c++) {
      cell_text(json_array_get(json_array_get(rows, r), c), cell, sizeof cell);
      fprintf(out, " %-*s", w[c], cell);
    }
    fputc('\n', out);
  }
}

int report_text(FILE *out, const json_t *doc) {
  fprintf(out, "%s — %s on %s (gpuops %s, commit %s)\n", str(doc, "title", "gpuops dossier"), str(doc, "generated", ""),
          str(doc, "host", "?"), str(doc, "version", "?"), str(doc, "commit", "?"));
  if (json_is_true(json_object_get(doc, "simulated")))
    fprintf(out, "SIMULATED: no GPU was used; every device value below comes from the simulated backend.%s%s\n",
            json_is_string(json_object_get(doc, "note")) ? "\n  " : "", str(doc, "note", ""));
  size_t i;
  const json_t *s;
  json_array_foreach(json_object_get(doc, "sections"), i, s) {
    fprintf(out, "\n%s %s: %s\n", status_mark(str(s, "status", "skip")), str(s, "title", "?"), str(s, "summary", ""));
    size_t j;
    const json_t *t;
    json_array_foreach(json_object_get(s, "tables"), j, t) text_table(out, t);
    json_array_foreach(json_object_get(s, "notes"), j, t) fprintf(out, "  note: %s\n", json_string_value(t));
  }
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}

/* ---- HTML ---- */
static void esc(FILE *out, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '&': fputs("&amp;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&#39;", out); break;
    default: fputc(*s, out);
    }
  }
}

static const char *css =
    "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;color:#1d2330;"
    "padding:0 1rem}h1{margin-bottom:.2rem}.meta{color:#5a6375;margin-bottom:1rem}"
    ".sim{background:#fff4d6;border:1px solid #e0b400;padding:.6rem 1rem;border-radius:6px;margin:1rem 0}"
    "section{border:1px solid #d8dde6;border-radius:8px;padding:.8rem 1.2rem;margin:1.2rem 0}"
    "h2{font-size:1.2rem;margin:.2rem 0 .6rem}.badge{display:inline-block;min-width:3.5rem;text-align:center;"
    "border-radius:4px;padding:0 .4rem;margin-right:.5rem;font-size:.85rem;color:#fff}"
    ".ok{background:#2e8b57}.warn{background:#d08a00}.fail{background:#c0392b}.skip{background:#7f8c8d}"
    "table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border-bottom:1px solid #e6e9ef;"
    "padding:.25rem .7rem;text-align:left}th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:"
    "tabular-nums}caption{text-align:left;font-weight:600;padding:.3rem 0}.note{color:#5a6375;font-size:.9rem}";

static void html_table(FILE *out, const json_t *t) {
  const json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"), *v;
  size_t c, r;
  char cell[512];
  fputs("<table>", out);
  if (str(t, "title", "")[0]) {
    fputs("<caption>", out);
    esc(out, str(t, "title", ""));
    fputs("</caption>", out);
  }
  fputs("<thead><tr>", out);
  json_array_foreach(cols, c, v) {
    fputs("<th>", out);
    esc(out, json_string_value(v));
    fputs("</th>", out);
  }
  fputs("</tr></thead><tbody>\n", out);
  const json_t *row;
  json_array_foreach(rows, r, row) {
    fputs("<tr>", out);
    json_array_foreach(row, c, v) {
      cell_text(v, cell, sizeof cell);
      fputs(json_is_number(v) ? "<td class=\"num\">" : "<td>", out);
      esc(out, cell);
      fputs("</td>", out);
    }
    fputs("</tr>\n", out);
  }
  fputs("</tbody></table>\n", out);
}

/* An inline SVG figure (gpuops' own drawings: anything not starting with <svg is left out). */
static void html_figure(FILE *out, const json_t *fig) {
  const char *svg = str(fig, "svg", "");
  if (strncmp(svg, "<svg", 4) != 0) return;
  fputs("<figure style=\"overflow-x:auto;margin:.6rem 0\"><figcaption>", out);
  esc(out, str(fig, "title", ""));
  fputs("</figcaption>", out);
  fputs(svg, out);
  fputs("</figure>\n", out);
}

static void html_section(FILE *out, const json_t *s) {
  const char *status = str(s, "status", "skip");
  fputs("<section id=\"", out);
  esc(out, str(s, "id", ""));
  fputs("\"><h2><span class=\"badge ", out);
  esc(out, status);
  fputs("\">", out);
  esc(out, status);
  fputs("</span>", out);
  esc(out, str(s, "title", ""));
  fputs("</h2><p>", out);
  esc(out, str(s, "summary", ""));
  fputs("</p>\n", out);
  size_t j;
  const json_t *t;
  json_array_foreach(json_object_get(s, "tables"), j, t) html_table(out, t);
  json_array_foreach(json_object_get(s, "figures"), j, t) html_figure(out, t);
  json_array_foreach(json_object_get(s, "notes"), j, t) {
    fputs("<p class=\"note\">", out);
    esc(out, json_string_value(t));
    fputs("</p>\n", out);
  }
  fputs("</section>\n", out);
}

int report_html(FILE *out, const json_t *doc) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>",
        out);
  esc(out, str(doc, "title", "gpuops dossier"));
  fprintf(out, "</title><style>%s</style></head><body>\n<h1>", css);
  esc(out, str(doc, "title", "gpuops dossier"));
  fputs("</h1><div class=\"meta\">", out);
  esc(out, str(doc, "generated", ""));
  fputs(" · host ", out);
  esc(out, str(doc, "host", "?"));
  fputs(" · gpuops ", out);
  esc(out, str(doc, "version", "?"));
  fputs(" (commit ", out);
  esc(out, str(doc, "commit", "?"));
  fputs(") · backend ", out);
  esc(out, str(doc, "backend", "?"));
  fputs("</div>\n", out);
  if (json_is_true(json_object_get(doc, "simulated"))) {
    fputs("<div class=\"sim\"><strong>Simulated.</strong> No GPU was used: every device value in this report comes "
          "from gpuops' simulated backend. ",
          out);
    esc(out, str(doc, "note", ""));
    fputs("</div>\n", out);
  }
  size_t i;
  const json_t *s;
  json_array_foreach(json_object_get(doc, "sections"), i, s) html_section(out, s);
  fputs("</body></html>\n", out);
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}
