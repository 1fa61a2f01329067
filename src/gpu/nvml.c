/*
 * nvml.c — the NVML backend: NVIDIA's management library, loaded at run time
 * with dlopen (no nvml.h and no link dependency at build time; our own
 * declarations are in nvml_api.h).
 *
 * Symbols are resolved newest first with fallbacks (nvmlInit_v2 -> nvmlInit,
 * ...). Only init, shutdown, count, handle-by-index, name, UUID and the error
 * string are required; any other symbol may be missing, and the metrics it
 * gives are then invalid. Nothing here changes the GPU: there is no set* call.
 *
 * Return codes map one way everywhere: NVML_SUCCESS sets a value valid; any
 * other code leaves it invalid (never 0), except NVML_ERROR_GPU_IS_LOST, which
 * marks the sample lost and makes the call fail with ERR_GPU_LOST.
 *
 * Sections:
 *   1. state (symbol table, per-device state, backend state)
 *   2. loading and releasing the library
 *   3. errors and small helpers
 *   4. open / close / count
 *   5. static information
 *   6. MIG profiles and instances
 *   7. sampling: one reader per NVML call group, then GPM (device and MIG)
 *   8. XID events
 *   9. the vtable
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "catalog/catalog.h"
#include "gpu/gpu.h"
#include "gpu/nvml_api.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define NVML_LIBRARY_ENV     "GPUOPS_NVML_LIBRARY"
#define NVML_ID_NONE         0xFFFFFFFFu /* gpuInstanceId/computeInstanceId "not attributable" */
#define MAX_PROFILES         NVML_GPU_INSTANCE_PROFILE_COUNT

/* ---- 1. state ------------------------------------------------------------- */

/* Entry points; NULL when the library lacks every name of an optional one. */
struct nvml_fns {
  nvml_void_fn init, shutdown;
  nvml_error_string_fn error_string;
  nvml_uint_out_fn device_count;
  nvml_handle_by_index_fn handle_by_index;
  nvml_dev_string_fn name, uuid, serial, vbios;
  nvml_sys_string_fn driver_version;
  nvml_int_out_fn cuda_version;
  nvml_pci_info_fn pci_info;
  nvml_memory_v2_fn memory_v2;
  nvml_memory_fn memory_v1;
  nvml_dev_enum_uint_fn max_clock, clock, temperature;
  nvml_dev_uint_fn power_limit, power_usage, pstate, pcie_replay, retired_pending;
  nvml_dev_ull_fn energy, clock_reasons;
  nvml_dev_2int_fn compute_capability;
  nvml_dev_2uint_fn mig_mode;
  nvml_utilization_fn utilization;
  nvml_violation_fn violation;
  nvml_ecc_fn ecc;
  nvml_remapped_rows_fn remapped_rows;
  nvml_retired_pages_fn retired_pages;
  nvml_field_values_fn field_values;
  nvml_profile_info_v_fn profile_info_v;
  nvml_profile_info_fn profile_info;
  nvml_placements_fn placements;
  nvml_gpu_instances_fn gpu_instances;
  nvml_gpu_instance_info_fn gpu_instance_info;
  nvml_event_set_create_fn event_set_create;
  nvml_event_set_free_fn event_set_free;
  nvml_register_events_fn register_events;
  nvml_event_wait_fn event_wait;
  nvml_gpm_support_fn gpm_support;
  nvml_gpm_sample_alloc_fn gpm_alloc;
  nvml_gpm_sample_free_fn gpm_free;
  nvml_gpm_sample_get_fn gpm_get;
  nvml_gpm_mig_sample_get_fn gpm_mig_get;
  nvml_gpm_metrics_get_fn gpm_metrics;
};

/* One entry point: where it goes, whether it must exist, its names newest first. */
struct sym {
  size_t off;
  bool required;
  const char *names[4];
};
#define SYM(field, req, ...)                                     \
  {                                                              \
    offsetof(struct nvml_fns, field), req, { __VA_ARGS__, NULL } \
  }
static const struct sym syms[] = {
    SYM(init, true, "nvmlInit_v2", "nvmlInit"),
    SYM(shutdown, true, "nvmlShutdown"),
    SYM(error_string, true, "nvmlErrorString"),
    SYM(device_count, true, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"),
    SYM(handle_by_index, true, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"),
    SYM(name, true, "nvmlDeviceGetName"),
    SYM(uuid, true, "nvmlDeviceGetUUID"),
    SYM(serial, false, "nvmlDeviceGetSerial"),
    SYM(vbios, false, "nvmlDeviceGetVbiosVersion"),
    SYM(driver_version, false, "nvmlSystemGetDriverVersion"),
    SYM(cuda_version, false, "nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"),
    SYM(pci_info, false, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2",
        "nvmlDeviceGetPciInfo"),
    SYM(memory_v2, false, "nvmlDeviceGetMemoryInfo_v2"),
    SYM(memory_v1, false, "nvmlDeviceGetMemoryInfo"),
    SYM(max_clock, false, "nvmlDeviceGetMaxClockInfo"),
    SYM(clock, false, "nvmlDeviceGetClockInfo"),
    SYM(temperature, false, "nvmlDeviceGetTemperature"),
    SYM(power_limit, false, "nvmlDeviceGetEnforcedPowerLimit"),
    SYM(power_usage, false, "nvmlDeviceGetPowerUsage"),
    SYM(pstate, false, "nvmlDeviceGetPerformanceState"),
    SYM(pcie_replay, false, "nvmlDeviceGetPcieReplayCounter"),
    SYM(retired_pending, false, "nvmlDeviceGetRetiredPagesPendingStatus"),
    SYM(energy, false, "nvmlDeviceGetTotalEnergyConsumption"),
    SYM(clock_reasons, false, "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons"),
    SYM(compute_capability, false, "nvmlDeviceGetCudaComputeCapability"),
    SYM(mig_mode, false, "nvmlDeviceGetMigMode"),
    SYM(utilization, false, "nvmlDeviceGetUtilizationRates"),
    SYM(violation, false, "nvmlDeviceGetViolationStatus"),
    SYM(ecc, false, "nvmlDeviceGetTotalEccErrors"),
    SYM(remapped_rows, false, "nvmlDeviceGetRemappedRows"),
    SYM(retired_pages, false, "nvmlDeviceGetRetiredPages"),
    SYM(field_values, false, "nvmlDeviceGetFieldValues"),
    SYM(profile_info_v, false, "nvmlDeviceGetGpuInstanceProfileInfoV"),
    SYM(profile_info, false, "nvmlDeviceGetGpuInstanceProfileInfo"),
    SYM(placements, false, "nvmlDeviceGetGpuInstancePossiblePlacements_v2"),
    SYM(gpu_instances, false, "nvmlDeviceGetGpuInstances"),
    SYM(gpu_instance_info, false, "nvmlGpuInstanceGetInfo"),
    SYM(event_set_create, false, "nvmlEventSetCreate"),
    SYM(event_set_free, false, "nvmlEventSetFree"),
    SYM(register_events, false, "nvmlDeviceRegisterEvents"),
    SYM(event_wait, false, "nvmlEventSetWait_v2", "nvmlEventSetWait"),
    SYM(gpm_support, false, "nvmlGpmQueryDeviceSupport"),
    SYM(gpm_alloc, false, "nvmlGpmSampleAlloc"),
    SYM(gpm_free, false, "nvmlGpmSampleFree"),
    SYM(gpm_get, false, "nvmlGpmSampleGet"),
    SYM(gpm_mig_get, false, "nvmlGpmMigSampleGet"),
    SYM(gpm_metrics, false, "nvmlGpmMetricsGet"),
};
#undef SYM

/* Two GPM sample buffers used in turn: the newest and the one before it. */
struct gpm_state {
  bool on; /* buffers allocated */
  nvmlGpmSample_t s[2];
  int cur;        /* buffer the next sample goes into */
  bool have_prev; /* s[cur ^ 1] holds the previous sample */
};

/* GPM state of one MIG GPU instance, found by its id. */
struct mig_slot {
  unsigned int gi_id;
  bool seen; /* present in the latest sample */
  struct gpm_state gpm;
};

struct ndev {
  nvmlDevice_t h;
  nvmlReturn_t handle_rc; /* result of getting the handle */
  char pci_bus_id[32];    /* "" when unknown */
  bool pci_valid;
  uint32_t pci_device_id;
  char name[96]; /* as read at open, kept for a GPU that is lost later */
  char uuid[96];
  const struct catalog_model *model;
  bool gpm_supported; /* GPM symbols present and the device says yes */
  struct gpm_state gpm;
  struct mig_slot mig[GPU_MIG_MAX];
  uint64_t xid_last; /* last XID seen by wait_events, 0 = none */
};

enum events_state { EVENTS_UNTRIED = 0, EVENTS_ON, EVENTS_FAILED };

struct nvml_priv {
  void *lib;
  char path[512];
  struct nvml_fns f;
  bool event_wait_v2; /* nvmlEventSetWait_v2 (fills GI/CI ids) */
  bool inited;        /* nvmlInit succeeded: nvmlShutdown owed */
  unsigned int n_dev;
  struct ndev *dev;
  nvmlEventSet_t events;
  enum events_state events_state;
  int events_err; /* code to return once registration failed */
  char events_msg[256];
};

/* ---- 2. loading and releasing ------------------------------------------- */

static const char *library_path(const struct gpu_options *o) {
  if (o && o->nvml_path && *o->nvml_path) return o->nvml_path;
  const char *env = getenv(NVML_LIBRARY_ENV);
  return env && *env ? env : NVML_DEFAULT_LIBRARY;
}

/* Resolve every entry point; ERR_NOLIB naming the first missing required one. */
static int resolve_symbols(struct nvml_priv *p) {
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    void *fn = NULL;
    for (int k = 0; !fn && syms[i].names[k]; k++) fn = dlsym(p->lib, syms[i].names[k]);
    if (!fn && syms[i].required)
      return err_set(ERR_NOLIB,
                     "%s lacks %s: it is not NVIDIA's NVML library or is too old "
                     "(set " NVML_LIBRARY_ENV " to the driver's libnvidia-ml.so.1)",
                     p->path, syms[i].names[0]);
    /* POSIX: a function pointer and void * share one representation. */
    memcpy((char *)&p->f + syms[i].off, &fn, sizeof fn);
  }
  p->event_wait_v2 = dlsym(p->lib, "nvmlEventSetWait_v2") != NULL;
  return 0;
}

static int load_library(struct nvml_priv *p, const struct gpu_options *o) {
  snprintf(p->path, sizeof p->path, "%s", library_path(o));
  p->lib = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
  if (!p->lib) {
    const char *why = dlerror();
    return err_set(ERR_NOLIB,
                   "cannot load the NVML library %s: %s (is the NVIDIA driver installed? "
                   "set " NVML_LIBRARY_ENV " to the path of libnvidia-ml.so.1)",
                   p->path, why ? why : "unknown dlopen error");
  }
  return resolve_symbols(p);
}

static void gpm_release(const struct nvml_priv *p, struct gpm_state *g) {
  if (!g->on) return;
  for (int i = 0; i < 2; i++)
    if (p->f.gpm_free && g->s[i]) p->f.gpm_free(g->s[i]);
  memset(g, 0, sizeof *g);
}

static void release(struct nvml_priv *p) {
  if (!p) return;
  for (unsigned int i = 0; p->dev && i < p->n_dev; i++) {
    gpm_release(p, &p->dev[i].gpm);
    for (int k = 0; k < GPU_MIG_MAX; k++) gpm_release(p, &p->dev[i].mig[k].gpm);
  }
  if (p->events && p->f.event_set_free) p->f.event_set_free(p->events);
  if (p->inited) p->f.shutdown();
  if (p->lib) dlclose(p->lib);
  free(p->dev);
  free(p);
}

/* ---- 3. errors and helpers ------------------------------------------------ */

static const char *estr(const struct nvml_priv *p, nvmlReturn_t r) {
  const char *s = p->f.error_string ? p->f.error_string(r) : NULL;
  return s ? s : "unknown NVML error";
}

/* NVML_SUCCESS -> true; GPU_IS_LOST also raises *lost. */
static bool ok(nvmlReturn_t r, bool *lost) {
  if (r == NVML_ERROR_GPU_IS_LOST) *lost = true;
  return r == NVML_SUCCESS;
}

static int lost_error(const struct nvml_priv *p, int index) {
  const struct ndev *d = &p->dev[index];
  return err_set(ERR_GPU_LOST,
                 "GPU %d (PCI %s) is lost: it fell off the bus (XID 79); drain the node, "
                 "then reset the GPU (nvidia-smi -r) or reboot",
                 index, d->pci_bus_id[0] ? d->pci_bus_id : "bus id unknown");
}

/* The device at index with a usable handle, or an error (ERR_GPU_LOST when lost). */
static int dev_get(struct nvml_priv *p, int index, struct ndev **out) {
  if (index < 0 || (unsigned int)index >= p->n_dev)
    return err_set(ERR_RANGE, "GPU index %d out of range (NVML reports %u)", index, p->n_dev);
  struct ndev *d = &p->dev[index];
  if (d->handle_rc == NVML_ERROR_GPU_IS_LOST) return lost_error(p, index);
  if (d->handle_rc != NVML_SUCCESS)
    return err_set(ERR_DRIVER, "NVML cannot open GPU %d: %s", index, estr(p, d->handle_rc));
  *out = d;
  return 0;
}

static double mib(unsigned long long bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Copy at most dst_len - 1 bytes of a possibly unterminated NVML string. */
static void copy_str(char *dst, size_t dst_len, const char *src, size_t src_len) {
  size_t n = strnlen(src, src_len);
  if (n >= dst_len) n = dst_len - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* ---- 4. open / close / count ------------------------------------------------ */

static int init_error(const struct nvml_priv *p, nvmlReturn_t r) {
  const char *hint;
  int code = ERR_DRIVER;
  switch (r) {
    case NVML_ERROR_DRIVER_NOT_LOADED:
      hint =
          "the NVIDIA kernel driver is not loaded (is the NVIDIA driver installed? does "
          "nvidia-smi work?)";
      break;
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
      hint =
          "the library and the loaded kernel driver differ in version (reload the nvidia "
          "module or reboot after the driver upgrade, or set " NVML_LIBRARY_ENV
          " to the matching library)";
      break;
    case NVML_ERROR_NO_PERMISSION:
      hint = "no permission to open /dev/nvidia* (check its mode)";
      break;
    case NVML_ERROR_LIBRARY_NOT_FOUND:
      code = ERR_NOLIB;
      hint = "is the NVIDIA driver installed? set " NVML_LIBRARY_ENV;
      break;
    default: hint = "is the NVIDIA driver installed? set " NVML_LIBRARY_ENV; break;
  }
  return err_set(code, "NVML (%s) failed to initialise: %s (NVML error %d): %s", p->path,
                 estr(p, r), r, hint);
}

/* Bus id in NVML's 8-digit form whatever version of the PCI call answered. */
static void cache_pci(struct nvml_priv *p, struct ndev *d) {
  if (!p->f.pci_info) return;
  nvmlPciInfo_t pci;
  memset(&pci, 0, sizeof pci);
  if (p->f.pci_info(d->h, &pci) != NVML_SUCCESS) return;
  if (pci.busId[0])
    copy_str(d->pci_bus_id, sizeof d->pci_bus_id, pci.busId, sizeof pci.busId);
  else
    snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "%08X:%02X:%02X.0", pci.domain & 0xffffffffu,
             pci.bus & 0xffu, pci.device & 0xffu);
  d->pci_device_id = pci.pciDeviceId;
  d->pci_valid = true;
}

static bool gpm_symbols(const struct nvml_priv *p) {
  return p->f.gpm_support && p->f.gpm_alloc && p->f.gpm_free && p->f.gpm_get && p->f.gpm_metrics;
}

/* Handle, PCI identity, name, catalog model and GPM support of one device. */
static void open_device(struct nvml_priv *p, unsigned int index, struct ndev *d) {
  d->handle_rc = p->f.handle_by_index(index, &d->h);
  if (d->handle_rc != NVML_SUCCESS) return;
  cache_pci(p, d);
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
  if (p->f.name(d->h, name, sizeof name) == NVML_SUCCESS)
    copy_str(d->name, sizeof d->name, name, sizeof name);
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
  if (p->f.uuid(d->h, uuid, sizeof uuid) == NVML_SUCCESS)
    copy_str(d->uuid, sizeof d->uuid, uuid, sizeof uuid);
  d->model = d->pci_valid ? catalog_find_pci(d->pci_device_id) : NULL;
  if (!d->model) d->model = catalog_find(d->name);
  if (gpm_symbols(p)) {
    nvmlGpmSupport_t s = {.version = NVML_GPM_SUPPORT_VERSION};
    d->gpm_supported = p->f.gpm_support(d->h, &s) == NVML_SUCCESS && s.isSupportedDevice;
  }
}

static int init_library(struct nvml_priv *p) {
  nvmlReturn_t r = p->f.init();
  if (r != NVML_SUCCESS) return init_error(p, r);
  p->inited = true;
  unsigned int n = 0;
  r = p->f.device_count(&n);
  if (r != NVML_SUCCESS)
    return err_set(ERR_DRIVER, "NVML (%s) cannot count GPUs: %s", p->path, estr(p, r));
  if (n > 1024) return err_set(ERR_DRIVER, "NVML reports an implausible %u GPUs", n);
  p->dev = calloc(n ? n : 1, sizeof *p->dev);
  if (!p->dev) return err_set(ERR_NOMEM, "out of memory for %u GPUs", n);
  p->n_dev = n;
  for (unsigned int i = 0; i < n; i++) open_device(p, i, &p->dev[i]);
  return 0;
}

/* Loads the library, initialises NVML and opens every device; b->priv owns it all. */
static int nvml_open(struct gpu_backend *b, const struct gpu_options *o) {
  struct nvml_priv *p = calloc(1, sizeof *p);
  if (!p) return err_set(ERR_NOMEM, "out of memory opening the NVML backend");
  int rc = load_library(p, o);
  if (rc < 0) goto out;
  rc = init_library(p);
  if (rc < 0) goto out;
  b->priv = p;
  b->simulated = false;
  log_debug("nvml: %s: %u GPU(s)", p->path, p->n_dev);
out:
  if (rc < 0) release(p);
  return rc;
}

static void nvml_close(struct gpu_backend *b) {
  release(b->priv);
  b->priv = NULL;
}

static int nvml_count(struct gpu_backend *b) {
  const struct nvml_priv *p = b->priv;
  return p ? (int)p->n_dev : err_set(ERR_STATE, "NVML backend is not open");
}

/* ---- 5. static information -------------------------------------------------- */

/* One profile's info through the V call (with name) or the plain one. */
static nvmlReturn_t profile_info(const struct nvml_priv *p, nvmlDevice_t h, unsigned int index,
                                 nvmlGpuInstanceProfileInfo_v2_t *out) {
  nvmlReturn_t r = NVML_ERROR_FUNCTION_NOT_FOUND;
  memset(out, 0, sizeof *out);
  if (p->f.profile_info_v) {
    out->version = nvmlGpuInstanceProfileInfo_v2;
    r = p->f.profile_info_v(h, index, out);
    if (r == NVML_SUCCESS || r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_GPU_IS_LOST) return r;
  }
  if (!p->f.profile_info) return r;
  nvmlGpuInstanceProfileInfo_t v1;
  memset(&v1, 0, sizeof v1);
  r = p->f.profile_info(h, index, &v1);
  if (r != NVML_SUCCESS) return r;
  memset(out, 0, sizeof *out);
  out->id = v1.id;
  out->isP2pSupported = v1.isP2pSupported;
  out->sliceCount = v1.sliceCount;
  out->instanceCount = v1.instanceCount;
  out->multiprocessorCount = v1.multiprocessorCount;
  out->copyEngineCount = v1.copyEngineCount;
  out->decoderCount = v1.decoderCount;
  out->encoderCount = v1.encoderCount;
  out->jpegCount = v1.jpegCount;
  out->ofaCount = v1.ofaCount;
  out->memorySizeMB = v1.memorySizeMB;
  return NVML_SUCCESS;
}

static void info_strings(const struct nvml_priv *p, const struct ndev *d, struct gpu_info *out,
                         bool *lost) {
  char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  memset(buf, 0, sizeof buf);
  if (ok(p->f.name(d->h, buf, sizeof buf), lost))
    copy_str(out->name, sizeof out->name, buf, sizeof buf);
  else
    snprintf(out->name, sizeof out->name, "%s", d->name);
  snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "%s", d->pci_bus_id);
  memset(buf, 0, sizeof buf);
  if (p->f.serial && ok(p->f.serial(d->h, buf, sizeof buf), lost))
    copy_str(out->serial, sizeof out->serial, buf, sizeof buf);
  memset(buf, 0, sizeof buf);
  if (p->f.vbios && ok(p->f.vbios(d->h, buf, sizeof buf), lost))
    copy_str(out->vbios_version, sizeof out->vbios_version, buf, sizeof buf);
  memset(buf, 0, sizeof buf);
  if (p->f.driver_version && p->f.driver_version(buf, sizeof buf) == NVML_SUCCESS)
    copy_str(out->driver_version, sizeof out->driver_version, buf, sizeof buf);
}

static void info_memory(const struct nvml_priv *p, const struct ndev *d, struct gpu_info *out,
                        bool *lost) {
  if (p->f.memory_v2) {
    nvmlMemory_v2_t m = {.version = nvmlMemory_v2};
    if (ok(p->f.memory_v2(d->h, &m), lost)) {
      out->memory_total_mib = m.total / (1024ULL * 1024ULL);
      return;
    }
  }
  nvmlMemory_t m1;
  memset(&m1, 0, sizeof m1);
  if (!*lost && p->f.memory_v1 && ok(p->f.memory_v1(d->h, &m1), lost))
    out->memory_total_mib = m1.total / (1024ULL * 1024ULL);
}

static void info_limits(const struct nvml_priv *p, const struct ndev *d, struct gpu_info *out,
                        bool *lost) {
  unsigned int v = 0;
  if (p->f.max_clock && ok(p->f.max_clock(d->h, NVML_CLOCK_SM, &v), lost)) {
    out->max_sm_clock_mhz = v;
    out->valid |= GPU_INFO_MAX_SM_CLOCK;
  }
  if (p->f.max_clock && ok(p->f.max_clock(d->h, NVML_CLOCK_MEM, &v), lost)) {
    out->max_mem_clock_mhz = v;
    out->valid |= GPU_INFO_MAX_MEM_CLOCK;
  }
  if (p->f.power_limit && ok(p->f.power_limit(d->h, &v), lost)) {
    out->power_limit_mw = v;
    out->valid |= GPU_INFO_POWER_LIMIT;
  }
}

static void info_versions(const struct nvml_priv *p, const struct ndev *d, struct gpu_info *out,
                          bool *lost) {
  int cuda = 0, major = 0, minor = 0;
  if (p->f.cuda_version && p->f.cuda_version(&cuda) == NVML_SUCCESS) {
    out->cuda_version = cuda;
    out->valid |= GPU_INFO_CUDA_VERSION;
  }
  if (p->f.compute_capability && ok(p->f.compute_capability(d->h, &major, &minor), lost)) {
    out->cc_major = major;
    out->cc_minor = minor;
    out->valid |= GPU_INFO_CC;
  }
  unsigned int cur = 0, pend = 0;
  if (p->f.mig_mode && ok(p->f.mig_mode(d->h, &cur, &pend), lost)) {
    out->mig_current = cur == NVML_DEVICE_MIG_ENABLE;
    out->mig_pending = pend == NVML_DEVICE_MIG_ENABLE;
    out->valid |= GPU_INFO_MIG_MODE;
  }
  if (gpm_symbols(p)) {
    out->gpm_supported = d->gpm_supported;
    out->valid |= GPU_INFO_GPM;
  }
}

/* SMs of the whole GPU: the full (7-slice) MIG profile, else the catalog model. */
static void info_sm_count(const struct nvml_priv *p, const struct ndev *d, struct gpu_info *out,
                          bool *lost) {
  nvmlGpuInstanceProfileInfo_v2_t pi;
  if (ok(profile_info(p, d->h, NVML_GPU_INSTANCE_PROFILE_7_SLICE, &pi), lost) &&
      pi.multiprocessorCount > 0) {
    out->sm_count = (int)pi.multiprocessorCount;
    out->valid |= GPU_INFO_SM_COUNT;
  } else if (d->model) {
    out->sm_count = d->model->sm_count;
    out->valid |= GPU_INFO_SM_COUNT;
  }
}

/* A lost GPU still answers info, as the sim backend does: the identity NVML
 * gave at open (nothing when it was lost before), and a note saying why. */
static int lost_info(const struct nvml_priv *p, int index, struct gpu_info *out) {
  const struct ndev *d = &p->dev[index];
  memset(out, 0, sizeof *out);
  out->index = index;
  snprintf(out->name, sizeof out->name, "%s", d->name);
  snprintf(out->uuid, sizeof out->uuid, "%s", d->uuid);
  snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "%s", d->pci_bus_id);
  if (d->pci_valid) {
    out->pci_device_id = d->pci_device_id;
    out->valid = GPU_INFO_PCI_DEVICE_ID;
  }
  out->model = d->model;
  snprintf(out->note, sizeof out->note,
           "fell off the bus (XID 79): readings fail; drain the node, then reset the GPU or "
           "reboot");
  return 0;
}

static int nvml_info(struct gpu_backend *b, int index, struct gpu_info *out) {
  struct nvml_priv *p = b->priv;
  struct ndev *d = NULL;
  int rc = dev_get(p, index, &d);
  if (rc == ERR_GPU_LOST) return lost_info(p, index, out);
  if (rc < 0) return rc;
  bool lost = false;
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
  nvmlReturn_t r = p->f.uuid(d->h, uuid, sizeof uuid);
  if (r == NVML_ERROR_GPU_IS_LOST) return lost_info(p, index, out);
  if (r != NVML_SUCCESS)
    return err_set(ERR_DRIVER, "NVML cannot read the UUID of GPU %d: %s", index, estr(p, r));
  copy_str(out->uuid, sizeof out->uuid, uuid, sizeof uuid);
  out->index = index;
  info_strings(p, d, out, &lost);
  if (d->pci_valid) {
    out->pci_device_id = d->pci_device_id;
    out->valid |= GPU_INFO_PCI_DEVICE_ID;
  }
  info_memory(p, d, out, &lost);
  info_limits(p, d, out, &lost);
  info_versions(p, d, out, &lost);
  info_sm_count(p, d, out, &lost);
  out->model = d->model;
  out->simulated = false;
  return lost ? lost_info(p, index, out) : 0;
}

/* ---- 6. MIG profiles and instances ---------------------------------------- */

/* "<slices>g.<GiB rounded up>gb": only when neither NVML nor the catalog names it. */
static void derive_profile_name(const nvmlGpuInstanceProfileInfo_v2_t *pi, unsigned int index,
                                char *out, size_t len) {
  unsigned long long gib = (pi->memorySizeMB + 1023) / 1024;
  snprintf(out, len, "%ug.%llugb%s", pi->sliceCount, gib,
           index == NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1 ? "+me" : "");
}

static void profile_name(const struct ndev *d, const nvmlGpuInstanceProfileInfo_v2_t *pi,
                         unsigned int index, char *out, size_t len) {
  const struct catalog_mig_profile *cp = catalog_mig_profile(d->model, (int)pi->id);
  char nv[sizeof pi->name + 1];
  copy_str(nv, sizeof nv, pi->name, sizeof pi->name);
  const char *name = strncmp(nv, "MIG ", 4) == 0 ? nv + 4 : nv;
  if (*name) {
    if (cp && strcmp(cp->name, name) != 0)
      log_debug("nvml: MIG profile %u is '%s' in NVML but '%s' in the catalog", pi->id, name,
                cp->name);
    snprintf(out, len, "%s", name);
  } else if (cp) {
    snprintf(out, len, "%s", cp->name);
  } else {
    derive_profile_name(pi, index, out, len);
  }
}

static void profile_placements(const struct nvml_priv *p, const struct ndev *d,
                               struct gpu_mig_profile *out, bool *lost) {
  unsigned int n = 0;
  if (!p->f.placements || !ok(p->f.placements(d->h, (unsigned int)out->id, NULL, &n), lost) ||
      n == 0)
    return;
  nvmlGpuInstancePlacement_t *pl = calloc(n, sizeof *pl);
  if (!pl) return;
  if (ok(p->f.placements(d->h, (unsigned int)out->id, pl, &n), lost)) {
    for (unsigned int i = 0; i < n && out->n_placements < CATALOG_MIG_MAX_STARTS; i++) {
      out->placements[out->n_placements].profile_id = out->id;
      out->placements[out->n_placements].start = (int)pl[i].start;
      out->n_placements++;
    }
    if (n > 0) out->placement_size = (int)pl[0].size;
  }
  free(pl);
}

static void fill_profile(const struct ndev *d, const nvmlGpuInstanceProfileInfo_v2_t *pi,
                         unsigned int index, struct gpu_mig_profile *out) {
  memset(out, 0, sizeof *out);
  out->id = (int)pi->id;
  profile_name(d, pi, index, out->name, sizeof out->name);
  out->compute_slices = (int)pi->sliceCount;
  out->max_instances = (int)pi->instanceCount;
  out->sm_count = (int)pi->multiprocessorCount;
  out->memory_mib = pi->memorySizeMB;
  out->copy_engines = (int)pi->copyEngineCount;
  out->decoders = (int)pi->decoderCount;
  out->encoders = (int)pi->encoderCount;
  out->jpegs = (int)pi->jpegCount;
  out->ofas = (int)pi->ofaCount;
}

/* nvidia-smi's order: by compute slices, then memory; ties keep NVML's index order. */
static bool profile_before(const struct gpu_mig_profile *a, const struct gpu_mig_profile *b) {
  if (a->compute_slices != b->compute_slices) return a->compute_slices < b->compute_slices;
  return a->memory_mib < b->memory_mib;
}

static void sort_profiles(struct gpu_mig_profile *v, int n) {
  for (int i = 1; i < n; i++) { /* insertion sort: stable, n <= 17 */
    struct gpu_mig_profile key = v[i];
    int j = i - 1;
    for (; j >= 0 && profile_before(&key, &v[j]); j--) v[j + 1] = v[j];
    v[j + 1] = key;
  }
}

/* Every profile the device answers for, in nvidia-smi's order (with their
 * placements when asked); returns the count. */
static int list_profiles(const struct nvml_priv *p, const struct ndev *d,
                         struct gpu_mig_profile out[MAX_PROFILES], bool placements, bool *lost) {
  int n = 0;
  for (unsigned int idx = 0; idx < MAX_PROFILES && !*lost; idx++) {
    nvmlGpuInstanceProfileInfo_v2_t pi;
    if (!ok(profile_info(p, d->h, idx, &pi), lost)) continue;
    bool dup = false;
    for (int k = 0; k < n; k++) dup = dup || out[k].id == (int)pi.id;
    if (dup) continue;
    fill_profile(d, &pi, idx, &out[n]);
    if (placements) profile_placements(p, d, &out[n], lost);
    n++;
  }
  sort_profiles(out, n);
  return n;
}

static int nvml_mig_profiles(struct gpu_backend *b, int index, struct gpu_mig_profile *out,
                             int cap) {
  struct nvml_priv *p = b->priv;
  struct ndev *d = NULL;
  int rc = dev_get(p, index, &d);
  if (rc < 0) return rc;
  if (!p->f.profile_info_v && !p->f.profile_info)
    return err_set(ERR_UNSUPPORTED, "this NVML library (%s) has no MIG profile calls", p->path);
  struct gpu_mig_profile all[MAX_PROFILES];
  bool lost = false;
  int n = list_profiles(p, d, all, true, &lost);
  if (lost) return lost_error(p, index);
  if (n > cap) n = cap < 0 ? 0 : cap;
  if (n > 0) memcpy(out, all, (size_t)n * sizeof *out);
  return n;
}

static bool mig_enabled(const struct nvml_priv *p, const struct ndev *d, bool *lost) {
  unsigned int cur = 0, pend = 0;
  return p->f.mig_mode && ok(p->f.mig_mode(d->h, &cur, &pend), lost) &&
         cur == NVML_DEVICE_MIG_ENABLE;
}

/* The GPU instances of one profile appended to out[*n] (up to cap); NVML's code. */
static nvmlReturn_t profile_instances(const struct nvml_priv *p, const struct ndev *d,
                                      const struct gpu_mig_profile *prof,
                                      struct gpu_mig_instance *out, int *n, int cap) {
  unsigned int room = prof->max_instances > 0 ? (unsigned int)prof->max_instances : 1;
  nvmlGpuInstance_t *gis = calloc(room, sizeof *gis);
  if (!gis) return NVML_ERROR_MEMORY;
  unsigned int count = room;
  nvmlReturn_t r = p->f.gpu_instances(d->h, (unsigned int)prof->id, gis, &count);
  for (unsigned int i = 0; r == NVML_SUCCESS && i < count && i < room && *n < cap; i++) {
    nvmlGpuInstanceInfo_t gi;
    memset(&gi, 0, sizeof gi);
    if (p->f.gpu_instance_info(gis[i], &gi) != NVML_SUCCESS) continue;
    struct gpu_mig_instance *o = &out[(*n)++];
    memset(o, 0, sizeof *o);
    o->gi_id = (int)gi.id;
    o->profile_id = (int)gi.profileId;
    snprintf(o->profile_name, sizeof o->profile_name, "%s", prof->name);
    o->start = (int)gi.placement.start;
    o->size = (int)gi.placement.size;
    o->memory_mib = prof->memory_mib;
    o->sm_count = prof->sm_count;
  }
  free(gis);
  return r;
}

static bool instance_before(const struct gpu_mig_instance *a, const struct gpu_mig_instance *b) {
  return a->start != b->start ? a->start < b->start : a->gi_id < b->gi_id;
}

static void sort_instances(struct gpu_mig_instance *v, int n) {
  for (int i = 1; i < n; i++) {
    struct gpu_mig_instance key = v[i];
    int j = i - 1;
    for (; j >= 0 && instance_before(&key, &v[j]); j--) v[j + 1] = v[j];
    v[j + 1] = key;
  }
}

/*
 * GPU instances of a device with MIG on, by placement; 0 with MIG off.
 * Returns the count or a negative NVML code negated (-r) for the caller to map.
 */
static int list_instances(const struct nvml_priv *p, const struct ndev *d,
                          struct gpu_mig_instance *out, int cap, bool *lost) {
  if (!p->f.gpu_instances || !p->f.gpu_instance_info || !mig_enabled(p, d, lost)) return 0;
  struct gpu_mig_profile profs[MAX_PROFILES];
  int np = list_profiles(p, d, profs, false, lost), n = 0;
  for (int i = 0; i < np && n < cap && !*lost; i++) {
    nvmlReturn_t r = profile_instances(p, d, &profs[i], out, &n, cap);
    if (r == NVML_ERROR_GPU_IS_LOST) *lost = true;
    if (r == NVML_ERROR_NO_PERMISSION || r == NVML_ERROR_MEMORY) return -r;
  }
  sort_instances(out, n);
  return n;
}

static int nvml_mig_instances(struct gpu_backend *b, int index, struct gpu_mig_instance *out,
                              int cap) {
  struct nvml_priv *p = b->priv;
  struct ndev *d = NULL;
  int rc = dev_get(p, index, &d);
  if (rc < 0) return rc;
  bool lost = false;
  int n = list_instances(p, d, out, cap < 0 ? 0 : cap, &lost);
  if (lost) return lost_error(p, index);
  if (n < 0)
    return err_set(n == -NVML_ERROR_MEMORY ? ERR_NOMEM : ERR_DRIVER,
                   "listing the MIG instances of GPU %d: %s (listing needs root on some "
                   "drivers)",
                   index, estr(p, -n));
  return n;
}

/* ---- 7. sampling ------------------------------------------------------------ */

struct sctx {
  const struct nvml_priv *p;
  struct ndev *d;
  nvmlDevice_t h;
  struct gpu_values *v;
  bool lost;
};

static void set_if(struct sctx *c, nvmlReturn_t r, enum gpu_metric m, double value) {
  if (ok(r, &c->lost)) gpu_values_set(c->v, m, value);
}

static void read_utilization(struct sctx *c) {
  if (!c->p->f.utilization) return;
  nvmlUtilization_t u = {0, 0};
  nvmlReturn_t r = c->p->f.utilization(c->h, &u);
  set_if(c, r, GPU_M_GPU_UTIL, u.gpu);
  set_if(c, r, GPU_M_MEM_COPY_UTIL, u.memory);
}

/* v2 gives reserved and a `used` without it; v1's used includes reserved. */
static void read_memory(struct sctx *c) {
  if (c->p->f.memory_v2) {
    nvmlMemory_v2_t m = {.version = nvmlMemory_v2};
    nvmlReturn_t r = c->p->f.memory_v2(c->h, &m);
    if (ok(r, &c->lost)) {
      gpu_values_set(c->v, GPU_M_FB_USED, mib(m.used));
      gpu_values_set(c->v, GPU_M_FB_FREE, mib(m.free));
      gpu_values_set(c->v, GPU_M_FB_RESERVED, mib(m.reserved));
      return;
    }
    if (c->lost) return;
  }
  if (!c->p->f.memory_v1) return;
  nvmlMemory_t m1;
  memset(&m1, 0, sizeof m1);
  nvmlReturn_t r = c->p->f.memory_v1(c->h, &m1);
  set_if(c, r, GPU_M_FB_USED, mib(m1.used));
  set_if(c, r, GPU_M_FB_FREE, mib(m1.free));
}

/* One unsigned reading of one call, divided by div (the call runs before the value is read). */
static void read_uint(struct sctx *c, nvml_dev_uint_fn fn, enum gpu_metric m, double div) {
  unsigned int u = 0;
  if (fn && ok(fn(c->h, &u), &c->lost)) gpu_values_set(c->v, m, u / div);
}

static void read_ull(struct sctx *c, nvml_dev_ull_fn fn, enum gpu_metric m) {
  unsigned long long u = 0;
  if (fn && ok(fn(c->h, &u), &c->lost)) gpu_values_set(c->v, m, (double)u);
}

static void read_typed(struct sctx *c, nvml_dev_enum_uint_fn fn, unsigned int type,
                       enum gpu_metric m) {
  unsigned int u = 0;
  if (fn && ok(fn(c->h, type, &u), &c->lost)) gpu_values_set(c->v, m, u);
}

static void read_power_temp(struct sctx *c) {
  const struct nvml_fns *f = &c->p->f;
  read_typed(c, f->temperature, NVML_TEMPERATURE_GPU, GPU_M_GPU_TEMP);
  read_uint(c, f->power_usage, GPU_M_POWER, 1000.0); /* mW -> W */
  read_ull(c, f->energy, GPU_M_ENERGY);              /* mJ */
}

static void read_clocks(struct sctx *c) {
  const struct nvml_fns *f = &c->p->f;
  read_typed(c, f->clock, NVML_CLOCK_SM, GPU_M_SM_CLOCK);
  read_typed(c, f->clock, NVML_CLOCK_MEM, GPU_M_MEM_CLOCK);
  read_uint(c, f->pstate, GPU_M_PSTATE, 1);
  read_ull(c, f->clock_reasons, GPU_M_CLOCK_REASONS);
}

static void read_violations(struct sctx *c) {
  static const struct {
    unsigned int policy;
    enum gpu_metric m;
  } map[] = {
      {NVML_PERF_POLICY_POWER, GPU_M_VIOL_POWER},
      {NVML_PERF_POLICY_THERMAL, GPU_M_VIOL_THERMAL},
      {NVML_PERF_POLICY_SYNC_BOOST, GPU_M_VIOL_SYNC_BOOST},
      {NVML_PERF_POLICY_BOARD_LIMIT, GPU_M_VIOL_BOARD_LIMIT},
      {NVML_PERF_POLICY_LOW_UTILIZATION, GPU_M_VIOL_LOW_UTIL},
      {NVML_PERF_POLICY_RELIABILITY, GPU_M_VIOL_RELIABILITY},
  };
  if (!c->p->f.violation) return;
  for (size_t i = 0; i < sizeof map / sizeof map[0] && !c->lost; i++) {
    nvmlViolationTime_t vt = {0, 0};
    nvmlReturn_t r = c->p->f.violation(c->h, map[i].policy, &vt);
    set_if(c, r, map[i].m, vt.violationTime / 1000.0); /* ns -> us */
  }
}

static void read_ecc(struct sctx *c) {
  static const struct {
    unsigned int type, counter;
    enum gpu_metric m;
  } map[] = {
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, GPU_M_ECC_SBE_VOL},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, GPU_M_ECC_DBE_VOL},
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC, GPU_M_ECC_SBE_AGG},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC, GPU_M_ECC_DBE_AGG},
  };
  if (!c->p->f.ecc) return;
  for (size_t i = 0; i < sizeof map / sizeof map[0] && !c->lost; i++) {
    unsigned long long n = 0;
    nvmlReturn_t r = c->p->f.ecc(c->h, map[i].type, map[i].counter, &n);
    set_if(c, r, map[i].m, (double)n);
  }
}

static void read_remapped_rows(struct sctx *c) {
  if (!c->p->f.remapped_rows) return;
  unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
  nvmlReturn_t r = c->p->f.remapped_rows(c->h, &corr, &unc, &pending, &failure);
  set_if(c, r, GPU_M_REMAP_CORRECTABLE, corr);
  set_if(c, r, GPU_M_REMAP_UNCORRECTABLE, unc);
  set_if(c, r, GPU_M_REMAP_PENDING, pending ? 1 : 0);
  set_if(c, r, GPU_M_REMAP_FAILURE, failure ? 1 : 0);
}

/* Retired pages (pre-Hopper): with a 0-sized buffer NVML returns the count,
 * as SUCCESS or INSUFFICIENT_SIZE. Hopper says NOT_SUPPORTED: invalid. */
static void read_retired_pages(struct sctx *c) {
  const struct nvml_fns *f = &c->p->f;
  if (f->retired_pages) {
    static const unsigned int causes[2] = {
        NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
        NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR};
    static const enum gpu_metric ms[2] = {GPU_M_RETIRED_SBE, GPU_M_RETIRED_DBE};
    for (int i = 0; i < 2 && !c->lost; i++) {
      unsigned int count = 0;
      nvmlReturn_t r = f->retired_pages(c->h, causes[i], &count, NULL);
      if (r == NVML_ERROR_INSUFFICIENT_SIZE) r = NVML_SUCCESS;
      set_if(c, r, ms[i], count);
    }
  }
  if (!c->lost) read_uint(c, f->retired_pending, GPU_M_RETIRED_PENDING, 1); /* 1 = enabled */
}

static bool field_value(const nvmlFieldValue_t *fv, double *out) {
  if (fv->nvmlReturn != NVML_SUCCESS) return false;
  switch (fv->valueType) {
    case NVML_VALUE_TYPE_DOUBLE: *out = fv->value.dVal; return true;
    case NVML_VALUE_TYPE_UNSIGNED_INT: *out = fv->value.uiVal; return true;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: *out = (double)fv->value.ulVal; return true;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *out = (double)fv->value.ullVal; return true;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG: *out = (double)fv->value.sllVal; return true;
    case NVML_VALUE_TYPE_SIGNED_INT: *out = fv->value.siVal; return true;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT: *out = fv->value.usVal; return true;
  }
  return false;
}

/* Memory temperature and the driver's recovery action, in one field-values call. */
static void read_fields(struct sctx *c) {
  if (!c->p->f.field_values) return;
  nvmlFieldValue_t fv[2];
  memset(fv, 0, sizeof fv);
  fv[0].fieldId = NVML_FI_DEV_MEMORY_TEMP;
  fv[1].fieldId = NVML_FI_DEV_GET_GPU_RECOVERY_ACTION;
  if (!ok(c->p->f.field_values(c->h, 2, fv), &c->lost)) return;
  static const enum gpu_metric ms[2] = {GPU_M_MEM_TEMP, GPU_M_RECOVERY_ACTION};
  for (int i = 0; i < 2; i++) {
    double v;
    if (fv[i].nvmlReturn == NVML_ERROR_GPU_IS_LOST) c->lost = true;
    if (field_value(&fv[i], &v)) gpu_values_set(c->v, ms[i], v);
  }
}

static void read_pcie_xid(struct sctx *c) {
  read_uint(c, c->p->f.pcie_replay, GPU_M_PCIE_REPLAY, 1);
  if (c->p->events_state == EVENTS_ON) gpu_values_set(c->v, GPU_M_XID_LAST, (double)c->d->xid_last);
}

/* GPM metrics read as the difference of two samples. */
static const struct {
  unsigned int id;
  enum gpu_metric m;
} gpm_map[] = {
    {NVML_GPM_METRIC_GRAPHICS_UTIL, GPU_M_GPM_GR_ACTIVE},
    {NVML_GPM_METRIC_SM_UTIL, GPU_M_GPM_SM_ACTIVE},
    {NVML_GPM_METRIC_SM_OCCUPANCY, GPU_M_GPM_SM_OCCUPANCY},
    {NVML_GPM_METRIC_ANY_TENSOR_UTIL, GPU_M_GPM_TENSOR_ACTIVE},
    {NVML_GPM_METRIC_DRAM_BW_UTIL, GPU_M_GPM_DRAM_ACTIVE},
    {NVML_GPM_METRIC_FP64_UTIL, GPU_M_GPM_FP64_ACTIVE},
    {NVML_GPM_METRIC_FP32_UTIL, GPU_M_GPM_FP32_ACTIVE},
    {NVML_GPM_METRIC_FP16_UTIL, GPU_M_GPM_FP16_ACTIVE},
    {NVML_GPM_METRIC_PCIE_TX_PER_SEC, GPU_M_GPM_PCIE_TX},
    {NVML_GPM_METRIC_PCIE_RX_PER_SEC, GPU_M_GPM_PCIE_RX},
    {NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC, GPU_M_GPM_NVLINK_TX},
    {NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC, GPU_M_GPM_NVLINK_RX},
};
#define GPM_N ((unsigned int)(sizeof gpm_map / sizeof gpm_map[0]))

static void gpm_metrics(struct sctx *c, nvmlGpmSample_t older, nvmlGpmSample_t newer,
                        struct gpu_values *out) {
  nvmlGpmMetricsGet_t mg; /* 3.9 KiB */
  memset(&mg, 0, sizeof mg);
  mg.version = NVML_GPM_METRICS_GET_VERSION;
  mg.numMetrics = GPM_N;
  mg.sample1 = older;
  mg.sample2 = newer;
  for (unsigned int i = 0; i < GPM_N; i++) mg.metrics[i].metricId = gpm_map[i].id;
  if (!ok(c->p->f.gpm_metrics(&mg), &c->lost)) return;
  for (unsigned int i = 0; i < GPM_N; i++)
    if (mg.metrics[i].nvmlReturn == NVML_SUCCESS)
      gpu_values_set(out, gpm_map[i].m, mg.metrics[i].value);
}

/* Take a sample into the free buffer; with a previous one, compute the metrics.
 * gi_id NVML_ID_NONE = the whole device. */
static void gpm_step(struct sctx *c, struct gpm_state *g, unsigned int gi_id,
                     struct gpu_values *out) {
  const struct nvml_fns *f = &c->p->f;
  if (!g->on) {
    memset(g, 0, sizeof *g);
    if (f->gpm_alloc(&g->s[0]) != NVML_SUCCESS) return;
    if (f->gpm_alloc(&g->s[1]) != NVML_SUCCESS) {
      f->gpm_free(g->s[0]);
      g->s[0] = NULL;
      return;
    }
    g->on = true;
  }
  nvmlGpmSample_t now = g->s[g->cur];
  nvmlReturn_t r = gi_id == NVML_ID_NONE ? f->gpm_get(c->h, now) : f->gpm_mig_get(c->h, gi_id, now);
  if (!ok(r, &c->lost)) {
    g->have_prev = false;
    return;
  }
  if (g->have_prev) gpm_metrics(c, g->s[g->cur ^ 1], now, out);
  g->have_prev = true;
  g->cur ^= 1;
}

static void read_gpm(struct sctx *c) {
  if (c->d->gpm_supported) gpm_step(c, &c->d->gpm, NVML_ID_NONE, c->v);
}

static struct mig_slot *mig_slot(const struct sctx *c, unsigned int gi_id) {
  struct mig_slot *free_slot = NULL;
  for (int i = 0; i < GPU_MIG_MAX; i++) {
    struct mig_slot *s = &c->d->mig[i];
    if (s->gpm.on && s->gi_id == gi_id) return s;
    if (!s->gpm.on && !free_slot) free_slot = s;
  }
  if (free_slot) {
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->gi_id = gi_id;
  }
  return free_slot;
}

/* Per-instance GPM (MIG on): one pair of buffers per GPU instance id. */
static void read_mig_gpm(struct sctx *c, struct gpu_sample *out) {
  if (!c->d->gpm_supported || !c->p->f.gpm_mig_get) return;
  struct gpu_mig_instance inst[GPU_MIG_MAX];
  int n = list_instances(c->p, c->d, inst, GPU_MIG_MAX, &c->lost);
  for (int i = 0; i < GPU_MIG_MAX; i++) c->d->mig[i].seen = false;
  for (int i = 0; i < n && !c->lost; i++) {
    struct gpu_mig_values *mv = &out->mig[out->n_mig];
    memset(mv, 0, sizeof *mv);
    mv->gi_id = inst[i].gi_id;
    mv->profile_id = inst[i].profile_id;
    struct mig_slot *s = mig_slot(c, (unsigned int)inst[i].gi_id);
    if (s) {
      s->seen = true;
      gpm_step(c, &s->gpm, s->gi_id, &mv->val);
    }
    out->n_mig++;
  }
  for (int i = 0; i < GPU_MIG_MAX; i++) /* instances destroyed since the last sample */
    if (!c->d->mig[i].seen) gpm_release(c->p, &c->d->mig[i].gpm);
}

typedef void (*reader_fn)(struct sctx *c);
static const reader_fn readers[] = {
    read_utilization, read_memory,   read_power_temp,    read_clocks,
    read_violations,  read_ecc,      read_remapped_rows, read_retired_pages,
    read_fields,      read_pcie_xid, read_gpm,
};

static int nvml_sample(struct gpu_backend *b, int index, struct gpu_sample *out) {
  struct nvml_priv *p = b->priv;
  struct ndev *d = NULL;
  out->t_ns = time_wall_ns();
  int rc = dev_get(p, index, &d);
  if (rc == ERR_GPU_LOST) out->lost = true;
  if (rc < 0) return rc;
  struct sctx c = {.p = p, .d = d, .h = d->h, .v = &out->dev, .lost = false};
  for (size_t i = 0; i < sizeof readers / sizeof readers[0] && !c.lost; i++) readers[i](&c);
  if (!c.lost) read_mig_gpm(&c, out);
  if (!c.lost) return 0;
  gpu_values_clear(&out->dev);
  out->n_mig = 0;
  out->lost = true;
  return lost_error(p, index);
}

/* ---- 8. XID events ------------------------------------------------------------ */

static int events_fail(struct nvml_priv *p, int code, const char *msg) {
  p->events_state = EVENTS_FAILED;
  p->events_err = code;
  snprintf(p->events_msg, sizeof p->events_msg, "%s", msg);
  return err_set(code, "%s", msg);
}

/* Register XID events on every device once. */
static int events_register(struct nvml_priv *p) {
  char msg[256];
  if (!p->f.event_set_create || !p->f.register_events || !p->f.event_wait)
    return events_fail(p, ERR_UNSUPPORTED, "this NVML library has no event calls");
  nvmlReturn_t r = p->f.event_set_create(&p->events);
  if (r != NVML_SUCCESS) {
    p->events = NULL;
    snprintf(msg, sizeof msg, "NVML cannot create an event set: %s", estr(p, r));
    return events_fail(p, ERR_DRIVER, msg);
  }
  int registered = 0;
  for (unsigned int i = 0; i < p->n_dev; i++) {
    if (p->dev[i].handle_rc != NVML_SUCCESS) continue;
    r = p->f.register_events(p->dev[i].h, nvmlEventTypeXidCriticalError, p->events);
    if (r == NVML_SUCCESS)
      registered++;
    else
      log_debug("nvml: GPU %u: XID events not registered: %s", i, estr(p, r));
  }
  if (registered == 0) {
    snprintf(msg, sizeof msg, "no GPU accepts XID event registration through NVML");
    return events_fail(p, ERR_UNSUPPORTED, msg);
  }
  p->events_state = EVENTS_ON;
  return 0;
}

static int device_index(const struct nvml_priv *p, nvmlDevice_t h) {
  for (unsigned int i = 0; i < p->n_dev; i++)
    if (p->dev[i].handle_rc == NVML_SUCCESS && p->dev[i].h == h) return (int)i;
  return -1;
}

static void fill_event(struct nvml_priv *p, const nvmlEventData_t *ed, struct gpu_event *ev) {
  memset(ev, 0, sizeof *ev);
  ev->type = GPU_EVENT_XID;
  ev->gpu_index = device_index(p, ed->device);
  ev->xid = ed->eventData;
  bool v2 = p->event_wait_v2;
  ev->gi_id = v2 && ed->gpuInstanceId != NVML_ID_NONE ? (int)ed->gpuInstanceId : -1;
  ev->ci_id = v2 && ed->computeInstanceId != NVML_ID_NONE ? (int)ed->computeInstanceId : -1;
  ev->t_ns = time_wall_ns();
  if (ev->gpu_index < 0) return;
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
  if (p->f.uuid(ed->device, uuid, sizeof uuid) == NVML_SUCCESS)
    copy_str(ev->uuid, sizeof ev->uuid, uuid, sizeof uuid);
  p->dev[ev->gpu_index].xid_last = ed->eventData;
}

/* Waits up to timeout_ms for the first event, then drains what is queued. */
static int nvml_wait_events(struct gpu_backend *b, int timeout_ms, struct gpu_event *out, int cap) {
  struct nvml_priv *p = b->priv;
  if (cap < 0 || (cap > 0 && !out)) return err_set(ERR_INVALID, "no room for events");
  if (p->events_state == EVENTS_UNTRIED) {
    int rc = events_register(p);
    if (rc < 0) return rc;
  }
  if (p->events_state == EVENTS_FAILED) return err_set(p->events_err, "%s", p->events_msg);
  int n = 0;
  for (int tries = 0; n < cap && tries < 4 * cap; tries++) {
    nvmlEventData_t ed;
    memset(&ed, 0, sizeof ed);
    ed.gpuInstanceId = ed.computeInstanceId = NVML_ID_NONE;
    unsigned int wait = n == 0 && tries == 0 && timeout_ms > 0 ? (unsigned int)timeout_ms : 0;
    nvmlReturn_t r = p->f.event_wait(p->events, &ed, wait);
    if (r == NVML_ERROR_TIMEOUT) break;
    if (r != NVML_SUCCESS) {
      if (n > 0) break;
      return err_set(r == NVML_ERROR_GPU_IS_LOST ? ERR_GPU_LOST : ERR_DRIVER,
                     "waiting for XID events: %s%s", estr(p, r),
                     r == NVML_ERROR_GPU_IS_LOST ? " (a GPU fell off the bus: XID 79)" : "");
    }
    if (!(ed.eventType & nvmlEventTypeXidCriticalError)) continue;
    fill_event(p, &ed, &out[n++]);
  }
  return n;
}

/* ---- 9. the vtable ------------------------------------------------------------ */

const struct gpu_backend_ops gpu_nvml_ops = {
    .name = "nvml",
    .open = nvml_open,
    .close = nvml_close,
    .count = nvml_count,
    .info = nvml_info,
    .sample = nvml_sample,
    .mig_profiles = nvml_mig_profiles,
    .mig_instances = nvml_mig_instances,
    .wait_events = nvml_wait_events,
};
