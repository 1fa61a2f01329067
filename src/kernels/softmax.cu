/*
 * softmax.cu — row-wise softmax, y[r][c] = exp(x[r][c] - max_r) / sum_r, for
 * fp32 and bf16 (bf16 in and out, fp32 math), x rows x cols row-major.
 *
 * Bytes: 2 x rows x cols x sizeof(T) (read once, write once); FLOPs ~5 per
 * element, far below the roof's balance point: memory-bound.
 *   fp32 8192 x 8192: 536.9 MB (~126 us at 4.27 TB/s); 4096 x 50304: 1648 MB (~386 us)
 *   bf16 8192 x 8192: 268.4 MB (~63 us);              4096 x 50304:  824 MB (~193 us)
 *
 * Variants (kept; each says what changed and why):
 *   0 naive   Three kernels (row max, sum of exp, normalize), one thread per
 *             row: each thread walks its own row, so a warp's 32 loads fall
 *             in 32 different rows (uncoalesced), and x is read three times.
 *             Fixed by the issue.
 *   1 block   One block per row, 16-byte loads. Pass 1 is the online softmax
 *             (running max and a sum rescaled when the max grows), so max and
 *             sum come from one read; pass 2 reads the row again (from L2: a
 *             row is at most 201 KB and ~2 rows per SM are live) and writes.
 *             DRAM traffic: one read and one write.
 *   2 regs    One block per row with the row held in registers as packed
 *             16-byte chunks (PER per thread: 4 or 8; bf16 stays packed, so 8
 *             chunks are 32 registers), so the row is read once from anywhere;
 *             exact two-step max then sum (exp is computed twice rather than
 *             kept: keeping fp32 exps spilled). ERR_UNSUPPORTED when the row
 *             does not fit: fp32 over 8 x 1024 chunks (32768 columns), bf16
 *             over 8 x 512 chunks (32768 columns), so not at 4096 x 50304.
 *   3 unroll  As 1 with four 16-byte loads issued before the first use in
 *             both passes (one online rescale per four chunks), for the long
 *             rows 2 cannot hold. First run (2026-11-29, H200): 1 reached only
 *             69 % (fp32) and 78 % (bf16) of the copy ceiling at 4096 x 50304,
 *             one load in flight per thread behind a dependent exp chain.
 *             Second run: no better (66.5 %, 67.8 %): latency was not it.
 *   4 smem    One block per row, the row cached in shared memory as it is
 *             read (four 16-byte loads in flight), so DRAM sees one read and
 *             one write even for rows L2 cannot keep: at 4096 x 50304, 264
 *             live rows of 201 KB (fp32) are ~53 MB, about the whole L2, and
 *             the writes stream through it too, so pass 2 of 1 and 3 went back
 *             to DRAM (66 % ~ 2/3: three transfers instead of two). Up to 227 KB
 *             a row (fp32 <= 58112 columns); ERR_UNSUPPORTED above.
 *             Third run: fp32 77.7 % (up from 66.6), bf16 64.5 % (down): one
 *             fp32 row fills an SM's shared memory, so nothing overlaps the
 *             row's reduction and write phases.
 *   5 cluster As 4 with the row split over a thread-block cluster of 1, 2, 4
 *             or 8 CTAs (sm_90), each caching its part (<= 64 KB) and
 *             exchanging its (max, sum) through distributed shared memory:
 *             fp32 x 50304 is 4 CTAs of ~50 KB, so four CTAs (rows' parts)
 *             share an SM and one's load overlaps another's write.
 *             Fourth run: fp32 79.6 %, bf16 74.3 % at 4096 x 50304 (best of
 *             all); slower on 8192-column rows (one CTA a row, 256 threads).
 *             Its stores compiled to four 4-byte STG per chunk (PTX: four
 *             st.global.f32 / .u32: the float4 built by make_float4 and stored
 *             through a T * cast was split into scalars). Fixed 2026-11-29 (run
 *             5): the output is indexed as raw * (float4 / uint4) from the
 *             part's base and stored whole (vec::pack): st.global.v4 in PTX,
 *             one STG.E.128 in SASS. Predicted +2-4 points; measured (run 5)
 *             fp32 x 50304 79.6 -> 85.7 %, bf16 74.3 -> 79.0 %.
 *   6 clregs  As 5 (a row split over a cluster of 1, 2, 4 or 8 CTAs, (max,
 *             sum) exchanged through distributed shared memory) but each CTA
 *             keeps its part in registers, 8 packed 16-byte chunks a thread,
 *             all 8 loads issued before the first use (128 bytes in flight a
 *             thread), instead of in shared memory: no shared-memory round
 *             trip, no online rescale (exact local max, then the sum relative
 *             to it), and the write phase needs no reload. Clusters: fp32 x
 *             50304 is 8 CTAs of 224 threads, bf16 x 50304 4 of 224, 8192
 *             columns 1 CTA (as 2-regs, 256 / 128 threads). ptxas: 60 (fp32)
 *             / 99 (bf16) registers, no spills (a cap of 85 for 3 CTAs an SM
 *             spilled bf16, so it is not set). Prediction: the long rows from
 *             ~80 % / ~78 % (5 fixed) to ~88 %.
 *             Outcome (run 5, 2026-11-29): wrong way: fp32 / bf16 x 50304
 *             73.9 % / 38.6 %, 8192^2 89.9 % / 56.9 % (5 fixed: 85.7 / 79.0 /
 *             89.5 / 65.6 %). Every CTA loads, then reduces, waits on its
 *             cluster and only then writes, with 2 (bf16, 99 registers) or 4
 *             (fp32) CTAs an SM: the phases do not overlap, where 5's
 *             four-deep load loop and shared-memory part let its 4 CTAs an SM
 *             interleave. Kept as a measured negative result.
 *   7 fold    5 with fewer instructions per element (bf16 at 4096 x 50304 is
 *             issue-bound as much as memory-bound, docs/kernels.md): each
 *             exponent is one FFMA and one MUFU.EX2, 2^(x log2e - m log2e),
 *             and pass 2 folds 1/sum into the exponent, y = 2^(x log2e - (M
 *             log2e + log2 S)): ~11 -> ~7.5 instructions an element.
 *             Prediction: bf16 x 50304 79 % -> ~84 %, fp32 85.7 -> ~87 %.
 *             Outcome (run 6): bf16 82.1 % (+3.0 points, 244.9 -> 236.1 us),
 *             fp32 86.5 % (+0.8): the best at x 50304, under the prediction
 *             for bf16, so issue was only part of its gap.
 *   8 fold32  7 with parts of at most 32 KB and 128-thread CTAs: the same
 *             threads an SM (63 registers cap 5/7 at 4 x 256) but twice the
 *             rows' parts, so more load/write overlap. Prediction: +1-2
 *             points over 7 at x 50304.
 *             Outcome (run 6): the wrong way at x 50304 (fp32 84.3 %, bf16
 *             79.3 %, 1-3 points under 7: twice the clusters to synchronise
 *             and half the threads a row part), but bf16 8192^2 81.1 % against
 *             7's 69.0 % (one 128-thread CTA of 16 KB a row, 8 rows an SM):
 *             still under 2-regs' 85.0 %.
 *   9 tma     A persistent grid (as many clusters as fit at once, each
 *             walking rows r, r + G, ...) whose CTAs take their part of a row
 *             (the row split over a cluster of 1, 2, 4 or 8 so a part is <= 32
 *             KB) by a 1-D bulk copy (cp.async.bulk, bulk.cuh) into a ring of
 *             2-4 shared-memory stages, one thread keeping the next rows'
 *             copies in flight, L2 evict-first (the input is read once). The
 *             block copies the part into registers (PER 16-byte chunks a
 *             thread), and the barrier of its one-step (max, sum) reduction
 *             also frees the stage for the next copy, so a row's reduction and
 *             writes overlap the loads of the next two or three. Per row: one
 *             block barrier, one cluster barrier (double-buffered (max, sum)
 *             slots), none to publish the data. Why: 7's CTAs load, reduce and
 *             write in turn, their loads issued by threads (registers, issue
 *             slots, 4 in flight); 2-regs, the best at 8192 columns, has one
 *             row a CTA and 15.5 waves of CTAs, each starting with empty pipes
 *             and ending in a partial wave. Bytes as every variant.
 *             Prediction (2026-11-29): >= 90 % at every shape (from 86.5 /
 *             82.1 % at x 50304 and 85.0 % for bf16 8192^2).
 *  10 tmakeep As 9, but pass 1's exponentials are kept in registers (fp32)
 *             and pass 2 is one multiply by 2^(m - M) / S an element instead of
 *             an FFMA and an EX2 (bf16: half the MUFU work, 206 M fewer EX2 at
 *             x 50304); bf16 parts then hold at most 4 chunks a thread (8 fp32
 *             a chunk), so x 50304 takes clusters of 8. Prediction: equal to 9
 *             at fp32, +1-2 points at bf16 if MUFU issue is part of the gap.
 *  11 tma16   9 with parts of at most 16 KB: bf16 x 50304 in clusters of 8
 *             (12.6 KB parts, 4 chunks a thread, 46 registers: 4 CTAs an SM)
 *             instead of 4 (25 KB, 8 chunks, 72 registers: 3 an SM), fp32 8192
 *             columns in clusters of 2; the other shapes as 9. Prediction:
 *             within a point of 9 (more rows' parts in flight an SM against
 *             twice the cluster barriers, the trade 8-fold32 lost).
 *             Outcome of 9-11 (run 7, 2026-12-03, H200): all slower than the
 *             best (9: 77.1 / 68.0 / 71.6 / 65.4 % at f32 8192^2 / f32 x 50304
 *             / bf16 8192^2 / bf16 x 50304; 10: 77.1 / 68.7 / 72.4 / 49.4 %;
 *             11: 72.1 / unsupported / 71.8 / 55.1 %). Whatever the part size
 *             or stage count, the bulk copies from DRAM brought ~1.4-1.6 TB/s
 *             of reads (ncu, bf16 x 50304: 57 % DRAM throughput against 7's
 *             71 %): the copy engine, not the threads, was the limit. Kept as
 *             measured negative results.
 *  12 async   9 with per-thread async copies (cp.async.cg, 16 bytes, LDGSTS)
 *             instead of the bulk copy: each thread copies its own chunks of
 *             the next rows into its slots of the ring and alone reads them
 *             back, so it refills its slots of a stage as soon as they are in
 *             registers (no barrier); `stages` row parts in flight a thread
 *             while it reduces and writes the current one. Prediction: >= 90 %
 *             at bf16 8192^2 if bytes in flight are what 2-regs lacks.
 *             Outcome (run 8, 2026-12-03): slower everywhere (81.7 / 65.5 /
 *             74.4 / 60.4 %); kept as a measured negative result.
 *  13 foldef  7 with every load and store under an L2 evict-first policy
 *             (l2hint.cuh): the flush's dirty lines (~60 MB left by the
 *             120 MB memset) are then not the lines the kernel evicts, so
 *             their write-back is not paid inside the timed kernel.
 *  14 regs2   2 with the row indexed as 16-byte chunks from its base: fewer
 *             address registers (bf16 8192 columns: 48 instead of 56, 5
 *             blocks of 256 an SM instead of 4). Alone, to separate the
 *             occupancy change from 15's hints.
 *  15 regsef  14 with the evict-first loads and stores of 13.
 *  16 lean    15 with fewer instructions an element: the max on packed bf16
 *             pairs (HMNMX2, no conversion), each exponent one FFMA + EX2 and
 *             1/sum folded into the output's exponent (as 7): 32 registers at
 *             bf16 8192 columns (8 blocks an SM).
 *  17 l2pass  Long rows read twice, the second time from L2: one row a CTA of
 *             1024 threads, one CTA an SM (a shared-memory pad the kernel does
 *             not use caps residency), so the live rows are 132 x 201 KB =
 *             26.5 MB at fp32 x 50304, under the 60 MB L2 that 1-block's 264
 *             rows (53 MB) overflowed; pass 1 at normal priority (no
 *             evict_last: see l2hint.cuh), pass 2 and the stores evict-first;
 *             exponent as 7; no shared memory, no cluster barriers.
 *  18 l2pass2 17 with 512 threads and two CTAs an SM (bf16 x 50304: 26.5 MB
 *             live; fp32: 53 MB, as 1-block).
 *             Prediction for 13-18 (run 9): the short shapes gain what the
 *             read flush gained (+2 points at bf16 8192^2), 16 a few more;
 *             17 at x 50304 >= 7's figure if L2 keeps the live rows.
 *             Outcome (run 9, 2026-12-03, H200, % of the copy ceiling):
 *             the evict-first hints lose 4-7 points wherever they are added
 *             (13 vs 7: 81.2 / 77.8 % at f32 / bf16 x 50304, 86.2 / 81.7 for
 *             7; 15 vs 14: 85.1 vs 89.9 % at bf16 8192^2, 87.9 vs 94.9 at
 *             f32 8192^2), so the flush's write-back is not what they can
 *             buy back. 14-regs2 alone: bf16 8192^2 84.7 -> 89.9 % (one
 *             more block an SM), fp32 unchanged (94.9). 16-lean 85.7 % (its
 *             hints cost what its 8 blocks an SM gained). 18-l2pass2 is the
 *             best at bf16 x 50304, 84.8 % (7: 81.7) despite its hints; 17
 *             81.5 % at f32 x 50304 (ncu: 5.5 % of pass 2 missed L2), 18 at
 *             fp32 71 % (53 MB live: as 1-block). Kept, all passing.
 *  19 lean2   16 without the hints (36 registers at bf16 8192 columns, 6
 *             blocks an SM: registers go by 8). Prediction: bf16 8192^2 >=
 *             14's 89.9 %.
 *  20 l2plain 17 without the hints (pass 2 and the stores at normal
 *             priority).
 *  21 l2plain2 18 without the hints. Prediction for 20-21: 17 / 18 plus
 *             the 3-5 points the hints cost elsewhere (bf16 x 50304 ~88 %).
 *             19-21 were added after run 9 and not yet measured.
 *  22 stream  Persistent clusters of 2 CTAs of 1024 threads (one an SM),
 *             each trip doing pass 1 of row j (DRAM) beside pass 2 of row j - 2
 *             (reread from L2), the rows' pairs exchanged through mbarriers in
 *             the peers' shared memory so that nothing blocks (see the
 *             section). 23 stream4: clusters of 4.
 *             Outcome (exp5, 2026-12-03, H200): far slower (f32 / bf16 x 50304
 *             66.3 / 63.2 %, 23: 51.0 / 29.2 %): ncu, f32: 1.37 GB read, so
 *             two thirds of the rereads missed L2 two rows later; bf16: reads
 *             ideal but DRAM 54.7 % busy, three chunks a thread a row leaving
 *             the row barrier exposed. Kept as a measured negative result.
 *  24 clpush  The row's parts in registers (4 chunks a thread, <= 512
 *             threads, 32 registers), one block barrier and one cluster
 *             barrier (pairs pushed into the peers). 25 clpush8: 8 chunks,
 *             <= 256 threads. Outcome (exp6): the long rows 80.6 / 78.6 %
 *             (25: 81.1 / 77.3 %; ncu, 24 f32: 18.6 % of warps stalled on the
 *             cluster barrier's fence, 14.6 % on barriers), but f32 8192^2
 *             95.3 % (25) and bf16 8192^2 90.8 %, level with 19-lean2.
 *  26 fold1   7 with 24's exchange: one block barrier (block_maxsum) and
 *             one cluster barrier instead of four and two. Measured only at
 *             8192 columns (one CTA a row, no cluster): 93.1 / 85.9 %.
 *  27 l2pass8 18 with 8 chunks in flight a thread (64 registers).
 *             Outcome (exp7): bf16 x 50304 87.1 % (18: 84.8 % in the same
 *             run), the best there; f32 x 50304 72.3 % (53 MB live, as 18).
 *  28 l2pass3 18 with 3 CTAs an SM: 85.0 % / 70.8 %, no gain.
 *             Outcome of 26 at the long rows (exp9, 2026-12-03, H200): f32
 *             x 50304 88.3 % (7: 86.5 % in the same run), the best there;
 *             bf16 84.0 %.
 *  29 foldx   26 with no cluster barrier at the exchange: each CTA pushes
 *             its pair into its peers' shared memory by st.async, completing
 *             on their mbarriers (xchg_open / cluster_maxsum_async), and waits
 *             on its own for the cl pairs. 30 foldx8: 29 with 8 loads in
 *             flight a thread (online_add; 64 registers, 4 CTAs an SM).
 *  31 l2clu   27 with the row split over a cluster so a part is <= 104 KB
 *             (f32 x 50304: 2 CTAs of 100 KB, 2 CTAs an SM, 26.5 MB live in
 *             L2 instead of 27's 53 MB; bf16: one CTA a row, as 27 but
 *             launched as clusters of 1), 29's exchange. 32 l2clu4: parts <=
 *             52 KB, 256 threads, 4 CTAs an SM. 33 clpushx: 24 with 29's
 *             exchange.
 *             Outcome (exp9, first form of the exchange: arrive .release,
 *             wait .acquire.cluster; % of the copy ceiling at f32 / bf16 x
 *             50304): 29 83.5 / 84.5 (26: 88.3 / 84.0), 30 77.5 / 80.4, 31
 *             85.4 / 88.9 (27: 72.4 / 87.2: the best at bf16 x 50304 with
 *             one CTA a row; ncu f32: 842 MB read, 14.6 % of warps stalled
 *             on a memory barrier), 32 83.7 / 86.2, 33 82.3 / 83.2 (24:
 *             80.9 / 78.8). At 8192^2, 33 is level with 24 and 19-lean2
 *             (94.3 / 90.7 %), 29 93.5 / 85.6 %, 31 80.7 / 41.5 %.
 *             The exchange's second form (exp10, the one kept): the arrive at
 *             the start is .relaxed (thread 0's fence.mbarrier_init already
 *             releases the barrier's initialisation) and the waits on bar are
 *             CTA-scope (the phase completes when the pushed bytes landed).
 *             The first form's .release arrive and cluster-scope waits cost
 *             6-16 points. Outcome (exp10, f32 / bf16 x 50304): 33 clpushx
 *             98.2 / 92.7 % (394.6 / 208.9 us), the best at both; 31 92.1 /
 *             89.1; 32 90.4 / 87.8; 29 89.0 / 85.9; 30 87.2 / 84.4.
 *  34 fold1s  26 with parts <= 32 KB and 128 threads (8-fold32's shape with
 *             26's exchange): 86.8 / 81.3 %, no gain.
 *  35 l2clu2  31 with parts <= 52 KB (2 CTAs of 512 an SM): 85.1 / 79.4 %.
 *  36 l2club  31 with 26's exchange (cluster.sync): 87.6 / 89.0 % (bf16:
 *             one CTA a row, as 31). 37 l2clu2b: 35 with it: 72.3 / 63.2 %.
 *  38 fold1u8 26 with 8 loads in flight (online_add): 86.7 / 81.2 %.
 *             At 8192^2 none of 29-38 passes 19-lean2 (95.4 / 91.5 %); the
 *             l2pass ones (31, 35-37) lose there (80-81 % / 41 %: one 16-32
 *             KB row a 512-thread CTA, 2 CTAs an SM).
 * Columns not a multiple of the 16-byte vector fall back to scalar loads (1)
 * or are unsupported (2, 4-38).
 *
 * Sections: vector traits and chunk helpers; naive; block; regs; smem;
 * cluster; clregs; tma; l2pass; clpush; stream; entry point.
 */
#include <cooperative_groups.h>

#include "kernels/bulk.cuh"
#include "kernels/kcommon.cuh"
#include "kernels/kernels_cuda.h"
#include "kernels/l2hint.cuh"

namespace cg = cooperative_groups;

/* ---- vector traits: one 16-byte chunk as N floats ------------------------ */

template <typename T>
struct vec;
template <>
struct vec<float> {
  static constexpr int N = 4;
  typedef float4 raw;
  __device__ static raw ld(const float *p) { return *reinterpret_cast<const float4 *>(p); }
  __device__ static void unpack(raw v, float f[4]) {
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
  }
  __device__ static void load(const float *p, float f[4]) {
    float4 v = *reinterpret_cast<const float4 *>(p);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
  }
  __device__ static void store(float *p, const float f[4]) {
    *reinterpret_cast<float4 *>(p) = make_float4(f[0], f[1], f[2], f[3]);
  }
  __device__ static raw pack(const float f[4]) { return make_float4(f[0], f[1], f[2], f[3]); }
  __device__ static raw neg_inf() {
    return make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
  }
  __device__ static float get(const float *p) { return *p; }
  __device__ static void put(float *p, float f) { *p = f; }
};
template <>
struct vec<__nv_bfloat16> {
  static constexpr int N = 8;
  typedef uint4 raw;
  __device__ static raw ld(const __nv_bfloat16 *p) { return *reinterpret_cast<const uint4 *>(p); }
  __device__ static void unpack(raw v, float f[8]) { bf16x8_to_f32(v, f); }
  __device__ static void load(const __nv_bfloat16 *p, float f[8]) {
    bf16x8_to_f32(*reinterpret_cast<const uint4 *>(p), f);
  }
  __device__ static void store(__nv_bfloat16 *p, const float f[8]) {
    *reinterpret_cast<uint4 *>(p) = f32_to_bf16x8(f);
  }
  __device__ static raw pack(const float f[8]) { return f32_to_bf16x8(f); }
  __device__ static raw neg_inf() {
    return make_uint4(0xff80ff80u, 0xff80ff80u, 0xff80ff80u, 0xff80ff80u);
  }
  __device__ static float get(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
  __device__ static void put(__nv_bfloat16 *p, float f) { *p = __float2bfloat16_rn(f); }
};

#define LOG2E 1.4426950408889634f
/* 2^v by the special-function unit alone (MUFU.EX2, flush-to-zero): __expf
   without its multiply, for callers that fold log2(e) into an FFMA. */
__device__ __forceinline__ float ex2(float v) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}

/* 16-byte chunk loads and stores, with the L2 evict-first policy pol when HINT
   (l2hint.cuh: the streaming variants 13-17), plain otherwise. */
template <bool HINT, typename R>
__device__ __forceinline__ R ld_chunk(const R *p, uint64_t pol) {
  if constexpr (HINT) return ld16_l2(p, pol);
  return *p;
}
template <bool HINT, typename R>
__device__ __forceinline__ void st_chunk(R *p, R v, uint64_t pol) {
  if constexpr (HINT)
    st16_l2(p, v, pol);
  else
    *p = v;
}
template <bool HINT>
__device__ __forceinline__ uint64_t chunk_policy() {
  if constexpr (HINT) return l2_evict_first();
  return 0;
}

/* The largest element of PER chunks (those with index < n; -inf if none).
   LEAN at bf16: on the packed pairs (HMNMX2, half an instruction an
   element, no conversion). */
template <typename T, bool LEAN, int PER>
__device__ __forceinline__ float chunks_max(const typename vec<T>::raw *r, int t, int nt, int n) {
  if constexpr (LEAN && vec<T>::N == 8) {
    __nv_bfloat162 m2 = __bfloat162bfloat162(__ushort_as_bfloat16(0xff80u)); /* -inf */
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= n) continue;
      const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&r[p]);
#pragma unroll
      for (int k = 0; k < 4; k++) m2 = __hmax2(m2, h[k]);
    }
    return fmaxf(__low2float(m2), __high2float(m2));
  } else {
    float m = -INFINITY;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= n) continue;
      float f[vec<T>::N];
      vec<T>::unpack(r[p], f);
#pragma unroll
      for (int k = 0; k < vec<T>::N; k++) m = fmaxf(m, f[k]);
    }
    return m;
  }
}

/* Online (max, sum) of U chunks into (m, s), s relative to m: the max first
   (pads are -inf), s rescaled when it grows, then one FFMA + EX2 an element
   (-inf pads add 0; m = -inf at first: s is 0 and stays 0). */
template <typename T, int U>
__device__ __forceinline__ void online_add(const typename vec<T>::raw *r, float &m, float &s) {
  constexpr int N = vec<T>::N;
  const float cm = fmaxf(m, chunks_max<T, true, U>(r, 0, 1, U));
  s *= ex2((m - cm) * LOG2E);
  m = cm;
  const float ml = m * LOG2E;
#pragma unroll
  for (int u = 0; u < U; u++) {
    float f[N];
    vec<T>::unpack(r[u], f);
#pragma unroll
    for (int k = 0; k < N; k++) s += ex2(fmaf(f[k], LOG2E, -ml));
  }
}

/* One chunk's outputs, y = 2^(x log2e - c) with c = M log2e + log2 S. */
template <typename T>
__device__ __forceinline__ typename vec<T>::raw fold_chunk(typename vec<T>::raw v, float c) {
  float f[vec<T>::N];
  vec<T>::unpack(v, f);
#pragma unroll
  for (int k = 0; k < vec<T>::N; k++) f[k] = ex2(fmaf(f[k], LOG2E, -c));
  return vec<T>::pack(f);
}

/* ---- naive: three kernels, one thread per row --------------------------- */

template <typename T>
__global__ void sm_naive_max(const T *x, int rows, int cols, float *mx) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const T *row = x + (size_t)r * cols;
  float m = -INFINITY;
  for (int c = 0; c < cols; c++) m = fmaxf(m, vec<T>::get(row + c));
  mx[r] = m;
}
template <typename T>
__global__ void sm_naive_sum(const T *x, int rows, int cols, const float *mx, float *sum) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const T *row = x + (size_t)r * cols;
  float s = 0.0f;
  for (int c = 0; c < cols; c++) s += expf(vec<T>::get(row + c) - mx[r]);
  sum[r] = s;
}
template <typename T>
__global__ void sm_naive_norm(const T *x, T *y, int rows, int cols, const float *mx,
                              const float *sum) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const T *row = x + (size_t)r * cols;
  T *out = y + (size_t)r * cols;
  for (int c = 0; c < cols; c++) vec<T>::put(out + c, expf(vec<T>::get(row + c) - mx[r]) / sum[r]);
}

template <typename T>
static void run_naive(const T *x, T *y, int rows, int cols, float *ws, cudaStream_t st) {
  int g = (rows + 127) / 128;
  sm_naive_max<T><<<g, 128, 0, st>>>(x, rows, cols, ws);
  sm_naive_sum<T><<<g, 128, 0, st>>>(x, rows, cols, ws, ws + rows);
  sm_naive_norm<T><<<g, 128, 0, st>>>(x, y, rows, cols, ws, ws + rows);
}

/* ---- block: online pass + write pass ------------------------------------ */

template <typename T, bool VEC, int U>
__global__ void __launch_bounds__(1024)
    sm_block(const T *__restrict__ x, T *__restrict__ y, int cols) {
  __shared__ float scratch[32];
  constexpr int N = VEC ? vec<T>::N : 1;
  const T *row = x + (size_t)blockIdx.x * cols;
  T *out = y + (size_t)blockIdx.x * cols;
  int chunks = cols / N, step = blockDim.x * U;
  float m = -INFINITY, s = 0.0f;
  for (int i0 = threadIdx.x; i0 < chunks; i0 += step) {
    float f[U][N];
#pragma unroll
    for (int u = 0; u < U; u++) { /* U independent loads before the first use */
      int i = i0 + u * blockDim.x;
      if (i < chunks) {
        if (VEC)
          vec<T>::load(row + (size_t)i * N, f[u]);
        else
          f[u][0] = vec<T>::get(row + i);
      } else {
#pragma unroll
        for (int k = 0; k < N; k++) f[u][k] = -INFINITY;
      }
    }
    float cm = m;
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int k = 0; k < N; k++) cm = fmaxf(cm, f[u][k]);
    if (cm > m) {
      s *= __expf(m - cm);
      m = cm;
    }
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int k = 0; k < N; k++) s += __expf(f[u][k] - m); /* -inf pads add 0 */
  }
  float M = block_max(m, scratch);
  float S = block_sum(m == -INFINITY ? 0.0f : s * __expf(m - M), scratch);
  float inv = 1.0f / S;
  for (int i0 = threadIdx.x; i0 < chunks; i0 += step) {
    float f[U][N];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = i0 + u * blockDim.x;
      if (i < chunks) {
        if (VEC)
          vec<T>::load(row + (size_t)i * N, f[u]);
        else
          f[u][0] = vec<T>::get(row + i);
      }
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = i0 + u * blockDim.x;
      if (i >= chunks) continue;
#pragma unroll
      for (int k = 0; k < N; k++) f[u][k] = __expf(f[u][k] - M) * inv;
      if (VEC)
        vec<T>::store(out + (size_t)i * N, f[u]);
      else
        vec<T>::put(out + i, f[u][0]);
    }
  }
}

template <typename T, int U>
static void run_block(const T *x, T *y, int rows, int cols, cudaStream_t st) {
  constexpr int N = vec<T>::N;
  bool v = cols % N == 0;
  int chunks = v ? cols / N : cols;
  int b = chunks >= 4096 ? 1024 : chunks >= 1024 ? 256 : 128;
  if (v)
    sm_block<T, true, U><<<rows, b, 0, st>>>(x, y, cols);
  else
    sm_block<T, false, U><<<rows, b, 0, st>>>(x, y, cols);
}

/* ---- regs: the row in registers, read once ------------------------------ */

template <typename T, int PER, int MAXB>
__global__ void __launch_bounds__(MAXB, 1)
    sm_regs(const T *__restrict__ x, T *__restrict__ y, int cols) {
  __shared__ float scratch[32];
  constexpr int N = vec<T>::N;
  const T *row = x + (size_t)blockIdx.x * cols;
  T *out = y + (size_t)blockIdx.x * cols;
  int chunks = cols / N;
  typename vec<T>::raw r[PER]; /* packed: PER x 4 registers whatever T is */
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i < chunks) r[p] = vec<T>::ld(row + (size_t)i * N);
  }
  float m = -INFINITY;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if (threadIdx.x + p * blockDim.x >= chunks) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) m = fmaxf(m, f[k]);
  }
  float M = block_max(m, scratch);
  float s = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if (threadIdx.x + p * blockDim.x >= chunks) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) s += __expf(f[k] - M);
  }
  float inv = 1.0f / block_sum(s, scratch);
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i >= chunks) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) f[k] = __expf(f[k] - M) * inv;
    vec<T>::store(out + (size_t)i * N, f);
  }
}

/* As sm_regs, the row indexed as 16-byte chunks from its base (fewer address
   registers: bf16 PER 4 takes 48 instead of 56, so 5 blocks of 256 an SM
   instead of 4). HINT (15, 16): chunks loaded and stored with the L2
   evict-first policy. LEAN (16): the max on packed bf16 pairs, each exponent
   one FFMA and one MUFU.EX2, 1/sum folded into the output's exponent (as
   7-fold): 32 registers at bf16 PER 4, 8 blocks an SM. */
template <typename T, int PER, int MAXB, bool HINT = false, bool LEAN = false>
__global__ void __launch_bounds__(MAXB, 1)
    sm_regs2(const T *__restrict__ x, T *__restrict__ y, int cols) {
  __shared__ float scratch[32];
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  const raw *row = reinterpret_cast<const raw *>(x + (size_t)blockIdx.x * cols);
  raw *out = reinterpret_cast<raw *>(y + (size_t)blockIdx.x * cols);
  const int chunks = cols / N, t = (int)threadIdx.x, nt = (int)blockDim.x;
  const uint64_t pol = chunk_policy<HINT>();
  raw r[PER]; /* packed: PER x 4 registers whatever T is */
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = t + p * nt;
    if (i < chunks) r[p] = ld_chunk<HINT>(row + i, pol);
  }
  float M = block_max(chunks_max<T, LEAN, PER>(r, t, nt, chunks), scratch);
  const float ml = M * LOG2E;
  float s = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if (t + p * nt >= chunks) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) s += LEAN ? ex2(fmaf(f[k], LOG2E, -ml)) : __expf(f[k] - M);
  }
  const float S = block_sum(s, scratch), inv = 1.0f / S, c = ml + log2f(S);
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = t + p * nt;
    if (i >= chunks) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) f[k] = LEAN ? ex2(fmaf(f[k], LOG2E, -c)) : __expf(f[k] - M) * inv;
    st_chunk<HINT>(out + i, vec<T>::pack(f), pol);
  }
}

/* One row a block of b threads: sm_regs2 (V2: 14-16) or sm_regs (2). */
template <typename T, int PER, int MAXB, bool V2, bool HINT, bool LEAN>
static void launch_regs(const T *x, T *y, int rows, int cols, int b, cudaStream_t st) {
  if constexpr (V2)
    sm_regs2<T, PER, MAXB, HINT, LEAN><<<rows, b, 0, st>>>(x, y, cols);
  else
    sm_regs<T, PER, MAXB><<<rows, b, 0, st>>>(x, y, cols);
}

/* Block size for PER chunks per thread: chunks / PER rounded up to whole warps. */
static int regs_block(int chunks, int per) { return ((chunks + per - 1) / per + 31) / 32 * 32; }

/* Picks PER and the block size; ERR_UNSUPPORTED when the row does not fit. Only
   spill-free instantiations exist (if constexpr): fp32 PER 8 at 1024 threads
   uses 56 registers; bf16 needs 87 there. A bf16 PER 16 x 416 path for
   4096 x 50304 ran at 50 % of the copy ceiling on the first run (128 registers,
   16 bytes spilled, one block per SM) and was removed: 3 serves long rows. */
template <typename T, bool V2 = false, bool HINT = false, bool LEAN = false>
static int run_regs(const T *x, T *y, int rows, int cols, cudaStream_t st, char *errbuf,
                    size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax regs: cols must be a multiple of %d", N);
  int chunks = cols / N;
  if (regs_block(chunks, 4) <= 1024) {
    launch_regs<T, 4, 1024, V2, HINT, LEAN>(x, y, rows, cols, regs_block(chunks, 4), st);
    return 0;
  }
  if (regs_block(chunks, 8) <= 512) {
    launch_regs<T, 8, 512, V2, HINT, LEAN>(x, y, rows, cols, regs_block(chunks, 8), st);
    return 0;
  }
  if constexpr (N == 4) {
    if (regs_block(chunks, 8) <= 1024) {
      launch_regs<T, 8, 1024, V2, HINT, LEAN>(x, y, rows, cols, regs_block(chunks, 8), st);
      return 0;
    }
  }
  return KUNSUP(errbuf, errlen,
                "softmax regs: a row of %d x %d-byte elements does not fit in registers", cols,
                (int)sizeof(T));
}

/* ---- smem: the row cached in shared memory, read once from DRAM ----------- */

template <typename T, int U>
__global__ void __launch_bounds__(1024)
    sm_smem(const T *__restrict__ x, T *__restrict__ y, int cols) {
  extern __shared__ uint4 cache_raw[]; /* cols x sizeof(T) bytes */
  __shared__ float scratch[32];
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  raw *cache = reinterpret_cast<raw *>(cache_raw);
  const T *row = x + (size_t)blockIdx.x * cols;
  T *out = y + (size_t)blockIdx.x * cols;
  int chunks = cols / N, step = blockDim.x * U;
  float m = -INFINITY, s = 0.0f;
  for (int i0 = threadIdx.x; i0 < chunks; i0 += step) {
    raw r[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = i0 + u * blockDim.x;
      if (i < chunks) r[u] = vec<T>::ld(row + (size_t)i * N);
    }
    float f[U][N];
    float cm = m;
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = i0 + u * blockDim.x;
      if (i < chunks) {
        cache[i] = r[u];
        vec<T>::unpack(r[u], f[u]);
      } else {
#pragma unroll
        for (int k = 0; k < N; k++) f[u][k] = -INFINITY;
      }
#pragma unroll
      for (int k = 0; k < N; k++) cm = fmaxf(cm, f[u][k]);
    }
    if (cm > m) {
      s *= __expf(m - cm);
      m = cm;
    }
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int k = 0; k < N; k++) s += __expf(f[u][k] - m);
  }
  float M = block_max(m, scratch); /* its barriers also publish the cache */
  float inv = 1.0f / block_sum(m == -INFINITY ? 0.0f : s * __expf(m - M), scratch);
  for (int i = threadIdx.x; i < chunks; i += blockDim.x) {
    float f[N];
    vec<T>::unpack(cache[i], f);
#pragma unroll
    for (int k = 0; k < N; k++) f[k] = __expf(f[k] - M) * inv;
    vec<T>::store(out + (size_t)i * N, f);
  }
}

template <typename T>
static int run_smem(const T *x, T *y, int rows, int cols, cudaStream_t st, char *errbuf,
                    size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax smem: cols must be a multiple of %d", N);
  size_t bytes = (size_t)cols * sizeof(T);
  static size_t raised; /* the dynamic shared memory limit set so far (host call, once per size) */
  if (bytes > 48 * 1024 && bytes > raised) {
    cudaError_t e = cudaFuncSetAttribute(sm_smem<T, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return KUNSUP(errbuf, errlen,
                    "softmax smem: a row of %zu bytes does not fit in shared memory (%s)", bytes,
                    cudaGetErrorString(e));
    }
    raised = bytes;
  }
  int chunks = cols / N, b = chunks >= 4096 ? 1024 : chunks >= 1024 ? 256 : 128;
  sm_smem<T, 4><<<rows, b, bytes, st>>>(x, y, cols);
  return 0;
}

/* ---- (max, sum) pairs: over a warp, a block, a cluster ------------------- */

/* (max, sum of 2^((x - max) log2e)) pairs held by the lanes of a warp,
   combined, returned to every lane. An empty pair is (-inf, 0). */
__device__ __forceinline__ float2 warp_maxsum(float m, float s) {
  float M = warp_max(m);
  return make_float2(M, warp_sum(m == -INFINITY ? 0.0f : s * ex2((m - M) * LOG2E)));
}

/* This thread's pair combined over the block with one barrier, which also
   tells the caller that every thread has passed the point of the call. red:
   32 float2 of shared memory that the block does not write again before its
   next barrier (callers alternate two). */
__device__ __forceinline__ float2 block_maxsum(float m, float s, float2 *red) {
  int lane = threadIdx.x & 31;
  float2 w = warp_maxsum(m, s);
  if (lane == 0) red[threadIdx.x >> 5] = w;
  __syncthreads();
  w = lane < (int)(blockDim.x >> 5) ? red[lane] : make_float2(-INFINITY, 0.0f);
  return warp_maxsum(w.x, w.y);
}

/* The cluster's (max, sum) from each CTA's pair `mine`: thread 0 stores it
   into slot `rank` of every CTA's `slots` (cl float2 of shared memory), one
   cluster barrier (arrive releases, wait acquires), then each CTA reads its
   own slots. Pushing costs one cluster barrier where reading the peers'
   memory (5-8) costs two, the second only so that no CTA exits while read.
   Every thread calls it; the result is in every thread. */
__device__ __forceinline__ float2 cluster_maxsum(float2 mine, float2 *slots) {
#if BULK_SM90
  cg::cluster_group cluster = cg::this_cluster();
  const int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  if (threadIdx.x == 0)
    for (int q = 0; q < cl; q++) *cluster.map_shared_rank(slots + rank, q) = mine;
  cluster.sync(); /* thread 0 arriving .release and the rest .relaxed hung (2026-12-03) */
  const int lane = (int)(threadIdx.x & 31);
  float2 v = lane < cl ? slots[lane] : make_float2(-INFINITY, 0.0f);
  return warp_maxsum(v.x, v.y);
#else
  (void)slots;
  __trap();
  return mine;
#endif
}

/* The exchange of 29-33: no cluster barrier (and no fence) between a CTA's
   pair being known and its peers reading it. xchg_open, at the kernel's start
   (every thread, cl > 1): thread 0 initialises bar for one arrival and cl x 8
   bytes and arrives; every thread arrives on the cluster barrier, whose wait
   (in cluster_maxsum_async, a row's loads later) only guarantees the peers'
   barriers were initialised before anything is pushed into them. Then lane q <
   cl of warp 0 stores the CTA's pair into slot `rank` of CTA q (st.async,
   completing 8 bytes on q's bar) and every thread waits on its own bar for the
   cl pairs. One row a cluster: one phase (parity 0), no slot written twice;
   and no CTA leaves before every pair meant for it has landed. */
__device__ __forceinline__ void xchg_open(uint64_t *bar, int cl) {
#if BULK_SM90
  if (threadIdx.x == 0) {
    bulk_bar_init(bar, 1); /* its fence.mbarrier_init releases the init at cluster scope */
    bulk_bar_expect(bar, 8u * (uint32_t)cl);
  }
  asm volatile("barrier.cluster.arrive.relaxed;" ::: "memory"); /* nothing else to release */
#else
  (void)bar, (void)cl;
  __trap();
#endif
}

__device__ __forceinline__ float2 cluster_maxsum_async(float2 mine, float2 *slots, uint64_t *bar) {
#if BULK_SM90
  cg::cluster_group cluster = cg::this_cluster();
  const int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  cluster.barrier_wait();
  if ((int)threadIdx.x < cl)
    bulk_st_async8(slots + rank,
                   (uint64_t)__float_as_uint(mine.y) << 32 | __float_as_uint(mine.x), bar,
                   (int)threadIdx.x);
  bulk_bar_wait(bar, 0); /* the phase completes when the bytes have landed */
  const int lane = (int)(threadIdx.x & 31);
  float2 v = lane < cl ? slots[lane] : make_float2(-INFINITY, 0.0f);
  return warp_maxsum(v.x, v.y);
#else
  (void)slots, (void)bar;
  __trap();
  return mine;
#endif
}

/* This CTA's part of its row when rows are split over clusters of cl CTAs:
   16-byte chunks [c0, c0 + n) of the row's `chunks`, the row starting at
   element `row` (blockIdx.x / cl rows in). */
struct row_part {
  int cl, c0, n;
  size_t row;
};
__device__ __forceinline__ row_part cluster_part(int chunks, int cols) {
  row_part p = {1, 0, chunks, (size_t)blockIdx.x * cols};
#if BULK_SM90
  cg::cluster_group cluster = cg::this_cluster();
  p.cl = (int)cluster.num_blocks();
  const int per = (chunks + p.cl - 1) / p.cl;
  p.c0 = (int)cluster.block_rank() * per;
  p.n = chunks - p.c0 < per ? (chunks - p.c0 > 0 ? chunks - p.c0 : 0) : per;
  p.row = (size_t)(blockIdx.x / p.cl) * cols;
#endif
  return p;
}

/* A launch configuration for 1-D clusters of cl CTAs: grid CTAs (a multiple
   of cl), threads each, smem bytes of dynamic shared memory, on st; attr is
   the caller's storage for the one attribute. */
static void cluster_config(cudaLaunchConfig_t *cfg, cudaLaunchAttribute *attr, int cl,
                           unsigned grid, int threads, size_t smem, cudaStream_t st) {
  *cfg = cudaLaunchConfig_t{};
  attr->id = cudaLaunchAttributeClusterDimension;
  attr->val.clusterDim.x = (unsigned)cl;
  attr->val.clusterDim.y = 1;
  attr->val.clusterDim.z = 1;
  cfg->gridDim = dim3(grid);
  cfg->blockDim = dim3((unsigned)threads);
  cfg->dynamicSmemBytes = smem;
  cfg->stream = st;
  cfg->attrs = attr;
  cfg->numAttrs = 1;
}

/* ---- cluster: a row split over a thread-block cluster ---------------------- */

/* CTA `rank` of a cluster of CL caches its 1/CL of the row in shared memory;
   the partial (max, sum) pairs are exchanged through distributed shared
   memory (sm_90 clusters), so each CTA holds ~50 KB and several rows are live
   per SM. */
template <typename T, int U, bool FOLD, bool HINT = false, int XCH = 0>
__global__ void __launch_bounds__(256, U > 4 ? 4 : 0) /* 0: no minimum (a minimum of 1 changed 13's registers, 64 -> 71) */
    sm_cluster(const T *__restrict__ x, T *__restrict__ y, int cols) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  __trap(); /* clusters need sm_90: the compute_80 PTX never launches this */
#else
  extern __shared__ uint4 cache_raw[];
  __shared__ float scratch[32];
  __shared__ float part[2]; /* this CTA's (max, sum), read by the others */
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  cg::cluster_group cluster = cg::this_cluster();
  int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  raw *cache = reinterpret_cast<raw *>(cache_raw);
  int chunks = cols / N, per = (chunks + cl - 1) / cl, c0 = rank * per;
  int n = chunks - c0 < per ? chunks - c0 : per;
  if (n < 0) n = 0;
  size_t base = (size_t)(blockIdx.x / cl) * cols + (size_t)c0 * N;
  const T *row = x + base;
  T *out = y + base;
  const uint64_t pol = chunk_policy<HINT>(); /* HINT (13): evict-first loads and stores */
  __shared__ uint64_t xbar; /* XCH 2 (29, 30) */
  if (XCH == 2 && cl > 1) xchg_open(&xbar, cl);
  float m = -INFINITY, s = 0.0f;
  for (int i0 = threadIdx.x; U > 4 && i0 < n; i0 += blockDim.x * U) {
    /* 30: U = 8 with 4's unpacked copies spills at 64 registers; online_add
       unpacks one chunk at a time (pads -inf, as l2pass) */
    static_assert(U <= 4 || (FOLD && !HINT), "U > 4: the folded exponent, plain loads");
    raw r[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = i0 + u * (int)blockDim.x;
      r[u] = i < n ? vec<T>::ld(row + (size_t)i * N) : vec<T>::neg_inf();
      if (i < n) cache[i] = r[u];
    }
    online_add<T, U>(r, m, s);
  }
  for (int i0 = threadIdx.x; U <= 4 && i0 < n; i0 += blockDim.x * U) {
    raw r[U];
#pragma unroll
    for (int u = 0; u < U; u++)
      if (i0 + u * (int)blockDim.x < n) {
        if constexpr (HINT)
          r[u] = ld16_l2(reinterpret_cast<const raw *>(row) + i0 + u * blockDim.x, pol);
        else
          r[u] = vec<T>::ld(row + (size_t)(i0 + u * blockDim.x) * N);
      }
    float f[U][N];
    float cm = m;
#pragma unroll
    for (int u = 0; u < U; u++) {
      int i = i0 + u * blockDim.x;
      if (i < n) {
        cache[i] = r[u];
        vec<T>::unpack(r[u], f[u]);
      } else {
#pragma unroll
        for (int k = 0; k < N; k++) f[u][k] = -INFINITY;
      }
#pragma unroll
      for (int k = 0; k < N; k++) cm = fmaxf(cm, f[u][k]);
    }
    if (cm > m) {
      s *= FOLD ? ex2(m * LOG2E - cm * LOG2E) : __expf(m - cm);
      m = cm;
    }
    float ml = m * LOG2E;
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int k = 0; k < N; k++) s += FOLD ? ex2(fmaf(f[u][k], LOG2E, -ml)) : __expf(f[u][k] - m);
  }
  float M = -INFINITY, S = 0.0f;
  if constexpr (XCH) { /* 26: one block barrier, one cluster barrier; 29, 30: no cluster barrier */
    static_assert(FOLD, "XCH sums 2^((x - m) log2e): FOLD's exponent");
    __shared__ float2 red[32], slots[8];
    float2 ms = block_maxsum(m, s, red);
    if (cl > 1) ms = XCH == 2 ? cluster_maxsum_async(ms, slots, &xbar) : cluster_maxsum(ms, slots);
    M = ms.x, S = ms.y;
  } else {
    float lm = block_max(m, scratch);
    float ls = block_sum(m == -INFINITY ? 0.0f : s * __expf(m - lm), scratch);
    if (threadIdx.x == 0) part[0] = lm, part[1] = ls;
    cluster.sync(); /* every CTA's part is written */
    for (int r = 0; r < cl; r++) M = fmaxf(M, cluster.map_shared_rank(part, r)[0]);
    for (int r = 0; r < cl; r++) {
      const float *p = cluster.map_shared_rank(part, r);
      if (p[0] != -INFINITY) S += p[1] * __expf(p[0] - M);
    }
    cluster.sync(); /* no CTA leaves while another still reads its part */
  }
  float inv = 1.0f / S, c = M * LOG2E + log2f(S); /* FOLD: y = 2^(x log2e - c) */
  raw *out16 = reinterpret_cast<raw *>(out);      /* 16-byte stores (see the header) */
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float f[N];
    vec<T>::unpack(cache[i], f);
#pragma unroll
    for (int k = 0; k < N; k++) f[k] = FOLD ? ex2(fmaf(f[k], LOG2E, -c)) : __expf(f[k] - M) * inv;
    st_chunk<HINT>(out16 + i, vec<T>::pack(f), pol);
  }
#endif
}

/* Cluster size: the smallest of 1, 2, 4, 8 that keeps a CTA's part <= part_kb
   KB (64 for 5 and 7, 32 for 8); threads a CTA: 256 (5, 7) or 128 (8); FOLD:
   the exponents as one FFMA (7, 8). */
template <typename T, bool FOLD, bool HINT = false, int XCH = 0, int U = 4>
static int run_cluster(const T *x, T *y, int rows, int cols, int part_kb, int threads,
                       cudaStream_t st, char *errbuf, size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax cluster: cols must be a multiple of %d", N);
  int chunks = cols / N, cl = 1;
  while (cl < 8 && (size_t)((chunks + cl - 1) / cl) * 16 > (size_t)part_kb * 1024) cl *= 2;
  size_t bytes = (size_t)((chunks + cl - 1) / cl) * 16;
  if (bytes > 64 * 1024)
    return KUNSUP(errbuf, errlen, "softmax cluster: a row of %d is over 8 x 64 KB", cols);
  static size_t raised; /* per instantiation: <T, FOLD, HINT, XCH, U> */
  if (bytes > 48 * 1024 && bytes > raised) {
    cudaError_t e = cudaFuncSetAttribute(sm_cluster<T, U, FOLD, HINT, XCH>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return KUNSUP(errbuf, errlen, "softmax cluster: %zu bytes of shared memory: %s", bytes,
                    cudaGetErrorString(e));
    }
    raised = bytes;
  }
  cudaLaunchConfig_t cfg;
  cudaLaunchAttribute attr[1];
  cluster_config(&cfg, attr, cl, (unsigned)rows * (unsigned)cl, threads, bytes, st);
  cudaError_t e = cudaLaunchKernelEx(&cfg, sm_cluster<T, U, FOLD, HINT, XCH>, x, y, cols);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax cluster: launch with clusters of %d: %s", cl,
                  cudaGetErrorString(e));
  }
  return 0;
}

/* ---- clregs: a row split over a cluster, each part in registers ----------- */

/* CTA `rank` of a cluster of CL holds its 1/CL of the row in registers (PER
   16-byte chunks a thread, all loads issued before the first use), takes its
   exact local max, then its sum of exp relative to that max, and the CTAs
   combine their (max, sum) through distributed shared memory as in 5. */
template <typename T, int PER>
__global__ void __launch_bounds__(256)
    sm_clregs(const T *__restrict__ x, T *__restrict__ y, int cols) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  __trap(); /* clusters need sm_90: the compute_80 PTX never launches this */
#else
  __shared__ float scratch[32];
  __shared__ float part[2]; /* this CTA's (max, sum), read by the others */
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  cg::cluster_group cluster = cg::this_cluster();
  int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  int chunks = cols / N, per = (chunks + cl - 1) / cl, c0 = rank * per;
  int n = chunks - c0 < per ? chunks - c0 : per;
  if (n < 0) n = 0;
  size_t r0 = (size_t)(blockIdx.x / cl) * cols; /* 16-byte aligned: cols % N == 0 */
  const raw *row = reinterpret_cast<const raw *>(x + r0) + c0;
  raw *out = reinterpret_cast<raw *>(y + r0) + c0;
  raw r[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i < n) r[p] = row[i];
  }
  float m = -INFINITY;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if ((int)threadIdx.x + p * (int)blockDim.x >= n) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) m = fmaxf(m, f[k]);
  }
  float lm = block_max(m, scratch), s = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if ((int)threadIdx.x + p * (int)blockDim.x >= n) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) s += __expf(f[k] - lm);
  }
  float ls = block_sum(s, scratch);
  if (threadIdx.x == 0) part[0] = lm, part[1] = ls;
  cluster.sync(); /* every CTA's part is written */
  float M = -INFINITY, S = 0.0f;
  for (int q = 0; q < cl; q++) M = fmaxf(M, cluster.map_shared_rank(part, q)[0]);
  for (int q = 0; q < cl; q++) {
    const float *pq = cluster.map_shared_rank(part, q);
    if (pq[0] != -INFINITY) S += pq[1] * __expf(pq[0] - M);
  }
  cluster.sync(); /* no CTA leaves while another still reads its part */
  float inv = 1.0f / S;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i >= n) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) f[k] = __expf(f[k] - M) * inv;
    out[i] = vec<T>::pack(f);
  }
#endif
}

/* Cluster size: the smallest of 1, 2, 4, 8 whose part is at most 256 threads x
   8 chunks; threads: the part over 8, rounded up to whole warps. */
template <typename T>
static int run_clregs(const T *x, T *y, int rows, int cols, cudaStream_t st, char *errbuf,
                      size_t errlen) {
  constexpr int N = vec<T>::N, PER = 8;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax clregs: cols must be a multiple of %d", N);
  int chunks = cols / N, cl = 1;
  while (cl < 8 && (chunks + cl - 1) / cl > 256 * PER) cl *= 2;
  int per = (chunks + cl - 1) / cl;
  if (per > 256 * PER)
    return KUNSUP(errbuf, errlen, "softmax clregs: a row of %d is over 8 CTAs x 256 x %d chunks",
                  cols, PER);
  int threads = ((per + PER - 1) / PER + 31) / 32 * 32;
  cudaLaunchConfig_t cfg;
  cudaLaunchAttribute attr[1];
  cluster_config(&cfg, attr, cl, (unsigned)rows * (unsigned)cl, threads, 0, st);
  cudaError_t e = cudaLaunchKernelEx(&cfg, sm_clregs<T, PER>, x, y, cols);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax clregs: launch with clusters of %d: %s", cl,
                  cudaGetErrorString(e));
  }
  return 0;
}

/* ---- tma: persistent clusters, row parts by bulk copy into a stage ring --- */

#define TMA_MAX_STAGES 4

/* One CTA of a cluster of cl: its part of each row it walks (16-byte chunks
   [rank x per, + n)) arrives by bulk copy in stage it % stages of the dynamic
   shared memory; thread t holds chunks t + p x blockDim.x, p < PER. KEEP:
   pass 1's exponentials stay in registers (fp32) for pass 2. Registers:
   capped for 4 CTAs of 256 threads an SM (64) when a thread's data takes 16
   (PER x 16 bytes, and as much again for bf16's kept fp32 exponentials), for
   3 (80) above that, which ptxas needs to avoid spilling. */
template <typename T, int PER, bool KEEP, bool ASYNC>
__global__ void __launch_bounds__(256, PER * 4 * (KEEP && sizeof(T) == 2 ? 3 : 1) <= 16 ? 4 : 3)
    sm_tma(const T *__restrict__ x, T *__restrict__ y, int rows, int cols, int stages) {
#if !BULK_SM90
  __trap(); /* bulk copies and clusters need sm_90: the compute_80 PTX never launches this */
#else
  extern __shared__ uint4 stage_raw[]; /* stages x per x 16 bytes */
  __shared__ uint64_t full[TMA_MAX_STAGES];
  __shared__ float2 red[2][32]; /* per-warp pairs, alternating rows */
  __shared__ float2 part[2];    /* this CTA's pair, alternating rows, read by the cluster */
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  cg::cluster_group cluster = cg::this_cluster();
  const int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  const int chunks = cols / N, per = (chunks + cl - 1) / cl, c0 = rank * per;
  const int n = max(0, min(per, chunks - c0)), t = (int)threadIdx.x, nt = (int)blockDim.x;
  const int lane = t & 31, first = (int)blockIdx.x / cl, step = (int)gridDim.x / cl;
  const uint32_t bytes = (uint32_t)n * 16u;
  raw *stage = reinterpret_cast<raw *>(stage_raw);
  const uint64_t pol = l2_evict_first();
  /* TMA: one thread copies row `row`'s part into stage s. ASYNC: every
     thread copies its own chunks (and alone reads them back), one group a
     row, committed even when empty so that groups count rows. */
  auto issue = [&](int s, int row) {
    const T *src = x + (size_t)row * cols + (size_t)c0 * N;
    if constexpr (!ASYNC) {
      bulk_bar_expect(&full[s], bytes);
      bulk_load(stage + (size_t)s * per, src, bytes, &full[s], pol);
    } else {
#pragma unroll
      for (int p = 0; p < PER; p++)
        if (t + p * nt < n && row < rows)
          async_copy16(stage + (size_t)s * per + t + p * nt, src + (size_t)(t + p * nt) * N);
      async_commit();
    }
  };
  if (!ASYNC && t == 0)
    for (int s = 0; s < stages; s++) bulk_bar_init(&full[s], 1);
  __syncthreads();
  if (ASYNC || (t == 0 && bytes))
    for (int s = 0; s < stages && (ASYNC || first + s * step < rows); s++)
      issue(s, first + s * step);
  for (int it = 0, row = first; row < rows; it++, row += step) {
    const int s = it % stages, par = it & 1;
    if (ASYNC)
      async_wait(stages - 1); /* this row's group; the next stages - 1 may fly */
    else if (bytes)
      bulk_bar_wait(&full[s], (uint32_t)(it / stages) & 1u);
    raw r[PER];                           /* KEEP at fp32: then 2^(x log2e - ml), in place */
    float e[KEEP && N == 8 ? PER : 1][N]; /* KEEP at bf16: 2^(x log2e - ml) */
    float m = -INFINITY, sum = 0.0f;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= n) continue;
      r[p] = stage[(size_t)s * per + t + p * nt];
      float f[N];
      vec<T>::unpack(r[p], f);
#pragma unroll
      for (int k = 0; k < N; k++) m = fmaxf(m, f[k]);
    }
    const float ml = m == -INFINITY ? 0.0f : m * LOG2E; /* all -inf: every exponential is 0 */
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= n) continue;
      float f[N];
      vec<T>::unpack(r[p], f);
#pragma unroll
      for (int k = 0; k < N; k++) {
        f[k] = ex2(fmaf(f[k], LOG2E, -ml));
        sum += f[k];
        if (KEEP && N == 8) e[KEEP && N == 8 ? p : 0][k] = f[k];
      }
      if (KEEP && N == 4) r[p] = vec<T>::pack(f);
    }
    if (ASYNC) issue(s, row + stages * step); /* its own chunks of stage s are in r */
    /* Its barrier: every thread has its chunks of stage s in registers. */
    float2 ms = block_maxsum(m, sum, red[par]);
    if (!ASYNC && t == 0 && bytes && row + stages * step < rows) issue(s, row + stages * step);
    if (cl > 1) {
      if (t == 0) part[par] = ms;
      cluster.sync(); /* every CTA's pair of this row is written */
      float2 v =
          lane < cl ? cluster.map_shared_rank(part, lane)[par] : make_float2(-INFINITY, 0.0f);
      ms = warp_maxsum(v.x, v.y);
    }
    /* y = 2^(x log2e - c); KEEP: e = 2^(x log2e - ml) times 2^(ml - c). */
    const float c = ms.x * LOG2E + log2f(ms.y), scale = ex2(ml - c);
    raw *out = reinterpret_cast<raw *>(y + (size_t)row * cols) + c0;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= n) continue;
      float f[N];
      if (KEEP) {
        if (N == 4) vec<T>::unpack(r[p], f);
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = (N == 4 ? f[k] : e[KEEP && N == 8 ? p : 0][k]) * scale;
      } else {
        vec<T>::unpack(r[p], f);
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = ex2(fmaf(f[k], LOG2E, -c));
      }
      out[t + p * nt] = vec<T>::pack(f);
    }
  }
  /* No CTA leaves while another may still read its pair. (A slot is written
     again two rows later, after the next row's cluster barrier, which every
     reader of it has reached: one cluster barrier a row is enough.) */
  if (cl > 1) cluster.sync();
#endif
}

/* The launch shape of 9 and 10 for a row length, worked out once per
   instantiation and cols (the occupancy query costs host time that a timed
   launch would otherwise include). Host calls on one thread, as the harness
   makes them. */
struct tma_shape {
  int cols, part_kb, cl, threads, stages, clusters; /* clusters: co-resident (occupancy API) */
  size_t smem;
};

/* The smallest cluster of 1, 2, 4 or 8 CTAs whose parts of a row of `chunks`
   16-byte chunks are at most `cap` chunks (8 when none is). */
static int tma_cluster(int chunks, int cap) {
  int cl = 1;
  while (cl < 8 && (chunks + cl - 1) / cl > cap) cl *= 2;
  return cl;
}

/* Cluster: the smallest whose part is <= part_kb KB and <= 256 x PER chunks;
   256 threads (fewer for short parts); stages: as many parts as fit in
   stage_kb (2 to 4); 0, or a CUDA error. */
template <typename K>
static cudaError_t tma_plan(K kern, int cols, int n_vec, int per_max, int part_kb, int stage_kb,
                            struct tma_shape *sh) {
  int chunks = cols / n_vec, cap = part_kb * 64 < 256 * per_max ? part_kb * 64 : 256 * per_max;
  int cl = tma_cluster(chunks, cap), per = (chunks + cl - 1) / cl;
  if (per > cap) return cudaErrorInvalidValue;
  size_t part = (size_t)per * 16;
  int stages = (int)((size_t)stage_kb * 1024 / part);
  stages = stages < 2 ? 2 : stages > TMA_MAX_STAGES ? TMA_MAX_STAGES : stages;
  sh->cols = cols, sh->part_kb = part_kb, sh->cl = cl, sh->stages = stages;
  sh->smem = part * (size_t)stages;
  sh->threads = per < 256 ? (per + 31) / 32 * 32 : 256;
  cudaError_t e =
      cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sh->smem);
  if (e != cudaSuccess) return e;
  cudaLaunchConfig_t cfg;
  cudaLaunchAttribute attr[1];
  cluster_config(&cfg, attr, cl, (unsigned)cl, sh->threads, sh->smem, 0);
  e = cudaOccupancyMaxActiveClusters(&sh->clusters, kern, &cfg);
  if (e == cudaSuccess && sh->clusters < 1) e = cudaErrorInvalidConfiguration;
  return e;
}

/* A launch of kern with shape sh over rows: as many clusters as fit at once,
   at most one a row. */
template <typename K, typename... A>
static cudaError_t tma_launch(K kern, const struct tma_shape *sh, int rows, cudaStream_t st,
                              A... args) {
  int g = sh->clusters < rows ? sh->clusters : rows;
  cudaLaunchConfig_t cfg;
  cudaLaunchAttribute attr[1];
  cluster_config(&cfg, attr, sh->cl, (unsigned)g * (unsigned)sh->cl, sh->threads, sh->smem, st);
  return cudaLaunchKernelEx(&cfg, kern, args...);
}

template <typename T, int PER, bool KEEP, bool ASYNC>
static int launch_tma(const T *x, T *y, int rows, int cols, int part_kb, cudaStream_t st,
                      char *errbuf, size_t errlen) {
  constexpr int N = vec<T>::N;
  static struct tma_shape sh = {-1, 0, 0, 0, 0, 0, 0}; /* per instantiation */
  auto kern = sm_tma<T, PER, KEEP, ASYNC>;
  cudaError_t e = cudaSuccess;
  if (sh.cols != cols || sh.part_kb != part_kb) {
    sh.cols = -1;
    e = tma_plan(kern, cols, N, PER, part_kb, 56, &sh);
  }
  if (e == cudaSuccess) e = tma_launch(kern, &sh, rows, st, x, y, rows, cols, sh.stages);
  if (e != cudaSuccess) {
    sh.cols = -1;
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen,
                  "softmax tma: a row of %d (clusters of %d, %zu bytes of shared "
                  "memory a CTA): %s",
                  cols, sh.cl, sh.smem, cudaGetErrorString(e));
  }
  return 0;
}

/* PER 4 when a CTA's part of the row (parts <= part_kb KB, clusters <= 8)
   needs at most 4 chunks a thread, else 8 (KEEP at bf16: 4 always, so
   clusters grow first: 8 fp32 exponentials a chunk). */
template <typename T, bool KEEP, bool ASYNC = false>
static int run_tma(const T *x, T *y, int rows, int cols, int part_kb, cudaStream_t st, char *errbuf,
                   size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax tma: cols must be a multiple of %d", N);
  int chunks = cols / N, cap = part_kb * 64; /* 16-byte chunks in part_kb KB */
  if (KEEP && N == 8 && cap > 1024) cap = 1024;
  int cl = tma_cluster(chunks, cap);
  if ((chunks + cl - 1) / cl <= 1024)
    return launch_tma<T, 4, KEEP, ASYNC>(x, y, rows, cols, part_kb, st, errbuf, errlen);
  if constexpr (!(KEEP && N == 8))
    return launch_tma<T, 8, KEEP, ASYNC>(x, y, rows, cols, part_kb, st, errbuf, errlen);
  return KUNSUP(errbuf, errlen, "softmax tma: a row of %d is over 8 CTAs x 256 x 4 chunks", cols);
}

/* ---- l2pass: two passes, the second from L2, few rows live --------------- */

/* One row a CTA (1024 or 512 threads), read twice: pass 1 (normal L2
   priority) takes the online (max, sum) with U 16-byte loads in flight a
   thread; pass 2 reads the row again, which now hits L2, and writes (HINT:
   both evict-first). The launch caps resident CTAs an SM (rows live), so
   live rows x row bytes stays well under the L2: 132 x 201 KB = 26.5 MB at
   fp32 x 50304 with one CTA an SM. */
template <typename T, int U, bool HINT, int XCH = 0>
__global__ void __launch_bounds__(1024, 1)
    sm_l2pass(const T *__restrict__ x, T *__restrict__ y, int cols) {
  __shared__ float2 red[32];
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  row_part pt = {1, 0, cols / N, (size_t)blockIdx.x * cols};
  if constexpr (XCH > 0) pt = cluster_part(cols / N, cols); /* 31, 32, 35-37: a row over a cluster */
  const raw *row = reinterpret_cast<const raw *>(x + pt.row) + pt.c0;
  raw *out = reinterpret_cast<raw *>(y + pt.row) + pt.c0;
  const int n = pt.n, t = (int)threadIdx.x, nt = (int)blockDim.x;
  const uint64_t pol = chunk_policy<HINT>();
  __shared__ float2 slots[8];
  __shared__ uint64_t xbar;
  if (XCH == 2 && pt.cl > 1) xchg_open(&xbar, pt.cl);
  float m = -INFINITY, s = 0.0f;
  for (int i0 = t; i0 < n; i0 += nt * U) {
    raw r[U];
#pragma unroll
    for (int u = 0; u < U; u++) r[u] = i0 + u * nt < n ? row[i0 + u * nt] : vec<T>::neg_inf();
    online_add<T, U>(r, m, s);
  }
  float2 ms = block_maxsum(m, s, red);
  if (XCH > 0 && pt.cl > 1)
    ms = XCH == 2 ? cluster_maxsum_async(ms, slots, &xbar) : cluster_maxsum(ms, slots);
  const float c = ms.x * LOG2E + log2f(ms.y); /* y = 2^(x log2e - c) */
  for (int i0 = t; i0 < n; i0 += nt * U) {
    raw r[U];
#pragma unroll
    for (int u = 0; u < U; u++)
      if (i0 + u * nt < n) r[u] = ld_chunk<HINT>(row + i0 + u * nt, pol);
#pragma unroll
    for (int u = 0; u < U; u++)
      if (i0 + u * nt < n) st_chunk<HINT>(out + i0 + u * nt, fold_chunk<T>(r[u], c), pol);
  }
}

/* Dynamic shared memory that lets at most `per_sm` CTAs share an SM: just over
   1 / (per_sm + 1) of its shared memory (the kernel uses none of it); 0 on a
   CUDA error. *raised: the limit already set for kern (one per kernel, kept
   by the caller). Host calls on one thread. */
template <typename K>
static size_t l2pass_pad(K kern, int per_sm, size_t *raised) {
  static int sm_bytes; /* the device's shared memory an SM */
  int dev = 0;
  if (!sm_bytes && (cudaGetDevice(&dev) != cudaSuccess ||
                    cudaDeviceGetAttribute(&sm_bytes, cudaDevAttrMaxSharedMemoryPerMultiprocessor,
                                           dev) != cudaSuccess))
    return 0;
  size_t pad = (size_t)sm_bytes / (size_t)(per_sm + 1) + 1024;
  if (pad > *raised) {
    if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)pad) !=
        cudaSuccess)
      return 0;
    *raised = pad;
  }
  return pad;
}

/* threads a CTA and CTAs an SM: 1024 x 1 (17, 20) or 512 x 2 (18, 21);
   HINT: pass 2 and the stores evict-first (17, 18). XCH > 0 (31, 32, 35-37):
   rows split over clusters of 1-8 CTAs, parts of at most part_kb KB, the
   pairs exchanged by cluster_maxsum (1) or cluster_maxsum_async (2). */
template <typename T, bool HINT, int U = 4, int XCH = 0>
static int run_l2pass(const T *x, T *y, int rows, int cols, int threads, int per_sm,
                      cudaStream_t st, char *errbuf, size_t errlen, int part_kb = 0) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax l2pass: cols must be a multiple of %d", N);
  auto kern = sm_l2pass<T, U, HINT, XCH>;
  static size_t raised; /* per instantiation, as kern */
  size_t pad = l2pass_pad(kern, per_sm, &raised);
  if (!pad) {
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax l2pass: no shared memory pad for %d CTAs an SM", per_sm);
  }
  if constexpr (XCH == 0) {
    kern<<<rows, threads, pad, st>>>(x, y, cols);
    return 0;
  }
  const int cl = tma_cluster(cols / N, part_kb * 64);
  cudaLaunchConfig_t cfg;
  cudaLaunchAttribute attr[1];
  cluster_config(&cfg, attr, cl, (unsigned)rows * (unsigned)cl, threads, pad, st);
  cudaError_t e = cudaLaunchKernelEx(&cfg, kern, x, y, cols);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax l2pass: launch with clusters of %d: %s", cl,
                  cudaGetErrorString(e));
  }
  return 0;
}

/* ---- clpush: a row split over a cluster, parts in registers, two barriers --- */

/* 24, 25. Why: 6-clregs held the row's parts in registers but synchronised
   six times a CTA (four block barriers, two cluster barriers), computed
   __expf, and ran 4 CTAs (896 threads) an SM; 2-regs, which reaches 95 % at
   8192 columns, is short CTAs at high occupancy. Here a CTA holds PER 16-byte
   chunks a thread (all loads issued first), takes its exact local max (packed
   at bf16) and the sum relative to it with one FFMA + EX2 an element, one
   block barrier (block_maxsum) and, for clusters, one cluster barrier
   (cluster_maxsum); the output exponent folds in 1/sum (as 7). 24: PER 4,
   up to 512 threads, 32 registers (4 CTAs, 2048 threads an SM): fp32 x 50304
   in clusters of 8, bf16 of 4. 25: PER 8, up to 256 threads, 64 registers (a cap of 48 for 5 CTAs an SM spilled bf16). */
template <typename T, int PER, int MAXT, int MINB, bool ASYNC = false>
__global__ void __launch_bounds__(MAXT, MINB)
    sm_clpush(const T *__restrict__ x, T *__restrict__ y, int cols) {
#if !BULK_SM90
  __trap(); /* clusters need sm_90: the compute_80 PTX never launches this */
#else
  __shared__ float2 red[32], slots[8];
  __shared__ uint64_t xbar; /* ASYNC (33) */
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  const row_part pt = cluster_part(cols / N, cols); /* 16-byte aligned: cols % N == 0 */
  const int cl = pt.cl, n = pt.n, t = (int)threadIdx.x, nt = (int)blockDim.x;
  const raw *row = reinterpret_cast<const raw *>(x + pt.row) + pt.c0;
  raw *out = reinterpret_cast<raw *>(y + pt.row) + pt.c0;
  if (ASYNC && cl > 1) xchg_open(&xbar, cl);
  raw r[PER];
#pragma unroll
  for (int p = 0; p < PER; p++)
    if (t + p * nt < n) r[p] = row[t + p * nt];
  const float m = chunks_max<T, true, PER>(r, t, nt, n), ml = m * LOG2E;
  float s = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if (t + p * nt >= n) continue;
    float f[N];
    vec<T>::unpack(r[p], f);
#pragma unroll
    for (int k = 0; k < N; k++) s += ex2(fmaf(f[k], LOG2E, -ml));
  }
  float2 ms = block_maxsum(m, s, red);
  if (cl > 1) ms = ASYNC ? cluster_maxsum_async(ms, slots, &xbar) : cluster_maxsum(ms, slots);
  const float c = ms.x * LOG2E + log2f(ms.y); /* y = 2^(x log2e - c) */
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if (t + p * nt < n) out[t + p * nt] = fold_chunk<T>(r[p], c);
  }
#endif
}

/* Cluster: the smallest of 1, 2, 4, 8 whose part is at most MAXT x PER
   chunks; threads: the part over PER, in whole warps. */
template <typename T, int PER, int MAXT, int MINB, bool ASYNC = false>
static int run_clpush(const T *x, T *y, int rows, int cols, cudaStream_t st, char *errbuf,
                      size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax clpush: cols must be a multiple of %d", N);
  const int chunks = cols / N, cl = tma_cluster(chunks, MAXT * PER);
  const int per = (chunks + cl - 1) / cl;
  if (per > MAXT * PER)
    return KUNSUP(errbuf, errlen, "softmax clpush: a row of %d is over 8 CTAs x %d x %d chunks",
                  cols, MAXT, PER);
  /* clusters = rows: one cluster a row, every row launched (tma_launch takes the smaller) */
  struct tma_shape sh = {cols, 0, cl, ((per + PER - 1) / PER + 31) / 32 * 32, 0, rows, 0};
  cudaError_t e = tma_launch(sm_clpush<T, PER, MAXT, MINB, ASYNC>, &sh, rows, st, x, y, cols);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax clpush: launch with clusters of %d: %s", cl,
                  cudaGetErrorString(e));
  }
  return 0;
}

/* ---- stream: persistent clusters, pass 1 of a row beside pass 2 of an older one */

/* Why (22, 23): 17/18 read a row twice, the second time from L2, and 5/7 keep
   it in shared memory, but each CTA goes load -> reduce -> (cluster barrier)
   -> write, so an SM's loads pause whenever its CTAs reduce or write, and its
   last wave runs part-empty. Here one CTA of 1024 threads an SM walks rows
   ci, ci + G, ... (G clusters), its part of them ([rank x per, + n) chunks),
   and every trip through the loop does pass 1 of row j (DRAM reads, online
   max and sum) and pass 2 of row j - 2 (reread from L2, normalised, written):
   reads, rereads and writes stream at once, all the time. Row j's per-warp
   (max, sum) pairs go into slot j % 4 of every cluster CTA's shared memory,
   each warp arriving on that slot's mbarrier there; row j's pass 2 waits on
   it two trips later, when it has long completed, so nothing blocks. Four
   slots: a warp writes slot j % 4 again for row j + 4 only after row j + 2
   completed, which needs every warp's arrival for j + 2, which each makes
   after reading row j's slot. Live rows an SM: two parts (row j - 2 being
   reread, row j - 1 waiting, row j arriving: about two), so 132 x 2 x 201 KB
   / CL: 26.5 MB at fp32 x 50304 with clusters of 2 (22), 13 MB with 4 (23).
   Pass-1 loads at normal L2 priority, the rereads and stores evict-first
   (18 with the hints beat 21 without). */

#define STREAM_SLOTS 4
#define STREAM_MAX_CL 4

/* (max, sum) pairs a and b combined; empty pairs are (-inf, 0). */
__device__ __forceinline__ float2 pair_add(float2 a, float2 b) {
  float M = fmaxf(a.x, b.x);
  if (M == -INFINITY) return a;
  return make_float2(M, a.y * ex2((a.x - M) * LOG2E) + b.y * ex2((b.x - M) * LOG2E));
}

/* One trip: P1, pass 1 over in1 (its (max, sum) returned); P2, pass 2 of in2
   into out2 with y = 2^(x log2e - c). U 16-byte chunks of each in flight. */
template <typename T, int U, bool P1, bool P2>
__device__ __forceinline__ float2 stream_trip(const typename vec<T>::raw *in1,
                                              const typename vec<T>::raw *in2,
                                              typename vec<T>::raw *out2, int n, float c,
                                              uint64_t pol) {
  typedef typename vec<T>::raw raw;
  const int t = (int)threadIdx.x, nt = (int)blockDim.x;
  float m = -INFINITY, s = 0.0f;
  for (int i0 = t; i0 < n; i0 += nt * U) {
    raw a[U], b[U];
    if constexpr (P1) {
#pragma unroll
      for (int u = 0; u < U; u++) a[u] = i0 + u * nt < n ? in1[i0 + u * nt] : vec<T>::neg_inf();
    }
    if constexpr (P2) {
#pragma unroll
      for (int u = 0; u < U; u++)
        if (i0 + u * nt < n) b[u] = ld_chunk<true>(in2 + i0 + u * nt, pol);
    }
    /* pass 2 first: its rereads (L2) land before pass 1's loads (DRAM), and
       its registers are free again before pass 1 unpacks */
    if constexpr (P2) {
#pragma unroll
      for (int u = 0; u < U; u++) {
        if (i0 + u * nt < n) st_chunk<true>(out2 + i0 + u * nt, fold_chunk<T>(b[u], c), pol);
      }
    }
    if constexpr (P1) {
      online_add<T, U>(a, m, s);
    }
  }
  return make_float2(m, s);
}

/* This warp's pair (lane 0 holding it) stored at index idx of `slot` in every
   CTA of the cluster, then one arrival on each one's `bar`. */
__device__ __forceinline__ void stream_publish(float2 w, float2 *slot, uint64_t *bar, int idx,
                                               int cl) {
#if BULK_SM90
  if ((threadIdx.x & 31) != 0) return;
  cg::cluster_group cluster = cg::this_cluster();
  for (int q = 0; q < cl; q++) {
    *cluster.map_shared_rank(slot + idx, q) = w;
    bulk_bar_arrive_remote(bar, q); /* releases the store just made */
  }
#else
  (void)w, (void)slot, (void)bar, (void)idx, (void)cl;
  __trap();
#endif
}

/* The row's exponent offset c = M log2e + log2 S from the `count` pairs of
   `slot`, once its phase of bar (parity) has completed. Every thread. */
__device__ __forceinline__ float stream_collect(const float2 *slot, uint64_t *bar,
                                                uint32_t parity, int count) {
  bulk_bar_wait<true>(bar, parity);
  float2 acc = make_float2(-INFINITY, 0.0f);
  for (int e = (int)(threadIdx.x & 31); e < count; e += 32) acc = pair_add(acc, slot[e]);
  float2 ms = warp_maxsum(acc.x, acc.y);
  return ms.x * LOG2E + log2f(ms.y);
}

template <typename T, int U>
__global__ void __launch_bounds__(1024, 1)
    sm_stream(const T *__restrict__ x, T *__restrict__ y, int rows, int cols) {
#if !BULK_SM90
  __trap(); /* clusters and remote mbarriers need sm_90: the compute_80 PTX never launches this */
#else
  typedef typename vec<T>::raw raw;
  constexpr int N = vec<T>::N;
  __shared__ float2 red[STREAM_SLOTS][STREAM_MAX_CL * 32]; /* rows' per-warp pairs, all CTAs' */
  __shared__ uint64_t bar[STREAM_SLOTS];
  cg::cluster_group cluster = cg::this_cluster();
  const int cl = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
  const int nw = (int)(blockDim.x >> 5), warp = (int)(threadIdx.x >> 5);
  if (threadIdx.x == 0)
    for (int b = 0; b < STREAM_SLOTS; b++) bulk_bar_init(&bar[b], cl * nw);
  cluster.sync(); /* every CTA's barriers exist before any peer arrives on them */
  const int G = (int)gridDim.x / cl, ci = (int)blockIdx.x / cl;
  const int nrows = ci < rows ? (rows - 1 - ci) / G + 1 : 0;
  const int chunks = cols / N, per = (chunks + cl - 1) / cl, c0 = rank * per;
  const int n = chunks - c0 < per ? (chunks - c0 > 0 ? chunks - c0 : 0) : per;
  const uint64_t pol = l2_evict_first();
  auto part = [&](const T *base, int j) { /* this CTA's part of the cluster's j-th row */
    return reinterpret_cast<const raw *>(base + (size_t)(ci + (size_t)j * G) * cols) + c0;
  };
  for (int j = 0; j < nrows + 2; j++) {
    float c = 0.0f;
    const raw *in2 = nullptr;
    raw *out2 = nullptr;
    if (j >= 2) {
      const int r = j - 2;
      c = stream_collect(red[r % STREAM_SLOTS], &bar[r % STREAM_SLOTS],
                         (uint32_t)(r / STREAM_SLOTS) & 1u, cl * nw);
      in2 = part(x, r);
      out2 = const_cast<raw *>(part(y, r));
    }
    if (j < nrows) {
      const raw *in1 = part(x, j);
      float2 ms = j >= 2 ? stream_trip<T, U, true, true>(in1, in2, out2, n, c, pol)
                         : stream_trip<T, U, true, false>(in1, in2, out2, n, c, pol);
      stream_publish(warp_maxsum(ms.x, ms.y), red[j % STREAM_SLOTS], &bar[j % STREAM_SLOTS],
                     rank * nw + warp, cl);
    } else if (j >= 2) { /* a cluster with fewer than two rows has no pass 2 at j < 2 */
      (void)stream_trip<T, U, false, true>(nullptr, in2, out2, n, c, pol);
    }
  }
  cluster.sync(); /* no CTA leaves while a peer may still store into it */
#endif
}

/* Clusters of cl (<= STREAM_MAX_CL) CTAs of 1024 threads, one CTA an SM: as
   many clusters as fit at once (occupancy API), at most SMs / cl. Cached per
   instantiation and cl. */
template <typename T>
static int run_stream(const T *x, T *y, int rows, int cols, int cl, cudaStream_t st,
                      char *errbuf, size_t errlen) {
  constexpr int N = vec<T>::N;
  if (cols % N) return KUNSUP(errbuf, errlen, "softmax stream: cols must be a multiple of %d", N);
  auto kern = sm_stream<T, 4>;
  static struct tma_shape sh = {-1, 0, 0, 0, 0, 0, 0}; /* cols: -1 until planned */
  cudaError_t e = cudaSuccess;
  if (sh.cl != cl || sh.cols < 0) {
    int dev = 0, sms = 0;
    sh.cols = -1, sh.cl = cl, sh.threads = 1024, sh.smem = 0, sh.stages = 0, sh.part_kb = 0;
    e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attr[1];
    cluster_config(&cfg, attr, cl, (unsigned)cl, 1024, 0, 0);
    if (e == cudaSuccess) e = cudaOccupancyMaxActiveClusters(&sh.clusters, kern, &cfg);
    if (e == cudaSuccess && sh.clusters < 1) e = cudaErrorInvalidConfiguration;
    if (e == cudaSuccess && sh.clusters > sms / cl) sh.clusters = sms / cl;
    if (e == cudaSuccess) sh.cols = 0; /* planned: the shape does not depend on cols */
  }
  if (e == cudaSuccess) e = tma_launch(kern, &sh, rows, st, x, y, rows, cols);
  if (e != cudaSuccess) {
    sh.cols = -1;
    (void)cudaGetLastError();
    return KUNSUP(errbuf, errlen, "softmax stream: clusters of %d CTAs of 1024 threads: %s", cl,
                  cudaGetErrorString(e));
  }
  return 0;
}

/* ---- entry point -------------------------------------------------------- */

template <typename T>
static int dispatch(int variant, const void *in, void *out, int rows, int cols, float *ws,
                    cudaStream_t st, char *errbuf, size_t errlen) {
  const T *x = (const T *)in;
  T *y = (T *)out;
  switch (variant) {
    case 0:
      if (!ws) return KBAD(errbuf, errlen, "softmax naive: needs a workspace of 2 x rows floats");
      run_naive<T>(x, y, rows, cols, ws, st);
      return 0;
    case 1: run_block<T, 1>(x, y, rows, cols, st); return 0;
    case 2: return run_regs<T>(x, y, rows, cols, st, errbuf, errlen);
    case 3: run_block<T, 4>(x, y, rows, cols, st); return 0;
    case 4: return run_smem<T>(x, y, rows, cols, st, errbuf, errlen);
    case 5: return run_cluster<T, false>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 6: return run_clregs<T>(x, y, rows, cols, st, errbuf, errlen);
    case 7: return run_cluster<T, true>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 8: return run_cluster<T, true>(x, y, rows, cols, 32, 128, st, errbuf, errlen);
    case 9: return run_tma<T, false>(x, y, rows, cols, 32, st, errbuf, errlen);
    case 10: return run_tma<T, true>(x, y, rows, cols, 32, st, errbuf, errlen);
    case 11: return run_tma<T, false>(x, y, rows, cols, 16, st, errbuf, errlen);
    case 12: return run_tma<T, false, true>(x, y, rows, cols, 32, st, errbuf, errlen);
    case 13: return run_cluster<T, true, true>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 14: return run_regs<T, true, false, false>(x, y, rows, cols, st, errbuf, errlen);
    case 15: return run_regs<T, true, true, false>(x, y, rows, cols, st, errbuf, errlen);
    case 16: return run_regs<T, true, true, true>(x, y, rows, cols, st, errbuf, errlen);
    case 17: return run_l2pass<T, true>(x, y, rows, cols, 1024, 1, st, errbuf, errlen);
    case 18: return run_l2pass<T, true>(x, y, rows, cols, 512, 2, st, errbuf, errlen);
    case 19: return run_regs<T, true, false, true>(x, y, rows, cols, st, errbuf, errlen);
    case 20: return run_l2pass<T, false>(x, y, rows, cols, 1024, 1, st, errbuf, errlen);
    case 21: return run_l2pass<T, false>(x, y, rows, cols, 512, 2, st, errbuf, errlen);
    case 22: return run_stream<T>(x, y, rows, cols, 2, st, errbuf, errlen);
    case 23: return run_stream<T>(x, y, rows, cols, 4, st, errbuf, errlen);
    case 24: return run_clpush<T, 4, 512, 4>(x, y, rows, cols, st, errbuf, errlen);
    case 25: return run_clpush<T, 8, 256, 4>(x, y, rows, cols, st, errbuf, errlen);
    case 26: return run_cluster<T, true, false, 1>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 27: return run_l2pass<T, true, 8>(x, y, rows, cols, 512, 2, st, errbuf, errlen);
    case 28: return run_l2pass<T, true>(x, y, rows, cols, 512, 3, st, errbuf, errlen);
    case 29: return run_cluster<T, true, false, 2>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 30:
      return run_cluster<T, true, false, 2, 8>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    case 31: return run_l2pass<T, true, 8, 2>(x, y, rows, cols, 512, 2, st, errbuf, errlen, 104);
    case 32: return run_l2pass<T, true, 8, 2>(x, y, rows, cols, 256, 4, st, errbuf, errlen, 52);
    case 33: return run_clpush<T, 4, 512, 4, true>(x, y, rows, cols, st, errbuf, errlen);
    case 34: return run_cluster<T, true, false, 1>(x, y, rows, cols, 32, 128, st, errbuf, errlen);
    case 35: return run_l2pass<T, true, 8, 2>(x, y, rows, cols, 512, 2, st, errbuf, errlen, 52);
    case 36: return run_l2pass<T, true, 8, 1>(x, y, rows, cols, 512, 2, st, errbuf, errlen, 104);
    case 37: return run_l2pass<T, true, 8, 1>(x, y, rows, cols, 512, 2, st, errbuf, errlen, 52);
    case 38:
      return run_cluster<T, true, false, 1, 8>(x, y, rows, cols, 64, 256, st, errbuf, errlen);
    default:
      return KBAD(errbuf, errlen,
                  "softmax: no variant %d (0 naive, 1 block, 2 regs, 3 unroll, 4 smem, 5 cluster, "
                  "6 clregs, 7 fold, 8 fold32, 9 tma, 10 tmakeep, 11 tma16, 12 async, 13 foldef, "
                  "14 regs2, 15 regsef, 16 lean, 17 l2pass, 18 l2pass2, 19 lean2, 20 l2plain, "
                  "21 l2plain2, 22 stream, 23 stream4, 24 clpush, 25 clpush8, 26 fold1, 27 l2pass8, "
                  "28 l2pass3, 29 foldx, 30 foldx8, 31 l2clu, 32 l2clu4, 33 clpushx, 34 fold1s, "
                  "35 l2clu2, 36 l2club, 37 l2clu2b, 38 fold1u8)",
                  variant);
  }
}

extern "C" int kc_softmax_rows(int variant, int dtype, const void *in, void *out, int rows,
                               int cols, float *ws, cudaplugin_stream s, char *errbuf,
                               size_t errlen) {
  if (!in || !out || rows <= 0 || cols <= 0)
    return KBAD(errbuf, errlen, "softmax: NULL pointer or empty shape");
  int rc;
  if (dtype == CUDAPLUGIN_F32)
    rc = dispatch<float>(variant, in, out, rows, cols, ws, kstream(s), errbuf, errlen);
  else if (dtype == CUDAPLUGIN_BF16)
    rc = dispatch<__nv_bfloat16>(variant, in, out, rows, cols, ws, kstream(s), errbuf, errlen);
  else
    return KBAD(errbuf, errlen, "softmax: unknown dtype %d", dtype);
  if (rc) return rc;
  return klaunch_check("softmax", errbuf, errlen);
}
