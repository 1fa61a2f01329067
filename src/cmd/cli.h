/*
 * cli.h — the command line's shared machinery: the command table, one
 * declarative option parser every subcommand uses (so --help, errors and the
 * common options behave the same everywhere), and output helpers.
 *
 * Exit codes (DESIGN.md): 0 success, 1 the check failed, 2 usage or input
 * error, 3 environment missing.
 */
#ifndef GPUOPS_CMD_CLI_H
#define GPUOPS_CMD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "base/table.h"
#include "gpu/gpu.h"

enum { EXIT_OK = 0, EXIT_CHECK = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };

/* Which of the common options a command accepts. */
enum cli_common_flags {
  CLI_BACKEND = 1 << 0, /* --backend auto|nvml|sim */
  CLI_SPEC = 1 << 1,    /* --spec FILE (fleet spec for sim) */
  CLI_FORMAT = 1 << 2,  /* --format table|json|csv */
  CLI_OUTPUT = 1 << 3,  /* -o FILE */
  CLI_NODE = 1 << 4,    /* --node NAME (sim: which node's GPUs) */
};

struct cli_common {
  enum gpu_backend_kind backend;
  const char *spec;
  enum table_format format;
  const char *output;
  const char *node;
};

enum cli_arg { CLI_ARG_FLAG, CLI_ARG_STRING, CLI_ARG_INT, CLI_ARG_DOUBLE };

/* A command-specific option; dest is bool*, const char**, int* or double*. */
struct cli_option {
  const char *name;     /* long name without dashes */
  char short_name;      /* 0 for none */
  enum cli_arg kind;
  void *dest;
  const char *metavar;  /* "N", "FILE" */
  const char *help;
};

struct cli_command {
  const char *name;
  const char *summary;  /* one line for `gpuops --help` */
  int (*run)(int argc, char **argv);
};

/* The table of subcommands (cmd_*.c). */
extern const struct cli_command cli_commands[];

/* Description of a command for its --help: usage line and text after the options. */
struct cli_spec {
  const char *command;  /* "devices" or "sim inject" */
  const char *usage;    /* "[--details] [--mig]" */
  const char *about;    /* paragraph printed before options */
  unsigned common;      /* CLI_* flags accepted */
  const struct cli_option *options; /* terminated by {0} */
  int min_positional, max_positional; /* -1 = unlimited */
};

/*
 * Parse argv (argv[0] is the command name). Fills common (defaults first) and
 * the options' destinations; positional arguments are moved to the front of
 * argv+1 and their number returned in *npos. "--" ends options.
 * Returns 0 to proceed; otherwise the process exit code to return now
 * (0 after --help, 2 after a usage error, which is printed as one line naming
 * the bad word with a hint).
 */
int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_common *common, int *npos);

/* Print a usage error "gpuops CMD: MESSAGE (see gpuops CMD --help)"; returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "gpuops CMD: <err_msg()>" and return the exit code for rc. */
int cli_fail(const char *command, int rc);

/* Open the output: -o FILE or stdout. *close_it tells whether to fclose. NULL on error (message printed). */
FILE *cli_output_open(const char *command, const struct cli_common *common, bool *close_it);
int cli_output_close(FILE *f, bool close_it);

/* Fill gpu_options from common options (loads the spec into *inv, which the caller frees). */
int cli_gpu_options(const struct cli_common *c, struct inventory *inv, struct gpu_options *o);

/* The closest of candidates[] (NULL-terminated) to word, or NULL if none is close. */
const char *cli_suggest(const char *word, const char *const *candidates);

#endif
