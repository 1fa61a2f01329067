/* transpose_ref.c — blocked CPU transpose (see transpose_ref.h). */
#include "kernels/transpose_ref.h"

#include <stddef.h>

void transpose_ref_f32(const float *in, float *out, int rows, int cols) {
  enum { B = 32 };
  for (int r0 = 0; r0 < rows; r0 += B)
    for (int c0 = 0; c0 < cols; c0 += B) {
      int r1 = r0 + B < rows ? r0 + B : rows, c1 = c0 + B < cols ? c0 + B : cols;
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
    }
}
