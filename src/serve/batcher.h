/*
 * batcher.h — the dynamic batcher, with Triton's semantics.
 *
 * Requests (each of `rows` >= 1 rows) wait in one FIFO per priority level
 * (1 = highest, as Triton's priority_levels; a request's priority 0 means
 * default_priority). A batch takes requests in priority order, oldest first
 * within a level, while their rows fit in max_batch_size; it is dispatched
 *   - at once when it cannot grow (the next request would not fit, or it holds
 *     max_batch_size rows): the largest prefix whose rows are a preferred size
 *     if there is one, else all of it;
 *   - at once when its rows are a preferred size and nothing more is queued;
 *   - when its oldest request has waited max_queue_delay_us (0: at once);
 *   - at once while draining.
 * So when an executor is free no request waits longer than the delay.
 *
 * Queue policy (Triton's default_queue_policy, applied to every level):
 * max_queue_size bounds each level's queue (0 = unbounded): a request that
 * finds it full is rejected at once. A request's deadline is its enqueue time
 * plus its timeout (the `timeout` parameter in µs when allow_timeout_override
 * and not above the default, else default_timeout_us; 0 = none). At its
 * deadline a queued request is rejected (REJECT) or moved behind every
 * request of its level that has not timed out, before the next level (DELAY).
 *
 * Two layers: the core (batcher_enqueue / batcher_take) is a pure state
 * machine driven by the caller's clock, for deterministic tests; the threaded
 * layer (batcher_start / batcher_submit / batcher_drain) runs `instances`
 * executor threads on top of it with the configured clock.
 *
 * Sections: configuration; requests and batches; the core; the threaded layer.
 */
#ifndef GPUOPS_SERVE_BATCHER_H
#define GPUOPS_SERVE_BATCHER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BATCHER_MAX_PREFERRED 16
#define BATCHER_MAX_LEVELS    16
#define BATCHER_MAX_INSTANCES 64

/* ---- configuration ---- */

enum batcher_timeout_action { BATCHER_REJECT = 0, BATCHER_DELAY };

struct batcher_config {
  int max_batch_size; /* rows per batch, >= 1 */
  int n_preferred;
  int preferred[BATCHER_MAX_PREFERRED]; /* each 1..max_batch_size */
  int64_t max_queue_delay_us;           /* >= 0 */
  int priority_levels;                  /* 1..BATCHER_MAX_LEVELS */
  int default_priority;                 /* 1..priority_levels */
  int max_queue_size;                   /* per level; 0 = unbounded */
  enum batcher_timeout_action timeout_action;
  int64_t default_timeout_us; /* 0 = no timeout */
  bool allow_timeout_override;
  int instances;                 /* executor threads, 1..BATCHER_MAX_INSTANCES */
  int64_t (*now_ns)(void *ctx);  /* the clock (NULL: CLOCK_MONOTONIC) */
  void *clock_ctx;
};

/* Triton's defaults: max_batch_size 8, no preferred sizes, delay 0, one level, unbounded
 * queue, REJECT, no timeout, override allowed, one instance. */
void batcher_config_defaults(struct batcher_config *c);
/* 0 or ERR_INVALID naming the setting and its valid range. */
int batcher_config_check(const struct batcher_config *c);
/*
 * Apply the settings present in obj over c, under Triton's names:
 * max_batch_size, preferred_batch_size (array), max_queue_delay_microseconds,
 * priority_levels, default_priority_level, instances, and the queue policy's
 * max_queue_size, timeout_action ("REJECT" | "DELAY"),
 * default_timeout_microseconds, allow_timeout_override (flat, or inside a
 * "default_queue_policy" object). Unknown keys are errors (a typo must not
 * pass silently). `where` names the source in messages. 0 or ERR_PARSE.
 */
int batcher_config_apply_json(struct batcher_config *c, const json_t *obj, const char *where);

/* ---- requests and batches ---- */

struct batcher_request {
  int rows;           /* >= 1 */
  int64_t priority;   /* as requested: 0 = default level */
  int64_t timeout_us; /* as requested: 0 = the default */
  void *user;         /* the caller's */
  /* set by the batcher */
  int level;           /* 1..priority_levels */
  bool delayed;        /* timed out under DELAY */
  int64_t enqueue_ns;  /* the clock at enqueue */
  int64_t deadline_ns; /* 0 = none */
  int64_t dispatch_ns; /* the clock when it left the queue in a batch */
  struct batcher_request *next;
};

struct batcher_batch {
  struct batcher_request **reqs; /* capacity max_batch_size (every request has >= 1 row) */
  int n, rows;
  struct batcher_request *expired; /* timed-out requests (REJECT) to answer, linked by next */
};

/* ---- the core ---- */

struct batcher_queue {
  struct batcher_request *head, *tail;
};

struct batcher {
  struct batcher_config cfg;
  struct batcher_queue main[BATCHER_MAX_LEVELS], delayed[BATCHER_MAX_LEVELS];
  int count[BATCHER_MAX_LEVELS]; /* queued per level (main + delayed) */
  int queued;                    /* all levels */
  bool draining;                 /* no more requests; dispatch what is queued at once */
  /* the threaded layer */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  pthread_t threads[BATCHER_MAX_INSTANCES];
  int n_threads, busy;
  void (*exec)(void *ctx, int instance, struct batcher_batch *batch);
  void (*expire)(void *ctx, struct batcher_request *r);
  void *ctx;
};

/* Check c and initialize b (no threads). 0 or ERR_INVALID. */
int batcher_init(struct batcher *b, const struct batcher_config *c);
/*
 * Queue r at time now_ns. Returns 0; ERR_INVALID for rows outside
 * 1..max_batch_size or a priority above priority_levels (message says
 * which); ERR_STATE when the level's queue is full or the batcher is
 * draining (message says which). On error r is not queued.
 */
int batcher_enqueue(struct batcher *b, struct batcher_request *r, int64_t now_ns);
/*
 * At time now_ns: expire timed-out requests (REJECT: into out->expired;
 * DELAY: behind their level), then form a batch if one is due. Returns the
 * requests in out->reqs (out->n > 0), or 0 with *wake_ns set to the time to
 * look again (INT64_MAX: nothing queued, wait for a request).
 */
int batcher_take(struct batcher *b, int64_t now_ns, struct batcher_batch *out, int64_t *wake_ns);
/* Requests queued now (all levels). */
int batcher_queued(const struct batcher *b);
/* Free what init made (not the requests). Stop the threads first. */
void batcher_free(struct batcher *b);

/* ---- the threaded layer ---- */

/*
 * Start cfg.instances executor threads. Each calls exec(ctx, instance,
 * batch) for every batch, outside the lock, and expire(ctx, r) for each
 * request rejected by its timeout; both must finish the requests they get
 * (the batcher forgets them). 0 or ERR_INTERNAL.
 */
int batcher_start(struct batcher *b, void (*exec)(void *, int, struct batcher_batch *),
                  void (*expire)(void *, struct batcher_request *), void *ctx);
/* batcher_enqueue at the configured clock's now, under the lock; wakes an executor. */
int batcher_submit(struct batcher *b, struct batcher_request *r);
/* Requests queued now, under the lock. */
int batcher_pending(struct batcher *b);
/*
 * Stop accepting (batcher_submit answers ERR_STATE), dispatch everything
 * queued without waiting for delays, and join the executors once the queue
 * is empty. Safe to call when no thread was started.
 */
void batcher_drain(struct batcher *b);

#endif
