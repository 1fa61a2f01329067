/*
 * bulk.cuh — 1-D bulk copies from global into shared memory (cp.async.bulk,
 * sm_90: the copy engine moves the bytes, so loads cost a kernel no registers
 * and no issue slots) completing on an mbarrier, the mbarrier operations they
 * need, and an L2 policy for data read once. Used by softmax.cu (10-tma,
 * 11-tmakeep) and norm.cu (5-tma): a ring of shared-memory stages, each
 * holding one row (or one CTA's part of a row), refilled by one thread while
 * the block works on the others.
 *
 * Everything here needs sm_90. The plugin also carries compute_80 PTX, so the
 * bodies are compiled only for __CUDA_ARCH__ >= 900 (elsewhere they trap);
 * callers launch these kernels on sm_90 devices only.
 *
 * async_* are the per-thread alternative (cp.async, sm_80): 16 bytes a
 * thread and instruction, tracked like loads, for 12-async and 6-async after
 * the bulk copies measured slower (docs/kernels.md, run 7).
 *
 * Sections: addresses and policy; mbarrier; copy; per-thread async copies.
 */
#ifndef GPUOPS_KERNELS_BULK_CUH
#define GPUOPS_KERNELS_BULK_CUH

#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define BULK_SM90 1
#else
#define BULK_SM90 0
#endif

/* ---- addresses and policy ------------------------------------------------ */

__device__ __forceinline__ uint32_t bulk_smem(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

/* The L2 policy for inputs read exactly once is l2hint.cuh's l2_evict_first(): they must
   not push out lines still useful (outputs not yet written back, weights read by every
   row). */

/* ---- mbarrier ------------------------------------------------------------ */

/* Initialise bar for `count` arrivals, and make that visible to the copy
   engine (the async proxy) and the cluster. One thread; a barrier after it. */
__device__ __forceinline__ void bulk_bar_init(uint64_t *bar, int count) {
#if BULK_SM90
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bulk_smem(bar)), "r"(count)
               : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#else
  (void)bar, (void)count;
  __trap();
#endif
}

/* Arrive once on bar and add `bytes` to the bytes the phase waits for. */
__device__ __forceinline__ void bulk_bar_expect(uint64_t *bar, uint32_t bytes) {
#if BULK_SM90
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bulk_smem(bar)),
               "r"(bytes)
               : "memory");
#else
  (void)bar, (void)bytes;
  __trap();
#endif
}

/* Arrive once on the barrier at bar's offset in the shared memory of CTA
   `rank` of this cluster (itself included), releasing this thread's earlier
   writes (to any CTA's shared memory) at cluster scope: the way one CTA tells
   its peers that data it stored into their shared memory is there. */
__device__ __forceinline__ void bulk_bar_arrive_remote(uint64_t *bar, int rank) {
#if BULK_SM90
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(bulk_smem(bar)), "r"(rank));
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(remote)
               : "memory");
#else
  (void)bar, (void)rank;
  __trap();
#endif
}

/* Store the 8 bytes v at dst's offset in the shared memory of CTA `rank` of
   this cluster (st.async: no fence, no barrier), completing 8 bytes of the
   transaction on the mbarrier at bar's offset in that same CTA, which must
   expect them (bulk_bar_expect). The peer's barrier must be initialised before
   (a cluster barrier after bulk_bar_init). The way 29-33, 35 (softmax) hand a
   CTA's (max, sum) to its peers. */
__device__ __forceinline__ void bulk_st_async8(void *dst, uint64_t v, uint64_t *bar, int rank) {
#if BULK_SM90
  uint32_t rdst, rbar;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rdst) : "r"(bulk_smem(dst)), "r"(rank));
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rbar) : "r"(bulk_smem(bar)), "r"(rank));
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.b64 [%0], %1, [%2];" ::"r"(rdst),
               "l"(v), "r"(rbar)
               : "memory");
#else
  (void)dst, (void)v, (void)bar, (void)rank;
  __trap();
#endif
}

/* Wait until the phase of bar with this parity (0 or 1) has completed. A
   copy that never lands (a bad address, a byte count that disagrees with
   what was expected) traps after ~2^31 cycles (about a second) instead of
   hanging the GPU: the launch then fails with an error the harness reports.
   CLUSTER: acquire at cluster scope, for phases completed by peers'
   bulk_bar_arrive_remote (their writes into this CTA are then visible). */
template <bool CLUSTER = false>
__device__ __forceinline__ void bulk_bar_wait(uint64_t *bar, uint32_t parity) {
#if BULK_SM90
  uint32_t a = bulk_smem(bar), done = 0;
  long long t0 = 0;
  for (int spin = 0;; spin++) {
    if constexpr (CLUSTER)
      asm volatile(
          "{\n.reg .pred p;\n"
          "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done)
          : "r"(a), "r"(parity)
          : "memory");
    else
      asm volatile(
          "{\n.reg .pred p;\n"
          "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done)
          : "r"(a), "r"(parity)
          : "memory");
    if (done) return;
    if (spin == 0) t0 = clock64();
    else if (clock64() - t0 > (1ll << 31)) __trap();
  }
#else
  (void)bar, (void)parity;
  __trap();
#endif
}

/* ---- copy ------------------------------------------------------------------ */

/* Copy `bytes` (a multiple of 16, both addresses 16-byte aligned) from global
   src to this CTA's shared dst, completing on bar (which must expect them),
   with L2 policy pol. Issued by one thread. */
__device__ __forceinline__ void bulk_load(void *dst, const void *src, uint32_t bytes,
                                          uint64_t *bar, uint64_t pol) {
#if BULK_SM90
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1], %2, [%3], %4;" ::"r"(bulk_smem(dst)),
      "l"(src), "r"(bytes), "r"(bulk_smem(bar)), "l"(pol)
      : "memory");
#else
  (void)dst, (void)src, (void)bytes, (void)bar, (void)pol;
  __trap();
#endif
}

/* ---- per-thread async copies (cp.async, sm_80) ------------------------------ */

/* 16 bytes from global src to shared dst, issued by the calling thread, which
   alone may rely on them after async_wait (no barrier needed for its own
   copies). L2 only (.cg: nothing kept in L1 for data read once). */
__device__ __forceinline__ void async_copy16(void *dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(bulk_smem(dst)), "l"(src)
               : "memory");
}
/* Close the calling thread's copies issued since the last commit into a group. */
__device__ __forceinline__ void async_commit(void) {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
/* Wait until at most `pending` (0 to 3) of the calling thread's groups are
   still in flight. */
__device__ __forceinline__ void async_wait(int pending) {
  switch (pending) {
    case 0: asm volatile("cp.async.wait_group 0;" ::: "memory"); break;
    case 1: asm volatile("cp.async.wait_group 1;" ::: "memory"); break;
    case 2: asm volatile("cp.async.wait_group 2;" ::: "memory"); break;
    default: asm volatile("cp.async.wait_group 3;" ::: "memory"); break;
  }
}

#endif
