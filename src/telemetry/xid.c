/*
 * xid.c — the XID catalog and per-GPU XID histories (xid.h).
 *
 * The catalog follows NVIDIA's Xid catalog for Ampere and newer GPUs
 * ("Analyzing Xid Errors with the Xid Catalog", its "Resolution Bucket
 * (Immediate Action)" column: RESTART_APP, RESET_GPU, ...) and the GPU Debug
 * Guidelines. Two deliberate choices: XID 79 (fallen off the bus) says
 * reboot_node, because a GPU the driver cannot reach cannot be reset from the
 * host; XID 154 only announces that the driver's recovery action changed, so
 * the health check reads that field instead (health.c).
 *
 * Sections: the catalog; histories.
 */
#include <stddef.h>
#include <string.h>

#include "telemetry/xid.h"

/* ---- the catalog ---- */

#define P    VERDICT_PASS
#define W    VERDICT_WARN
#define F    VERDICT_FAIL
#define A(x) VERDICT_ACTION_##x

static const struct xid_info catalog[] = {
    {8, "ROBUST_CHANNEL_FIFO_ERROR_IDLE_TIMEOUT", "GPU stopped processing (channel idle timeout)",
     W, A(RESTART_APP), "repeats on one GPU only: run a field diagnostic (dcgmi diag -r 3)"},
    {13, "ROBUST_CHANNEL_GR_EXCEPTION",
     "graphics engine exception, most often an application error (out-of-range access, illegal "
     "instruction)",
     W, A(RESTART_APP),
     "run the application under compute-sanitizer; repeats across applications: field diagnostic"},
    {31, "ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR",
     "GPU memory page fault (MMU fault): a kernel touched memory it does not own", W,
     A(RESTART_APP),
     "an application or library bug in most cases; repeats across applications: field diagnostic"},
    {32, "ROBUST_CHANNEL_PBDMA_ERROR", "invalid or corrupted push buffer stream (DMA engine error)",
     W, A(RESTART_APP),
     "repeats point at the PCIe link or system memory: check PCIe replays and AER errors"},
    {43, "ROBUST_CHANNEL_RESETCHANNEL_VERIF_ERROR",
     "GPU stopped processing: an application hit a software-induced fault; the GPU stays healthy",
     W, A(RESTART_APP), "the application's own error; nothing to do for the GPU"},
    {45, "ROBUST_CHANNEL_PREEMPTIVE_REMOVAL",
     "preemptive cleanup of an application's channels, after an earlier error or a killed process",
     P, A(NONE), "look at the XID logged before it"},
    {48, "ROBUST_CHANNEL_DBE_ERROR", "double-bit (uncorrectable) ECC error in GPU memory", F,
     A(RESET_GPU),
     "on A100 and Hopper a row remap follows (XID 63/64) and the reset activates it; repeats: "
     "drain for repair"},
    {61, "PMU_BREAKPOINT", "internal micro-controller breakpoint or warning (PMU)", F, A(RESET_GPU),
     "repeats: collect nvidia-bug-report.sh and contact NVIDIA support"},
    {62, "PMU_HALT_ERROR", "internal micro-controller halt (PMU)", F, A(RESET_GPU),
     "repeats: collect nvidia-bug-report.sh and contact NVIDIA support"},
    {63, "ECC_PAGE_RETIREMENT_OR_ROW_REMAP_EVENT",
     "a page was retired or a memory row marked for remapping; it takes effect at the next GPU "
     "reset",
     W, A(RESET_GPU),
     "reset the GPU when it is idle; the remap count is in DCGM_FI_DEV_*_REMAPPED_ROWS"},
    {64, "ECC_PAGE_RETIREMENT_OR_ROW_REMAP_FAILURE",
     "the driver failed to record a page retirement or row remap", F, A(RESET_GPU),
     "row-remap failure flag set or it repeats: drain the node for repair"},
    {68, "NVDEC0_EXCEPTION", "video decoder (NVDEC) exception", W, A(RESTART_APP),
     "repeats with one application: an application bug; across applications: field diagnostic"},
    {69, "GR_CLASS_ERROR", "graphics engine class error", W, A(RESTART_APP),
     "repeats across applications: field diagnostic"},
    {74, "NVLINK_ERROR", "NVLink error (link training, CRC or fatal link error)", F, A(RESET_GPU),
     "check the NVLink fabric (nvidia-smi nvlink -e, Fabric Manager logs); repeats: drain for "
     "repair"},
    {79, "GPU_HAS_FALLEN_OFF_THE_BUS",
     "the GPU has fallen off the bus: the driver can no longer reach it", F, A(REBOOT_NODE),
     "repeats: check power delivery, thermals and the PCIe slot or riser, then RMA"},
    {92, "EXCESSIVE_SBE_INTERRUPTS", "high single-bit (correctable) ECC error rate", W,
     A(INVESTIGATE),
     "watch the correctable error counters and remapped rows; keeps rising: drain for repair"},
    {94, "CONTAINED_ERROR",
     "contained uncorrectable ECC error: only the applications using that memory were stopped", W,
     A(RESTART_APP), "a row remap is pending: reset the GPU when it is idle"},
    {95, "UNCONTAINED_ERROR",
     "uncontained uncorrectable ECC error: every application on the GPU is affected", F,
     A(RESET_GPU), "repeats: drain for repair"},
    {109, "CTXSW_TIMEOUT", "context switch timeout", W, A(RESTART_APP),
     "repeats across applications: field diagnostic"},
    {119, "GSP_RPC_TIMEOUT", "timeout waiting for the GPU System Processor (GSP) firmware", F,
     A(RESET_GPU),
     "the reset fails: reboot the node; repeats: collect nvidia-bug-report.sh for NVIDIA"},
    {120, "GSP_ERROR", "error in the firmware running on the GPU System Processor (GSP)", F,
     A(RESET_GPU),
     "the reset fails: reboot the node; repeats: collect nvidia-bug-report.sh for NVIDIA"},
    {140, "ECC_UNRECOVERED_ERROR",
     "unrecovered ECC error: the driver could not contain an uncorrectable error", F, A(RESET_GPU),
     "repeats: drain for repair"},
    {143, "GPU_INIT_FAILURE", "GPU initialization failure", F, A(RESET_GPU),
     "the reset fails: reboot the node; still failing: drain for repair"},
    {154, "GPU_RECOVERY_ACTION_CHANGED",
     "the driver changed the GPU's recovery action (NVML field 230); that field names the action",
     W, A(INVESTIGATE), "read the recovery action: nvidia-smi -q | grep -i recovery"},
};

#undef P
#undef W
#undef F
#undef A

const struct xid_info *xid_lookup(unsigned xid) {
  for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
    if (catalog[i].xid == xid) return &catalog[i];
  return NULL;
}

const struct xid_info *xid_catalog(int *n) {
  *n = (int)(sizeof catalog / sizeof catalog[0]);
  return catalog;
}

/* ---- histories ---- */

void xid_history_init(struct xid_history *h) { memset(h, 0, sizeof *h); }

const struct xid_seen *xid_history_find(const struct xid_history *h, unsigned xid) {
  for (int i = 0; i < h->n; i++)
    if (h->e[i].xid == xid) return &h->e[i];
  return NULL;
}

/* Index of the entry seen least recently. */
static int stalest(const struct xid_history *h) {
  int k = 0;
  for (int i = 1; i < h->n; i++)
    if (h->e[i].last_ns < h->e[k].last_ns) k = i;
  return k;
}

void xid_history_record(struct xid_history *h, unsigned xid, int64_t t_ns) {
  struct xid_seen *s = (struct xid_seen *)xid_history_find(h, xid);
  if (!s) {
    s = &h->e[h->n < XID_HISTORY_MAX ? h->n++ : stalest(h)];
    *s = (struct xid_seen){.xid = xid, .first_ns = t_ns};
  }
  s->count++;
  if (t_ns > s->last_ns) s->last_ns = t_ns;
  if (t_ns >= h->last_ns) {
    h->last_xid = xid;
    h->last_ns = t_ns;
  }
  h->total++;
}
