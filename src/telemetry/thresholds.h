/*
 * thresholds.h — the numbers the health checks compare against, with
 * defaults, loadable from a YAML file (`gpuops health --thresholds FILE`,
 * `gpuops exporter --thresholds FILE`). docs/telemetry.md lists them.
 *
 * The file is one mapping of the keys below (every key optional):
 *   xid_window_s: 3600           # an XID counts for this long after it was seen
 *   ecc_dbe_volatile_max: 0      # FAIL above this many volatile uncorrectable ECC errors
 *   ecc_dbe_aggregate_max: -1    # WARN above this many lifetime ones (-1: not checked)
 *   retired_pages_max: 60        # FAIL at this many retired pages (pre-A100 GPUs)
 *   gpu_temp_warn_c: 87          # WARN at or above (GPU core)
 *   memory_temp_warn_c: 95       # WARN at or above (HBM)
 *   pcie_replay_warn_per_min: 8  # WARN above this PCIe replay rate
 *   clocks_busy_util_pct: 80     # "under load" for the clocks check
 *   clocks_low_ratio: 0.5        # WARN when busy and SM clock < ratio x max clock
 *   disable: [thermal]           # checks not run (reported N/A)
 */
#ifndef GPUOPS_TELEMETRY_THRESHOLDS_H
#define GPUOPS_TELEMETRY_THRESHOLDS_H

#include <stdbool.h>
#include <stddef.h>

#define THRESHOLDS_MAX_CHECKS 16

struct thresholds {
  double xid_window_s;
  double ecc_dbe_volatile_max;
  double ecc_dbe_aggregate_max; /* < 0: not checked */
  double retired_pages_max;
  double gpu_temp_warn_c;
  double memory_temp_warn_c;
  double pcie_replay_warn_per_min;
  double clocks_busy_util_pct;
  double clocks_low_ratio;
  bool disabled[THRESHOLDS_MAX_CHECKS]; /* by enum health_check_id */
};

/* The defaults above. */
void thresholds_default(struct thresholds *t);

/*
 * Load path over the defaults. ERR_IO when unreadable; ERR_PARSE/ERR_INVALID
 * with "path:line: ..." naming the key for bad YAML, unknown keys, values that
 * are not numbers or out of range, and unknown check names.
 */
int thresholds_load(struct thresholds *t, const char *path);
/* The same from a buffer; name is used in messages. */
int thresholds_parse(struct thresholds *t, const char *buf, size_t len, const char *name);

#endif
