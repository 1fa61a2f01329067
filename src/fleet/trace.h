/*
 * trace.h — reading task lists: the Alibaba GPU trace 2023 task list (11
 * columns, and the 5-column multigpu variant), the same as a generic CSV with
 * more columns, and a JSON task list.
 *
 * CSV columns are found by the header's names, in any order:
 *   required  cpu_milli, memory_mib, and num_gpu + gpu_milli (or mig_profile)
 *   optional  name, gpu_spec ("V100M16|V100M32"), qos (LS, BE, Burstable,
 *             Guaranteed), creation_time, deletion_time, scheduled_time
 *             (seconds), duration (seconds, instead of deletion_time),
 *             priority (-100..100), tenant, gang, mig_profile ("3g.71gb", or
 *             an id such as 9)
 *   ignored   pod_phase
 * Any other column is an error (it is usually a typo). The run time of a
 * task is deletion_time - scheduled_time when the task was scheduled in the
 * trace, else deletion_time - creation_time, else duration.
 *
 * JSON: {"tasks": [{"name": ..., "cpu_milli": ..., ...}, ...]} or a bare
 * array, with the same keys (gpu_spec may also be an array of names).
 *
 * Errors name the file, line and column (CSV) or the element and key
 * (JSON), and nothing is half loaded: on error the task set is empty.
 */
#ifndef GPUOPS_FLEET_TRACE_H
#define GPUOPS_FLEET_TRACE_H

#include <stddef.h>

#include "fleet/task.h"

/*
 * Load a task list (CSV, or JSON when the first non-blank byte is '{' or
 * '[') into ts (treated as uninitialised). Returns 0, or ERR_IO /
 * ERR_PARSE / ERR_NOMEM with err_msg() naming the file, line and column;
 * ts is then empty (initialised, so fleet_taskset_free is safe).
 */
int fleet_trace_load(struct fleet_taskset *ts, const char *path);
/* Same from a buffer; `name` stands for the file in messages. */
int fleet_trace_load_buf(struct fleet_taskset *ts, const char *buf, size_t len, const char *name);

/*
 * Write a task set as the generic CSV (every column above that the set
 * uses), readable by fleet_trace_load. 0 or ERR_IO.
 */
int fleet_trace_write_csv(const struct fleet_taskset *ts, const char *path);

#endif
