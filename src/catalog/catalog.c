/*
 * catalog.c — the GPU models gpuops knows, and their MIG profiles.
 *
 * Static, read-only tables; depends on libc only (see catalog.h).
 *
 * Sections:
 *   1. MIG profiles, one table per model, in nvidia-smi's order (ids 19, 20,
 *      15, 14, 9, 5, 0). Geometry (compute slices, memory slices, max
 *      instances, valid starts) is the same for all four models and comes
 *      from ../shared/data/mig-geometry.md; names, memory and SMs differ.
 *   2. Models: datasheet and measured figures.
 *   3. Lookups.
 *
 * Sources of the figures:
 *   - H200: read off a real card (../shared/data/h200/: nvidia-smi -q for
 *     memory 143771 MiB, VBIOS and device id; dmon for the 1980/3201 MHz
 *     clocks; mig-profiles.txt for the MIG table).
 *   - H100-80GB, A100-80GB, A100-40GB: total memory as nvidia-smi/NVML report
 *     it on recent drivers (81559, 81920, 40960 MiB; drivers before ~R470
 *     reported 40536 MiB for the A100-40GB); clocks, power, L2 and rates from
 *     NVIDIA's datasheets and `nvidia-smi -q` transcripts.
 *   - Tensor/FP32 rates and bandwidth are datasheet leads; the benchmark
 *     harness measures its own ceilings.
 */
#include "catalog/catalog.h"

#include <stddef.h>
#include <strings.h>

/* ---- 1. MIG profiles ------------------------------------------------------ */

/*
 * Per-model MIG profile memory figures. nvidia-smi prints GiB with two
 * decimals and NVML's memorySizeMB is really MiB, so for the H100-80GB and
 * the A100-40GB the MiB figure below is derived from the GiB one in the
 * geometry table: 4.75 GiB = 4864 MiB, 9.62 GiB = 9.625 GiB = 9856 MiB,
 * 9.75 GiB = 9984 MiB, 19.50 GiB = 19968 MiB, 19.62 GiB = 19.625 GiB =
 * 20096 MiB, 39.25 GiB = 40192 MiB, 39.50 GiB = 40448 MiB, 79.25 GiB =
 * 81152 MiB. A100-80GB figures are NVML's memorySizeMB as given; H200
 * figures were read off the card (16.00, 32.50, 69.75, 140.00 GiB).
 * Profile 20 (+me) has the memory and SMs of profile 19 on every model
 * (the H200 shows so; the other models' rows are derived from that).
 * Every figure NVML reports here is a multiple of 128 MiB; the derived ones
 * are the multiples of 128 MiB that print as the GiB figure.
 *
 * The geometry of each profile id, the same on all four models
 * (mig-geometry.md, first table): id, compute slices, memory slices (the
 * placement size), max instances, +me, valid starts. A model's table then
 * gives the name, MiB and SMs.
 */
/* clang-format off */
#define MIG_19(name, mib, sms) {19, name, 1, 1, 7, mib, sms, false, 7, {0, 1, 2, 3, 4, 5, 6}}
#define MIG_20(name, mib, sms) {20, name, 1, 1, 1, mib, sms, true,  7, {0, 1, 2, 3, 4, 5, 6}}
#define MIG_15(name, mib, sms) {15, name, 1, 2, 4, mib, sms, false, 4, {0, 2, 4, 6}}
#define MIG_14(name, mib, sms) {14, name, 2, 2, 3, mib, sms, false, 3, {0, 2, 4}}
#define MIG_9(name, mib, sms)  { 9, name, 3, 4, 2, mib, sms, false, 2, {0, 4}}
#define MIG_5(name, mib, sms)  { 5, name, 4, 4, 1, mib, sms, false, 1, {0}}
#define MIG_0(name, mib, sms)  { 0, name, 7, 8, 1, mib, sms, false, 1, {0}}

/* One table per model, in nvidia-smi's order; arguments: name, memory MiB, SMs. */
static const struct catalog_mig_profile h200_mig[] = {
    MIG_19("1g.18gb",    16384,  16),
    MIG_20("1g.18gb+me", 16384,  16),
    MIG_15("1g.35gb",    33280,  26),
    MIG_14("2g.35gb",    33280,  32),
    MIG_9 ("3g.71gb",    71424,  60),
    MIG_5 ("4g.71gb",    71424,  64),
    MIG_0 ("7g.141gb",   143360, 132),
};

static const struct catalog_mig_profile h100_80_mig[] = {
    MIG_19("1g.10gb",    9984,  16),  /* 9.75 GiB */
    MIG_20("1g.10gb+me", 9984,  16),  /* as profile 19 */
    MIG_15("1g.20gb",    20096, 26),  /* 19.62 GiB = 19.625 */
    MIG_14("2g.20gb",    20096, 32),  /* 19.62 GiB = 19.625 */
    MIG_9 ("3g.40gb",    40448, 60),  /* 39.50 GiB */
    MIG_5 ("4g.40gb",    40448, 64),  /* 39.50 GiB */
    MIG_0 ("7g.80gb",    81152, 132), /* 79.25 GiB */
};

static const struct catalog_mig_profile a100_80_mig[] = {
    MIG_19("1g.10gb",    9856,  14),
    MIG_20("1g.10gb+me", 9856,  14),  /* as profile 19 */
    MIG_15("1g.20gb",    19968, 14),
    MIG_14("2g.20gb",    19968, 28),
    MIG_9 ("3g.40gb",    40192, 42),
    MIG_5 ("4g.40gb",    40192, 56),
    MIG_0 ("7g.80gb",    80384, 98),
};

static const struct catalog_mig_profile a100_40_mig[] = {
    MIG_19("1g.5gb",     4864,  14),  /* 4.75 GiB */
    MIG_20("1g.5gb+me",  4864,  14),  /* as profile 19 */
    MIG_15("1g.10gb",    9856,  14),  /* 9.62 GiB = 9.625 */
    MIG_14("2g.10gb",    9856,  28),  /* 9.62 GiB = 9.625 */
    MIG_9 ("3g.20gb",    19968, 42),  /* 19.50 GiB */
    MIG_5 ("4g.20gb",    19968, 56),  /* 19.50 GiB */
    MIG_0 ("7g.40gb",    40192, 98),  /* 39.25 GiB */
};
/* clang-format on */

#define N_PROFILES(t) ((int)(sizeof(t) / sizeof((t)[0])))

/* ---- 2. Models ------------------------------------------------------------ */

static const struct catalog_model models[] = {
    {
        .key = "H200",
        .product_name = "NVIDIA H200",
        .architecture = "Hopper",
        .cc_major = 9,
        .cc_minor = 0,
        .memory_mib = 143771, /* nvidia-smi -q on the card here */
        .sm_count = 132,
        .max_sm_clock_mhz = 1980,  /* dmon pclk */
        .max_mem_clock_mhz = 3201, /* dmon mclk */
        .power_limit_w = 700,
        .pci_device_id = 0x233510DE,
        .mem_bandwidth_gbs = 4800,
        .bf16_dense_tflops = 989,
        .fp32_tflops = 67,
        .l2_cache_kib = 61440, /* 60 MiB, as cudaDeviceProp reports */
        .n_mig_profiles = N_PROFILES(h200_mig),
        .mig_profiles = h200_mig,
    },
    {
        .key = "H100-80GB",
        .product_name = "NVIDIA H100 80GB HBM3",
        .architecture = "Hopper",
        .cc_major = 9,
        .cc_minor = 0,
        .memory_mib = 81559,
        .sm_count = 132,
        .max_sm_clock_mhz = 1980,
        .max_mem_clock_mhz = 2619,
        .power_limit_w = 700,
        .pci_device_id = 0x233010DE,
        .mem_bandwidth_gbs = 3350,
        .bf16_dense_tflops = 989,
        .fp32_tflops = 67,
        .l2_cache_kib = 51200, /* 50 MiB */
        .n_mig_profiles = N_PROFILES(h100_80_mig),
        .mig_profiles = h100_80_mig,
    },
    {
        .key = "A100-80GB",
        .product_name = "NVIDIA A100-SXM4-80GB",
        .architecture = "Ampere",
        .cc_major = 8,
        .cc_minor = 0,
        .memory_mib = 81920,
        .sm_count = 108,
        .max_sm_clock_mhz = 1410,
        .max_mem_clock_mhz = 1593,
        .power_limit_w = 400,
        .pci_device_id = 0x20B210DE,
        .mem_bandwidth_gbs = 2039,
        .bf16_dense_tflops = 312,
        .fp32_tflops = 19.5,
        .l2_cache_kib = 40960, /* 40 MiB */
        .n_mig_profiles = N_PROFILES(a100_80_mig),
        .mig_profiles = a100_80_mig,
    },
    {
        .key = "A100-40GB",
        .product_name = "NVIDIA A100-SXM4-40GB",
        .architecture = "Ampere",
        .cc_major = 8,
        .cc_minor = 0,
        .memory_mib = 40960,
        .sm_count = 108,
        .max_sm_clock_mhz = 1410,
        .max_mem_clock_mhz = 1215,
        .power_limit_w = 400,
        .pci_device_id = 0x20B010DE,
        .mem_bandwidth_gbs = 1555,
        .bf16_dense_tflops = 312,
        .fp32_tflops = 19.5,
        .l2_cache_kib = 40960, /* 40 MiB */
        .n_mig_profiles = N_PROFILES(a100_40_mig),
        .mig_profiles = a100_40_mig,
    },
};

#define N_MODELS ((int)(sizeof(models) / sizeof(models[0])))

/* ---- 3. Lookups ----------------------------------------------------------- */

const struct catalog_model *catalog_models(int *n) {
  if (n) *n = N_MODELS;
  return models;
}

const struct catalog_model *catalog_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_MODELS; i++) {
    if (strcasecmp(name, models[i].key) == 0 || strcasecmp(name, models[i].product_name) == 0)
      return &models[i];
  }
  return NULL;
}

const struct catalog_model *catalog_find_pci(uint32_t pci_device_id) {
  for (int i = 0; i < N_MODELS; i++) {
    if (models[i].pci_device_id == pci_device_id) return &models[i];
  }
  return NULL;
}

const struct catalog_mig_profile *catalog_mig_profile(const struct catalog_model *m, int id) {
  if (!m) return NULL;
  for (int i = 0; i < m->n_mig_profiles; i++) {
    if (m->mig_profiles[i].id == id) return &m->mig_profiles[i];
  }
  return NULL;
}

const struct catalog_mig_profile *catalog_mig_profile_by_name(const struct catalog_model *m,
                                                              const char *name) {
  if (!m || !name) return NULL;
  for (int i = 0; i < m->n_mig_profiles; i++) {
    if (strcasecmp(m->mig_profiles[i].name, name) == 0) return &m->mig_profiles[i];
  }
  return NULL;
}
