/* test_base.c — base/: error table, rng. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"

Test(err, table_names_and_exit_codes) {
  cr_assert_str_eq(err_name(ERR_PARSE), "ERR_PARSE");
  cr_assert_eq(err_exit_code(ERR_INVALID), 2);
  cr_assert_eq(err_exit_code(ERR_NODEVICE), 3);
  cr_assert_eq(err_exit_code(0), 0);
  cr_assert_str_eq(err_name(-999), "ERR_UNKNOWN");
}

Test(err, message_is_set_wrapped_and_cleared) {
  cr_assert_eq(err_set(ERR_IO, "reading %s", "x.yaml"), ERR_IO);
  cr_assert_str_eq(err_msg(), "reading x.yaml");
  err_wrap(ERR_IO, "loading fleet");
  cr_assert_str_eq(err_msg(), "loading fleet: reading x.yaml");
  cr_assert_eq(err_last(), ERR_IO);
  err_clear();
  cr_assert_str_eq(err_msg(), "success");
}

Test(rng, same_seed_same_sequence_and_ranges) {
  struct rng a, b;
  rng_seed(&a, 42);
  rng_seed(&b, 42);
  for (int i = 0; i < 1000; i++) {
    cr_assert_eq(rng_u64(&a), rng_u64(&b));
    double u = rng_uniform(&a);
    (void)rng_uniform(&b);
    cr_assert(u >= 0.0 && u < 1.0);
    cr_assert_lt(rng_below(&a, 7), 7);
    (void)rng_below(&b, 7);
  }
  rng_seed(&b, 43);
  cr_assert_neq(rng_u64(&a), rng_u64(&b));
  cr_assert_eq(rng_hash_str("node-a"), rng_hash_str("node-a"));
  cr_assert_neq(rng_hash_str("node-a"), rng_hash_str("node-b"));
}
