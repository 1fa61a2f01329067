/*
 * main.c — `gpuops <command> [options]`: the command table and dispatch.
 * Each command parses its own options (cli.c) and calls a library; this file
 * only picks the command and handles --help / --version.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "version.h"

const struct cli_command cli_commands[] = {
    {"devices", "list GPUs (like nvidia-smi -L); --details, --mig, --format json", cmd_devices},
    {"doctor", "what this machine offers gpuops and what is missing, with fixes", cmd_doctor},
    {"dossier", "the main job: run every capability's quick mode, write a terminal + HTML report", cmd_dossier},
    {"exporter", "Prometheus exporter with dcgm-exporter's metric names, /metrics and /health", cmd_exporter},
    {"health", "per-GPU health checks, a node verdict and the action each failure calls for", cmd_health},
    {"top", "live terminal view of every GPU (--once for one frame)", cmd_top},
    {"fleet", "fleet scheduling: placement policies, trace simulator, MIG layout plans", cmd_fleet},
    {"rollout", "crash-safe rolling driver/firmware upgrades under max-unavailable (dry run unless --apply)", cmd_rollout},
    {"remediate", "act on health verdicts with guardrails (max-unavailable, rate, cooldown, flaps); dry run unless --apply", cmd_remediate},
    {"bench", "check and time the CUDA kernels against the ceilings, PyTorch and a baseline", cmd_bench},
    {"load", "HTTP load generator: open/closed loop, latency free of coordinated omission", cmd_load},
    {"model", "model directories (config.json + safetensors): create random weights, info, run on the CPU", cmd_model},
    {"profile", "trace any CUDA program unchanged (CUPTI): timeline, summary, flamegraph, findings", cmd_profile},
    {"serve", "KServe v2 inference server with Triton's dynamic batcher (CPU or GPU runtime)", cmd_serve},
    {"sim", "simulated fleet: inject and clear faults seen by every gpuops process", cmd_sim},
    {"tune", "find the serve configuration with the highest throughput meeting a latency SLA", cmd_tune},
    {0},
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: gpuops <command> [options]\n\n"
          "gpuops — GPU performance engineering and fleet operations.\n\ncommands:\n");
  for (const struct cli_command *c = cli_commands; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out,
          "\ncommon options: --backend auto|nvml|sim, --spec FILE, --format table|json|csv, -o FILE, -v, -q\n"
          "run `gpuops <command> --help` for a command's options.\n"
          "exit codes: 0 ok, 1 check failed, 2 usage/input error, 3 environment missing.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *word = argv[1];
  if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(word, "--version") || !strcmp(word, "version")) {
    printf("gpuops %s (commit %s)\n", GPUOPS_VERSION, GPUOPS_GIT_COMMIT);
    return EXIT_OK;
  }
  for (const struct cli_command *c = cli_commands; c->name; c++)
    if (!strcmp(word, c->name)) return c->run(argc - 1, argv + 1);

  const char *names[32];
  int n = 0;
  for (const struct cli_command *c = cli_commands; c->name && n < 31; c++) names[n++] = c->name;
  names[n] = NULL;
  const char *hint = cli_suggest(word, names);
  if (word[0] == '-')
    fprintf(stderr, "gpuops: unknown option '%s' before the command (see gpuops --help)\n", word);
  else if (hint)
    fprintf(stderr, "gpuops: unknown command '%s' (did you mean '%s'? see gpuops --help)\n", word, hint);
  else
    fprintf(stderr, "gpuops: unknown command '%s' (see gpuops --help)\n", word);
  return EXIT_USAGE;
}
