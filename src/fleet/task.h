/*
 * task.h — what the fleet schedules: tasks and the task set they come in.
 *
 * A task asks for CPU (milli-cores), host memory (MiB) and GPUs in one of
 * three shapes: num_gpu whole GPUs (gpu_milli 1000), a fraction of one shared
 * GPU (num_gpu 1, gpu_milli < 1000, in thousandths as in the Alibaba trace),
 * or one MIG instance of a profile (mig_profile, an NVML profile id). It may
 * be restricted to GPU models, carries a QoS class and a priority (higher
 * preempts lower), a tenant, an optional gang (tasks of one gang are placed
 * all or nothing), and, from a trace, an arrival time and a run time.
 *
 * Ownership: a task set owns its tasks and names; free with
 * fleet_taskset_free(). Not thread-safe while being built; read-only use
 * from several threads is fine.
 *
 * Sections: task; task set; QoS.
 */
#ifndef GPUOPS_FLEET_TASK_H
#define GPUOPS_FLEET_TASK_H

#include <stdbool.h>
#include <stdint.h>

#define FLEET_MILLI             1000 /* thousandths of one GPU: a whole GPU */
#define FLEET_MAX_MODELS        64   /* GPU model names one task set or cluster may use */
#define FLEET_MODEL_LEN         32   /* bytes of a model name, with its NUL */
#define FLEET_NAME_LEN          48   /* bytes of a task name, with its NUL */
#define FLEET_TENANT_LEN        32   /* bytes of a tenant name, with its NUL */
#define FLEET_MAX_GPUS_PER_TASK 64

/* ---- 1. task ------------------------------------------------------------- */

/* QoS classes of the Alibaba trace, lowest first. */
enum fleet_qos { FLEET_QOS_BE = 0, FLEET_QOS_BURSTABLE, FLEET_QOS_LS, FLEET_QOS_GUARANTEED };

struct fleet_task {
  char name[FLEET_NAME_LEN];
  uint32_t cpu_milli;  /* CPU request, thousandths of a core */
  uint32_t memory_mib; /* host memory request */
  uint16_t num_gpu;    /* GPUs (0: CPU only) */
  uint16_t gpu_milli;  /* per GPU, thousandths (1000 whole; < 1000 only with num_gpu 1) */
  int16_t mig_profile; /* NVML MIG profile id (19, 15, 14, 9, 5, 0, 20) or -1 */
  int8_t qos;          /* enum fleet_qos */
  int8_t priority;     /* higher preempts lower (default: the QoS rank) */
  uint64_t model_mask; /* allowed GPU models: bits into taskset->models; 0 = any model */
  int32_t tenant;      /* index into taskset->tenants */
  int32_t gang;        /* gang id (tasks placed all or nothing), -1 none */
  int64_t create_s;    /* arrival, seconds from the trace start; -1 unknown */
  int64_t duration_s;  /* run time once started, seconds; -1 unknown (runs to the end) */
};

/* GPU request of a task in thousandths of a GPU (a MIG instance counts compute slices / 7). */
uint32_t fleet_task_gpu_milli_total(const struct fleet_task *t);

/* ---- 2. task set --------------------------------------------------------- */

struct fleet_taskset {
  int n, cap;
  struct fleet_task *tasks; /* owned */
  int n_models;
  char models[FLEET_MAX_MODELS][FLEET_MODEL_LEN]; /* names model_mask bits refer to */
  int n_tenants, cap_tenants;
  char (*tenants)[FLEET_TENANT_LEN]; /* owned; tenants[0] is "default" */
  bool has_times;                    /* arrival and run times came with it */
  char source[256];                  /* file or generator it came from */
};

/* An empty task set with the "default" tenant. 0 or ERR_NOMEM. */
int fleet_taskset_init(struct fleet_taskset *ts);
void fleet_taskset_free(struct fleet_taskset *ts);

/* Append a copy of t. 0 or ERR_NOMEM. */
int fleet_taskset_add(struct fleet_taskset *ts, const struct fleet_task *t);

/*
 * Bit of a model name in ts->models, adding it when new. Returns the bit
 * index, or ERR_RANGE when FLEET_MAX_MODELS names are already used.
 */
int fleet_taskset_model(struct fleet_taskset *ts, const char *name);

/* Index of a tenant name, adding it when new. Index, or ERR_NOMEM / ERR_INVALID (bad name). */
int fleet_taskset_tenant(struct fleet_taskset *ts, const char *name);

/* Total GPU request over the set, in thousandths of a GPU. */
uint64_t fleet_taskset_gpu_milli(const struct fleet_taskset *ts);

/*
 * Bring arrivals closer: every arrival time t becomes t0 + (t - t0) / factor
 * (t0 the first arrival); run times stay. factor > 0; 1 changes nothing.
 */
void fleet_taskset_compress(struct fleet_taskset *ts, double factor);

/* ---- 3. QoS -------------------------------------------------------------- */

/* "LS", "BE", "Burstable", "Guaranteed" (case-insensitive) -> class; -1 when unknown. */
int fleet_qos_parse(const char *s);
const char *fleet_qos_name(int qos);

#endif
