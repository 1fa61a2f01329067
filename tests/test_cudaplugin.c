/*
 * test_cudaplugin.c — kernels/cudaplugin: finding and loading
 * libgpuops_cuda.so, and the plugin's entry points.
 *
 * The plugin counts as built when $GPUOPS_BUILD_DIR/libgpuops_cuda.so exists
 * (GPUOPS_CUDA=OFF builds, like the sanitizer build, have none; there loading
 * must fail cleanly with ERR_NOLIB). Where it is built, the device tests take
 * whichever branch the machine allows: with no GPU (CI) every call that needs
 * one must fail with a gpuops code and a message; with a GPU (scripts/gpu-run
 * runs this file there) the self-test and copies are checked against the CPU.
 *
 * Sections: helpers; loading; explicit GPUOPS_CUDA_PLUGIN; entry points.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"
#include "kernels/bf16.h"
#include "kernels/cudaplugin.h"
#include "kernels/gemm_ref.h"

/* ---- helpers ------------------------------------------------------------ */

/*
 * Where the plugin was built: $GPUOPS_BUILD_DIR/libgpuops_cuda.so in a build
 * tree, $GPUOPS_BUILD_DIR/lib/libgpuops_cuda.so in a GPU bundle (dist/gpu,
 * whose run.sh passes the bundle's root). Returns 1 and fills path if found.
 */
static int built_plugin_path(char *path, size_t len) {
  const char *dir = getenv("GPUOPS_BUILD_DIR");
  cr_assert(dir && dir[0], "GPUOPS_BUILD_DIR is not set (run through ctest)");
  static const char *const sub[] = {"", "lib/"};
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    snprintf(path, len, "%s/%slibgpuops_cuda.so", dir, sub[i]);
    if (access(path, F_OK) == 0) return 1;
  }
  return 0;
}

static int plugin_built(void) {
  char path[4096];
  return built_plugin_path(path, sizeof path);
}

/* Load the plugin from the default search list, or skip the test when it wasn't built. */
static void load_or_skip(struct cudaplugin *p) {
  unsetenv("GPUOPS_CUDA_PLUGIN");
  if (!plugin_built()) cr_skip_test("CUDA plugin not built (GPUOPS_CUDA=OFF or no nvcc)");
  int rc = cudaplugin_load(p);
  cr_assert_eq(rc, 0, "plugin built but not loaded: %s", err_msg());
}

/* 1 when this machine has a usable CUDA device. */
static int have_device(const struct cudaplugin_api *api) {
  int n = 0;
  char buf[512];
  return api->device_count(&n, buf, sizeof buf) == 0 && n > 0;
}

/* The plugin loaded and device 0 current, or the test skipped on a machine without one. */
static const struct cudaplugin_api *device_or_skip(struct cudaplugin *p) {
  load_or_skip(p);
  if (!have_device(p->api)) cr_skip_test("no CUDA device on this machine");
  char buf[512];
  cr_assert_eq(p->api->device_set(0, buf, sizeof buf), 0, "%s", buf);
  return p->api;
}

/* ---- loading ------------------------------------------------------------ */

Test(cudaplugin, load_succeeds_when_built_else_clean_nolib) {
  unsetenv("GPUOPS_CUDA_PLUGIN");
  struct cudaplugin p;
  int rc = cudaplugin_load(&p);
  if (plugin_built()) {
    cr_assert_eq(rc, 0, "%s", err_msg());
    cr_assert_not_null(p.handle);
    cr_assert_not_null(p.api);
    cr_assert_eq(p.api->abi_version, CUDAPLUGIN_ABI_VERSION);
    cr_assert_not_null(strstr(p.path, "libgpuops_cuda.so"), "path: %s", p.path);
    cr_assert_not_null(p.api->build_info);
    cr_assert_not_null(strstr(p.api->build_info, "sm_90a"), "build_info: %s", p.api->build_info);
    cr_assert_not_null(p.api->device_count);
    cr_assert_not_null(p.api->selftest_saxpy);
  } else {
    cr_assert_eq(rc, ERR_NOLIB, "got %s: %s", err_name(rc), err_msg());
    cr_assert_null(p.handle);
    cr_assert_null(p.api);
    /* Every default candidate is listed with its reason, the build tree among them. */
    cr_assert_not_null(strstr(err_msg(), "not found"), "%s", err_msg());
    cr_assert_not_null(strstr(err_msg(), "libgpuops_cuda.so"), "%s", err_msg());
  }
  cudaplugin_unload(&p);
  cr_assert_null(p.handle);
  cr_assert_null(p.api);
}

Test(cudaplugin, empty_env_means_default_search) {
  setenv("GPUOPS_CUDA_PLUGIN", "", 1);
  struct cudaplugin p;
  int rc = cudaplugin_load(&p);
  cr_assert_eq(rc, plugin_built() ? 0 : ERR_NOLIB, "got %s: %s", err_name(rc), err_msg());
  cudaplugin_unload(&p);
}

Test(cudaplugin, unload_is_safe_twice_and_on_failed_load) {
  setenv("GPUOPS_CUDA_PLUGIN", "/nonexistent/libgpuops_cuda.so", 1);
  struct cudaplugin p;
  cr_assert_eq(cudaplugin_load(&p), ERR_NOLIB);
  cudaplugin_unload(&p);
  cudaplugin_unload(&p);
  cudaplugin_unload(NULL);
  cr_assert_null(p.handle);
  cr_assert_eq(cudaplugin_load(NULL), ERR_INVALID);
}

Test(cudaplugin, load_twice_gives_the_same_table) {
  struct cudaplugin a, b;
  load_or_skip(&a);
  cr_assert_eq(cudaplugin_load(&b), 0, "%s", err_msg());
  cr_assert_eq(a.api, b.api);
  cudaplugin_unload(&a);
  /* b still works after a's handle is dropped. */
  int rt = 0, drv = -1;
  char buf[256];
  int rc = b.api->runtime_version(&rt, &drv, buf, sizeof buf);
  cr_assert(rc == 0 || buf[0], "failed without a message");
  cudaplugin_unload(&b);
}

/* ---- explicit GPUOPS_CUDA_PLUGIN ---------------------------------------- */

/* Point GPUOPS_CUDA_PLUGIN at path; the load must fail with ERR_NOLIB naming it and `why`. */
static void expect_nolib(const char *path, const char *why) {
  setenv("GPUOPS_CUDA_PLUGIN", path, 1);
  struct cudaplugin p;
  int rc = cudaplugin_load(&p);
  cr_assert_eq(rc, ERR_NOLIB, "got %s: %s", err_name(rc), err_msg());
  cr_assert_null(p.handle);
  cr_assert_null(p.api);
  cr_assert_not_null(strstr(err_msg(), path), "message lacks the path: %s", err_msg());
  cr_assert_not_null(strstr(err_msg(), why), "message lacks '%s': %s", why, err_msg());
  cr_assert_str_eq(p.path, path);
}

Test(cudaplugin, env_missing_file_is_nolib_not_found) {
  expect_nolib("/nonexistent/dir/libgpuops_cuda.so", "not found");
}

Test(cudaplugin, env_other_library_is_nolib_no_symbol) {
  const char *fake = getenv("GPUOPS_FAKE_NVML");
  cr_assert(fake && fake[0], "GPUOPS_FAKE_NVML is not set (run through ctest)");
  expect_nolib(fake, CUDAPLUGIN_SYMBOL);
}

Test(cudaplugin, env_not_elf_is_nolib_with_dlerror) {
  /* A text file: dlopen refuses it, and its reason (not ours) is reported. */
  char path[] = "/tmp/gpuops-notelf-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  const char text[] =
      "this is not a shared object, it is plain text padded out past an ELF header "
      "so that the loader has enough bytes to look at and reject.\n";
  cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  setenv("GPUOPS_CUDA_PLUGIN", path, 1);
  struct cudaplugin p;
  int rc = cudaplugin_load(&p);
  unlink(path);
  cr_assert_eq(rc, ERR_NOLIB);
  cr_assert_not_null(strstr(err_msg(), path), "%s", err_msg());
  cr_assert_null(strstr(err_msg(), "not found"), "a present file reported missing: %s", err_msg());
}

Test(cudaplugin, env_is_exclusive_even_when_plugin_built) {
  /* An explicit choice that fails must not fall back to another plugin. */
  if (!plugin_built()) cr_skip_test("CUDA plugin not built");
  expect_nolib("/nonexistent/libgpuops_cuda.so", "not found");
}

Test(cudaplugin, env_names_the_built_plugin) {
  char path[4096];
  if (!built_plugin_path(path, sizeof path)) cr_skip_test("CUDA plugin not built");
  setenv("GPUOPS_CUDA_PLUGIN", path, 1);
  struct cudaplugin p;
  cr_assert_eq(cudaplugin_load(&p), 0, "%s", err_msg());
  cr_assert_str_eq(p.path, path);
  cudaplugin_unload(&p);
}

/* ---- entry points ------------------------------------------------------- */

Test(cudaplugin, runtime_version_needs_no_device) {
  struct cudaplugin p;
  load_or_skip(&p);
  int rt = 0, drv = -1;
  char buf[256] = "";
  int rc = p.api->runtime_version(&rt, &drv, buf, sizeof buf);
  cr_assert_eq(rc, 0, "%s: %s", err_name(rc), buf);
  cr_assert_gt(rt, 0);
  cr_assert_geq(drv, 0);
  cr_assert_eq(p.api->runtime_version(NULL, &drv, NULL, 0), ERR_INVALID);
  cudaplugin_unload(&p);
}

Test(cudaplugin, device_count_answers_or_fails_with_message) {
  struct cudaplugin p;
  load_or_skip(&p);
  int n = -1;
  char buf[512];
  memset(buf, 0, sizeof buf);
  int rc = p.api->device_count(&n, buf, sizeof buf);
  if (rc == 0) {
    cr_assert_gt(n, 0);
    struct cudaplugin_device d;
    cr_assert_eq(p.api->device_get(0, &d, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(d.index, 0);
    cr_assert_gt(strlen(d.name), 0);
    cr_assert_gt(d.cc_major, 0);
    cr_assert_gt(d.sm_count, 0);
    cr_assert_gt(d.memory_bytes, 0);
    cr_assert_gt(d.l2_bytes, 0);
    /* One past the last device is a clean error, not a crash. */
    cr_assert_lt(p.api->device_get(n, &d, buf, sizeof buf), 0);
    cr_assert_gt(strlen(buf), 0);
  } else {
    cr_assert(rc == ERR_NODEVICE || rc == ERR_DRIVER, "got %s: %s", err_name(rc), buf);
    cr_assert_eq(n, 0);
    cr_assert_gt(strlen(buf), 0, "no message");
    cr_assert_not_null(strstr(buf, "cudaGetDeviceCount"), "%s", buf);
    cr_assert_not_null(strstr(buf, "cudaError"), "no CUDA error name: %s", buf);
  }
  /* A NULL errbuf or a 1-byte one must not crash. */
  char one[1] = {'x'};
  cr_assert_eq(p.api->device_count(&n, NULL, 0), rc);
  cr_assert_eq(p.api->device_count(&n, one, 1), rc);
  if (rc) cr_assert_eq(one[0], '\0');
  cudaplugin_unload(&p);
}

Test(cudaplugin, bad_arguments_are_invalid_with_message) {
  struct cudaplugin p;
  load_or_skip(&p);
  const struct cudaplugin_api *api = p.api;
  char buf[256];
  struct cudaplugin_device d;
  void *ptr = (void *)&d;
  float x = 1.0f, y = 2.0f;
  buf[0] = '\0';
  cr_assert_eq(api->device_get(-1, &d, buf, sizeof buf), ERR_INVALID);
  cr_assert_gt(strlen(buf), 0);
  cr_assert_eq(api->device_get(0, NULL, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->device_set(-3, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->device_count(NULL, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->stream_create(NULL, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->event_create(NULL, NULL, 0), ERR_INVALID);
  cr_assert_eq(api->event_record(NULL, NULL, buf, sizeof buf), ERR_INVALID);
  float ms = -1.0f;
  cr_assert_eq(api->event_elapsed_ms(NULL, NULL, &ms, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->mem_alloc(NULL, 16, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->mem_alloc(&ptr, 0, buf, sizeof buf), ERR_INVALID);
  cr_assert_null(ptr, "output not cleared on failure");
  cr_assert_eq(api->memcpy_h2d(NULL, &x, sizeof x, NULL, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->memcpy_d2h(&x, NULL, sizeof x, NULL, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->memcpy_h2d(NULL, NULL, 0, NULL, buf, sizeof buf), 0, "0 bytes is a no-op");
  cr_assert_eq(api->selftest_saxpy(0, 2.0f, &x, &y, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->selftest_saxpy(-5, 2.0f, &x, &y, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(api->selftest_saxpy(1, 2.0f, NULL, &y, buf, sizeof buf), ERR_INVALID);
  cr_assert_eq(y, 2.0f, "y changed by a refused call");
  /* Destroying nothing is a no-op. */
  cr_assert_eq(api->stream_destroy(NULL), 0);
  cr_assert_eq(api->event_destroy(NULL), 0);
  cr_assert_eq(api->mem_free(NULL), 0);
  cudaplugin_unload(&p);
}

Test(cudaplugin, without_device_work_fails_cleanly) {
  struct cudaplugin p;
  load_or_skip(&p);
  const struct cudaplugin_api *api = p.api;
  if (have_device(api)) cr_skip_test("a CUDA device is present: see the with_device tests");
  char buf[512];
  cudaplugin_stream s = (cudaplugin_stream)&buf;
  buf[0] = '\0';
  int rc = api->stream_create(&s, buf, sizeof buf);
  cr_assert_lt(rc, 0);
  cr_assert_null(s);
  cr_assert_gt(strlen(buf), 0);
  void *d = &buf;
  buf[0] = '\0';
  rc = api->mem_alloc(&d, 4096, buf, sizeof buf);
  cr_assert_lt(rc, 0);
  cr_assert_null(d);
  cr_assert_not_null(strstr(buf, "4096"), "size missing from: %s", buf);
  float x[8], y[8];
  for (int i = 0; i < 8; i++) x[i] = y[i] = (float)i;
  buf[0] = '\0';
  rc = api->selftest_saxpy(8, 3.0f, x, y, buf, sizeof buf);
  cr_assert_lt(rc, 0);
  cr_assert_str_neq(err_name(rc), "ERR_UNKNOWN", "code %d is not in the table", rc);
  cr_assert_gt(strlen(buf), 0);
  for (int i = 0; i < 8; i++) cr_assert_eq(y[i], (float)i, "y[%d] written by a failed run", i);
  cudaplugin_unload(&p);
}

Test(cudaplugin, with_device_saxpy_matches_cpu) {
  struct cudaplugin p;
  const struct cudaplugin_api *api = device_or_skip(&p);
  char buf[512];
  const int n = 1 << 20; /* 4 MiB each of x and y */
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *want = malloc(n * sizeof *want);
  cr_assert(x && y && want);
  struct rng r;
  rng_seed(&r, (uint64_t)time(NULL) ^ (uint64_t)getpid());
  const float a = (float)(rng_uniform(&r) * 4.0 - 2.0);
  for (int i = 0; i < n; i++) {
    x[i] = (float)rng_normal(&r);
    y[i] = (float)rng_normal(&r);
    want[i] = a * x[i] + y[i];
  }
  int rc = api->selftest_saxpy(n, a, x, y, buf, sizeof buf);
  cr_assert_eq(rc, 0, "%s: %s", err_name(rc), buf);
  /* fp32 with one possible FMA contraction: a few ulp of the operands. */
  for (int i = 0; i < n; i++) {
    float tol = 1e-6f * (fabsf(a * x[i]) + fabsf(want[i]) + 1.0f);
    cr_assert_leq(fabsf(y[i] - want[i]), tol, "y[%d] = %g, want %g", i, y[i], want[i]);
  }
  free(x);
  free(y);
  free(want);
  cudaplugin_unload(&p);
}

Test(cudaplugin, with_device_stream_copy_and_events) {
  struct cudaplugin p;
  load_or_skip(&p);
  const struct cudaplugin_api *api = p.api;
  if (!have_device(api)) cr_skip_test("no CUDA device on this machine");
  char buf[512];
  enum { N = 4096 };
  static unsigned char in[N], out[N];
  for (int i = 0; i < N; i++) {
    in[i] = (unsigned char)(i * 7 + 3);
    out[i] = 0xA5; /* poison */
  }
  cudaplugin_stream s = NULL;
  cudaplugin_event e0 = NULL, e1 = NULL;
  void *d = NULL;
  cr_assert_eq(api->stream_create(&s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->event_create(&e0, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->event_create(&e1, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->mem_alloc(&d, N, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->event_record(e0, s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->memcpy_h2d(d, in, N, s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->memcpy_d2h(out, d, N, s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->event_record(e1, s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(api->stream_sync(s, buf, sizeof buf), 0, "%s", buf);
  cr_assert_eq(memcmp(in, out, N), 0, "round trip through the device changed the bytes");
  float ms = -1.0f;
  cr_assert_eq(api->event_elapsed_ms(e0, e1, &ms, buf, sizeof buf), 0, "%s", buf);
  cr_assert_geq(ms, 0.0f);
  cr_assert_eq(api->mem_free(d), 0);
  cr_assert_eq(api->event_destroy(e0), 0);
  cr_assert_eq(api->event_destroy(e1), 0);
  cr_assert_eq(api->stream_destroy(s), 0);
  cudaplugin_unload(&p);
}

/* Shapes where 10-streamk splits tiles: every tile over 16 CTAs of one k-tile each
   (6 tiles, 96 CTAs); whole waves then a split one with empty ranges (144 tiles, 48
   leftover k-tiles over 132 CTAs); ragged edges with bias + GELU. Each launch must match
   the CPU and repeat bit for bit: the split and the order partials are added in are fixed,
   so a partial read before it was written (or a stale flag) shows as a difference. */
static void gemm_matches_cpu_and_repeats(int variant, const char *name) {
  struct cudaplugin p;
  const struct cudaplugin_api *api = device_or_skip(&p);
  char buf[512];
  static const int shapes[][4] = {{384, 512, 1024, 0}, {2048, 2304, 256, 0}, {300, 264, 1000, 2}};
  struct rng r;
  rng_seed(&r, (uint64_t)time(NULL) ^ (uint64_t)getpid());
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2], epi = shapes[si][3];
    size_t na = (size_t)m * k, nw = (size_t)n * k, nc = (size_t)m * n;
    uint16_t *a = malloc(na * 2), *w = malloc(nw * 2), *b = malloc(n * 2), *got = malloc(nc * 2),
             *first = malloc(nc * 2);
    cr_assert(a && w && b && got && first);
    for (size_t i = 0; i < na; i++) a[i] = bf16_from_f32((float)(rng_uniform(&r) * 2 - 1));
    for (size_t i = 0; i < nw; i++) w[i] = bf16_from_f32((float)(rng_uniform(&r) * 2 - 1));
    for (int i = 0; i < n; i++) b[i] = bf16_from_f32((float)(rng_uniform(&r) - 0.5));
    void *da, *dw, *db, *dc;
    cr_assert_eq(api->mem_alloc(&da, na * 2, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->mem_alloc(&dw, nw * 2, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->mem_alloc(&db, (size_t)n * 2, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->mem_alloc(&dc, nc * 2, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->memcpy_h2d(da, a, na * 2, NULL, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->memcpy_h2d(dw, w, nw * 2, NULL, buf, sizeof buf), 0, "%s", buf);
    cr_assert_eq(api->memcpy_h2d(db, b, (size_t)n * 2, NULL, buf, sizeof buf), 0, "%s", buf);
    for (int rep = 0; rep < 20; rep++) {
      cr_assert_eq(api->mem_set(dc, 0xff, nc * 2, NULL, buf, sizeof buf), 0, "%s", buf);
      int rc =
          api->gemm_bf16(variant, da, dw, epi ? db : NULL, dc, m, n, k, epi, NULL, buf, sizeof buf);
      if (rc == ERR_UNSUPPORTED) cr_skip_test("%s: %s", name, buf);
      cr_assert_eq(rc, 0, "%dx%dx%d: %s", m, n, k, buf);
      cr_assert_eq(api->memcpy_d2h(got, dc, nc * 2, NULL, buf, sizeof buf), 0, "%s", buf);
      cr_assert_eq(api->stream_sync(NULL, buf, sizeof buf), 0, "%s", buf);
      if (rep == 0) {
        for (int i = 0; i < m; i++)
          for (int j = 0; j < n; j++) { /* the bench's check and threshold (bf16: 1e-2) */
            double scale,
                ref = gemm_ref_one(a + (size_t)i * k, w + (size_t)j * k, k, b + j, epi, &scale);
            double e = gemm_ref_err(bf16_to_f32(got[(size_t)i * n + j]), ref, scale);
            cr_assert_leq(e, 1e-2, "%dx%dx%d: C[%d][%d] = %g, CPU %g", m, n, k, i, j,
                          bf16_to_f32(got[(size_t)i * n + j]), ref);
          }
        memcpy(first, got, nc * 2);
      } else {
        cr_assert_eq(memcmp(first, got, nc * 2), 0, "%dx%dx%d: launch %d differs from the first", m,
                     n, k, rep);
      }
    }
    api->mem_free(da), api->mem_free(dw), api->mem_free(db), api->mem_free(dc);
    free(a), free(w), free(b), free(got), free(first);
  }
  cudaplugin_unload(&p);
}

Test(cudaplugin, with_device_gemm_streamk_matches_cpu_and_repeats) {
  gemm_matches_cpu_and_repeats(10, "10-streamk");
}

/* 11-pingpong on the same shapes: 64-row tiles, consumer groups taking turns (12, 288 and
   10 tiles: CTAs with one tile, where the second group only skips, and with 2-3). */
Test(cudaplugin, with_device_gemm_pingpong_matches_cpu_and_repeats) {
  gemm_matches_cpu_and_repeats(11, "11-pingpong");
}
