/*
 * batcher.c — the dynamic batcher (batcher.h for the semantics).
 *
 * The core keeps two FIFOs per level: `main` (requests in their time) and
 * `delayed` (timed out under DELAY). A batch is formed by walking levels in
 * priority order, each level's main queue then its delayed one, so a delayed
 * request goes after every live request of its level and higher levels but
 * before lower levels, as Triton's DELAY action says.
 *
 * Sections: configuration; queues; the core; the threaded layer.
 */
#include "serve/batcher.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/timeutil.h"

/* ---- configuration ---- */

void batcher_config_defaults(struct batcher_config *c) {
  memset(c, 0, sizeof *c);
  c->max_batch_size = 8;
  c->priority_levels = 1;
  c->default_priority = 1;
  c->timeout_action = BATCHER_REJECT;
  c->allow_timeout_override = true;
  c->instances = 1;
}

int batcher_config_check(const struct batcher_config *c) {
  if (c->max_batch_size < 1 || c->max_batch_size > 1 << 20)
    return err_set(ERR_INVALID, "max_batch_size %d is outside 1..%d", c->max_batch_size, 1 << 20);
  if (c->n_preferred < 0 || c->n_preferred > BATCHER_MAX_PREFERRED)
    return err_set(ERR_INVALID, "at most %d preferred batch sizes", BATCHER_MAX_PREFERRED);
  for (int i = 0; i < c->n_preferred; i++)
    if (c->preferred[i] < 1 || c->preferred[i] > c->max_batch_size)
      return err_set(ERR_INVALID, "preferred batch size %d is outside 1..max_batch_size (%d)",
                     c->preferred[i], c->max_batch_size);
  if (c->max_queue_delay_us < 0 || c->max_queue_delay_us > INT64_C(3600000000))
    return err_set(ERR_INVALID, "max_queue_delay_us %lld is outside 0..3600000000",
                   (long long)c->max_queue_delay_us);
  if (c->priority_levels < 1 || c->priority_levels > BATCHER_MAX_LEVELS)
    return err_set(ERR_INVALID, "priority_levels %d is outside 1..%d", c->priority_levels,
                   BATCHER_MAX_LEVELS);
  if (c->default_priority < 1 || c->default_priority > c->priority_levels)
    return err_set(ERR_INVALID, "default_priority_level %d is outside 1..priority_levels (%d)",
                   c->default_priority, c->priority_levels);
  if (c->max_queue_size < 0)
    return err_set(ERR_INVALID, "max_queue_size %d is negative (0 = unbounded)", c->max_queue_size);
  if (c->default_timeout_us < 0 || c->default_timeout_us > INT64_C(3600000000))
    return err_set(ERR_INVALID, "default_timeout_microseconds %lld is outside 0..3600000000",
                   (long long)c->default_timeout_us);
  if (c->instances < 1 || c->instances > BATCHER_MAX_INSTANCES)
    return err_set(ERR_INVALID, "instances %d is outside 1..%d", c->instances,
                   BATCHER_MAX_INSTANCES);
  return 0;
}

static int json_int(const json_t *v, const char *where, const char *key, int64_t lo, int64_t hi,
                    int64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return err_set(ERR_PARSE, "%s: \"%s\" must be an integer in %lld..%lld", where, key,
                   (long long)lo, (long long)hi);
  *out = json_integer_value(v);
  return 0;
}

static int json_preferred(struct batcher_config *c, const json_t *v, const char *where) {
  if (!json_is_array(v) || json_array_size(v) > BATCHER_MAX_PREFERRED)
    return err_set(ERR_PARSE, "%s: \"preferred_batch_size\" must be an array of at most %d sizes",
                   where, BATCHER_MAX_PREFERRED);
  c->n_preferred = (int)json_array_size(v);
  for (int i = 0; i < c->n_preferred; i++) {
    int64_t x;
    int rc = json_int(json_array_get(v, (size_t)i), where, "preferred_batch_size", 1, 1 << 20, &x);
    if (rc) return rc;
    c->preferred[i] = (int)x;
  }
  return 0;
}

static int json_setting(struct batcher_config *c, const char *key, const json_t *v,
                        const char *where) {
  static const int64_t big = INT64_C(3600000000);
  int64_t x = 0;
  int rc = 0;
  if (!strcmp(key, "default_queue_policy")) return batcher_config_apply_json(c, v, where);
  if (!strcmp(key, "preferred_batch_size")) return json_preferred(c, v, where);
  if (!strcmp(key, "timeout_action")) {
    const char *a = json_string_value(v);
    if (!a || (strcmp(a, "REJECT") && strcmp(a, "DELAY")))
      return err_set(ERR_PARSE, "%s: \"timeout_action\" must be \"REJECT\" or \"DELAY\"", where);
    c->timeout_action = strcmp(a, "REJECT") ? BATCHER_DELAY : BATCHER_REJECT;
    return 0;
  }
  if (!strcmp(key, "allow_timeout_override")) {
    if (!json_is_boolean(v))
      return err_set(ERR_PARSE, "%s: \"allow_timeout_override\" must be true or false", where);
    c->allow_timeout_override = json_is_true(v);
    return 0;
  }
  if (!strcmp(key, "max_batch_size") && !(rc = json_int(v, where, key, 1, 1 << 20, &x)))
    c->max_batch_size = (int)x;
  else if (!strcmp(key, "max_queue_delay_microseconds") && !(rc = json_int(v, where, key, 0, big, &x)))
    c->max_queue_delay_us = x;
  else if (!strcmp(key, "priority_levels") && !(rc = json_int(v, where, key, 1, BATCHER_MAX_LEVELS, &x)))
    c->priority_levels = (int)x;
  else if (!strcmp(key, "default_priority_level") && !(rc = json_int(v, where, key, 1, BATCHER_MAX_LEVELS, &x)))
    c->default_priority = (int)x;
  else if (!strcmp(key, "max_queue_size") && !(rc = json_int(v, where, key, 0, INT32_MAX, &x)))
    c->max_queue_size = (int)x;
  else if (!strcmp(key, "default_timeout_microseconds") && !(rc = json_int(v, where, key, 0, big, &x)))
    c->default_timeout_us = x;
  else if (!strcmp(key, "instances") && !(rc = json_int(v, where, key, 1, BATCHER_MAX_INSTANCES, &x)))
    c->instances = (int)x;
  else if (!rc)
    rc = err_set(ERR_PARSE, "%s: unknown batching setting \"%s\"", where, key);
  return rc;
}

int batcher_config_apply_json(struct batcher_config *c, const json_t *obj, const char *where) {
  if (!json_is_object(obj)) return err_set(ERR_PARSE, "%s: batching settings must be an object", where);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int rc = json_setting(c, key, v, where);
    if (rc) return rc;
  }
  return 0;
}

/* ---- queues ---- */

static void q_push(struct batcher_queue *q, struct batcher_request *r) {
  r->next = NULL;
  if (q->tail)
    q->tail->next = r;
  else
    q->head = r;
  q->tail = r;
}

/* Unlink r, whose predecessor in q is prev (NULL: r is the head). */
static void q_unlink(struct batcher_queue *q, struct batcher_request *prev,
                     struct batcher_request *r) {
  if (prev)
    prev->next = r->next;
  else
    q->head = r->next;
  if (q->tail == r) q->tail = prev;
  r->next = NULL;
}

static bool is_preferred(const struct batcher_config *c, int rows) {
  for (int i = 0; i < c->n_preferred; i++)
    if (c->preferred[i] == rows) return true;
  return false;
}

/* ---- the core ---- */

int batcher_init(struct batcher *b, const struct batcher_config *c) {
  memset(b, 0, sizeof *b);
  int rc = batcher_config_check(c);
  if (rc) return rc;
  b->cfg = *c;
  return 0;
}

static int64_t now(const struct batcher *b) {
  return b->cfg.now_ns ? b->cfg.now_ns(b->cfg.clock_ctx) : time_mono_ns();
}

static int64_t effective_timeout_us(const struct batcher_config *c, int64_t requested) {
  if (requested > 0 && c->allow_timeout_override &&
      (c->default_timeout_us == 0 || requested < c->default_timeout_us))
    return requested;
  return c->default_timeout_us;
}

int batcher_enqueue(struct batcher *b, struct batcher_request *r, int64_t now_ns) {
  const struct batcher_config *c = &b->cfg;
  if (b->draining)
    return err_set(ERR_STATE, "the server is shutting down and accepts no new requests");
  if (r->rows < 1 || r->rows > c->max_batch_size)
    return err_set(ERR_INVALID, "the request's batch size %d is outside 1..max_batch_size (%d)",
                   r->rows, c->max_batch_size);
  if (r->priority < 0 || r->priority > c->priority_levels)
    return err_set(ERR_INVALID,
                   "priority %lld is outside 0..%d (1 is the highest; 0 = default %d)",
                   (long long)r->priority, c->priority_levels, c->default_priority);
  int level = r->priority ? (int)r->priority : c->default_priority;
  if (c->max_queue_size && b->count[level - 1] >= c->max_queue_size)
    return err_set(ERR_STATE, "exceeds maximum queue size (%d at priority %d)", c->max_queue_size,
                   level);
  int64_t t_us = effective_timeout_us(c, r->timeout_us);
  r->level = level;
  r->delayed = false;
  r->enqueue_ns = now_ns;
  r->deadline_ns = t_us ? now_ns + t_us * 1000 : 0;
  r->dispatch_ns = 0;
  q_push(&b->main[level - 1], r);
  b->count[level - 1]++;
  b->queued++;
  return 0;
}

/* Reject or delay every main-queue request whose deadline has passed. */
static void expire(struct batcher *b, int64_t now_ns, struct batcher_batch *out) {
  struct batcher_request **tail = &out->expired;
  while (*tail) tail = &(*tail)->next;
  for (int l = 0; l < b->cfg.priority_levels; l++) {
    struct batcher_queue *q = &b->main[l];
    struct batcher_request *prev = NULL, *r = q->head;
    while (r) {
      struct batcher_request *next = r->next;
      if (!r->deadline_ns || r->deadline_ns > now_ns) {
        prev = r, r = next;
        continue;
      }
      q_unlink(q, prev, r);
      if (b->cfg.timeout_action == BATCHER_DELAY) {
        r->delayed = true;
        r->deadline_ns = 0;
        q_push(&b->delayed[l], r);
      } else {
        b->count[l]--, b->queued--;
        *tail = r;
        tail = &r->next;
      }
      r = next;
    }
  }
}

/* The batch candidate: how many requests (in walk order) to send, or 0 to wait. */
struct candidate {
  int count, rows;           /* requests that fit */
  int pref_count, pref_rows; /* the largest prefix whose rows are preferred */
  bool full;                 /* cannot grow */
  int64_t oldest_ns;         /* oldest enqueue among the counted */
};

/* The i-th queue in dispatch order (0 <= i < 2 x levels): level by level, main then delayed. */
static struct batcher_queue *queue_at(struct batcher *b, int i) {
  return i % 2 ? &b->delayed[i / 2] : &b->main[i / 2];
}

static void walk(struct batcher *b, struct candidate *c) {
  memset(c, 0, sizeof *c);
  c->oldest_ns = INT64_MAX;
  int max = b->cfg.max_batch_size;
  for (int i = 0; i < 2 * b->cfg.priority_levels; i++) {
    for (struct batcher_request *r = queue_at(b, i)->head; r; r = r->next) {
      if (c->rows + r->rows > max) {
        c->full = true;
        return;
      }
      c->rows += r->rows;
      c->count++;
      if (r->enqueue_ns < c->oldest_ns) c->oldest_ns = r->enqueue_ns;
      if (is_preferred(&b->cfg, c->rows)) c->pref_count = c->count, c->pref_rows = c->rows;
      if (c->rows == max) {
        c->full = true;
        return;
      }
    }
  }
}

/* Move the first n requests (walk order) into out. */
static void dispatch(struct batcher *b, int n, int64_t now_ns, struct batcher_batch *out) {
  out->n = 0, out->rows = 0;
  for (int i = 0; i < 2 * b->cfg.priority_levels; i++) {
    struct batcher_queue *q = queue_at(b, i);
    while (out->n < n && q->head) {
      struct batcher_request *r = q->head;
      q_unlink(q, NULL, r);
      b->count[r->level - 1]--, b->queued--;
      r->dispatch_ns = now_ns;
      out->reqs[out->n++] = r;
      out->rows += r->rows;
    }
  }
}

/* The earliest deadline among main-queue requests (INT64_MAX: none). */
static int64_t next_deadline(const struct batcher *b) {
  int64_t t = INT64_MAX;
  for (int l = 0; l < b->cfg.priority_levels; l++)
    for (struct batcher_request *r = b->main[l].head; r; r = r->next)
      if (r->deadline_ns && r->deadline_ns < t) t = r->deadline_ns;
  return t;
}

int batcher_take(struct batcher *b, int64_t now_ns, struct batcher_batch *out, int64_t *wake_ns) {
  out->n = 0, out->rows = 0;
  *wake_ns = INT64_MAX;
  expire(b, now_ns, out);
  struct candidate c;
  walk(b, &c);
  if (c.count == 0) return 0;
  int64_t due = c.oldest_ns + b->cfg.max_queue_delay_us * 1000;
  int n = 0;
  if (c.full)
    n = c.pref_count ? c.pref_count : c.count;
  else if (b->draining || c.pref_count == c.count || due <= now_ns)
    n = c.count;
  if (n) {
    dispatch(b, n, now_ns, out);
    return out->n;
  }
  int64_t dl = next_deadline(b);
  *wake_ns = due < dl ? due : dl;
  return 0;
}

int batcher_queued(const struct batcher *b) { return b->queued; }

void batcher_free(struct batcher *b) {
  if (b->exec) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cond);
  }
  memset(b, 0, sizeof *b);
}

/* ---- the threaded layer ---- */

struct executor_arg {
  struct batcher *b;
  int instance;
};

static void wait_until(struct batcher *b, int64_t wake_ns) {
  if (wake_ns == INT64_MAX) {
    pthread_cond_wait(&b->cond, &b->mu);
    return;
  }
  struct timespec ts = {.tv_sec = wake_ns / 1000000000LL, .tv_nsec = wake_ns % 1000000000LL};
  pthread_cond_timedwait(&b->cond, &b->mu, &ts);
}

/* Answer the expired requests outside the lock; returns with the lock held again. */
static void hand_expired(struct batcher *b, struct batcher_batch *batch) {
  struct batcher_request *r = batch->expired;
  batch->expired = NULL;
  pthread_mutex_unlock(&b->mu);
  while (r) {
    struct batcher_request *next = r->next;
    r->next = NULL;
    b->expire(b->ctx, r);
    r = next;
  }
  pthread_mutex_lock(&b->mu);
}

static void *executor_main(void *p) {
  struct executor_arg *a = p;
  struct batcher *b = a->b;
  int instance = a->instance;
  free(a);
  struct batcher_request **reqs = calloc((size_t)b->cfg.max_batch_size, sizeof *reqs);
  struct batcher_batch batch = {.reqs = reqs};
  pthread_mutex_lock(&b->mu);
  while (reqs) {
    int64_t wake;
    int n = batcher_take(b, now(b), &batch, &wake);
    if (batch.expired) hand_expired(b, &batch);
    if (n > 0) {
      if (b->queued) pthread_cond_signal(&b->cond); /* another executor may take the rest */
      b->busy++;
      pthread_mutex_unlock(&b->mu);
      b->exec(b->ctx, instance, &batch);
      pthread_mutex_lock(&b->mu);
      b->busy--;
      continue;
    }
    if (b->draining && !b->queued) break;
    wait_until(b, wake);
  }
  pthread_cond_broadcast(&b->cond); /* draining: let the others see the empty queue */
  pthread_mutex_unlock(&b->mu);
  free(reqs);
  return NULL;
}

int batcher_start(struct batcher *b, void (*exec)(void *, int, struct batcher_batch *),
                  void (*expire_fn)(void *, struct batcher_request *), void *ctx) {
  b->exec = exec, b->expire = expire_fn, b->ctx = ctx;
  pthread_mutex_init(&b->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cond, &ca);
  pthread_condattr_destroy(&ca);
  for (int i = 0; i < b->cfg.instances; i++) {
    struct executor_arg *a = malloc(sizeof *a);
    if (!a || (*a = (struct executor_arg){b, i}, pthread_create(&b->threads[i], NULL, executor_main, a))) {
      free(a);
      batcher_drain(b);
      return err_set(ERR_INTERNAL, "cannot start executor thread %d of %d", i + 1, b->cfg.instances);
    }
    b->n_threads++;
  }
  return 0;
}

int batcher_submit(struct batcher *b, struct batcher_request *r) {
  pthread_mutex_lock(&b->mu);
  int rc = batcher_enqueue(b, r, now(b));
  if (!rc) pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int batcher_pending(struct batcher *b) {
  pthread_mutex_lock(&b->mu);
  int n = b->queued;
  pthread_mutex_unlock(&b->mu);
  return n;
}

void batcher_drain(struct batcher *b) {
  if (!b->exec) return;
  pthread_mutex_lock(&b->mu);
  b->draining = true;
  pthread_cond_broadcast(&b->cond);
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->n_threads; i++) pthread_join(b->threads[i], NULL);
  b->n_threads = 0;
}
