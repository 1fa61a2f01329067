/*
 * store.h — the rollout's durable state in SQLite: rollouts, their nodes'
 * states, an audit log of every action and its result, and the lease that
 * lets one process at a time drive a rollout.
 *
 * Every state transition is one transaction that (1) checks the caller still
 * holds the lease, (2) moves the node from the state it expects to the next
 * one (so a stale process can never overwrite a newer state), and (3) appends
 * the audit row. A process killed at any point leaves the last committed
 * state; `gpuops rollout resume` starts from there.
 *
 * Sections: rows; opening; rollouts; nodes and transitions; audit; lease.
 * Threads: a struct store is one SQLite connection, for one thread at a time
 * (the lease renews on its own connection in its own thread).
 */
#ifndef GPUOPS_MAINT_STORE_H
#define GPUOPS_MAINT_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "inventory/inventory.h"

#define STORE_STATE_MAX  32
#define STORE_REASON_MAX 256

/* One rollout: its plan, as given and as resolved, and its status. */
struct store_rollout {
  int64_t id;                    /* assigned by store_rollout_create */
  char kind[16];                 /* "driver" | "firmware" */
  char target[INV_VERSION_MAX];  /* version to install */
  char executor[16];             /* "sim" | "slurm" */
  char inventory[256];           /* where the fleet came from */
  int fleet_size;                /* nodes in the inventory (the base of percentages) */
  char max_unavailable_spec[16]; /* as given: "1", "25%" */
  int max_unavailable;           /* resolved count, >= 1 */
  int max_parallel;   /* nodes in progress at once; 0 = as many as max_unavailable allows */
  int canary;         /* nodes in the first wave */
  int batch_pct;      /* later waves: this % of the plan's nodes, rounded up */
  int failure_budget; /* failures a wave may have; one more halts the rollout */
  int64_t wait_timeout_ms, drain_timeout_ms, upgrade_timeout_ms, validate_timeout_ms;
  char status[16]; /* "running" | "halted" | "aborted" | "done" */
  char status_reason[STORE_REASON_MAX];
  int64_t created_ns, updated_ns; /* wall clock */
  int accepted_wave; /* failures in waves <= this were accepted by a person on resume; -1 none */
};

/* One node of a rollout. */
struct store_node {
  char name[INV_NAME_MAX];
  int wave;                      /* 0 = canary */
  int seq;                       /* order within the rollout */
  char state[STORE_STATE_MAX];   /* the GPU Operator's state names: "upgrade-required", ... */
  char reason[STORE_REASON_MAX]; /* why it failed, or a note ("already at 580.x") */
  bool human_hold;               /* a person had drained it before we came: never uncordon it */
  int64_t entered_ns;            /* wall clock when it entered its state (for timeouts) */
};

struct store; /* one connection */

/*
 * Open (creating the schema when new) the database at path. WAL mode, a busy
 * timeout of 5 s. Returns 0 with *out set, or ERR_IO naming the file.
 */
int store_open(const char *path, struct store **out);
void store_close(struct store *st);

/*
 * Create a rollout with its nodes in one transaction; r->id is set. Refuses
 * (ERR_STATE) while another rollout in this database is "running" or "halted"
 * with nodes in progress: resume or abort it first.
 */
int store_rollout_create(struct store *st, struct store_rollout *r, const struct store_node *nodes,
                         int n);
/* A rollout by id, or the newest when id is 0. ERR_NOTFOUND when none. */
int store_rollout_get(struct store *st, int64_t id, struct store_rollout *out);
/* A person resumes a halted rollout: status running, failures in waves <= accepted_wave accepted.
 * ERR_STATE if not halted. */
int store_rollout_resume_halted(struct store *st, int64_t rollout, int accepted_wave);
/* Number of rollouts in the database. */
int store_rollout_count(struct store *st, int *n);
/* The nodes of a rollout in seq order; caller frees *out. */
int store_nodes_get(struct store *st, int64_t id, struct store_node **out, int *n);

/* One state transition (see the header comment). */
struct store_transition {
  const char *lease_token; /* must hold the lease; NULL skips the check (tests, abort) */
  const char *node;        /* NULL: a rollout status change (from/to are statuses) */
  const char *from, *to;
  const char *reason; /* stored with the node / the rollout; NULL keeps it */
  int human_hold;     /* -1 keep, 0/1 set */
  const char *action; /* audit: what was done ("cordon", "observe", "transition") */
  const char *result; /* audit: "ok", "failed: ...", "observed: ..." */
};
/*
 * Commit one transition. ERR_STATE when the lease is not held (lost to
 * another process) or the node/rollout is no longer in `from`.
 */
int store_transition(struct store *st, int64_t rollout, const struct store_transition *t);

/* Append an audit row on its own (an action and its result, no state change). */
int store_audit(struct store *st, int64_t rollout, const char *node, const char *action,
                const char *result);

struct store_audit_row {
  int64_t id, t_ns;
  char node[INV_NAME_MAX];
  char action[32];
  char from[STORE_STATE_MAX], to[STORE_STATE_MAX];
  char result[STORE_REASON_MAX];
};
/* The audit log of a rollout, oldest first; caller frees *out. */
int store_audit_get(struct store *st, int64_t rollout, struct store_audit_row **out, int *n);

/*
 * The lease: at most one holder per rollout. Acquired when no row exists, the
 * row expired, or the holder is a process of this host that no longer exists
 * (so a resume after kill -9 does not wait out the lease). While held, a
 * thread renews it every ttl/3 on its own connection.
 */
struct store_lease {
  char token[128]; /* "host:pid:random" */
  int64_t rollout;
  int ttl_ms;
  char path[512];
  pthread_t thread;
  bool running;
  atomic_bool stop;
  atomic_bool lost; /* renewal found another holder */
};
/* ERR_STATE with the holder's pid, host and expiry when someone else holds it. */
int store_lease_acquire(struct store *st, const char *path, int64_t rollout, int ttl_ms,
                        struct store_lease *l);
/* Stop renewing and delete the lease row (only if still ours). Safe on a lease never acquired. */
void store_lease_release(struct store *st, struct store_lease *l);

#endif
