/*
 * executor.c — what the executor interface shares between engines: the
 * names of node states. Engines live in sim_exec.c and slurm_exec.c.
 */
#include "maint/executor.h"

const char *node_state_name(enum node_state s) {
  switch (s) {
    case NODE_STATE_UP: return "up";
    case NODE_STATE_CORDONED: return "cordoned";
    case NODE_STATE_DRAINED: return "drained";
    case NODE_STATE_REBOOTING: return "rebooting";
    case NODE_STATE_DOWN: return "down";
    case NODE_STATE_UNKNOWN: break;
  }
  return "unknown";
}
