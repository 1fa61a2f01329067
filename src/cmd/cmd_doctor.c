/*
 * cmd_doctor.c — `gpuops doctor`: what this machine offers gpuops and what is
 * missing. Each check is one row: ✓/✗ (or ! for a warning, · for
 * information), what was found, and how to fix it when missing.
 * Exit 0 when gpuops can run (the simulated backend counts); with
 * --require-gpu, exit 3 when a GPU piece (NVML, a GPU, the CUDA plugin) is missing.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "gpu/simstate.h"
#include "kernels/cudaplugin.h"
#include "version.h"

enum check_status { CHECK_OK, CHECK_MISSING, CHECK_WARN, CHECK_INFO };

struct doctor {
  struct table *t;
  bool gpu_missing; /* a GPU piece is missing (for --require-gpu) */
  bool fatal;       /* gpuops cannot run at all */
};

static const char *status_word(enum check_status s) {
  return s == CHECK_OK ? "ok" : s == CHECK_MISSING ? "missing" : s == CHECK_WARN ? "warning" : "info";
}

static void add(struct doctor *d, const char *check, enum check_status s, const char *detail, const char *fix) {
  const char *cells[] = {check, status_word(s), detail, s == CHECK_OK || s == CHECK_INFO ? "" : fix};
  table_add_row(d->t, cells);
}

/* First executable named `name` on PATH or in the extra folders; writes its path. */
static bool find_tool(const char *name, char *path, size_t len) {
  const char *env = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s:/usr/local/cuda/bin:/opt/nvidia/nsight-compute", env ? env : "/usr/bin:/bin");
  for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    snprintf(path, len, "%s/%s", dir, name);
    if (access(path, X_OK) == 0) return true;
  }
  return false;
}

/* First line of `cmd` matching `needle` (e.g. "release"), trimmed. */
static void tool_version(const char *cmd, const char *needle, char *out, size_t len) {
  out[0] = '\0';
  FILE *p = popen(cmd, "r");
  if (!p) return;
  char line[512];
  while (fgets(line, sizeof line, p))
    if (!out[0] && strstr(line, needle)) {
      line[strcspn(line, "\r\n")] = '\0';
      snprintf(out, len, "%s", line);
    }
  pclose(p);
}

static void check_nvml(struct doctor *d) {
  struct gpu_options o = {.kind = GPU_BACKEND_NVML};
  struct gpu_backend *b = NULL;
  char detail[1024];
  if (gpu_open(&o, &b) < 0) {
    snprintf(detail, sizeof detail, "%s", err_msg());
    add(d, "NVML library", CHECK_MISSING, detail,
        "install the NVIDIA driver (libnvidia-ml.so.1), or set GPUOPS_NVML_LIBRARY; --backend sim works without it");
    add(d, "GPUs seen", CHECK_MISSING, "none (no NVML)", "a GPU and its driver; --backend sim simulates 8 x H200");
    d->gpu_missing = true;
    return;
  }
  int n = gpu_count(b);
  struct gpu_info info = {0};
  bool have_info = n > 0 && gpu_get_info(b, 0, &info) == 0;
  snprintf(detail, sizeof detail, "loaded; driver %s", have_info ? info.driver_version : "(no GPU to ask)");
  add(d, "NVML library", CHECK_OK, detail, "");
  if (n <= 0) {
    add(d, "GPUs seen", CHECK_MISSING, "NVML sees no GPU", "check `nvidia-smi`; is the GPU passed through?");
    d->gpu_missing = true;
    gpu_close(b);
    return;
  }
  snprintf(detail, sizeof detail, "%d x %s", n, info.name);
  add(d, "GPUs seen", CHECK_OK, detail, "");
  if (info.valid & GPU_INFO_CC) {
    snprintf(detail, sizeof detail, "%d.%d%s", info.cc_major, info.cc_minor,
             info.cc_major >= 9 ? " (Hopper: wgmma/TMA kernels run)" : " (pre-Hopper: sm_90a kernels will not run)");
    add(d, "compute capability", info.cc_major >= 9 ? CHECK_OK : CHECK_WARN, detail,
        "Hopper (sm_90) needed for the wgmma/TMA kernels; portable kernels still run");
  }
  for (int i = 0; i < n; i++) {
    struct gpu_info gi;
    if (gpu_get_info(b, i, &gi) < 0) continue;
    char what[64];
    snprintf(what, sizeof what, "MIG mode (GPU %d)", i);
    if (gi.valid & GPU_INFO_MIG_MODE)
      snprintf(detail, sizeof detail, "current %s, pending %s", gi.mig_current ? "enabled" : "disabled",
               gi.mig_pending ? "enabled" : "disabled");
    else
      snprintf(detail, sizeof detail, "not supported on this GPU");
    add(d, what, CHECK_INFO, detail, "");
  }
  snprintf(detail, sizeof detail, "%s", info.gpm_supported ? "supported (SM/tensor/DRAM activity)" : "not supported");
  add(d, "GPM profiling metrics", info.gpm_supported ? CHECK_OK : CHECK_WARN, detail,
      "GPM needs Hopper or newer; DCGM_FI_PROF_* metrics will be absent");
  gpu_close(b);
}

static void check_plugin(struct doctor *d) {
  struct cudaplugin p;
  char detail[1024];
  if (cudaplugin_load(&p) < 0) {
    snprintf(detail, sizeof detail, "%s", err_msg());
    add(d, "CUDA plugin", CHECK_MISSING, detail,
        "build with nvcc present (make), or set GPUOPS_CUDA_PLUGIN to libgpuops_cuda.so; kernels fall back to CPU");
    d->gpu_missing = true;
    return;
  }
  char err[512] = "";
  int rt = 0, drv = 0, n = 0;
  p.api->runtime_version(&rt, &drv, err, sizeof err);
  int rc = p.api->device_count(&n, err, sizeof err);
  if (rc < 0 || n <= 0) {
    snprintf(detail, sizeof detail, "%s loads (%s) but sees no device: %s", p.path, p.api->build_info, err);
    add(d, "CUDA plugin", CHECK_WARN, detail, "needs a GPU and its driver (libcuda.so.1) at run time");
    d->gpu_missing = true;
  } else {
    snprintf(detail, sizeof detail, "%s loads; CUDA runtime %d.%d, driver %d.%d, %d device%s", p.path, rt / 1000,
             (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10, n, n == 1 ? "" : "s");
    add(d, "CUDA plugin", CHECK_OK, detail, "");
  }
  cudaplugin_unload(&p);
}

static void check_tool(struct doctor *d, const char *name, const char *label, const char *ver_arg,
                       const char *needle, const char *fix, bool warn) {
  char path[1024], ver[256], cmd[1200], detail[1400];
  if (!find_tool(name, path, sizeof path)) {
    add(d, label, warn ? CHECK_WARN : CHECK_MISSING, "not found on PATH", fix);
    return;
  }
  ver[0] = '\0';
  if (ver_arg) {
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", path, ver_arg);
    tool_version(cmd, needle, ver, sizeof ver);
  }
  snprintf(detail, sizeof detail, "%s%s%s", path, ver[0] ? ": " : "", ver);
  add(d, label, CHECK_OK, detail, "");
}

static void check_sim(struct doctor *d) {
  struct gpu_options o = {.kind = GPU_BACKEND_SIM};
  struct gpu_backend *b = NULL;
  char detail[1024];
  if (gpu_open(&o, &b) < 0) {
    snprintf(detail, sizeof detail, "%s", err_msg());
    add(d, "simulated backend", CHECK_MISSING, detail, "check $GPUOPS_SIM_STATE and the fleet spec");
    d->fatal = true;
    return;
  }
  snprintf(detail, sizeof detail, "%d simulated GPUs; fault state %s", gpu_count(b), simstate_default_path());
  add(d, "simulated backend", CHECK_OK, detail, "");
  gpu_close(b);
}

static int write_table(FILE *out, const struct table *t) {
  for (int r = 0; r < table_rows(t); r++) {
    const char *st = table_cell(t, r, 1), *fix = table_cell(t, r, 3);
    const char *mark = !strcmp(st, "ok") ? "✓" : !strcmp(st, "missing") ? "✗" : !strcmp(st, "warning") ? "!" : "·";
    fprintf(out, "%s %-24s %s\n", mark, table_cell(t, r, 0), table_cell(t, r, 2));
    if (fix && fix[0]) fprintf(out, "  %-24s fix: %s\n", "", fix);
  }
  return ferror(out) ? ERR_IO : 0;
}

int cmd_doctor(int argc, char **argv) {
  bool require_gpu = false;
  const struct cli_option opts[] = {
      {"require-gpu", 0, CLI_ARG_FLAG, &require_gpu, NULL, "exit 3 when NVML, a GPU or the CUDA plugin is missing"},
      {0}};
  const struct cli_spec spec = {"doctor", "[--require-gpu] [options]",
                                "Check what this machine offers gpuops: NVML and GPUs, the CUDA plugin, CUDA tools, "
                                "Prometheus. Each missing piece comes with a fix.",
                                CLI_FORMAT | CLI_OUTPUT, opts, 0, 0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;

  static const char *cols[] = {"check", "status", "detail", "fix"};
  struct doctor d = {.t = table_new(4, cols)};
  char detail[128];
  snprintf(detail, sizeof detail, "%s (commit %s)", GPUOPS_VERSION, GPUOPS_GIT_COMMIT);
  add(&d, "gpuops", CHECK_INFO, detail, "");
  check_nvml(&d);
  check_plugin(&d);
  check_tool(&d, "nvcc", "nvcc", "--version", "release", "install the CUDA toolkit (nvcc) to build the CUDA plugin", true);
  check_tool(&d, "ncu", "Nsight Compute (ncu)", "--version", "Version", "install Nsight Compute for kernel counters", true);
  check_tool(&d, "compute-sanitizer", "compute-sanitizer", "--version", "Version",
             "install the CUDA toolkit's compute-sanitizer to check kernels for races", true);
  check_tool(&d, "prometheus", "Prometheus", "--version", "version", "apt-get install prometheus (integration tests)", true);
  check_tool(&d, "promtool", "promtool", "--version", "version", "apt-get install prometheus (rule tests)", true);
  check_sim(&d);

  bool close_it;
  FILE *out = cli_output_open("doctor", &c, &close_it);
  if (!out) {
    table_free(d.t);
    return EXIT_USAGE;
  }
  rc = c.format == TABLE_FMT_TABLE ? write_table(out, d.t) : table_write(d.t, out, c.format);
  cli_output_close(out, close_it);
  table_free(d.t);
  if (rc < 0) return cli_fail("doctor", rc);
  if (d.fatal) return EXIT_ENV;
  if (require_gpu && d.gpu_missing) {
    fprintf(stderr, "gpuops doctor: a GPU piece is missing (--require-gpu)\n");
    return EXIT_ENV;
  }
  return EXIT_OK;
}
