/*
 * test_batcher.c — the dynamic batcher's core (serve/batcher.h) driven by a
 * clock the test holds, so every case is deterministic: batches never exceed
 * max_batch_size, no request waits past max_queue_delay while an executor is
 * free, preferred sizes go at once, priorities order, timeouts reject or
 * delay, a full queue rejects at once; then the threaded layer end to end.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/rng.h"
#include "serve/batcher.h"

#define US 1000LL /* ns */

static struct batcher b;
static struct batcher_request *slots[256];
static struct batcher_batch out = {.reqs = slots};

static void setup(int max_batch, int64_t delay_us) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = max_batch;
  c.max_queue_delay_us = delay_us;
  cr_assert_eq(batcher_init(&b, &c), 0, "%s", err_msg());
}

static void setup_cfg(const struct batcher_config *c) { cr_assert_eq(batcher_init(&b, c), 0, "%s", err_msg()); }

/* Requests come from a static pool (each test is its own process): nothing to free. */
static struct batcher_request pool[32768];
static int n_pool;

static struct batcher_request *req(int rows, int64_t priority, int64_t timeout_us, intptr_t tag) {
  cr_assert_lt(n_pool, 32768);
  struct batcher_request *r = &pool[n_pool++];
  *r = (struct batcher_request){.rows = rows, .priority = priority, .timeout_us = timeout_us, .user = (void *)tag};
  return r;
}

static int take(int64_t now, int64_t *wake) { return batcher_take(&b, now, &out, wake); }

Test(batcher, config_rejects_bad_settings) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 0;
  cr_assert_eq(batcher_config_check(&c), ERR_INVALID);
  batcher_config_defaults(&c);
  c.n_preferred = 1, c.preferred[0] = 9; /* above max 8 */
  cr_assert_eq(batcher_config_check(&c), ERR_INVALID);
  cr_assert(strstr(err_msg(), "preferred"), "%s", err_msg());
  batcher_config_defaults(&c);
  c.default_priority = 2; /* one level */
  cr_assert_eq(batcher_config_check(&c), ERR_INVALID);
}

Test(batcher, waits_for_the_delay_then_sends_what_is_there) {
  setup(8, 100);
  int64_t wake;
  cr_assert_eq(batcher_enqueue(&b, req(1, 0, 0, 1), 0), 0);
  cr_assert_eq(batcher_enqueue(&b, req(2, 0, 0, 2), 30 * US), 0);
  cr_assert_eq(take(50 * US, &wake), 0, "3 of 8 rows, no preferred sizes: wait");
  cr_assert_eq(wake, 100 * US, "wake when the OLDEST request's delay is up");
  cr_assert_eq(take(100 * US, &wake), 2);
  cr_assert_eq(out.rows, 3);
  cr_assert_eq((intptr_t)out.reqs[0]->user, 1);
  cr_assert_eq(batcher_queued(&b), 0);
  cr_assert_eq(take(200 * US, &wake), 0);
  cr_assert_eq(wake, INT64_MAX, "empty: wait for a request");
}

Test(batcher, zero_delay_sends_at_once) {
  setup(8, 0);
  int64_t wake;
  batcher_enqueue(&b, req(1, 0, 0, 1), 5);
  cr_assert_eq(take(5, &wake), 1);
}

Test(batcher, full_batch_goes_at_once_and_never_exceeds_max) {
  setup(4, 1000000);
  int64_t wake;
  for (int i = 0; i < 3; i++) batcher_enqueue(&b, req(i == 1 ? 2 : 1, 0, 0, i), 0);
  cr_assert_eq(take(1, &wake), 3, "1+2+1 = 4 rows = max: no waiting");
  cr_assert_eq(out.rows, 4);
  batcher_enqueue(&b, req(3, 0, 0, 10), 2);
  batcher_enqueue(&b, req(2, 0, 0, 11), 2);
  cr_assert_eq(take(3, &wake), 1, "3 + 2 > 4: the batch cannot grow, send the 3");
  cr_assert_eq(out.rows, 3);
  cr_assert_eq(take(3, &wake), 0, "the 2 waits for company");
}

Test(batcher, random_traffic_respects_max_and_delay) {
  struct rng g;
  rng_seed(&g, 7);
  setup(16, 500);
  int64_t now = 0, wake = INT64_MAX;
  int queued = 0, sent = 0;
  for (int step = 0; step < 20000; step++) {
    now += (int64_t)rng_below(&g, 200) * US;
    if (rng_below(&g, 3)) {
      cr_assert_eq(batcher_enqueue(&b, req(1 + (int)rng_below(&g, 16), 0, 0, step), now), 0);
      queued++;
    }
    /* an executor free at every step: the due time never passes unseen */
    if (wake < now) now = wake;
    int n;
    while ((n = take(now, &wake)) > 0) { /* every batch that is due now */
      cr_assert_leq(out.rows, 16);
      for (int i = 0; i < n; i++) {
        cr_assert_leq(out.reqs[i]->dispatch_ns - out.reqs[i]->enqueue_ns, 500 * US,
                      "waited %lld ns > delay", (long long)(out.reqs[i]->dispatch_ns - out.reqs[i]->enqueue_ns));
      }
      sent += n;
    }
  }
  cr_assert_gt(sent, 1000);
  cr_assert_eq(sent + batcher_queued(&b), queued);
}

Test(batcher, preferred_size_goes_at_once) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 8, c.max_queue_delay_us = 1000000, c.n_preferred = 2;
  c.preferred[0] = 2, c.preferred[1] = 4;
  setup_cfg(&c);
  int64_t wake;
  batcher_enqueue(&b, req(1, 0, 0, 1), 0);
  cr_assert_eq(take(1, &wake), 0, "1 row is not preferred");
  batcher_enqueue(&b, req(1, 0, 0, 2), 2);
  cr_assert_eq(take(3, &wake), 2, "2 rows are preferred");
  /* 3 + 1 + 5: full at 9 > 8; the largest preferred prefix is 4 (3+1) */
  batcher_enqueue(&b, req(3, 0, 0, 3), 4);
  batcher_enqueue(&b, req(1, 0, 0, 4), 4);
  batcher_enqueue(&b, req(5, 0, 0, 5), 4);
  cr_assert_eq(take(5, &wake), 2);
  cr_assert_eq(out.rows, 4);
}

Test(batcher, priorities_order_and_default_level) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 2, c.priority_levels = 3, c.default_priority = 2;
  setup_cfg(&c);
  int64_t wake;
  batcher_enqueue(&b, req(1, 3, 0, 30), 0);
  batcher_enqueue(&b, req(1, 0, 0, 20), 1); /* default: level 2 */
  batcher_enqueue(&b, req(1, 1, 0, 10), 2);
  cr_assert_eq(take(3, &wake), 2);
  cr_assert_eq((intptr_t)out.reqs[0]->user, 10, "level 1 first");
  cr_assert_eq((intptr_t)out.reqs[1]->user, 20);
  cr_assert_eq(out.reqs[1]->level, 2);
  cr_assert_eq(take(3, &wake), 1);
  cr_assert_eq((intptr_t)out.reqs[0]->user, 30);
  cr_assert_eq(batcher_enqueue(&b, req(1, 4, 0, 40), 5), ERR_INVALID, "no level 4");
}

Test(batcher, full_queue_rejects_at_once) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_queue_size = 2, c.max_queue_delay_us = 1000;
  setup_cfg(&c);
  cr_assert_eq(batcher_enqueue(&b, req(1, 0, 0, 1), 0), 0);
  cr_assert_eq(batcher_enqueue(&b, req(1, 0, 0, 2), 0), 0);
  cr_assert_eq(batcher_enqueue(&b, req(1, 0, 0, 3), 0), ERR_STATE);
  cr_assert(strstr(err_msg(), "maximum queue size"), "%s", err_msg());
  cr_assert_eq(batcher_queued(&b), 2);
  cr_assert_eq(batcher_enqueue(&b, req(9, 0, 0, 4), 0), ERR_INVALID, "rows above max_batch_size");
}

Test(batcher, timeout_rejects) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 8, c.max_queue_delay_us = 1000, c.default_timeout_us = 500;
  setup_cfg(&c);
  int64_t wake;
  batcher_enqueue(&b, req(1, 0, 0, 1), 0);        /* default 500 µs */
  batcher_enqueue(&b, req(1, 0, 100, 2), 0);      /* override: 100 µs */
  batcher_enqueue(&b, req(1, 0, 900, 3), 0);      /* above the default: the default holds */
  cr_assert_eq(take(10 * US, &wake), 0);
  cr_assert_eq(wake, 100 * US, "wake at the first deadline");
  cr_assert_eq(take(100 * US, &wake), 0);
  cr_assert_not_null(out.expired);
  cr_assert_eq((intptr_t)out.expired->user, 2);
  cr_assert_null(out.expired->next);
  out.expired = NULL;
  cr_assert_eq(take(500 * US, &wake), 0);
  cr_assert_not_null(out.expired);
  cr_assert_not_null(out.expired->next, "both 500 µs deadlines");
  cr_assert_eq(batcher_queued(&b), 0);
  out.expired = NULL;
}

Test(batcher, timeout_delay_moves_behind_its_level) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 1, c.priority_levels = 2, c.timeout_action = BATCHER_DELAY;
  setup_cfg(&c);
  int64_t wake;
  batcher_enqueue(&b, req(1, 1, 10, 1), 0); /* times out */
  batcher_enqueue(&b, req(1, 2, 0, 3), 0);
  batcher_enqueue(&b, req(1, 1, 0, 2), 0);
  cr_assert_eq(take(20 * US, &wake), 1);
  cr_assert_null(out.expired, "DELAY never rejects");
  cr_assert_eq((intptr_t)out.reqs[0]->user, 2, "the live level-1 request goes first");
  cr_assert_eq(take(20 * US, &wake), 1);
  cr_assert_eq((intptr_t)out.reqs[0]->user, 1, "then the delayed one, before level 2");
  cr_assert(out.reqs[0]->delayed);
  cr_assert_eq(take(20 * US, &wake), 1);
  cr_assert_eq((intptr_t)out.reqs[0]->user, 3);
}

Test(batcher, draining_sends_at_once_and_refuses_new) {
  setup(8, 1000000);
  int64_t wake;
  batcher_enqueue(&b, req(1, 0, 0, 1), 0);
  b.draining = true;
  cr_assert_eq(take(1, &wake), 1, "no waiting for the delay while draining");
  cr_assert_eq(batcher_enqueue(&b, req(1, 0, 0, 2), 2), ERR_STATE);
}

Test(batcher, json_settings) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  json_t *o = json_loads("{\"max_batch_size\": 32, \"preferred_batch_size\": [8, 16],"
                         "\"max_queue_delay_microseconds\": 250, \"instances\": 2,"
                         "\"default_queue_policy\": {\"max_queue_size\": 5, \"timeout_action\": \"DELAY\"}}",
                         0, NULL);
  cr_assert_eq(batcher_config_apply_json(&c, o, "t.json"), 0, "%s", err_msg());
  cr_assert_eq(c.max_batch_size, 32);
  cr_assert_eq(c.n_preferred, 2);
  cr_assert_eq(c.preferred[1], 16);
  cr_assert_eq(c.max_queue_delay_us, 250);
  cr_assert_eq(c.instances, 2);
  cr_assert_eq(c.max_queue_size, 5);
  cr_assert_eq(c.timeout_action, BATCHER_DELAY);
  json_decref(o);
  o = json_loads("{\"max_batch_sise\": 3}", 0, NULL);
  cr_assert_eq(batcher_config_apply_json(&c, o, "t.json"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "max_batch_sise"), "%s", err_msg());
  json_decref(o);
}

/* ---- the threaded layer ---- */

static atomic_int executed_rows, batches, max_rows_seen;

static void exec_count(void *ctx, int instance, struct batcher_batch *bt) {
  (void)ctx, (void)instance;
  atomic_fetch_add(&executed_rows, bt->rows);
  atomic_fetch_add(&batches, 1);
  if (bt->rows > atomic_load(&max_rows_seen)) atomic_store(&max_rows_seen, bt->rows);
}

static void expire_none(void *ctx, struct batcher_request *r) {
  (void)ctx, (void)r;
  cr_assert_fail("no request has a timeout");
}

Test(batcher, threads_run_everything_and_drain) {
  struct batcher_config c;
  batcher_config_defaults(&c);
  c.max_batch_size = 8, c.max_queue_delay_us = 200, c.instances = 3;
  setup_cfg(&c);
  cr_assert_eq(batcher_start(&b, exec_count, expire_none, NULL), 0);
  static struct batcher_request rs[2000];
  int rows = 0;
  for (int i = 0; i < 2000; i++) {
    rs[i] = (struct batcher_request){.rows = 1 + i % 4};
    rows += rs[i].rows;
    cr_assert_eq(batcher_submit(&b, &rs[i]), 0);
  }
  batcher_drain(&b);
  cr_assert_eq(atomic_load(&executed_rows), rows, "every row ran exactly once");
  cr_assert_leq(atomic_load(&max_rows_seen), 8);
  cr_assert_eq(batcher_submit(&b, &rs[0]), ERR_STATE, "drained: no new requests");
  batcher_free(&b);
}
