/*
 * verdict.h — the words health speaks: a check's status (PASS/WARN/FAIL/N-A)
 * and the action a finding calls for, ordered from mildest to most severe so
 * that "the worst of several" is a max().
 *
 * Sections: statuses; actions; the driver's recovery action as an action.
 */
#ifndef GPUOPS_TELEMETRY_VERDICT_H
#define GPUOPS_TELEMETRY_VERDICT_H

/* A check's result. The numbers are gpuops_health_check_status's values; N/A is never exported. */
enum verdict_status {
  VERDICT_PASS = 0,
  VERDICT_WARN = 1,
  VERDICT_FAIL = 2,
  VERDICT_NA = 3, /* not applicable or not measurable here */
};

/* "pass", "warn", "fail", "n/a". */
const char *verdict_status_name(enum verdict_status s);
/* Parse "pass" | "warn" | "fail" | "n/a" (also "na"); 0 or ERR_INVALID. */
int verdict_status_parse(const char *s, enum verdict_status *out);
/* The worse of two statuses (N/A is the mildest). */
enum verdict_status verdict_status_worse(enum verdict_status a, enum verdict_status b);

/* X(ENUM, name, what to do) — mildest first; the order is the severity. */
#define VERDICT_ACTIONS(X)                                                                      \
  X(NONE, "none", "nothing to do")                                                              \
  X(INVESTIGATE, "investigate",                                                                 \
    "keep the GPU in service and look into it (cooling, power, PCIe link, application clocks)") \
  X(RESTART_APP, "restart_app", "restart the application; the GPU itself is fine")              \
  X(DRAIN_P2P, "drain_p2p", "stop peer-to-peer (NVLink) traffic to this GPU, then resume")      \
  X(RESET_GPU, "reset_gpu", "drain the GPU's jobs and reset it (nvidia-smi -r -i <gpu>)")       \
  X(DRAIN_AND_RESET, "drain_and_reset",                                                         \
    "stop peer-to-peer traffic, drain the GPU's jobs and reset it (nvidia-smi -r -i <gpu>)")    \
  X(REBOOT_NODE, "reboot_node", "drain the node and reboot it")                                 \
  X(DRAIN_AND_REPAIR, "drain_and_repair",                                                       \
    "drain the node and take it out of service for hardware repair (RMA) after a field "        \
    "diagnostic")

enum verdict_action {
#define VERDICT_ACTION_ENUM(e, name, text) VERDICT_ACTION_##e,
  VERDICT_ACTIONS(VERDICT_ACTION_ENUM)
#undef VERDICT_ACTION_ENUM
      VERDICT_ACTION_COUNT
};

const char *verdict_action_name(enum verdict_action a); /* "reset_gpu" */
const char *verdict_action_text(
    enum verdict_action a); /* "drain the GPU's jobs and reset it ..." */
/* Parse an action name; 0 or ERR_INVALID. */
int verdict_action_parse(const char *s, enum verdict_action *out);

/*
 * The driver's GPU recovery action (NVML field 230, enum gpu_recovery_action)
 * as an action: 0 none, 1 reset_gpu, 2 reboot_node, 3 drain_p2p,
 * 4 drain_and_reset; values the driver may add later read as reboot_node
 * (the safe choice) and *known is set false.
 */
enum verdict_action verdict_action_from_recovery(int recovery, int *known);

#endif
