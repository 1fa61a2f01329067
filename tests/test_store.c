/*
 * test_store.c — maint/store: the rollout database. Schema creation, one
 * transaction per transition (a stale `from` state is refused and nothing is
 * written), the audit log, refusing a second unfinished rollout, and the
 * lease between two processes (held, released, taken over from a killed
 * holder, taken over after expiry, fencing of transitions).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "maint/store.h"
#include "testutil.h"

static char dir[256], db[300];

static void setup(void) {
  testutil_tmpdir(dir, sizeof dir, "store");
  snprintf(db, sizeof db, "%s/r.db", dir);
}
static void teardown(void) { testutil_rmrf(dir); }

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

/* A rollout of n nodes "n0".."n{n-1}"; returns its id. */
static int64_t make_rollout(struct store *st, int n) {
  struct store_rollout r = {0};
  snprintf(r.kind, sizeof r.kind, "driver");
  snprintf(r.target, sizeof r.target, "580.105.08");
  snprintf(r.executor, sizeof r.executor, "sim");
  snprintf(r.inventory, sizeof r.inventory, "test");
  snprintf(r.max_unavailable_spec, sizeof r.max_unavailable_spec, "1");
  r.fleet_size = n, r.max_unavailable = 1, r.max_parallel = 1, r.canary = 1, r.batch_pct = 25;
  r.wait_timeout_ms = r.drain_timeout_ms = r.upgrade_timeout_ms = r.validate_timeout_ms = 1000;
  struct store_node nodes[8] = {0};
  for (int i = 0; i < n; i++)
    snprintf(nodes[i].name, sizeof nodes[i].name, "n%d", i), nodes[i].seq = i;
  cr_assert_eq(store_rollout_create(st, &r, nodes, n), 0, "%s", err_msg());
  cr_assert_gt(r.id, 0);
  return r.id;
}

Test(store, create_and_read_back) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0, "%s", err_msg());
  int64_t id = make_rollout(st, 3);
  struct store_rollout r;
  cr_assert_eq(store_rollout_get(st, 0, &r), 0);
  cr_assert_eq(r.id, id);
  cr_assert_str_eq(r.status, "running");
  cr_assert_str_eq(r.target, "580.105.08");
  struct store_node *nodes;
  int n;
  cr_assert_eq(store_nodes_get(st, id, &nodes, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(nodes[2].name, "n2");
  cr_assert_str_eq(nodes[0].state, "upgrade-required");
  free(nodes);
  store_close(st);
}

Test(store, no_rollout_is_not_found) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0);
  struct store_rollout r;
  cr_assert_eq(store_rollout_get(st, 0, &r), ERR_NOTFOUND);
  cr_assert_eq(store_rollout_get(st, 7, &r), ERR_NOTFOUND);
  store_close(st);
}

Test(store, transition_checks_from_state_and_audits) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0);
  int64_t id = make_rollout(st, 2);
  struct store_transition t = {.node = "n0",
                               .from = "upgrade-required",
                               .to = "cordon-required",
                               .human_hold = -1,
                               .result = "admitted"};
  cr_assert_eq(store_transition(st, id, &t), 0, "%s", err_msg());
  /* the same move again: n0 is no longer in upgrade-required */
  cr_assert_eq(store_transition(st, id, &t), ERR_STATE);
  cr_assert(strstr(err_msg(), "no longer in state upgrade-required"), "%s", err_msg());
  struct store_node *nodes;
  int n;
  cr_assert_eq(store_nodes_get(st, id, &nodes, &n), 0);
  cr_assert_str_eq(nodes[0].state, "cordon-required");
  free(nodes);
  struct store_audit_row *rows;
  cr_assert_eq(store_audit_get(st, id, &rows, &n), 0);
  int transitions = 0;
  for (int i = 0; i < n; i++) transitions += !strcmp(rows[i].action, "transition");
  cr_assert_eq(transitions, 1, "the refused transition wrote no audit row");
  cr_assert_str_eq(rows[n - 1].to, "cordon-required");
  free(rows);
  store_close(st);
}

Test(store, second_unfinished_rollout_refused) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0);
  make_rollout(st, 2);
  struct store_rollout r = {0};
  struct store_node n = {.name = "x"};
  cr_assert_eq(store_rollout_create(st, &r, &n, 1), ERR_STATE);
  cr_assert(strstr(err_msg(), "resume it or abort it"), "%s", err_msg());
  int count;
  cr_assert_eq(store_rollout_count(st, &count), 0);
  cr_assert_eq(count, 1);
  store_close(st);
}

/* Child: take the lease, tell the parent, wait to be killed. */
static pid_t child_holding_lease(int64_t id) {
  int p[2];
  cr_assert_eq(pipe(p), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    struct store *st;
    struct store_lease l;
    char ok =
        store_open(db, &st) == 0 && store_lease_acquire(st, db, id, 60000, &l) == 0 ? 'y' : 'n';
    if (write(p[1], &ok, 1) != 1) _exit(1);
    for (;;) pause();
  }
  char ok = 0;
  cr_assert_eq(read(p[0], &ok, 1), 1);
  cr_assert_eq(ok, 'y', "child could not take the lease");
  close(p[0]), close(p[1]);
  return pid;
}

Test(store, lease_two_processes) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0);
  int64_t id = make_rollout(st, 2);
  pid_t child = child_holding_lease(id);
  struct store_lease l;
  cr_assert_eq(store_lease_acquire(st, db, id, 60000, &l), ERR_STATE,
               "a held lease must be refused");
  cr_assert(strstr(err_msg(), "being driven by pid"), "%s", err_msg());
  /* kill -9 the holder: its lease is taken over at once (dead pid, same host) */
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  cr_assert_eq(store_lease_acquire(st, db, id, 60000, &l), 0, "%s", err_msg());
  struct store_transition t = {.lease_token = l.token,
                               .node = "n0",
                               .from = "upgrade-required",
                               .to = "cordon-required",
                               .human_hold = -1};
  cr_assert_eq(store_transition(st, id, &t), 0, "%s", err_msg());
  store_lease_release(st, &l);
  /* released: a stale token no longer passes the fence */
  t.from = "cordon-required", t.to = "wait-for-jobs-required";
  t.lease_token = "someone:1:else";
  cr_assert_eq(store_transition(st, id, &t), ERR_STATE);
  store_close(st);
}

Test(store, lease_taken_over_after_expiry) {
  struct store *st;
  cr_assert_eq(store_open(db, &st), 0);
  int64_t id = make_rollout(st, 1);
  /* a holder on another host (its pid can't be checked) whose lease ran out */
  sqlite3 *raw;
  cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO lease VALUES (%lld, 'other:1:x', 1, 'elsewhere', %lld)",
           (long long)id, (long long)(time_wall_ns() + 60000000000LL));
  cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
  struct store_lease l;
  cr_assert_eq(store_lease_acquire(st, db, id, 1000, &l), ERR_STATE, "live lease on another host");
  cr_assert_eq(sqlite3_exec(raw, "UPDATE lease SET expires_ns = 1", NULL, NULL, NULL), SQLITE_OK);
  cr_assert_eq(store_lease_acquire(st, db, id, 1000, &l), 0, "%s", err_msg());
  store_lease_release(st, &l);
  sqlite3_close(raw);
  store_close(st);
}

Test(store, bad_path_is_io_error) {
  struct store *st;
  cr_assert_eq(store_open("/nonexistent-dir/x/r.db", &st), ERR_IO);
  cr_assert(strstr(err_msg(), "/nonexistent-dir/x/r.db"), "%s", err_msg());
}
