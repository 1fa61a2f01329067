/*
 * alibaba.h — the Alibaba GPU cluster trace 2023 ("openb") as gpuops reads it:
 * the node list imported into the one inventory model, and the small CSV
 * reader that the fleet's task loader shares (../shared/data/alibaba-gpu-2023/
 * README.md has the schema).
 *
 * Node list columns (named by the header, any order): sn, cpu_milli,
 * memory_mib, gpu, model. Each row becomes one inv_node with `gpu` GPUs of
 * `model`, every GPU shared (fractions in thousandths allowed). A model the
 * catalog knows (H200, A100-80GB, ...) gets its catalog entry; the trace's own
 * models (P100, T4, V100M16, V100M32, A10, G1, G2, G3) keep model == NULL and
 * their name in model_name.
 *
 * Errors name the file, the line and the column ("nodes.csv:12: column 4
 * (gpu): expected a whole number 0..64, got 'x'"), and nothing is half
 * loaded: on error the inventory is left empty.
 *
 * Sections: the CSV reader; the node list.
 */
#ifndef GPUOPS_INVENTORY_ALIBABA_H
#define GPUOPS_INVENTORY_ALIBABA_H

#include <stddef.h>
#include <stdint.h>

#include "inventory/inventory.h"

/* ---- 1. the CSV reader --------------------------------------------------- */

#define ALIBABA_CSV_MAX_COLS  32
#define ALIBABA_CSV_MAX_FIELD 256          /* bytes in one field */
#define ALIBABA_CSV_MAX_BYTES (256u << 20) /* a trace file larger than this is refused */

/*
 * A CSV file held in memory, read row by row. The first row is the header.
 * Fields may be quoted ("a,b" with "" for a quote); rows end in \n or \r\n;
 * blank lines are skipped. Every data row must have as many fields as the
 * header.
 */
struct alibaba_csv {
  char name[256];                                          /* file name for messages */
  char *buf;                                               /* owned: the file's bytes */
  size_t len, pos;                                         /* size and read position */
  int line;                                                /* line of the current row, 1-based */
  int ncols;                                               /* columns in the header */
  char header[ALIBABA_CSV_MAX_COLS][64];                   /* column names */
  int nfields;                                             /* fields in the current row */
  char field[ALIBABA_CSV_MAX_COLS][ALIBABA_CSV_MAX_FIELD]; /* the current row */
};

/*
 * Open path and read its header. Returns 0, or ERR_IO (cannot read),
 * ERR_PARSE (no header, a malformed header) with the file and line in
 * err_msg(). On success the caller frees with alibaba_csv_close().
 * alibaba_csv_open_buf does the same on a copy of buf; `name` stands for the
 * file in messages.
 */
int alibaba_csv_open(struct alibaba_csv *c, const char *path);
int alibaba_csv_open_buf(struct alibaba_csv *c, const char *buf, size_t len, const char *name);
void alibaba_csv_close(struct alibaba_csv *c);

/* Column index of a header name, or -1. */
int alibaba_csv_column(const struct alibaba_csv *c, const char *name);

/*
 * Read the next data row into c->field. Returns 1 (a row), 0 (end of file) or
 * ERR_PARSE ("file:line: expected 11 fields (as the header), got 9").
 */
int alibaba_csv_next(struct alibaba_csv *c);

/*
 * The current row's field `col` as a whole number in [min, max]. Returns 0,
 * or ERR_PARSE with "file:line: column N (name): expected a whole number
 * min..max, got 'text'" in err_msg(). An empty field is an error unless
 * empty_ok, which gives *out = dflt.
 */
int alibaba_csv_int(const struct alibaba_csv *c, int col, int64_t min, int64_t max, bool empty_ok,
                    int64_t dflt, int64_t *out);

/* Set an error about field `col` of the current row: "file:line: column N (name): <what>". */
int alibaba_csv_error(const struct alibaba_csv *c, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- 2. the node list ---------------------------------------------------- */

/*
 * Load an Alibaba node list into inv (treated as uninitialised). Returns 0,
 * or ERR_IO / ERR_PARSE / ERR_INVALID / ERR_NOMEM with the file, line and
 * column in err_msg(); *inv is then empty. The fleet is named after the file;
 * every node is "up".
 */
int alibaba_load_nodes(struct inventory *inv, const char *path);
int alibaba_load_nodes_buf(struct inventory *inv, const char *buf, size_t len, const char *name);

#endif
