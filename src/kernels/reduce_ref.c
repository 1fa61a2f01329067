/* reduce_ref.c — fp64 sum of an fp32 vector (see reduce_ref.h). */
#include "kernels/reduce_ref.h"

#include <math.h>

double reduce_ref_sum(const float *x, size_t n, double *abs_sum) {
  double s[4] = {0, 0, 0, 0}, a[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++) {
      s[k] += x[i + k];
      a[k] += fabs((double)x[i + k]);
    }
  for (; i < n; i++) {
    s[0] += x[i];
    a[0] += fabs((double)x[i]);
  }
  if (abs_sum) *abs_sum = (a[0] + a[1]) + (a[2] + a[3]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}
