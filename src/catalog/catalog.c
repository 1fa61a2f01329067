/* catalog.c — placeholder; the GPU model table lands next. */
#include "catalog/catalog.h"

const struct catalog_model *catalog_models(int *n) {
  *n = 0;
  return 0;
}
