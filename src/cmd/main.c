/* main.c — placeholder entry point; the command table lands next. */
#include <stdio.h>

#include "version.h"

int main(void) {
  printf("gpuops %s (%s)\n", GPUOPS_VERSION, GPUOPS_GIT_COMMIT);
  return 0;
}
