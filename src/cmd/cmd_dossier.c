/*
 * cmd_dossier.c — `gpuops dossier`, the main job: run each capability's quick
 * mode on whatever this machine offers, assemble one document, and have
 * report/ render it as a terminal summary and a self-contained HTML page.
 *
 * Sections so far: environment (backend, CUDA plugin); devices; health
 * (telemetry); fleet scheduling (fleet); a profiled run (profile, with
 * --profile DIR or --profile -- CMD).
 * Later capabilities add theirs here (kernels, fleet, serving, maintenance).
 * Without a GPU it runs on the simulated backend and says so at the top.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/timeutil.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "gpu/gpujson.h"
#include "kernels/cudaplugin.h"
#include "fleet/dossier.h"
#include "profile/dossier.h"
#include "report/report.h"
#include "telemetry/telemetry.h"
#include "version.h"

/* ---- environment ---- */
static json_t *section_environment(struct gpu_backend *b) {
  struct cudaplugin p;
  bool plugin = cudaplugin_load(&p) == 0;
  char plugin_why[512];
  snprintf(plugin_why, sizeof plugin_why, "%s", plugin ? p.path : err_msg());
  json_t *s = report_section("environment", "Environment", "ok",
                             b->simulated ? "simulated GPUs (no usable GPU through NVML)" : "real GPUs through NVML");
  static const char *cols[] = {"piece", "state"};
  json_t *rows = report_add_table(s, NULL, cols, 2);
  json_array_append_new(rows, json_pack("[s,s]", "GPU backend", gpu_backend_name(b)));
  json_array_append_new(rows, json_pack("[s,s]", "CUDA plugin", plugin ? "loaded" : "not loaded"));
  if (b->note[0]) report_add_note(s, "%s", b->note);
  if (!plugin) report_add_note(s, "CUDA plugin: %s", plugin_why);
  if (plugin) cudaplugin_unload(&p);
  return s;
}

/* ---- devices ----
 * What the machine has, one row per GPU with one sample. Health verdicts come
 * from the telemetry capability's section. */
static json_t *num_cell(const json_t *sample, const char *key) {
  const json_t *v = json_object_get(sample, key);
  return json_is_number(v) ? json_deep_copy(v) : json_null();
}

static json_t *section_devices(struct gpu_backend *b) {
  json_t *s = report_section("devices", "Devices", "ok", ""), *all = NULL;
  if (gpujson_devices(b, GPUJSON_SAMPLE | GPUJSON_MIG, 100, &all) < 0) {
    json_object_set_new(s, "status", json_string("fail"));
    json_object_set_new(s, "summary", json_string(err_msg()));
    return s;
  }
  static const char *cols[] = {"GPU", "name", "memory MiB", "util %", "SM active %", "power W", "temp C", "SM MHz", "MIG"};
  json_t *rows = report_add_table(s, NULL, cols, 9);
  char name[128] = "";
  size_t i;
  json_t *d;
  json_array_foreach(all, i, d) {
    const json_t *smp = json_object_get(d, "sample");
    snprintf(name, sizeof name, "%s", json_string_value(json_object_get(d, "name")) ?: "?");
    const json_t *mig = json_object_get(d, "mig_mode");
    json_array_append_new(rows, json_pack("[i,s,O,o,o,o,o,o,s]", (int)i, name, json_object_get(d, "memory_total_mib"),
                                          num_cell(smp, "gpu_util_pct"), num_cell(smp, "gpm_sm_active_pct"),
                                          num_cell(smp, "power_w"), num_cell(smp, "gpu_temp_c"),
                                          num_cell(smp, "sm_clock_mhz"),
                                          json_string_value(json_object_get(mig, "current")) ?: "n/a"));
  }
  char summary[256];
  snprintf(summary, sizeof summary, "%zu x %s%s", json_array_size(all), name, b->simulated ? " (simulated)" : "");
  json_object_set_new(s, "summary", json_string(summary));
  json_object_set_new(s, "devices", all);
  return s;
}

/* ---- assembling and writing ---- */
static json_t *build(struct gpu_backend *b, const char *profile_dir) {
  char host[256] = "", when[32];
  gethostname(host, sizeof host - 1);
  json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:[]}", "title", "gpuops dossier", "generated",
                          time_iso8601(time_wall_ns(), when, sizeof when), "host", host, "version", GPUOPS_VERSION,
                          "commit", GPUOPS_GIT_COMMIT, "backend", gpu_backend_name(b), "simulated", b->simulated,
                          "note", b->note[0] ? json_string(b->note) : json_null(), "sections");
  json_t *sections = json_object_get(doc, "sections");
  json_array_append_new(sections, section_environment(b));
  json_array_append_new(sections, section_devices(b));
  json_array_append_new(sections, telemetry_dossier_section(b));
  json_array_append_new(sections, fleet_dossier_section());
  if (profile_dir) json_array_append_new(sections, profile_dossier_section(profile_dir));
  return doc;
}

static int mkdir_p(const char *dir) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "cannot create %s: %s", buf, strerror(errno));
      *p = '/';
    }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "cannot create %s: %s", buf, strerror(errno));
  return 0;
}

static int write_files(const char *dir, const json_t *doc) {
  char path[1100];
  int rc = mkdir_p(dir);
  if (rc < 0) return rc;
  snprintf(path, sizeof path, "%s/dossier.json", dir);
  if ((rc = jsonio_write_file(path, doc)) < 0) return rc;
  snprintf(path, sizeof path, "%s/dossier.html", dir);
  FILE *f = fopen(path, "w");
  if (!f) return err_set(ERR_IO, "cannot write %s: %s", path, strerror(errno));
  rc = report_html(f, doc);
  if (fclose(f) != 0 && rc == 0) rc = err_set(ERR_IO, "cannot write %s", path);
  return rc;
}

/* `--profile -- CMD ARGS...`: profile CMD into DIR/profile first (through
 * `gpuops profile --nvtx`), then show that folder. Returns the folder, or NULL. */
static const char *profile_command(const char *dir, char **cmd, int n, char *buf, size_t len) {
  snprintf(buf, len, "%s/profile", dir);
  char *pargv[256] = {"profile", "-o", buf, "--nvtx", "--"};
  int k = 5;
  for (int i = 0; i < n && k < 255; i++) pargv[k++] = cmd[i];
  pargv[k] = NULL;
  int rc = cmd_profile(k, pargv);
  return rc == EXIT_USAGE || rc == EXIT_ENV ? NULL : buf;
}

int cmd_dossier(int argc, char **argv) {
  const char *dir = "out/dossier", *profile = NULL;
  char profile_buf[1100];
  /* "--profile -- CMD ...": everything after "--" is the command, not options. */
  int cmd_at = 0;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--profile") && !strcmp(argv[i + 1], "--")) cmd_at = i;
  int ncmd = cmd_at ? argc - cmd_at - 2 : 0;
  if (cmd_at) argc = cmd_at;
  const struct cli_option opts[] = {
      {"output", 'o', CLI_ARG_STRING, &dir, "DIR", "folder for dossier.html and dossier.json (default out/dossier)"},
      {"profile", 0, CLI_ARG_STRING, &profile, "DIR|-- CMD",
       "add a profile section: a saved `gpuops profile` folder, or profile CMD first (the last option)"},
      {0}};
  const struct cli_spec spec = {"dossier", "[-o DIR] [options]",
                                "The main job: run every capability's quick mode that this machine supports and write "
                                "one report (terminal summary + self-contained HTML). Without a GPU it uses simulated "
                                "GPUs and says so at the top.",
                                CLI_BACKEND | CLI_SPEC | CLI_NODE | CLI_FORMAT, opts, 0, 0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (c.format == TABLE_FMT_CSV) return cli_usage_error("dossier", "--format csv is not available (use table or json)");
  if (cmd_at && ncmd == 0) return cli_usage_error("dossier", "--profile -- needs a command after --");
  if (cmd_at && !(profile = profile_command(dir, argv + cmd_at + 2, ncmd, profile_buf, sizeof profile_buf)))
    return EXIT_ENV;

  struct inventory inv;
  struct gpu_options go;
  struct gpu_backend *b = NULL;
  json_t *doc = NULL;
  rc = cli_gpu_options(&c, &inv, &go);
  if (rc < 0) goto out;
  go.allow_sim_fallback = true;
  if ((rc = gpu_open(&go, &b)) < 0) goto out;
  doc = build(b, profile);
  if ((rc = write_files(dir, doc)) < 0) goto out;
  rc = c.format == TABLE_FMT_JSON ? jsonio_write(stdout, doc) : report_text(stdout, doc);
  if (rc == 0 && c.format != TABLE_FMT_JSON) printf("\nreport: %s/dossier.html (and dossier.json)\n", dir);
out:
  json_decref(doc);
  gpu_close(b);
  inventory_free(&inv);
  return rc < 0 ? cli_fail("dossier", rc) : 0;
}
