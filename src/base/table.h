/*
 * table.h — rows of text cells, written as an aligned terminal table, CSV
 * (RFC 4180) or JSON (an array of objects keyed by column name). Every
 * command that reports rows uses this, so --format works the same everywhere.
 *
 * Ownership: a table owns copies of every string given to it.
 */
#ifndef GPUOPS_BASE_TABLE_H
#define GPUOPS_BASE_TABLE_H

#include <stdio.h>

enum table_format { TABLE_FMT_TABLE = 0, TABLE_FMT_JSON, TABLE_FMT_CSV };

/* "table" | "json" | "csv" -> format; ERR_INVALID with a message otherwise. */
int table_format_parse(const char *s, enum table_format *out);
const char *table_format_name(enum table_format f);

struct table;

/* New table with ncols columns named by headers[] (copied). NULL on OOM. */
struct table *table_new(int ncols, const char *const *headers);
void table_free(struct table *t);

/* Append a row of ncols cells (copied; NULL cells print empty / JSON null). 0 or ERR_NOMEM. */
int table_add_row(struct table *t, const char *const *cells);
/* Append a row whose cells are given as printf formats, one per column, then their args, e.g.
 * table_add_rowf(t, "%d|%s|%.1f", i, name, w) with '|' separating columns. */
int table_add_rowf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int table_rows(const struct table *t);
const char *table_cell(const struct table *t, int row, int col);

/* Write in the given format. Cells that parse fully as numbers are JSON numbers. 0 or ERR_IO. */
int table_write(const struct table *t, FILE *out, enum table_format fmt);

#endif
