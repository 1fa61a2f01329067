/*
 * test_cli.c — the gpuops command as a user runs it: separate processes,
 * exit codes, stdout/stderr, JSON parsed back. The binary is $GPUOPS_BIN.
 * Each test has its own simulated-fault state file, so tests don't interfere.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

struct run {
  int status;  /* exit code */
  char *out;   /* stdout */
  char *err;   /* stderr */
};

static char state_dir[256];

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = calloc(1, (size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) buf[0] = '\0';
  fclose(f);
  return buf;
}

/* Run `gpuops ARGS` through sh with extra environment assignments in env (may be ""). */
static struct run run_env(const char *env, const char *args) {
  char cmd[4096], outp[300], errp[300];
  snprintf(outp, sizeof outp, "%s/stdout", state_dir);
  snprintf(errp, sizeof errp, "%s/stderr", state_dir);
  snprintf(cmd, sizeof cmd, "env GPUOPS_SIM_STATE=%s/faults.json GPUOPS_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 %s %s %s >%s 2>%s",
           state_dir, env, getenv("GPUOPS_BIN"), args, outp, errp);
  int st = system(cmd);
  struct run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128, slurp(outp), slurp(errp)};
  return r;
}
static struct run run(const char *args) { return run_env("", args); }
static void run_free(struct run *r) {
  free(r->out);
  free(r->err);
}

static void setup(void) { testutil_tmpdir(state_dir, sizeof state_dir, "cli"); }
static void teardown(void) { testutil_rmrf(state_dir); }

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *doc = json_loads(text, 0, &e);
  cr_assert_not_null(doc, "output is not JSON (%s at line %d): %.300s", e.text, e.line, text);
  return doc;
}

TestSuite(cli, .init = setup, .fini = teardown);

Test(cli, help_lists_commands_and_version_has_commit) {
  struct run r = run("--help");
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "devices") && strstr(r.out, "doctor") && strstr(r.out, "dossier") && strstr(r.out, "sim"));
  run_free(&r);
  r = run("--version");
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "commit "), "%s", r.out);
  run_free(&r);
}

Test(cli, unknown_command_and_option_exit_2_with_hint) {
  struct run r = run("devcies");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "'devcies'") && strstr(r.err, "did you mean 'devices'"), "%s", r.err);
  run_free(&r);
  r = run("devices --detials");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "'--detials'") && strstr(r.err, "--details"), "%s", r.err);
  cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
  run_free(&r);
  r = run("devices --format yaml");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "yaml"), "%s", r.err);
  run_free(&r);
}

Test(cli, auto_falls_back_to_sim_and_says_so_first) {
  struct run r = run("devices");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(!strncmp(r.out, "# backend: sim", 14), "first line: %.200s", r.out);
  int lines = 0;
  for (char *p = r.out; (p = strstr(p, "GPU ")); p++) lines += !strncmp(p, "GPU ", 4) && p[-1] == '\n';
  cr_assert_eq(lines, 8, "%s", r.out);
  run_free(&r);
}

/* The H200 geometry of ../shared/data/mig-geometry.md (read off a real card). */
static const struct {
  int id;
  const char *name;
  int starts[8], n, size;
} h200[] = {
    {19, "1g.18gb", {0, 1, 2, 3, 4, 5, 6}, 7, 1}, {20, "1g.18gb+me", {0, 1, 2, 3, 4, 5, 6}, 7, 1},
    {15, "1g.35gb", {0, 2, 4, 6}, 4, 2},          {14, "2g.35gb", {0, 2, 4}, 3, 2},
    {9, "3g.71gb", {0, 4}, 2, 4},                 {5, "4g.71gb", {0}, 1, 4},
    {0, "7g.141gb", {0}, 1, 8},
};

Test(cli, devices_sim_mig_json_is_8_h200_with_exact_geometry) {
  struct run r = run("devices --backend sim --mig --format json");
  cr_assert_eq(r.status, 0, "%s", r.err);
  json_t *doc = parse(r.out);
  cr_assert(json_is_true(json_object_get(doc, "simulated")));
  json_t *gpus = json_object_get(doc, "gpus");
  cr_assert_eq(json_array_size(gpus), 8);
  size_t i;
  json_t *g;
  json_array_foreach(gpus, i, g) {
    cr_assert_str_eq(json_string_value(json_object_get(g, "name")), "NVIDIA H200");
    cr_assert_eq(json_integer_value(json_object_get(g, "memory_total_mib")), 143771);
    cr_assert(json_is_true(json_object_get(g, "simulated")));
    json_t *profs = json_object_get(g, "mig_profiles");
    cr_assert_eq(json_array_size(profs), 7, "GPU %zu: %zu profiles", i, json_array_size(profs));
    for (size_t p = 0; p < 7; p++) {
      json_t *pj = json_array_get(profs, p);
      cr_assert_eq(json_integer_value(json_object_get(pj, "id")), h200[p].id);
      cr_assert_str_eq(json_string_value(json_object_get(pj, "name")), h200[p].name);
      json_t *pl = json_object_get(pj, "placements");
      cr_assert_eq((int)json_array_size(pl), h200[p].n, "profile %d", h200[p].id);
      for (int k = 0; k < h200[p].n; k++) {
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(pl, k), "start")), h200[p].starts[k]);
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(pl, k), "size")), h200[p].size);
      }
    }
  }
  json_decref(doc);
  run_free(&r);
}

static json_t *gpu_sample_of(json_t *doc, int idx) {
  return json_object_get(json_array_get(json_object_get(doc, "gpus"), (size_t)idx), "sample");
}

Test(cli, fault_injected_by_one_process_is_seen_by_the_next) {
  struct run r = run("sim inject --gpu 3 --xid 79");
  cr_assert_eq(r.status, 0, "%s", r.err);
  run_free(&r);
  r = run("sim inject --gpu 5 --ecc-uncorrectable --count 4");
  cr_assert_eq(r.status, 0, "%s", r.err);
  run_free(&r);
  r = run("devices --backend sim --details --format json");
  cr_assert_eq(r.status, 0, "%s", r.err);
  json_t *doc = parse(r.out);
  cr_assert_eq(json_integer_value(json_object_get(gpu_sample_of(doc, 3), "xid_last")), 79);
  cr_assert_eq(json_integer_value(json_object_get(gpu_sample_of(doc, 2), "xid_last")), 0);
  cr_assert_geq(json_integer_value(json_object_get(gpu_sample_of(doc, 5), "ecc_uncorrected_volatile")), 4);
  json_decref(doc);
  run_free(&r);
  /* The text view shows it too, and clearing removes it. */
  r = run("devices --backend sim --details");
  cr_assert(strstr(r.out, "xid_last") && strstr(r.out, "79"), "%s", r.out);
  run_free(&r);
  r = run("sim clear");
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "cleared 2 faults"), "%s", r.out);
  run_free(&r);
  r = run("devices --backend sim --details --format json");
  doc = parse(r.out);
  cr_assert_eq(json_integer_value(json_object_get(gpu_sample_of(doc, 3), "xid_last")), 0);
  json_decref(doc);
  run_free(&r);
}

Test(cli, fallen_gpu_is_reported_lost_not_zero) {
  struct run r = run("sim inject --gpu 1 --fall-off-bus");
  cr_assert_eq(r.status, 0, "%s", r.err);
  run_free(&r);
  r = run("devices --backend sim --details --format json");
  cr_assert_eq(r.status, 0, "%s", r.err);
  json_t *doc = parse(r.out);
  json_t *g1 = json_array_get(json_object_get(doc, "gpus"), 1);
  cr_assert_not_null(json_object_get(g1, "sample_error"));
  json_t *s = json_object_get(g1, "sample");
  cr_assert(json_is_true(json_object_get(s, "lost")));
  cr_assert(json_is_null(json_object_get(s, "gpu_util_pct")), "a lost GPU's values are null, never 0");
  json_decref(doc);
  run_free(&r);
}

Test(cli, sim_inject_rejects_bad_input) {
  struct run r = run("sim inject --gpu 9 --xid 79");
  cr_assert_eq(r.status, 2, "%s", r.err);
  cr_assert(strstr(r.err, "out of range"), "%s", r.err);
  run_free(&r);
  r = run("sim inject --gpu 0");
  cr_assert_eq(r.status, 2);
  run_free(&r);
  r = run("sim inject --gpu 0 --xid 79 --node nosuchnode");
  cr_assert_neq(r.status, 0);
  cr_assert(strstr(r.err, "nosuchnode"), "%s", r.err);
  run_free(&r);
}

Test(cli, malformed_spec_names_file_line_field_exit_2) {
  char spec[512], args[700];
  snprintf(spec, sizeof spec, "%s/bad.yaml", state_dir);
  FILE *f = fopen(spec, "w");
  fputs("fleet: t\nnodes:\n  - name: a\n    gpus:\n      model: H300\n      count: 2\n", f);
  fclose(f);
  snprintf(args, sizeof args, "devices --backend sim --spec %s", spec);
  struct run r = run(args);
  cr_assert_eq(r.status, 2, "%s", r.err);
  cr_assert(strstr(r.err, "bad.yaml:5") && strstr(r.err, "model") && strstr(r.err, "H300"), "%s", r.err);
  run_free(&r);
}

Test(cli, doctor_runs_without_gpu_and_require_gpu_exits_3) {
  struct run r = run("doctor");
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "✗ NVML library"), "%s", r.out);
  cr_assert(strstr(r.out, "✓ simulated backend"), "%s", r.out);
  cr_assert(strstr(r.out, "fix:"), "%s", r.out);
  run_free(&r);
  r = run("doctor --require-gpu");
  cr_assert_eq(r.status, 3);
  run_free(&r);
  r = run("doctor --format json");
  json_t *doc = parse(r.out);
  cr_assert_geq(json_array_size(doc), 5);
  json_decref(doc);
  run_free(&r);
}

Test(cli, dossier_writes_html_and_json_and_says_simulated) {
  char args[512], path[512];
  snprintf(args, sizeof args, "dossier -o %s/d", state_dir);
  struct run r = run(args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "SIMULATED"), "%s", r.out);
  run_free(&r);
  snprintf(path, sizeof path, "%s/d/dossier.html", state_dir);
  char *html = slurp(path);
  cr_assert(strstr(html, "<!DOCTYPE html>") && strstr(html, "Simulated") && strstr(html, "NVIDIA H200"));
  cr_assert_null(strstr(html, "<script src"), "self-contained");
  free(html);
  snprintf(path, sizeof path, "%s/d/dossier.json", state_dir);
  char *js = slurp(path);
  json_t *doc = parse(js);
  cr_assert(json_is_true(json_object_get(doc, "simulated")));
  free(js);
  json_decref(doc);
}
