/*
 * bf16.h — bfloat16 on the CPU: the 16 high bits of an IEEE fp32, stored as
 * uint16_t. Conversion to bf16 rounds to nearest, ties to even (as the GPU's
 * __float2bfloat16_rn does); NaN stays NaN.
 */
#ifndef GPUOPS_KERNELS_BF16_H
#define GPUOPS_KERNELS_BF16_H

#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t bf16_from_f32(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
    return (uint16_t)((u >> 16) | 0x40); /* NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

#endif
