/*
 * fake_nvml.c — a fake libnvidia-ml.so.1 for the NVML backend's tests.
 *
 * It exports the NVML entry points gpuops uses, with NVML's signatures (the
 * types of src/gpu/nvml_api.h), and answers from a JSON fixture named by
 * $GPUOPS_FAKE_NVML_FIXTURE (see tests/fixtures/nvml-*.json and the NVML
 * section of docs/gpu-backends.md for the format). It is loaded through the
 * same dlopen path as the real library.
 *
 * Built twice (tests/fakes/CMakeLists.txt): the full variant, and with
 * -DFAKE_NVML_OLD an "old driver" variant that lacks the newer symbols
 * (nvmlInit_v2, *_v2 count/handle/memory/CUDA version/event wait,
 * nvmlDeviceGetPciInfo_v3, nvmlDeviceGetCurrentClocksEventReasons,
 * nvmlDeviceGetGpuInstanceProfileInfoV and all of GPM), so that the
 * backend's fallbacks are exercised.
 *
 * What a fixture can say: the result of nvmlInit; devices with static info
 * and metric values (a value missing from the fixture answers
 * NVML_ERROR_NOT_SUPPORTED); per-call error returns, globally or per device
 * ("errors": {"nvmlDeviceGetRetiredPages": 3}); a lost device ("lost": true:
 * every call on it returns NVML_ERROR_GPU_IS_LOST); MIG profiles with
 * placements and GPU instances; GPM metric values (returned only for two
 * distinct samples of the same device or instance); queued XID events.
 *
 * Test hooks (not NVML): fake_nvml_calls(name) counts the calls made to an
 * entry point; fake_nvml_live_objects() counts GPM samples and event sets not
 * yet freed; fake_nvml_make_lost(index) makes a GPU fall off the bus now.
 *
 * Sections: state; fixture access; call log and entry; init and system;
 * device identity; device metrics; MIG; GPM; events.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml_api.h"

#define EXPORT        __attribute__((visibility("default")))
#define MAX_DEVICES   16
#define MAX_INSTANCES 64
#define GPM_MAGIC     0x6770u

/* ---- state ---- */
struct nvmlDevice_st {
  int index;
  json_t *j; /* borrowed from the fixture root */
  bool lost; /* fixture "lost": true, or fake_nvml_make_lost() */
};

struct nvmlGpuInstance_st {
  int dev;
  unsigned int id, profile_id, start, size;
  json_t *j;
};

struct nvmlEventSet_st {
  unsigned int registered; /* bit per device index */
};

struct nvmlGpmSample_st {
  unsigned int magic;
  unsigned long long stamp; /* 0 = never filled */
  int dev;
  unsigned int gi; /* 0xFFFFFFFF = whole device */
};

static struct {
  int init_refs;
  json_t *root;
  int n_dev;
  struct nvmlDevice_st dev[MAX_DEVICES];
  int n_gi;
  struct nvmlGpuInstance_st gi[MAX_INSTANCES];
  size_t next_event;
  unsigned long long gpm_stamp;
} fk;

static struct {
  char name[64];
  int n;
} calls[160];
static int n_calls;
static int live_objects;

/* ---- fixture access ---- */
static json_t *at(json_t *obj, const char *path) { /* "a.b.c" */
  char key[64];
  while (obj && *path) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    obj = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    path += n + (path[n] == '.');
  }
  return obj;
}

static nvmlReturn_t get_ull(json_t *obj, const char *path, unsigned long long *out) {
  json_t *v = at(obj, path);
  if (!json_is_number(v)) return NVML_ERROR_NOT_SUPPORTED;
  *out = (unsigned long long)json_number_value(v);
  return NVML_SUCCESS;
}

static nvmlReturn_t get_uint(json_t *obj, const char *path, unsigned int *out) {
  unsigned long long v = 0;
  nvmlReturn_t r = get_ull(obj, path, &v);
  if (r == NVML_SUCCESS) *out = (unsigned int)v;
  return r;
}

static nvmlReturn_t get_str(json_t *obj, const char *path, char *buf, unsigned int len) {
  const char *s = json_string_value(at(obj, path));
  if (!s) return NVML_ERROR_NOT_SUPPORTED;
  if (!buf || strlen(s) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(buf, s, strlen(s) + 1);
  return NVML_SUCCESS;
}

/* ---- call log and entry checks ---- */
static void count_call(const char *fn) {
  for (int i = 0; i < n_calls; i++)
    if (!strcmp(calls[i].name, fn)) {
      calls[i].n++;
      return;
    }
  if (n_calls < (int)(sizeof calls / sizeof calls[0])) {
    snprintf(calls[n_calls].name, sizeof calls[n_calls].name, "%s", fn);
    calls[n_calls++].n = 1;
  }
}

EXPORT int fake_nvml_calls(const char *name) {
  for (int i = 0; i < n_calls; i++)
    if (!strcmp(calls[i].name, name)) return calls[i].n;
  return 0;
}

EXPORT int fake_nvml_live_objects(void) { return live_objects; }

/* The GPU at index falls off the bus now; 0, or -1 when there is no such GPU. */
EXPORT int fake_nvml_make_lost(int index) {
  if (index < 0 || index >= fk.n_dev) return -1;
  fk.dev[index].lost = true;
  return 0;
}

static nvmlReturn_t injected(const char *fn, json_t *scope) {
  json_t *v = json_object_get(json_object_get(scope, "errors"), fn);
  return json_is_integer(v) ? (nvmlReturn_t)json_integer_value(v) : NVML_SUCCESS;
}

static bool valid_dev(nvmlDevice_t d) { return d && d >= &fk.dev[0] && d < &fk.dev[fk.n_dev]; }

/* Every device call starts here: log, initialised?, handle valid?, lost?, injected error? */
static nvmlReturn_t enter_dev(const char *fn, nvmlDevice_t d) {
  count_call(fn);
  if (!fk.root) return NVML_ERROR_UNINITIALIZED;
  if (!valid_dev(d)) return NVML_ERROR_INVALID_ARGUMENT;
  if (d->lost) return NVML_ERROR_GPU_IS_LOST;
  nvmlReturn_t r = injected(fn, d->j);
  return r ? r : injected(fn, fk.root);
}

static nvmlReturn_t enter_sys(const char *fn) {
  count_call(fn);
  if (!fk.root) return NVML_ERROR_UNINITIALIZED;
  return injected(fn, fk.root);
}

/* ---- init and system ---- */
static void load_instances(int dev, json_t *list) {
  size_t i;
  json_t *g;
  json_array_foreach(list, i, g) {
    if (fk.n_gi >= MAX_INSTANCES) return;
    struct nvmlGpuInstance_st *gi = &fk.gi[fk.n_gi++];
    gi->dev = dev;
    gi->j = g;
    get_uint(g, "gi_id", &gi->id);
    get_uint(g, "profile_id", &gi->profile_id);
    get_uint(g, "start", &gi->start);
    get_uint(g, "size", &gi->size);
  }
}

static nvmlReturn_t load_fixture(void) {
  const char *path = getenv("GPUOPS_FAKE_NVML_FIXTURE");
  if (!path || !*path) {
    fprintf(stderr, "fake nvml: GPUOPS_FAKE_NVML_FIXTURE is not set\n");
    return NVML_ERROR_UNKNOWN;
  }
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  if (!root) {
    fprintf(stderr, "fake nvml: %s:%d: %s\n", path, e.line, e.text);
    return NVML_ERROR_UNKNOWN;
  }
  json_t *init = json_object_get(root, "init");
  if (json_is_integer(init) && json_integer_value(init) != 0) {
    nvmlReturn_t r = (nvmlReturn_t)json_integer_value(init);
    json_decref(root);
    return r;
  }
  memset(&fk, 0, sizeof fk);
  fk.root = root;
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(root, "devices"), i, d) {
    if (fk.n_dev >= MAX_DEVICES) break;
    fk.dev[fk.n_dev].index = fk.n_dev;
    fk.dev[fk.n_dev].j = d;
    fk.dev[fk.n_dev].lost = json_is_true(json_object_get(d, "lost"));
    load_instances(fk.n_dev, json_object_get(d, "gpu_instances"));
    fk.n_dev++;
  }
  return NVML_SUCCESS;
}

static nvmlReturn_t do_init(const char *fn) {
  count_call(fn);
  if (fk.init_refs > 0) {
    fk.init_refs++;
    return NVML_SUCCESS;
  }
  nvmlReturn_t r = load_fixture();
  if (r == NVML_SUCCESS) fk.init_refs = 1;
  return r;
}

#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlInit_v2(void) { return do_init(__func__); }
#endif
EXPORT nvmlReturn_t nvmlInit(void) { return do_init(__func__); }

EXPORT nvmlReturn_t nvmlShutdown(void) {
  count_call(__func__);
  if (fk.init_refs == 0) return NVML_ERROR_UNINITIALIZED;
  if (--fk.init_refs > 0) return NVML_SUCCESS;
  json_decref(fk.root);
  memset(&fk, 0, sizeof fk);
  return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
    default: return "Unknown Error";
  }
}

static nvmlReturn_t do_count(const char *fn, unsigned int *n) {
  nvmlReturn_t r = enter_sys(fn);
  if (r) return r;
  if (!n) return NVML_ERROR_INVALID_ARGUMENT;
  *n = (unsigned int)fk.n_dev;
  return NVML_SUCCESS;
}
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) { return do_count(__func__, n); }
#endif
EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *n) { return do_count(__func__, n); }

static nvmlReturn_t do_handle(const char *fn, unsigned int index, nvmlDevice_t *out) {
  nvmlReturn_t r = enter_sys(fn);
  if (r) return r;
  if (index >= (unsigned int)fk.n_dev || !out) return NVML_ERROR_INVALID_ARGUMENT;
  r = injected(fn, fk.dev[index].j);
  if (r) return r;
  *out = &fk.dev[index];
  return NVML_SUCCESS;
}
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
  return do_handle(__func__, i, d);
}
#endif
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d) {
  return do_handle(__func__, i, d);
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
  nvmlReturn_t r = enter_sys(__func__);
  return r ? r : get_str(fk.root, "driver_version", buf, len);
}

static nvmlReturn_t do_cuda_version(const char *fn, int *out) {
  nvmlReturn_t r = enter_sys(fn);
  unsigned int v = 0;
  if (!r) r = get_uint(fk.root, "cuda_driver_version", &v);
  if (!r) *out = (int)v;
  return r;
}
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) {
  return do_cuda_version(__func__, v);
}
#endif
EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) { return do_cuda_version(__func__, v); }

/* ---- device identity ---- */
static nvmlReturn_t dev_str(const char *fn, nvmlDevice_t d, const char *key, char *buf,
                            unsigned int len) {
  nvmlReturn_t r = enter_dev(fn, d);
  return r ? r : get_str(d->j, key, buf, len);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *b, unsigned int n) {
  return dev_str(__func__, d, "name", b, n);
}
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *b, unsigned int n) {
  return dev_str(__func__, d, "uuid", b, n);
}
EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t d, char *b, unsigned int n) {
  return dev_str(__func__, d, "serial", b, n);
}
EXPORT nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t d, char *b, unsigned int n) {
  return dev_str(__func__, d, "vbios", b, n);
}

/* v1 wrote only the 16-byte legacy "0000:00:06.0" id; v2/v3 add the 32-byte one. */
static nvmlReturn_t do_pci(const char *fn, nvmlDevice_t d, nvmlPciInfo_t *pci, bool v1) {
  nvmlReturn_t r = enter_dev(fn, d);
  if (r) return r;
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int dom = 0, bus = 0, dv = 0, id = 0, sub = 0;
  if (get_uint(d->j, "pci.device_id", &id)) return NVML_ERROR_NOT_SUPPORTED;
  get_uint(d->j, "pci.domain", &dom);
  get_uint(d->j, "pci.bus", &bus);
  get_uint(d->j, "pci.device", &dv);
  get_uint(d->j, "pci.subsystem_id", &sub);
  memset(pci, 0, v1 ? 52 : sizeof *pci); /* the v1 struct was 52 bytes */
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", dom & 0xffffu, bus, dv);
  pci->domain = dom;
  pci->bus = bus;
  pci->device = dv;
  pci->pciDeviceId = id;
  pci->pciSubSystemId = sub;
  if (!v1) snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", dom, bus, dv);
  return NVML_SUCCESS;
}
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p) {
  return do_pci(__func__, d, p, false);
}
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t d, nvmlPciInfo_t *p) {
  return do_pci(__func__, d, p, false);
}
#endif
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t d, nvmlPciInfo_t *p) {
  return do_pci(__func__, d, p, true);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  json_t *cc = json_object_get(d->j, "compute_capability");
  if (json_array_size(cc) != 2) return NVML_ERROR_NOT_SUPPORTED;
  *major = (int)json_integer_value(json_array_get(cc, 0));
  *minor = (int)json_integer_value(json_array_get(cc, 1));
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *cur, unsigned int *pend) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (!r) r = get_uint(d->j, "mig_mode.current", cur);
  if (!r) r = get_uint(d->j, "mig_mode.pending", pend);
  return r;
}

/* ---- device metrics ---- */
static nvmlReturn_t dev_uint(const char *fn, nvmlDevice_t d, const char *key, unsigned int *out) {
  nvmlReturn_t r = enter_dev(fn, d);
  if (r) return r;
  return out ? get_uint(d->j, key, out) : NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t dev_ull(const char *fn, nvmlDevice_t d, const char *key,
                            unsigned long long *out) {
  nvmlReturn_t r = enter_dev(fn, d);
  if (r) return r;
  return out ? get_ull(d->j, key, out) : NVML_ERROR_INVALID_ARGUMENT;
}

#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  if (m->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  if (get_ull(d->j, "memory.total", &m->total)) return NVML_ERROR_NOT_SUPPORTED;
  get_ull(d->j, "memory.reserved", &m->reserved);
  get_ull(d->j, "memory.free", &m->free);
  get_ull(d->j, "memory.used", &m->used);
  return NVML_SUCCESS;
}
#endif

/* v1: used = total - free, reserved included. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long reserved = 0, used = 0;
  if (get_ull(d->j, "memory.total", &m->total)) return NVML_ERROR_NOT_SUPPORTED;
  get_ull(d->j, "memory.free", &m->free);
  get_ull(d->j, "memory.reserved", &reserved);
  get_ull(d->j, "memory.used", &used);
  m->used = used + reserved;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (!r) r = get_uint(d->j, "utilization.gpu", &u->gpu);
  if (!r) r = get_uint(d->j, "utilization.memory", &u->memory);
  return r;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, unsigned int sensor, unsigned int *t) {
  if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  return dev_uint(__func__, d, "temperature", t);
}

static const char *clock_key(unsigned int type, bool max) {
  if (type == NVML_CLOCK_SM || type == NVML_CLOCK_GRAPHICS)
    return max ? "max_clocks.sm" : "clocks.sm";
  if (type == NVML_CLOCK_MEM) return max ? "max_clocks.mem" : "clocks.mem";
  return NULL;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *c) {
  const char *key = clock_key(type, false);
  return key ? dev_uint(__func__, d, key, c) : NVML_ERROR_INVALID_ARGUMENT;
}
EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *c) {
  const char *key = clock_key(type, true);
  return key ? dev_uint(__func__, d, key, c) : NVML_ERROR_INVALID_ARGUMENT;
}
EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw) {
  return dev_uint(__func__, d, "power_limit_mw", mw);
}
EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
  return dev_uint(__func__, d, "power_mw", mw);
}
EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj) {
  return dev_ull(__func__, d, "energy_mj", mj);
}
EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, unsigned int *p) {
  return dev_uint(__func__, d, "pstate", p);
}
EXPORT nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned int *n) {
  return dev_uint(__func__, d, "pcie_replay", n);
}
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d,
                                                           unsigned long long *reasons) {
  return dev_ull(__func__, d, "clock_event_reasons", reasons);
}
#endif
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d,
                                                              unsigned long long *reasons) {
  return dev_ull(__func__, d, "clock_event_reasons", reasons);
}

EXPORT nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t d, unsigned int policy,
                                                 nvmlViolationTime_t *vt) {
  static const char *const keys[] = {"power",       "thermal",         "sync_boost",
                                     "board_limit", "low_utilization", "reliability"};
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (policy >= sizeof keys / sizeof keys[0] || !vt) return NVML_ERROR_INVALID_ARGUMENT;
  char path[64];
  snprintf(path, sizeof path, "violations_ns.%s", keys[policy]);
  vt->referenceTime = 1764382639000000ULL;
  return get_ull(d->j, path, &vt->violationTime);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, unsigned int type,
                                                unsigned int counter, unsigned long long *n) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (type > 1 || counter > 1 || !n) return NVML_ERROR_INVALID_ARGUMENT;
  char path[64];
  snprintf(path, sizeof path, "ecc.%s_%s", type ? "uncorrected" : "corrected",
           counter ? "aggregate" : "volatile");
  return get_ull(d->j, path, n);
}

EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t d, unsigned int *corr, unsigned int *unc,
                                              unsigned int *pending, unsigned int *failure) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (!r) r = get_uint(d->j, "remapped_rows.correctable", corr);
  if (!r) r = get_uint(d->j, "remapped_rows.uncorrectable", unc);
  if (!r) r = get_uint(d->j, "remapped_rows.pending", pending);
  if (!r) r = get_uint(d->j, "remapped_rows.failure", failure);
  return r;
}

/* With count 0 and no buffer: the number of pages, INSUFFICIENT_SIZE when > 0 (as NVML). */
EXPORT nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t d, unsigned int cause,
                                              unsigned int *count, unsigned long long *addr) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (cause > 1 || !count) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int n = 0;
  r = get_uint(d->j, cause ? "retired_pages.dbe" : "retired_pages.sbe", &n);
  if (r) return r;
  unsigned int room = *count;
  *count = n;
  if (n > room) return NVML_ERROR_INSUFFICIENT_SIZE;
  for (unsigned int i = 0; addr && i < n; i++) addr[i] = 0x1000ULL * (i + 1);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t d, unsigned int *pending) {
  return dev_uint(__func__, d, "retired_pages.pending", pending);
}

static void field(nvmlDevice_t d, nvmlFieldValue_t *fv) {
  unsigned int v = 0;
  fv->timestamp = 1764382639000000LL;
  fv->latencyUsec = 1;
  fv->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
  if (fv->fieldId == NVML_FI_DEV_MEMORY_TEMP)
    fv->nvmlReturn = get_uint(d->j, "memory_temp", &v);
  else if (fv->fieldId == NVML_FI_DEV_GET_GPU_RECOVERY_ACTION)
    fv->nvmlReturn = get_uint(d->j, "recovery_action", &v);
  else
    fv->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
  fv->value.ullVal = 0;
  fv->value.uiVal = v;
}

EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int n, nvmlFieldValue_t *values) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (n <= 0 || !values) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < n; i++) field(d, &values[i]);
  return NVML_SUCCESS;
}

/* ---- MIG ---- */
/* The profile entry for a profile index (or, with by_id, a profile id). */
static json_t *profile(nvmlDevice_t d, unsigned int key, bool by_id) {
  json_t *list = json_object_get(d->j, "mig_profiles");
  if (!list) list = json_object_get(fk.root, "mig_profiles");
  size_t i;
  json_t *p;
  json_array_foreach(list, i, p) {
    unsigned int v = 0xFFFFFFFFu;
    get_uint(p, by_id ? "id" : "index", &v);
    if (v == key) return p;
  }
  return NULL;
}

static void fill_profile_v1(json_t *p, nvmlGpuInstanceProfileInfo_t *o) {
  memset(o, 0, sizeof *o);
  get_uint(p, "id", &o->id);
  get_uint(p, "p2p", &o->isP2pSupported);
  get_uint(p, "slices", &o->sliceCount);
  get_uint(p, "instances", &o->instanceCount);
  get_uint(p, "sms", &o->multiprocessorCount);
  get_uint(p, "ce", &o->copyEngineCount);
  get_uint(p, "dec", &o->decoderCount);
  get_uint(p, "enc", &o->encoderCount);
  get_uint(p, "jpeg", &o->jpegCount);
  get_uint(p, "ofa", &o->ofaCount);
  get_ull(p, "memory_mib", &o->memorySizeMB);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t d, unsigned int index,
                                                        nvmlGpuInstanceProfileInfo_t *info) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (index >= NVML_GPU_INSTANCE_PROFILE_COUNT || !info) return NVML_ERROR_INVALID_ARGUMENT;
  json_t *p = profile(d, index, false);
  if (!p) return NVML_ERROR_NOT_SUPPORTED;
  fill_profile_v1(p, info);
  return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t d, unsigned int index,
                                                         nvmlGpuInstanceProfileInfo_v2_t *info) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (index >= NVML_GPU_INSTANCE_PROFILE_COUNT || !info) return NVML_ERROR_INVALID_ARGUMENT;
  if (info->version != nvmlGpuInstanceProfileInfo_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  json_t *p = profile(d, index, false);
  if (!p) return NVML_ERROR_NOT_SUPPORTED;
  nvmlGpuInstanceProfileInfo_t v1;
  fill_profile_v1(p, &v1);
  info->id = v1.id;
  info->isP2pSupported = v1.isP2pSupported;
  info->sliceCount = v1.sliceCount;
  info->instanceCount = v1.instanceCount;
  info->multiprocessorCount = v1.multiprocessorCount;
  info->copyEngineCount = v1.copyEngineCount;
  info->decoderCount = v1.decoderCount;
  info->encoderCount = v1.encoderCount;
  info->jpegCount = v1.jpegCount;
  info->ofaCount = v1.ofaCount;
  info->memorySizeMB = v1.memorySizeMB;
  memset(info->name, 0, sizeof info->name);
  get_str(p, "name", info->name, sizeof info->name);
  return NVML_SUCCESS;
}
#endif

/* NULL placements: the count only; else the buffer must hold them all. */
EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t d,
                                                                  unsigned int profile_id,
                                                                  nvmlGpuInstancePlacement_t *pl,
                                                                  unsigned int *count) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  json_t *p = profile(d, profile_id, true);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  if (!p) return NVML_ERROR_NOT_SUPPORTED;
  json_t *starts = json_object_get(p, "starts");
  unsigned int size = 0;
  get_uint(p, "size", &size);
  *count = (unsigned int)json_array_size(starts);
  for (unsigned int i = 0; pl && i < *count; i++) {
    pl[i].start = (unsigned int)json_integer_value(json_array_get(starts, i));
    pl[i].size = size;
  }
  return NVML_SUCCESS;
}

static bool mig_on(nvmlDevice_t d) {
  unsigned int cur = 0;
  return get_uint(d->j, "mig_mode.current", &cur) == NVML_SUCCESS && cur == 1;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t d, unsigned int profile_id,
                                              nvmlGpuInstance_t *out, unsigned int *count) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!out || !count) return NVML_ERROR_INVALID_ARGUMENT;
  if (!mig_on(d)) { /* the real H200 with MIG off: success, no instances */
    *count = 0;
    return NVML_SUCCESS;
  }
  json_t *p = profile(d, profile_id, true);
  if (!p) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int room = 0, n = 0;
  get_uint(p, "instances", &room); /* NVML: the buffer holds instanceCount handles */
  for (int i = 0; i < fk.n_gi; i++) {
    if (fk.gi[i].dev != d->index || fk.gi[i].profile_id != profile_id) continue;
    if (n >= room) return NVML_ERROR_INSUFFICIENT_SIZE;
    out[n++] = &fk.gi[i];
  }
  *count = n;
  return NVML_SUCCESS;
}

static bool valid_gi(nvmlGpuInstance_t g) { return g && g >= &fk.gi[0] && g < &fk.gi[fk.n_gi]; }

EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t g, nvmlGpuInstanceInfo_t *info) {
  count_call(__func__);
  if (!fk.root) return NVML_ERROR_UNINITIALIZED;
  if (!valid_gi(g) || !info) return NVML_ERROR_INVALID_ARGUMENT;
  info->device = &fk.dev[g->dev];
  info->id = g->id;
  info->profileId = g->profile_id;
  info->placement.start = g->start;
  info->placement.size = g->size;
  return NVML_SUCCESS;
}

/* ---- GPM (Hopper and later; absent from the old variant) ---- */
#ifndef FAKE_NVML_OLD
static struct nvmlGpuInstance_st *find_gi(nvmlDevice_t d, unsigned int id) {
  for (int i = 0; i < fk.n_gi; i++)
    if (fk.gi[i].dev == d->index && fk.gi[i].id == id) return &fk.gi[i];
  return NULL;
}

EXPORT nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t d, nvmlGpmSupport_t *s) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!s || s->version != NVML_GPM_SUPPORT_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  s->isSupportedDevice = json_is_true(at(d->j, "gpm.supported"));
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *out) {
  count_call(__func__);
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  *out = calloc(1, sizeof **out);
  if (!*out) return NVML_ERROR_MEMORY;
  (*out)->magic = GPM_MAGIC;
  live_objects++;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t s) {
  count_call(__func__);
  if (!s || s->magic != GPM_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
  s->magic = 0;
  free(s);
  live_objects--;
  return NVML_SUCCESS;
}

static nvmlReturn_t stamp(nvmlDevice_t d, unsigned int gi, nvmlGpmSample_t s) {
  if (!s || s->magic != GPM_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
  if (!json_is_true(at(d->j, "gpm.supported"))) return NVML_ERROR_NOT_SUPPORTED;
  s->stamp = ++fk.gpm_stamp;
  s->dev = d->index;
  s->gi = gi;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t d, nvmlGpmSample_t s) {
  nvmlReturn_t r = enter_dev(__func__, d);
  return r ? r : stamp(d, 0xFFFFFFFFu, s);
}

EXPORT nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t d, unsigned int gi, nvmlGpmSample_t s) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!mig_on(d) || !find_gi(d, gi)) return NVML_ERROR_NOT_FOUND;
  return stamp(d, gi, s);
}

/* Two distinct samples of one device (or one GPU instance), older first. */
EXPORT nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *mg) {
  count_call(__func__);
  if (!fk.root) return NVML_ERROR_UNINITIALIZED;
  if (!mg || mg->version != NVML_GPM_METRICS_GET_VERSION)
    return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  nvmlGpmSample_t a = mg->sample1, b = mg->sample2;
  if (mg->numMetrics > NVML_GPM_METRIC_MAX || !a || !b || a->magic != GPM_MAGIC ||
      b->magic != GPM_MAGIC || !a->stamp || !b->stamp || a->stamp >= b->stamp || a->dev != b->dev ||
      a->gi != b->gi || a->dev >= fk.n_dev)
    return NVML_ERROR_INVALID_ARGUMENT;
  json_t *src = at(fk.dev[a->dev].j, "gpm.metrics");
  if (a->gi != 0xFFFFFFFFu) {
    struct nvmlGpuInstance_st *gi = find_gi(&fk.dev[a->dev], a->gi);
    src = gi ? json_object_get(gi->j, "gpm") : NULL;
  }
  for (unsigned int i = 0; i < mg->numMetrics; i++) {
    char key[16];
    snprintf(key, sizeof key, "%u", mg->metrics[i].metricId);
    json_t *v = json_object_get(src, key);
    mg->metrics[i].nvmlReturn = json_is_number(v) ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
    mg->metrics[i].value = json_is_number(v) ? json_number_value(v) : 0;
    mg->metrics[i].metricInfo.shortName = NULL;
    mg->metrics[i].metricInfo.longName = NULL;
    mg->metrics[i].metricInfo.unit = NULL;
  }
  return NVML_SUCCESS;
}
#endif

/* ---- events ---- */
EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
  nvmlReturn_t r = enter_sys(__func__);
  if (r) return r;
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  *set = calloc(1, sizeof **set);
  if (!*set) return NVML_ERROR_MEMORY;
  live_objects++;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  count_call(__func__);
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  free(set);
  live_objects--;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                             nvmlEventSet_t set) {
  nvmlReturn_t r = enter_dev(__func__, d);
  if (r) return r;
  if (!set || !(types & nvmlEventTypeXidCriticalError)) return NVML_ERROR_INVALID_ARGUMENT;
  set->registered |= 1u << d->index;
  return NVML_SUCCESS;
}

/* The next queued event of a registered device; TIMEOUT (at once) when none. */
static nvmlReturn_t do_wait(const char *fn, nvmlEventSet_t set, nvmlEventData_t *out, bool v2) {
  nvmlReturn_t r = enter_sys(fn);
  if (r) return r;
  if (!set || !out) return NVML_ERROR_INVALID_ARGUMENT;
  json_t *events = json_object_get(fk.root, "events");
  while (fk.next_event < json_array_size(events)) {
    json_t *e = json_array_get(events, fk.next_event++);
    unsigned int dev = 0, xid = 0, gi = 0xFFFFFFFFu, ci = 0xFFFFFFFFu;
    get_uint(e, "device", &dev);
    get_uint(e, "xid", &xid);
    get_uint(e, "gi", &gi);
    get_uint(e, "ci", &ci);
    if (dev >= (unsigned int)fk.n_dev || !(set->registered & (1u << dev))) continue;
    nvmlEventData_t ed = {&fk.dev[dev], nvmlEventTypeXidCriticalError, xid, gi, ci};
    memcpy(out, &ed, v2 ? sizeof ed : offsetof(nvmlEventData_t, gpuInstanceId));
    return NVML_SUCCESS;
  }
  return NVML_ERROR_TIMEOUT;
}

#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *d, unsigned int ms) {
  (void)ms;
  return do_wait(__func__, set, d, true);
}
#endif
EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *d, unsigned int ms) {
  (void)ms;
  return do_wait(__func__, set, d, false);
}
