/*
 * nvml_api.h — our own declarations of the part of NVIDIA's NVML C API that
 * gpuops uses, so nothing needs nvml.h (or the driver) at build time.
 *
 * Every type, constant and layout below is copied as a fact from NVIDIA's
 * public nvml.h (NVML 12.x / driver 580); the _Static_asserts pin the struct
 * sizes that header implies on LP64, because a wrong layout corrupts memory
 * inside the real driver library. Used by src/gpu/nvml.c (which loads the
 * library with dlopen and calls through pointers of the *_fn types) and by
 * the fake library tests/fakes/fake_nvml.c (which defines the functions).
 *
 * Sections: return codes; handles; enums and constants; structs; function
 * pointer types, one per NVML entry point used.
 */
#ifndef GPUOPS_GPU_NVML_API_H
#define GPUOPS_GPU_NVML_API_H

/* ---- return codes (nvmlReturn_t) ---- */
typedef int nvmlReturn_t;
#define NVML_SUCCESS                         0
#define NVML_ERROR_UNINITIALIZED             1
#define NVML_ERROR_INVALID_ARGUMENT          2
#define NVML_ERROR_NOT_SUPPORTED             3
#define NVML_ERROR_NO_PERMISSION             4
#define NVML_ERROR_ALREADY_INITIALIZED       5
#define NVML_ERROR_NOT_FOUND                 6
#define NVML_ERROR_INSUFFICIENT_SIZE         7
#define NVML_ERROR_INSUFFICIENT_POWER        8
#define NVML_ERROR_DRIVER_NOT_LOADED         9
#define NVML_ERROR_TIMEOUT                   10
#define NVML_ERROR_IRQ_ISSUE                 11
#define NVML_ERROR_LIBRARY_NOT_FOUND         12
#define NVML_ERROR_FUNCTION_NOT_FOUND        13
#define NVML_ERROR_CORRUPTED_INFOROM         14
#define NVML_ERROR_GPU_IS_LOST               15
#define NVML_ERROR_RESET_REQUIRED            16
#define NVML_ERROR_OPERATING_SYSTEM          17
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH   18
#define NVML_ERROR_IN_USE                    19
#define NVML_ERROR_MEMORY                    20
#define NVML_ERROR_NO_DATA                   21
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN                   999

/* ---- opaque handles ---- */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlGpmSample_st *nvmlGpmSample_t;

/* ---- enums and constants (all passed as unsigned int / int) ---- */
#define NVML_STRUCT_VERSION(size, ver) ((unsigned int)(size) | ((unsigned int)(ver) << 24U))

#define NVML_DEVICE_NAME_V2_BUFFER_SIZE        96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE        96
#define NVML_DEVICE_SERIAL_BUFFER_SIZE         30
#define NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE  32
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE  16

#define NVML_TEMPERATURE_GPU 0 /* nvmlTemperatureSensors_t */

#define NVML_CLOCK_GRAPHICS 0 /* nvmlClockType_t */
#define NVML_CLOCK_SM       1
#define NVML_CLOCK_MEM      2

#define NVML_MEMORY_ERROR_TYPE_CORRECTED   0 /* nvmlMemoryErrorType_t */
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC                  0 /* nvmlEccCounterType_t */
#define NVML_AGGREGATE_ECC                 1

/* nvmlPageRetirementCause_t */
#define NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS 0
#define NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR           1

#define NVML_PERF_POLICY_POWER           0 /* nvmlPerfPolicyType_t */
#define NVML_PERF_POLICY_THERMAL         1
#define NVML_PERF_POLICY_SYNC_BOOST      2
#define NVML_PERF_POLICY_BOARD_LIMIT     3
#define NVML_PERF_POLICY_LOW_UTILIZATION 4
#define NVML_PERF_POLICY_RELIABILITY     5

#define NVML_FEATURE_DISABLED 0 /* nvmlEnableState_t */
#define NVML_FEATURE_ENABLED  1

#define NVML_VALUE_TYPE_DOUBLE             0 /* nvmlValueType_t */
#define NVML_VALUE_TYPE_UNSIGNED_INT       1
#define NVML_VALUE_TYPE_UNSIGNED_LONG      2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG   4
#define NVML_VALUE_TYPE_SIGNED_INT         5
#define NVML_VALUE_TYPE_UNSIGNED_SHORT     6

#define NVML_FI_DEV_MEMORY_TEMP             82  /* memory (HBM) temperature, C */
#define NVML_FI_DEV_GET_GPU_RECOVERY_ACTION 230 /* nvmlDeviceGpuRecoveryAction_t */

#define nvmlEventTypeXidCriticalError 0x0000000000000008ULL

#define NVML_DEVICE_MIG_DISABLE 0
#define NVML_DEVICE_MIG_ENABLE  1

/* GPU instance profile *indices* (the argument of the profile-info calls; the
 * profile *id* NVML returns is a different number: 19, 20, 15, ... on Hopper). */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE        0x0
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE        0x1
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE        0x2
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE        0x3
#define NVML_GPU_INSTANCE_PROFILE_7_SLICE        0x4
#define NVML_GPU_INSTANCE_PROFILE_8_SLICE        0x5
#define NVML_GPU_INSTANCE_PROFILE_6_SLICE        0x6
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1   0x7 /* the "+me" profile */
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1   0x8
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2   0x9 /* 1 compute slice, 2 memory slices */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX    0xA
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX    0xB
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX    0xC
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME  0xD
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME  0xE
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME 0xF
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME 0x10
#define NVML_GPU_INSTANCE_PROFILE_COUNT          0x11

/* GPM metric ids (nvmlGpmMetricId_t) that gpuops reads. */
#define NVML_GPM_METRIC_GRAPHICS_UTIL           1
#define NVML_GPM_METRIC_SM_UTIL                 2
#define NVML_GPM_METRIC_SM_OCCUPANCY            3
#define NVML_GPM_METRIC_ANY_TENSOR_UTIL         5
#define NVML_GPM_METRIC_DRAM_BW_UTIL            10
#define NVML_GPM_METRIC_FP64_UTIL               11
#define NVML_GPM_METRIC_FP32_UTIL               12
#define NVML_GPM_METRIC_FP16_UTIL               13
#define NVML_GPM_METRIC_PCIE_TX_PER_SEC         20 /* MiB/s */
#define NVML_GPM_METRIC_PCIE_RX_PER_SEC         21
#define NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC 60
#define NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC 61
#define NVML_GPM_METRIC_MAX                     98 /* size of nvmlGpmMetricsGet_t.metrics[] */
#define NVML_GPM_METRICS_GET_VERSION            1
#define NVML_GPM_SUPPORT_VERSION                1

/* ---- structs ---- */
typedef struct {
  unsigned int gpu;    /* percent of time a kernel ran, last sample period */
  unsigned int memory; /* percent of time device memory was read or written */
} nvmlUtilization_t;

typedef struct {                        /* v1: used = total - free (includes reserved) */
  unsigned long long total, free, used; /* bytes */
} nvmlMemory_t;

typedef struct { /* v2: version must be nvmlMemory_v2 */
  unsigned int version;
  unsigned long long total, reserved, free, used; /* bytes */
} nvmlMemory_v2_t;
#define nvmlMemory_v2 NVML_STRUCT_VERSION(sizeof(nvmlMemory_v2_t), 2)

typedef struct {
  char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE]; /* v1 wrote busId here */
  unsigned int domain, bus, device;
  unsigned int pciDeviceId; /* device id << 16 | vendor id */
  unsigned int pciSubSystemId;
  char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE]; /* "00000000:00:06.0" */
} nvmlPciInfo_t;

typedef struct {
  unsigned long long referenceTime; /* CPU timestamp, us */
  unsigned long long violationTime; /* cumulative ns */
} nvmlViolationTime_t;

typedef union {
  double dVal;
  int siVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  unsigned short usVal;
} nvmlValue_t;

typedef struct {
  unsigned int fieldId;
  unsigned int scopeId; /* 0 */
  long long timestamp;  /* us since 1970 */
  long long latencyUsec;
  unsigned int valueType; /* NVML_VALUE_TYPE_* */
  nvmlReturn_t nvmlReturn;
  nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct {
  nvmlDevice_t device;
  unsigned long long eventType;
  unsigned long long eventData;   /* the XID for nvmlEventTypeXidCriticalError */
  unsigned int gpuInstanceId;     /* 0xFFFFFFFF when not attributable (v2 wait only) */
  unsigned int computeInstanceId; /* 0xFFFFFFFF when not attributable */
} nvmlEventData_t;

typedef struct {
  unsigned int start; /* first memory slice */
  unsigned int size;  /* memory slices */
} nvmlGpuInstancePlacement_t;

typedef struct {
  unsigned int id; /* profile id (19, 20, 15, 14, 9, 5, 0 on Hopper) */
  unsigned int isP2pSupported;
  unsigned int sliceCount;
  unsigned int instanceCount;
  unsigned int multiprocessorCount;
  unsigned int copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
  unsigned long long memorySizeMB; /* MiB */
} nvmlGpuInstanceProfileInfo_t;

typedef struct { /* version must be nvmlGpuInstanceProfileInfo_v2 */
  unsigned int version;
  unsigned int id;
  unsigned int isP2pSupported;
  unsigned int sliceCount;
  unsigned int instanceCount;
  unsigned int multiprocessorCount;
  unsigned int copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
  unsigned long long memorySizeMB;
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE]; /* "MIG 1g.18gb" */
} nvmlGpuInstanceProfileInfo_v2_t;
#define nvmlGpuInstanceProfileInfo_v2 \
  NVML_STRUCT_VERSION(sizeof(nvmlGpuInstanceProfileInfo_v2_t), 2)

typedef struct {
  nvmlDevice_t device;
  unsigned int id;        /* GPU instance id */
  unsigned int profileId; /* profile id */
  nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct {
  unsigned int version;           /* NVML_GPM_SUPPORT_VERSION */
  unsigned int isSupportedDevice; /* out */
} nvmlGpmSupport_t;

typedef struct {
  unsigned int metricId;   /* in */
  nvmlReturn_t nvmlReturn; /* out: value valid only when NVML_SUCCESS */
  double value;            /* out */
  struct {
    char *shortName, *longName, *unit; /* out, owned by NVML, may be NULL */
  } metricInfo;
} nvmlGpmMetric_t;

typedef struct {
  unsigned int version;    /* NVML_GPM_METRICS_GET_VERSION */
  unsigned int numMetrics; /* entries of metrics[] used */
  nvmlGpmSample_t sample1; /* older */
  nvmlGpmSample_t sample2; /* newer */
  nvmlGpmMetric_t metrics[NVML_GPM_METRIC_MAX];
} nvmlGpmMetricsGet_t;

/* Sizes implied by NVIDIA's nvml.h on LP64 (x86-64, aarch64). */
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t layout");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t layout");
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t layout");
_Static_assert(sizeof(nvmlViolationTime_t) == 16, "nvmlViolationTime_t layout");
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t layout");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t layout");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_t) == 48, "profile info layout");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v2_t) == 152, "profile info v2 layout");
_Static_assert(nvmlGpuInstanceProfileInfo_v2 == 0x02000098u, "profile info v2 version");
_Static_assert(sizeof(nvmlGpuInstanceInfo_t) == 24, "nvmlGpuInstanceInfo_t layout");
_Static_assert(sizeof(nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t layout");
_Static_assert(sizeof(nvmlGpmMetricsGet_t) == 24 + 40 * NVML_GPM_METRIC_MAX,
               "nvmlGpmMetricsGet_t layout");

/* ---- function pointer types (one per entry point; fallbacks share a type) ---- */
typedef nvmlReturn_t (*nvml_void_fn)(void);                       /* Init(_v2), Shutdown */
typedef const char *(*nvml_error_string_fn)(nvmlReturn_t result); /* ErrorString */
typedef nvmlReturn_t (*nvml_uint_out_fn)(unsigned int *out);      /* DeviceGetCount(_v2) */
typedef nvmlReturn_t (*nvml_int_out_fn)(int *out); /* SystemGetCudaDriverVersion(_v2) */
typedef nvmlReturn_t (*nvml_sys_string_fn)(char *buf,
                                           unsigned int len); /* SystemGetDriverVersion */
typedef nvmlReturn_t (*nvml_handle_by_index_fn)(unsigned int index, nvmlDevice_t *dev);
typedef nvmlReturn_t (*nvml_dev_string_fn)(nvmlDevice_t dev, char *buf, unsigned int len);
typedef nvmlReturn_t (*nvml_dev_uint_fn)(nvmlDevice_t dev, unsigned int *out);
typedef nvmlReturn_t (*nvml_dev_ull_fn)(nvmlDevice_t dev, unsigned long long *out);
typedef nvmlReturn_t (*nvml_dev_2uint_fn)(nvmlDevice_t dev, unsigned int *a, unsigned int *b);
typedef nvmlReturn_t (*nvml_dev_2int_fn)(nvmlDevice_t dev, int *a, int *b);
typedef nvmlReturn_t (*nvml_dev_enum_uint_fn)(nvmlDevice_t dev, unsigned int type,
                                              unsigned int *out); /* GetTemperature, GetClockInfo */
typedef nvmlReturn_t (*nvml_pci_info_fn)(nvmlDevice_t dev, nvmlPciInfo_t *pci);
typedef nvmlReturn_t (*nvml_memory_fn)(nvmlDevice_t dev, nvmlMemory_t *mem);
typedef nvmlReturn_t (*nvml_memory_v2_fn)(nvmlDevice_t dev, nvmlMemory_v2_t *mem);
typedef nvmlReturn_t (*nvml_utilization_fn)(nvmlDevice_t dev, nvmlUtilization_t *util);
typedef nvmlReturn_t (*nvml_violation_fn)(nvmlDevice_t dev, unsigned int policy,
                                          nvmlViolationTime_t *out);
typedef nvmlReturn_t (*nvml_ecc_fn)(nvmlDevice_t dev, unsigned int error_type,
                                    unsigned int counter_type, unsigned long long *count);
typedef nvmlReturn_t (*nvml_remapped_rows_fn)(nvmlDevice_t dev, unsigned int *corr,
                                              unsigned int *unc, unsigned int *pending,
                                              unsigned int *failure);
typedef nvmlReturn_t (*nvml_retired_pages_fn)(nvmlDevice_t dev, unsigned int cause,
                                              unsigned int *count, unsigned long long *addresses);
typedef nvmlReturn_t (*nvml_field_values_fn)(nvmlDevice_t dev, int count, nvmlFieldValue_t *values);
typedef nvmlReturn_t (*nvml_profile_info_fn)(nvmlDevice_t dev, unsigned int profile,
                                             nvmlGpuInstanceProfileInfo_t *info);
typedef nvmlReturn_t (*nvml_profile_info_v_fn)(nvmlDevice_t dev, unsigned int profile,
                                               nvmlGpuInstanceProfileInfo_v2_t *info);
typedef nvmlReturn_t (*nvml_placements_fn)(nvmlDevice_t dev, unsigned int profile_id,
                                           nvmlGpuInstancePlacement_t *placements,
                                           unsigned int *count);
typedef nvmlReturn_t (*nvml_gpu_instances_fn)(nvmlDevice_t dev, unsigned int profile_id,
                                              nvmlGpuInstance_t *instances, unsigned int *count);
typedef nvmlReturn_t (*nvml_gpu_instance_info_fn)(nvmlGpuInstance_t gi,
                                                  nvmlGpuInstanceInfo_t *info);
typedef nvmlReturn_t (*nvml_event_set_create_fn)(nvmlEventSet_t *set);
typedef nvmlReturn_t (*nvml_event_set_free_fn)(nvmlEventSet_t set);
typedef nvmlReturn_t (*nvml_register_events_fn)(nvmlDevice_t dev, unsigned long long types,
                                                nvmlEventSet_t set);
typedef nvmlReturn_t (*nvml_event_wait_fn)(nvmlEventSet_t set, nvmlEventData_t *data,
                                           unsigned int timeout_ms);
typedef nvmlReturn_t (*nvml_gpm_support_fn)(nvmlDevice_t dev, nvmlGpmSupport_t *support);
typedef nvmlReturn_t (*nvml_gpm_sample_alloc_fn)(nvmlGpmSample_t *sample);
typedef nvmlReturn_t (*nvml_gpm_sample_free_fn)(nvmlGpmSample_t sample);
typedef nvmlReturn_t (*nvml_gpm_sample_get_fn)(nvmlDevice_t dev, nvmlGpmSample_t sample);
typedef nvmlReturn_t (*nvml_gpm_mig_sample_get_fn)(nvmlDevice_t dev, unsigned int gi_id,
                                                   nvmlGpmSample_t sample);
typedef nvmlReturn_t (*nvml_gpm_metrics_get_fn)(nvmlGpmMetricsGet_t *metrics);

#endif
