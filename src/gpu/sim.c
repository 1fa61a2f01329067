/* sim.c — placeholder until the sim backend lands (being written now). */
#include "base/err.h"
#include "gpu/gpu.h"

static int stub_open(struct gpu_backend *b, const struct gpu_options *o) {
  (void)b;
  (void)o;
  return err_set(ERR_UNSUPPORTED, "sim backend not built yet");
}
static int stub_count(struct gpu_backend *b) {
  (void)b;
  return 0;
}
const struct gpu_backend_ops gpu_sim_ops = {.name = "sim", .open = stub_open, .count = stub_count};
