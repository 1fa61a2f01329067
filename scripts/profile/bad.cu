// bad.cu — a deliberately bad CUDA program for `gpuops profile` (and the
// workload of its overhead measurement). docs/profile.md says what each mode
// must make the profiler find.
//
//   bad bad [ITERS]     ITERS times: a pageable 4 MiB host buffer copied
//                       HtoD with cudaMemcpy, 32 tiny kernels (4096
//                       elements each), a pageable DtoH copy back: expect
//                       pageable_copies, tiny_kernels, gpu_idle,
//                       copy_serialised
//   bad heavy [N]       kernel-heavy: N launches of a 32M-element FMA kernel
//                       (about 0.1 ms each on an H200) back to back, one
//                       sync; prints "loop_ms X" (host clock around the loop)
//   bad crash           a few kernels, then a NULL write: SIGSEGV; the
//                       records flushed at the signal must survive
//
// Build: nvcc -O2 -gencode=arch=compute_90,code=sm_90 -o bad bad.cu
#include <cuda_runtime.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

__global__ void tiny(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * 0.5f + 1.0f;
}

// 8 dependent FMAs per element: memory-bound, about 256 MiB moved per launch.
__global__ void fma8(const float *__restrict__ a, float *__restrict__ b, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = a[i];
#pragma unroll
  for (int k = 0; k < 8; k++) v = fmaf(v, 1.0001f, 0.5f);
  b[i] = v;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int mode_bad(int iters) {
  const size_t n = 1 << 20; /* 4 MiB of floats */
  float *host = (float *)malloc(n * sizeof(float)), *dev;
  for (size_t i = 0; i < n; i++) host[i] = (float)(i % 97);
  CHECK(cudaMalloc(&dev, n * sizeof(float)));
  for (int it = 0; it < iters; it++) {
    CHECK(cudaMemcpy(dev, host, n * sizeof(float), cudaMemcpyHostToDevice));
    for (int k = 0; k < 32; k++) tiny<<<16, 256>>>(dev + k * 4096, 4096);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < 4096; i++) host[i] += 1.0f; /* host work between steps */
  }
  printf("bad: %d iterations, host[1] = %g\n", iters, host[1]);
  CHECK(cudaFree(dev));
  free(host);
  return 0;
}

static int mode_heavy(int launches) {
  const int n = 32 << 20;
  float *a, *b;
  CHECK(cudaMalloc(&a, n * sizeof(float)));
  CHECK(cudaMalloc(&b, n * sizeof(float)));
  CHECK(cudaMemset(a, 0, n * sizeof(float)));
  fma8<<<n / 256, 256>>>(a, b, n); /* warm-up: module load stays out of the loop */
  CHECK(cudaDeviceSynchronize());
  double t0 = now_ms();
  for (int i = 0; i < launches; i++) fma8<<<n / 256, 256>>>(i & 1 ? b : a, i & 1 ? a : b, n);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  double t1 = now_ms();
  printf("loop_ms %.3f launches %d\n", t1 - t0, launches);
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
  return 0;
}

static int mode_crash(void) {
  float *dev;
  CHECK(cudaMalloc(&dev, 1 << 20));
  for (int k = 0; k < 50; k++) tiny<<<16, 256>>>(dev, 4096);
  CHECK(cudaDeviceSynchronize());
  printf("crash: 50 kernels done, now a NULL write\n");
  fflush(stdout);
  volatile int *p = NULL;
  *p = 1;
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "bad";
  int n = argc > 2 ? atoi(argv[2]) : 0;
  if (!strcmp(mode, "bad")) return mode_bad(n > 0 ? n : 200);
  if (!strcmp(mode, "heavy")) return mode_heavy(n > 0 ? n : 2000);
  if (!strcmp(mode, "crash")) return mode_crash();
  fprintf(stderr, "usage: bad bad|heavy|crash [N]\n");
  return 2;
}
