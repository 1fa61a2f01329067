/*
 * cmd_sim.c — `gpuops sim inject|clear|list`: faults of the simulated fleet,
 * kept in the state file every gpuops process reads (gpu/simstate.h), so a
 * fault injected here is seen by a later `gpuops devices --backend sim`, a
 * running exporter, or a Slurm health check.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "gpu/simstate.h"

static const char *state_path(const char *given) { return given ? given : simstate_default_path(); }

/* The fleet the faults refer to: --spec, or the built-in one. */
static int load_fleet(const struct cli_common *c, struct inventory *inv) {
  inventory_init(inv);
  return c->spec ? inventory_load_yaml(inv, c->spec) : inventory_default(inv);
}

/* Which node: --node, $GPUOPS_SIM_NODE, hostname match, else the first (as the sim backend picks). */
static const struct inv_node *pick_node(const struct inventory *inv, const char *name) {
  if (!name) name = getenv("GPUOPS_SIM_NODE");
  if (name) {
    const struct inv_node *n = inventory_node(inv, name);
    if (!n) {
      char names[512] = "";
      for (int i = 0; i < inv->n_nodes && strlen(names) < sizeof names - 80; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", inv->nodes[i].name);
      err_set(ERR_NOTFOUND, "node '%s' is not in the fleet (%s); nodes: %s%s", name, inv->source, names,
              strlen(names) >= sizeof names - 80 ? ", ..." : "");
    }
    return n;
  }
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  const struct inv_node *n = inventory_node(inv, host);
  return n ? n : &inv->nodes[0];
}

static int parse_recovery(const char *s, int *out) {
  static const char *names[] = {"none", "gpu-reset", "node-reboot", "drain-p2p", "drain-and-reset"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, names[i])) return *out = i, 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && !*end && v >= 0 && v <= 4) return *out = (int)v, 0;
  return err_set(ERR_INVALID, "unknown recovery action '%s' (use none, gpu-reset, node-reboot, drain-p2p, drain-and-reset)", s);
}

static int sim_inject(int argc, char **argv) {
  int gpu = -1, xid = 0, count = 1;
  bool ecc = false, remap = false, thermal = false, bus = false;
  const char *recovery = NULL, *state = NULL;
  const struct cli_option opts[] = {
      {"gpu", 0, CLI_ARG_INT, &gpu, "G", "GPU index on the node (required)"},
      {"xid", 0, CLI_ARG_INT, &xid, "N", "an XID error (e.g. 79 fell off the bus, 48 double-bit ECC, 94/95 contained/uncontained)"},
      {"ecc-uncorrectable", 0, CLI_ARG_FLAG, &ecc, NULL, "uncorrectable ECC errors (--count of them) and a pending row remap"},
      {"count", 0, CLI_ARG_INT, &count, "N", "how many ECC errors (default 1)"},
      {"row-remap-failure", 0, CLI_ARG_FLAG, &remap, NULL, "a failed row remap (the GPU needs service)"},
      {"thermal", 0, CLI_ARG_FLAG, &thermal, NULL, "thermal slowdown (hot GPU, clocks throttled)"},
      {"fall-off-bus", 0, CLI_ARG_FLAG, &bus, NULL, "the GPU falls off the bus (lost, XID 79)"},
      {"recovery-action", 0, CLI_ARG_STRING, &recovery, "ACTION", "driver recovery action: gpu-reset, node-reboot, drain-p2p, drain-and-reset"},
      {"state", 0, CLI_ARG_STRING, &state, "FILE", "fault state file (default $GPUOPS_SIM_STATE or ~/.local/state/gpuops/sim-state.json)"},
      {0}};
  const struct cli_spec spec = {"sim inject", "--gpu G (--xid N | --ecc-uncorrectable | --row-remap-failure | --thermal | --fall-off-bus | --recovery-action A) [--node NAME] [--spec FILE]",
                                "Inject one fault into the simulated fleet. Every later gpuops process on this machine sees it.",
                                CLI_SPEC | CLI_NODE, opts, 0, 0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  int kinds = (xid != 0) + ecc + remap + thermal + bus + (recovery != NULL);
  if (kinds != 1) return cli_usage_error("sim inject", "give exactly one fault (--xid, --ecc-uncorrectable, --row-remap-failure, --thermal, --fall-off-bus or --recovery-action)");
  if (gpu < 0) return cli_usage_error("sim inject", "--gpu G is required");
  if (xid < 0 || count < 1) return cli_usage_error("sim inject", "--xid and --count must be positive");

  struct sim_fault f = {.gpu = gpu, .t_ns = 0, .value = 0}; /* t_ns 0: simstate_add stamps a unique time */
  if (xid) f.kind = SIM_FAULT_XID, f.value = xid;
  else if (ecc) f.kind = SIM_FAULT_ECC_UNCORRECTABLE, f.value = count;
  else if (remap) f.kind = SIM_FAULT_ROW_REMAP_FAILURE;
  else if (thermal) f.kind = SIM_FAULT_THERMAL;
  else if (bus) f.kind = SIM_FAULT_FALLEN_OFF_BUS, f.value = 79;
  else {
    int action = 0;
    if (parse_recovery(recovery, &action) < 0) return cli_usage_error("sim inject", "%s", err_msg());
    f.kind = SIM_FAULT_RECOVERY_ACTION, f.value = action;
  }

  struct inventory inv;
  rc = load_fleet(&c, &inv);
  const struct inv_node *node = rc < 0 ? NULL : pick_node(&inv, c.node);
  if (!node) rc = rc < 0 ? rc : err_last();
  else if (gpu >= node->n_gpus)
    rc = err_set(ERR_RANGE, "node %s has %d GPUs (0..%d); --gpu %d is out of range", node->name, node->n_gpus,
                 node->n_gpus - 1, gpu);
  if (rc >= 0) {
    snprintf(f.node, sizeof f.node, "%s", node->name);
    rc = simstate_add(state_path(state), &f);
  }
  if (rc >= 0)
    printf("injected %s%s%.0lld on %s GPU %d (state: %s)\n", sim_fault_name(f.kind), f.value ? " " : "",
           (long long)f.value, f.node, gpu, state_path(state));
  inventory_free(&inv);
  return rc < 0 ? cli_fail("sim inject", rc) : 0;
}

static int sim_clear(int argc, char **argv) {
  int gpu = -1;
  const char *state = NULL;
  const struct cli_option opts[] = {
      {"gpu", 0, CLI_ARG_INT, &gpu, "G", "only this GPU (default: all)"},
      {"state", 0, CLI_ARG_STRING, &state, "FILE", "fault state file"},
      {0}};
  const struct cli_spec spec = {"sim clear", "[--node NAME] [--gpu G]", "Clear injected faults (all, a node's, or one GPU's).",
                                CLI_NODE, opts, 0, 0};
  struct cli_common c;
  int npos, removed = 0, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  rc = simstate_clear(state_path(state), c.node, gpu, &removed);
  if (rc < 0) return cli_fail("sim clear", rc);
  printf("cleared %d fault%s (state: %s)\n", removed, removed == 1 ? "" : "s", state_path(state));
  return 0;
}

static int sim_list(int argc, char **argv) {
  const char *state = NULL;
  const struct cli_option opts[] = {{"state", 0, CLI_ARG_STRING, &state, "FILE", "fault state file"}, {0}};
  const struct cli_spec spec = {"sim list", "[--format table|json|csv]", "List the injected faults.",
                                CLI_FORMAT | CLI_OUTPUT, opts, 0, 0};
  struct cli_common c;
  int npos, n = 0, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  struct sim_fault *faults = NULL;
  rc = simstate_load(state_path(state), &faults, &n);
  if (rc < 0) return cli_fail("sim list", rc);
  static const char *cols[] = {"node", "gpu", "fault", "value", "injected"};
  struct table *t = table_new(5, cols);
  for (int i = 0; i < n; i++) {
    char when[32];
    table_add_rowf(t, "%s|%d|%s|%lld|%s", faults[i].node, faults[i].gpu, sim_fault_name(faults[i].kind),
                   (long long)faults[i].value, time_iso8601(faults[i].t_ns, when, sizeof when));
  }
  bool close_it;
  FILE *out = cli_output_open("sim list", &c, &close_it);
  rc = out ? table_write(t, out, c.format) : ERR_IO;
  if (out) cli_output_close(out, close_it);
  table_free(t);
  free(faults);
  return rc < 0 ? cli_fail("sim list", rc) : 0;
}

int cmd_sim(int argc, char **argv) {
  static const char *subs[] = {"inject", "clear", "list", NULL};
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *o = argc < 2 ? stderr : stdout;
    fprintf(o, "usage: gpuops sim inject|clear|list [options]\n\n"
               "  inject   add a fault to the simulated fleet (see gpuops sim inject --help)\n"
               "  clear    remove faults\n"
               "  list     show the faults every process sees\n");
    return argc < 2 ? EXIT_USAGE : 0;
  }
  if (!strcmp(argv[1], "inject")) return sim_inject(argc - 1, argv + 1);
  if (!strcmp(argv[1], "clear")) return sim_clear(argc - 1, argv + 1);
  if (!strcmp(argv[1], "list")) return sim_list(argc - 1, argv + 1);
  const char *hint = cli_suggest(argv[1], subs);
  if (hint) return cli_usage_error("sim", "unknown subcommand '%s' (did you mean '%s'?)", argv[1], hint);
  return cli_usage_error("sim", "unknown subcommand '%s' (use inject, clear or list)", argv[1]);
}
