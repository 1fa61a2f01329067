/*
 * rng.h — a seeded pseudo-random generator (xoshiro256**, seeded through
 * splitmix64) and a stateless 64-bit mixer for values that must be the same
 * in every process (the simulator derives its readings from seed + time).
 * Not for cryptography.
 */
#ifndef GPUOPS_BASE_RNG_H
#define GPUOPS_BASE_RNG_H

#include <stdint.h>

struct rng {
  uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_u64(struct rng *r);
/* Uniform in [0, 1). */
double rng_uniform(struct rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double rng_normal(struct rng *r);

/* Stateless mix of x (splitmix64 finalizer): same input, same output, everywhere. */
uint64_t rng_hash64(uint64_t x);
/* Hash of a string, to mix names into seeds (FNV-1a then rng_hash64). */
uint64_t rng_hash_str(const char *s);
/* rng_hash64 scaled to [0, 1). */
double rng_hash_unit(uint64_t x);

#endif
