/*
 * jsonio.h — small helpers around jansson for the shapes gpuops writes
 * everywhere: a measured value that may be invalid (null), pretty output to a
 * stream, and loading a file with the position of a syntax error.
 */
#ifndef GPUOPS_BASE_JSONIO_H
#define GPUOPS_BASE_JSONIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* A number when valid, JSON null when not (never 0 for "unknown"). New reference. */
json_t *jsonio_number(bool valid, double v);
/* Integers that fit print without a fraction. New reference. */
json_t *jsonio_int_or_real(double v);
/* Pretty-print (2-space indent, key order kept) followed by a newline. 0 or ERR_IO. */
int jsonio_write(FILE *out, const json_t *doc);
/* Write to a file path (replacing it). 0 or ERR_IO with the path in the message. */
int jsonio_write_file(const char *path, const json_t *doc);
/* Load a JSON file; ERR_IO / ERR_PARSE with "path:line:column: text" in err_msg(). */
int jsonio_load_file(const char *path, json_t **out);

#endif
