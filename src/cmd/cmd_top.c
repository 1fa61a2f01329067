/* cmd_top.c — placeholder: this command is being written (see the open issues). */
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/commands.h"

int cmd_top(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "gpuops: this command is not built yet\n");
  return EXIT_ENV;
}
