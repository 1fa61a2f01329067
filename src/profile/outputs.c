/*
 * outputs.c — the files of a profile folder (outputs.h).
 */
#include "profile/outputs.h"

#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "profile/findings.h"
#include "profile/folded.h"
#include "profile/runner.h"
#include "profile/summary.h"
#include "profile/trace.h"

/* Open dir/name for writing; NULL with the error set. */
static FILE *open_in(const char *dir, const char *name, char *path, size_t len) {
  snprintf(path, len, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) err_set(ERR_IO, "cannot write %s: %s", path, strerror(errno));
  return f;
}

static int close_checked(FILE *f, int rc, const char *path) {
  if (fclose(f) != 0 && rc == 0) rc = err_set(ERR_IO, "cannot write %s", path);
  return rc;
}

static int write_trace(const char *dir, const struct profile *p) {
  char path[2048];
  FILE *f = open_in(dir, "trace.json", path, sizeof path);
  return f ? close_checked(f, trace_write(f, p), path) : ERR_IO;
}

static int write_text(const char *dir, const struct profile *p, const struct summary *s, const json_t *findings) {
  char path[2048];
  FILE *f = open_in(dir, "summary.txt", path, sizeof path);
  if (!f) return ERR_IO;
  int rc = close_checked(f, summary_text(f, p, s, OUTPUTS_TOP), path);
  if (rc || !(f = open_in(dir, "findings.txt", path, sizeof path))) return rc ? rc : ERR_IO;
  return close_checked(f, findings_text(f, findings), path);
}

static int write_stacks(const char *dir, const struct profile *p) {
  char path[2048], title[1200];
  json_t *stacks = folded_stacks(p);
  if (!stacks) return err_set(ERR_NOMEM, "out of memory (stacks)");
  FILE *f = open_in(dir, "stacks.folded", path, sizeof path);
  int rc = f ? close_checked(f, folded_write(f, stacks), path) : ERR_IO;
  snprintf(title, sizeof title, "GPU time by NVTX range: %.200s", p->command[0] ? p->command : "recorded run");
  if (rc == 0 && (f = open_in(dir, "flamegraph.svg", path, sizeof path)))
    rc = close_checked(f, folded_flamegraph(f, stacks, title), path);
  else if (rc == 0) rc = ERR_IO;
  json_decref(stacks);
  return rc;
}

int outputs_write(const char *dir, const struct profile *p, FILE *text) {
  struct summary s;
  char path[2048];
  int rc = runner_mkdir(dir);
  if (rc) return rc;
  if ((rc = summary_compute(p, &s))) return rc;
  json_t *sum = summary_json(p, &s, OUTPUTS_TOP), *findings = findings_evaluate(p, &s);
  snprintf(path, sizeof path, "%s/summary.json", dir);
  rc = jsonio_write_file(path, sum);
  snprintf(path, sizeof path, "%s/findings.json", dir);
  if (rc == 0) rc = jsonio_write_file(path, findings);
  if (rc == 0) rc = write_text(dir, p, &s, findings);
  if (rc == 0) rc = write_trace(dir, p);
  if (rc == 0) rc = write_stacks(dir, p);
  if (rc == 0 && text) {
    summary_text(text, p, &s, OUTPUTS_TOP);
    fputc('\n', text);
    findings_text(text, findings);
  }
  json_decref(sum);
  json_decref(findings);
  summary_free(&s);
  return rc;
}
