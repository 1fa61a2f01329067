/*
 * catalog.h — GPU models gpuops knows: their datasheet figures and MIG profiles.
 *
 * Depends on nothing but libc (not even base/), so a Slurm plugin or another
 * program can compile catalog/ alone. Everything here is static, read-only
 * data: pointers returned stay valid for the life of the process.
 *
 * Sections: MIG profile; model; lookups. MIG placement rules are in mig.h.
 */
#ifndef GPUOPS_CATALOG_CATALOG_H
#define GPUOPS_CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_MIG_MAX_STARTS 8 /* a GPU has 8 memory slices */
#define CATALOG_MIG_COMPUTE_SLICES 7
#define CATALOG_MIG_MEMORY_SLICES 8

/* One GPU-instance profile of one model (../shared/data/mig-geometry.md). */
struct catalog_mig_profile {
  int id;                /* NVML profile id: 19, 20, 15, 14, 9, 5, 0 */
  const char *name;      /* "1g.18gb", "1g.18gb+me" as nvidia-smi prints it */
  int compute_slices;    /* of 7 */
  int memory_slices;     /* of 8: the placement size */
  int max_instances;     /* per GPU */
  uint64_t memory_mib;   /* memory of one instance, as NVML reports (memorySizeMB) */
  int sm_count;          /* multiprocessors of one instance */
  bool media_extension;  /* the "+me" profile: owns the GPU's one media engine set */
  int n_starts;          /* number of valid starts */
  int starts[CATALOG_MIG_MAX_STARTS]; /* valid first memory slices */
};

/* One GPU model: datasheet and measured figures (leads where marked). */
struct catalog_model {
  const char *key;            /* canonical short name: "H200", "H100-80GB", "A100-80GB", "A100-40GB" */
  const char *product_name;   /* as NVML names it: "NVIDIA H200" */
  const char *architecture;   /* "Hopper", "Ampere" */
  int cc_major, cc_minor;     /* compute capability */
  uint64_t memory_mib;        /* total framebuffer as NVML reports it */
  int sm_count;               /* multiprocessors */
  uint32_t max_sm_clock_mhz;  /* max graphics/SM clock */
  uint32_t max_mem_clock_mhz; /* max memory clock */
  uint32_t power_limit_w;     /* default board power limit */
  uint32_t pci_device_id;     /* NVML's pciDeviceId: 0x233510DE for the H200 */
  double mem_bandwidth_gbs;   /* datasheet HBM bandwidth, GB/s (a lead; bench measures its own) */
  double bf16_dense_tflops;   /* datasheet dense bf16 tensor rate (a lead) */
  double fp32_tflops;         /* datasheet fp32 rate (a lead) */
  uint32_t l2_cache_kib;      /* L2 size */
  int n_mig_profiles;         /* 0 when the model has no MIG */
  const struct catalog_mig_profile *mig_profiles; /* in nvidia-smi's order */
};

/* All models; *n receives their number. */
const struct catalog_model *catalog_models(int *n);

/*
 * Find a model by its key ("H200"), its NVML product name ("NVIDIA H200",
 * "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB") or a case-insensitive
 * variant of either. NULL when unknown.
 */
const struct catalog_model *catalog_find(const char *name);

/* Find a model by NVML pciDeviceId (0x233510DE). NULL when unknown. */
const struct catalog_model *catalog_find_pci(uint32_t pci_device_id);

/* A model's MIG profile by NVML id, or by name ("3g.71gb"); NULL when absent. */
const struct catalog_mig_profile *catalog_mig_profile(const struct catalog_model *m, int id);
const struct catalog_mig_profile *catalog_mig_profile_by_name(const struct catalog_model *m,
                                                              const char *name);

#endif
