/*
 * cmd_fleet_migplan.c — `gpuops fleet mig-plan`: MIG layouts for a demand.
 *
 * Reads a demand file (instances per MIG profile of one GPU model), asks
 * fleet/migplan.h for the per-GPU layouts that serve it with the fewest GPUs
 * (or, with --gpus N, the most demand on N GPUs), and writes the plan as a
 * table, JSON, a mig-parted config or Slurm gres.conf/slurm.conf lines.
 * Called by `gpuops fleet`'s dispatcher with argv[0] == "mig-plan".
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "fleet/migplan.h"

#define COMMAND "fleet mig-plan"

int cmd_fleet_mig_plan(int argc, char **argv) {
  const char *demand_path = NULL, *model = NULL, *format_name = "table";
  int gpus = 0;
  const struct cli_option opts[] = {
      {"demand", 0, CLI_ARG_STRING, &demand_path, "FILE",
       "demand YAML: model:, demand: {PROFILE: COUNT}, optional weights:, nodes:, gpus_per_node:"},
      {"model", 0, CLI_ARG_STRING, &model, "MODEL",
       "GPU model, overriding the file's (H200, A100-40GB, ...)"},
      {"gpus", 0, CLI_ARG_INT, &gpus, "N", "plan exactly N GPUs and serve the most demand on them"},
      {"format", 0, CLI_ARG_STRING, &format_name, "FMT",
       "table (default), json, mig-parted or slurm"},
      {0}};
  const struct cli_spec spec = {
      COMMAND,
      "--demand FILE [--model MODEL] [--gpus N] [--format table|json|mig-parted|slurm] [-o FILE]",
      "Choose a MIG layout for each GPU so that the demand (instances per profile) is served with "
      "the "
      "fewest GPUs, then the fewest stranded slices; or, with --gpus N, serve the most weighted "
      "demand "
      "on N GPUs. Every layout obeys the exact placement rule. The plan says whether it is proven "
      "optimal and gives the lower bound. Output: a table, JSON, a mig-parted config (version: v1) "
      "or "
      "Slurm gres.conf and slurm.conf lines (GRES type = profile name, e.g. gpu:1g.18gb:7). See "
      "docs/fleet-mig-plan.md.",
      CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (!demand_path) return cli_usage_error(COMMAND, "--demand FILE is required");
  int format = migplan_format_parse(format_name);
  if (format < 0)
    return cli_usage_error(COMMAND, "unknown --format '%s' (use table, json, mig-parted or slurm)",
                           format_name);
  if (gpus < 0) return cli_usage_error(COMMAND, "--gpus must be 1 or more (got %d)", gpus);

  struct migplan_demand d;
  struct migplan_plan plan;
  bool close_it = false;
  FILE *out = NULL;
  memset(&plan, 0, sizeof plan);
  if ((rc = migplan_demand_load(demand_path, model, &d)) < 0) return cli_fail(COMMAND, rc);
  if ((rc = migplan_solve(&d, gpus, &plan)) < 0) goto out;
  if (!(out = cli_output_open(COMMAND, &c, &close_it))) {
    rc = EXIT_USAGE; /* cli_output_open printed why */
    goto out;
  }
  rc = migplan_write(out, &d, &plan, (enum migplan_format)format);
  int closed = cli_output_close(out, close_it);
  if (rc == 0) rc = closed;
out:
  migplan_plan_free(&plan);
  migplan_demand_free(&d);
  if (rc == EXIT_USAGE) return EXIT_USAGE;
  return rc < 0 ? cli_fail(COMMAND, rc) : EXIT_OK;
}
