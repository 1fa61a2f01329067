/*
 * cudaplugin.c — finds and loads the CUDA plugin (libgpuops_cuda.so) with
 * dlopen, on the main library's side (kernels/cudaplugin.h is the contract).
 * The gpuops binary never links CUDA; everything CUDA goes through the table
 * the plugin exports.
 *
 * Search order: $GPUOPS_CUDA_PLUGIN alone when it is set and not empty (an
 * explicit choice is never silently replaced by another file); otherwise the
 * folder of the running executable, its ../lib, then the build tree
 * (GPUOPS_BUILD_DIR, given by CMake). Each candidate that fails adds
 * "<path>: <why>" to the message, so `gpuops doctor` can show whether the
 * file is missing, cannot be loaded (dlerror: a missing libcudart, a wrong
 * architecture), is not a gpuops plugin, or was built for another ABI.
 *
 * Sections: candidate list; trying one path; load and unload.
 */
#include "kernels/cudaplugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

#define PLUGIN_FILE   "libgpuops_cuda.so"
#define MAX_CANDIDATE 4

/* ---- candidate list ----------------------------------------------------- */

struct candidates {
  char path[MAX_CANDIDATE][PATH_MAX];
  int n;
};

/* Append dir/PLUGIN_FILE unless it is already in the list (same string). */
static void add_in_dir(struct candidates *c, const char *dir) {
  if (!dir || !dir[0] || c->n >= MAX_CANDIDATE) return;
  char path[PATH_MAX];
  int k = snprintf(path, sizeof path, "%s/%s", dir, PLUGIN_FILE);
  if (k < 0 || (size_t)k >= sizeof path) return;
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->path[i], path) == 0) return;
  memcpy(c->path[c->n++], path, (size_t)k + 1);
}

/* The folder of the running executable into dir; 0, or -1 if /proc can't say. */
static int exe_dir(char *dir, size_t len) {
  ssize_t k = readlink("/proc/self/exe", dir, len - 1);
  if (k <= 0) return -1;
  dir[k] = '\0';
  char *slash = strrchr(dir, '/');
  if (!slash) return -1;
  if (slash == dir)
    slash[1] = '\0'; /* the executable is in / */
  else
    *slash = '\0';
  return 0;
}

/* The default search list: beside the executable, its ../lib, the build tree. */
static void default_candidates(struct candidates *c) {
  char dir[PATH_MAX];
  if (exe_dir(dir, sizeof dir) == 0) {
    add_in_dir(c, dir);
    char lib[PATH_MAX];
    /* Collapse "<exe dir>/../lib" to a real path when it exists, for dedup and messages. */
    int k = snprintf(lib, sizeof lib, "%s/../lib", strcmp(dir, "/") == 0 ? "" : dir);
    if (k > 0 && (size_t)k < sizeof lib) {
      char real[PATH_MAX];
      add_in_dir(c, realpath(lib, real) ? real : lib);
    }
  }
#ifdef GPUOPS_BUILD_DIR
  char real[PATH_MAX];
  add_in_dir(c, realpath(GPUOPS_BUILD_DIR, real) ? real : GPUOPS_BUILD_DIR);
#endif
}

/* ---- trying one path ---------------------------------------------------- */

/* Append "; <path>: <why>" (or the first entry without "; ") to the report. */
static void note(char *report, size_t len, const char *path, const char *why) {
  size_t used = strlen(report);
  if (used >= len - 1) return;
  /* dlerror() often starts with the path itself: don't say it twice. */
  size_t plen = strlen(path);
  if (strncmp(why, path, plen) == 0 && strncmp(why + plen, ": ", 2) == 0) why += plen + 2;
  snprintf(report + used, len - used, "%s%s: %s", used ? "; " : "", path, why);
}

/*
 * Load one candidate into p. Returns 0, or -1 with the reason noted in
 * report; p->handle and p->api stay NULL on failure.
 */
static int try_path(struct cudaplugin *p, const char *path, char *report, size_t len) {
  snprintf(p->path, sizeof p->path, "%s", path);
  struct stat st;
  if (stat(path, &st) != 0) {
    note(report, len, path, errno == ENOENT || errno == ENOTDIR ? "not found" : strerror(errno));
    return -1;
  }
  dlerror();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    note(report, len, path, why ? why : "dlopen failed");
    return -1;
  }
  const struct cudaplugin_api *api = dlsym(h, CUDAPLUGIN_SYMBOL);
  if (!api) {
    note(report, len, path, "no symbol " CUDAPLUGIN_SYMBOL ": not a gpuops CUDA plugin");
    dlclose(h);
    return -1;
  }
  if (api->abi_version != CUDAPLUGIN_ABI_VERSION) {
    char why[128];
    snprintf(why, sizeof why, "plugin ABI version %d, this gpuops needs %d: rebuild the plugin",
             api->abi_version, CUDAPLUGIN_ABI_VERSION);
    note(report, len, path, why);
    dlclose(h);
    return -1;
  }
  /* Never unmap the plugin: cudart's threads and exit handlers may outlive
     a dlclose. Promote the handle to NODELETE now that it is the one. */
  void *pin = dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (pin) dlclose(pin);
  p->handle = h;
  p->api = api;
  return 0;
}

/* ---- load and unload ---------------------------------------------------- */

int cudaplugin_load(struct cudaplugin *p) {
  if (!p) return err_set(ERR_INVALID, "cudaplugin_load: NULL plugin struct");
  memset(p, 0, sizeof *p);
  char report[2048] = "";
  const char *env = getenv("GPUOPS_CUDA_PLUGIN");
  if (env && env[0]) {
    /* A bare name would make dlopen search the library path: it means ./name. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", strchr(env, '/') ? "" : "./", env);
    if (try_path(p, path, report, sizeof report) == 0) return 0;
    return err_set(ERR_NOLIB, "CUDA plugin not loaded from GPUOPS_CUDA_PLUGIN: %s", report);
  }
  struct candidates c = {.n = 0};
  default_candidates(&c);
  for (int i = 0; i < c.n; i++)
    if (try_path(p, c.path[i], report, sizeof report) == 0) return 0;
  return err_set(ERR_NOLIB,
                 "CUDA plugin " PLUGIN_FILE
                 " not loaded; tried %s%s (build with nvcc present, "
                 "or set GPUOPS_CUDA_PLUGIN to the file)",
                 c.n ? "" : "nothing", report);
}

/* Drop the handle (the library itself stays mapped, see try_path); safe twice. */
void cudaplugin_unload(struct cudaplugin *p) {
  if (!p) return;
  if (p->handle) dlclose(p->handle);
  p->handle = NULL;
  p->api = NULL;
}
