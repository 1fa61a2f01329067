/* jsonio.c — jansson helpers. */
#include "base/jsonio.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "base/err.h"

json_t *jsonio_int_or_real(double v) {
  if (isfinite(v) && v == floor(v) && fabs(v) < 9.0e15) return json_integer((json_int_t)v);
  return isfinite(v) ? json_real(v) : json_null();
}

json_t *jsonio_number(bool valid, double v) { return valid ? jsonio_int_or_real(v) : json_null(); }

int jsonio_write(FILE *out, const json_t *doc) {
  if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0)
    return err_set(ERR_IO, "writing JSON failed");
  fputc('\n', out);
  return ferror(out) ? err_set(ERR_IO, "writing JSON failed") : 0;
}

int jsonio_write_file(const char *path, const json_t *doc) {
  FILE *f = fopen(path, "w");
  if (!f) return err_set(ERR_IO, "cannot write %s: %s", path, strerror(errno));
  int rc = jsonio_write(f, doc);
  if (fclose(f) != 0 && rc == 0) rc = err_set(ERR_IO, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

int jsonio_load_file(const char *path, json_t **out) {
  json_error_t je;
  *out = json_load_file(path, 0, &je);
  if (*out) return 0;
  if (je.line < 0 || strstr(je.text, "unable to open"))
    return err_set(ERR_IO, "cannot read %s: %s", path, je.text);
  return err_set(ERR_PARSE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
}
