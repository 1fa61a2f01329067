/*
 * schedule.c — reading a file of inter-arrival gaps (schedule.h).
 *
 * Sections: one line, the file.
 */
#include "load/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* --- one line --- */

/* Parse one gap; 1 = a gap in *ns, 0 = blank or comment, < 0 = error (message set). */
static int parse_line(char *s, const char *path, int line, int64_t *ns) {
  while (isspace((unsigned char)*s)) s++;
  if (!*s || *s == '#') return 0;
  char *end;
  double v = strtod(s, &end);
  if (end == s)
    return err_set(ERR_PARSE, "%s:%d: '%.40s' is not a gap (one number of microseconds a line)",
                   path, line, s);
  while (isspace((unsigned char)*end) && *end != '\n') end++;
  char unit[8] = "us";
  int k = 0;
  while (isalpha((unsigned char)end[k]) && k < 7) unit[k] = end[k], k++;
  if (k) unit[k] = 0;
  char *rest = end + k;
  while (isspace((unsigned char)*rest)) rest++;
  double scale = !strcmp(unit, "us") ? 1e3 : !strcmp(unit, "ms") ? 1e6 : !strcmp(unit, "s") ? 1e9 : 0;
  if (!scale || (*rest && *rest != '#'))
    return err_set(ERR_PARSE, "%s:%d: '%.40s': expected a number with an optional unit us, ms or s",
                   path, line, s);
  if (!(v >= 0) || v * scale > 3.6e12)
    return err_set(ERR_PARSE, "%s:%d: gap %g%s must be >= 0 and at most one hour", path, line, v,
                   unit);
  *ns = (int64_t)llround(v * scale);
  return 1;
}

/* --- the file --- */

static int append(int64_t **a, size_t *n, size_t *cap, int64_t v) {
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 256;
    int64_t *b = realloc(*a, c * sizeof *b);
    if (!b) return err_set(ERR_NOMEM, "schedule: out of memory for %zu gaps", c);
    *a = b, *cap = c;
  }
  (*a)[(*n)++] = v;
  return 0;
}

int load_schedule_read(const char *path, int64_t **gaps_ns, size_t *n) {
  *gaps_ns = NULL, *n = 0;
  FILE *f = fopen(path, "r");
  if (!f) return err_set(ERR_IO, "--schedule %s: %s (check the path)", path, strerror(errno));
  char buf[256];
  int line = 0, rc = 0;
  size_t cap = 0;
  int64_t total = 0, v = 0;
  while (rc == 0 && fgets(buf, sizeof buf, f)) {
    line++;
    int got = parse_line(buf, path, line, &v);
    if (got < 0) rc = got;
    if (got > 0 && (rc = append(gaps_ns, n, &cap, v)) == 0) total += v;
  }
  if (rc == 0 && ferror(f)) rc = err_set(ERR_IO, "%s: read error", path);
  if (rc == 0 && *n == 0) rc = err_set(ERR_PARSE, "%s: no gaps in the file (one per line, in us)", path);
  if (rc == 0 && total == 0) rc = err_set(ERR_PARSE, "%s: every gap is 0; the schedule would never advance", path);
  fclose(f);
  if (rc < 0) {
    free(*gaps_ns);
    *gaps_ns = NULL, *n = 0;
  }
  return rc;
}

double load_schedule_rate(const int64_t *gaps_ns, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)gaps_ns[i];
  return sum > 0 ? n * 1e9 / sum : 0;
}
