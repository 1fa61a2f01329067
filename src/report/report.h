/*
 * report.h — render a dossier (a JSON document) as terminal text or a
 * self-contained HTML page. report/ only renders: capabilities produce the
 * sections, cmd_dossier.c assembles them.
 *
 * The document:
 *   { "title", "generated" (ISO 8601), "host", "version", "commit",
 *     "backend", "simulated" (bool), "note" (string|null),
 *     "sections": [ { "id", "title", "status": "ok"|"warn"|"fail"|"skip",
 *                     "summary", "notes": [string],
 *                     "tables": [ { "title", "columns": [string],
 *                                   "rows": [[string|number|null]] } ],
 *                     "figures": [ { "title", "svg" } ] (optional; inline SVG, HTML only) } ] }
 * Unknown keys are ignored, so capabilities can carry more for JSON readers.
 */
#ifndef GPUOPS_REPORT_REPORT_H
#define GPUOPS_REPORT_REPORT_H

#include <jansson.h>
#include <stdio.h>

/* Terminal summary: one block per section. 0 or ERR_IO. */
int report_text(FILE *out, const json_t *doc);
/* One HTML file with inline CSS and no external references. 0 or ERR_IO. */
int report_html(FILE *out, const json_t *doc);

/* Helpers to build sections (new references). */
json_t *report_section(const char *id, const char *title, const char *status, const char *summary);
/* Add a table; returns the (borrowed) rows array to append rows to. */
json_t *report_add_table(json_t *section, const char *title, const char *const *columns, int ncols);
void report_add_note(json_t *section, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
