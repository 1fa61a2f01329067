/*
 * verdict.c — names and order of health statuses and actions (verdict.h).
 */
#include <string.h>

#include "base/err.h"
#include "gpu/gpu.h"
#include "telemetry/verdict.h"

/* ---- statuses ---- */

static const char *const status_names[] = {"pass", "warn", "fail", "n/a"};

const char *verdict_status_name(enum verdict_status s) {
  return (unsigned)s <= VERDICT_NA ? status_names[s] : "unknown";
}

int verdict_status_parse(const char *s, enum verdict_status *out) {
  for (int i = 0; s && i <= VERDICT_NA; i++)
    if (!strcmp(s, status_names[i])) return *out = (enum verdict_status)i, 0;
  if (s && !strcmp(s, "na")) return *out = VERDICT_NA, 0;
  return err_set(ERR_INVALID, "unknown check status '%s' (use pass, warn, fail or n/a)",
                 s ? s : "(null)");
}

/* Severity rank: n/a < pass < warn < fail. */
static int rank(enum verdict_status s) { return s == VERDICT_NA ? -1 : (int)s; }

enum verdict_status verdict_status_worse(enum verdict_status a, enum verdict_status b) {
  return rank(a) >= rank(b) ? a : b;
}

/* ---- actions ---- */

static const char *const action_names[] = {
#define NAME(e, name, text) name,
    VERDICT_ACTIONS(NAME)
#undef NAME
};
static const char *const action_texts[] = {
#define TEXT(e, name, text) text,
    VERDICT_ACTIONS(TEXT)
#undef TEXT
};

const char *verdict_action_name(enum verdict_action a) {
  return (unsigned)a < VERDICT_ACTION_COUNT ? action_names[a] : "unknown";
}

const char *verdict_action_text(enum verdict_action a) {
  return (unsigned)a < VERDICT_ACTION_COUNT ? action_texts[a] : "unknown action";
}

int verdict_action_parse(const char *s, enum verdict_action *out) {
  for (int i = 0; s && i < VERDICT_ACTION_COUNT; i++)
    if (!strcmp(s, action_names[i])) return *out = (enum verdict_action)i, 0;
  return err_set(ERR_INVALID, "unknown action '%s'", s ? s : "(null)");
}

enum verdict_action verdict_action_from_recovery(int recovery, int *known) {
  if (known) *known = 1;
  switch (recovery) {
    case GPU_RECOVERY_NONE: return VERDICT_ACTION_NONE;
    case GPU_RECOVERY_GPU_RESET: return VERDICT_ACTION_RESET_GPU;
    case GPU_RECOVERY_NODE_REBOOT: return VERDICT_ACTION_REBOOT_NODE;
    case GPU_RECOVERY_DRAIN_P2P: return VERDICT_ACTION_DRAIN_P2P;
    case GPU_RECOVERY_DRAIN_AND_RESET: return VERDICT_ACTION_DRAIN_AND_RESET;
  }
  if (known) *known = 0;
  return VERDICT_ACTION_REBOOT_NODE;
}
