/*
 * store.c — SQLite schema and queries behind store.h.
 *
 * Sections: 1. schema and opening; 2. small statement helpers;
 * 3. rollouts; 4. nodes and transitions; 5. audit; 6. lease.
 */
#define _GNU_SOURCE
#include "maint/store.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"

struct store {
  sqlite3 *db;
  char path[512];
};

/* ---- 1. schema and opening ---- */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS rollout ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL, executor "
    "TEXT NOT NULL,"
    " inventory TEXT NOT NULL, fleet_size INTEGER NOT NULL, max_unavailable_spec TEXT NOT NULL,"
    " max_unavailable INTEGER NOT NULL, max_parallel INTEGER NOT NULL, canary INTEGER NOT NULL,"
    " batch_pct INTEGER NOT NULL, failure_budget INTEGER NOT NULL, wait_timeout_ms INTEGER NOT "
    "NULL,"
    " drain_timeout_ms INTEGER NOT NULL, upgrade_timeout_ms INTEGER NOT NULL, validate_timeout_ms "
    "INTEGER NOT NULL,"
    " status TEXT NOT NULL, status_reason TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL,"
    " updated_ns INTEGER NOT NULL, accepted_wave INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE IF NOT EXISTS node ("
    " rollout_id INTEGER NOT NULL REFERENCES rollout(id), name TEXT NOT NULL, wave INTEGER NOT "
    "NULL,"
    " seq INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', human_hold "
    "INTEGER NOT NULL DEFAULT 0,"
    " entered_ns INTEGER NOT NULL, PRIMARY KEY (rollout_id, name));"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id INTEGER NOT NULL, t_ns INTEGER NOT NULL, "
    "node TEXT NOT NULL,"
    " action TEXT NOT NULL, from_state TEXT NOT NULL DEFAULT '', to_state TEXT NOT NULL DEFAULT '',"
    " result TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lease ("
    " rollout_id INTEGER PRIMARY KEY, token TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT "
    "NULL,"
    " expires_ns INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

static int db_error(struct store *st, const char *what) {
  return err_set(ERR_IO, "rollout database %s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

int store_open(const char *path, struct store **out) {
  *out = NULL;
  struct store *st = calloc(1, sizeof *st);
  if (!st) return err_set(ERR_NOMEM, "store: out of memory");
  snprintf(st->path, sizeof st->path, "%s", path);
  int rc = 0;
  if (sqlite3_open_v2(path, &st->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK) {
    rc = err_set(ERR_IO,
                 "cannot open rollout database %s: %s (check the folder exists and is writable)",
                 path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
    goto out;
  }
  sqlite3_busy_timeout(st->db, 5000);
  if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                   NULL) != SQLITE_OK ||
      sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
    rc = db_error(st, "creating the schema (is it a gpuops rollout database?)");
out:
  if (rc < 0)
    store_close(st);
  else
    *out = st;
  return rc;
}

void store_close(struct store *st) {
  if (!st) return;
  sqlite3_close(st->db);
  free(st);
}

/* ---- 2. statement helpers ---- */

static int prepare(struct store *st, const char *sql, sqlite3_stmt **s) {
  return sqlite3_prepare_v2(st->db, sql, -1, s, NULL) == SQLITE_OK
             ? 0
             : db_error(st, "preparing a query");
}

static int exec_sql(struct store *st, const char *sql) {
  return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(st, sql);
}

static void col_text(sqlite3_stmt *s, int i, char *dst, size_t len) {
  const unsigned char *t = sqlite3_column_text(s, i);
  snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static int step_done(struct store *st, sqlite3_stmt *s) {
  int r = sqlite3_step(s);
  return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : db_error(st, "writing");
}

/* ---- 3. rollouts ---- */

static int unfinished(struct store *st, int64_t *id) {
  sqlite3_stmt *s;
  *id = 0;
  int rc = prepare(
      st,
      "SELECT r.id FROM rollout r WHERE r.status = 'running' OR EXISTS (SELECT 1 FROM node n"
      " WHERE n.rollout_id = r.id AND n.state NOT IN ('upgrade-required','upgrade-done',"
      "'upgrade-failed')) ORDER BY r.id DESC LIMIT 1",
      &s);
  if (rc < 0) return rc;
  if (sqlite3_step(s) == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return 0;
}

static int insert_rollout(struct store *st, struct store_rollout *r) {
  sqlite3_stmt *s;
  int rc = prepare(
      st,
      "INSERT INTO rollout (kind, target, executor, inventory, fleet_size, max_unavailable_spec,"
      " max_unavailable, max_parallel, canary, batch_pct, failure_budget, wait_timeout_ms,"
      " drain_timeout_ms, upgrade_timeout_ms, validate_timeout_ms, status, status_reason,"
      " created_ns, updated_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      &s);
  if (rc < 0) return rc;
  r->created_ns = r->updated_ns = time_wall_ns();
  sqlite3_bind_text(s, 1, r->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, r->target, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, r->executor, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, r->inventory, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 5, r->fleet_size);
  sqlite3_bind_text(s, 6, r->max_unavailable_spec, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 7, r->max_unavailable);
  sqlite3_bind_int(s, 8, r->max_parallel);
  sqlite3_bind_int(s, 9, r->canary);
  sqlite3_bind_int(s, 10, r->batch_pct);
  sqlite3_bind_int(s, 11, r->failure_budget);
  sqlite3_bind_int64(s, 12, r->wait_timeout_ms);
  sqlite3_bind_int64(s, 13, r->drain_timeout_ms);
  sqlite3_bind_int64(s, 14, r->upgrade_timeout_ms);
  sqlite3_bind_int64(s, 15, r->validate_timeout_ms);
  sqlite3_bind_text(s, 16, r->status[0] ? r->status : "running", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 17, r->status_reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 18, r->created_ns);
  sqlite3_bind_int64(s, 19, r->updated_ns);
  rc = step_done(st, s);
  sqlite3_finalize(s);
  if (rc == 0) r->id = sqlite3_last_insert_rowid(st->db);
  if (!r->status[0]) snprintf(r->status, sizeof r->status, "running");
  return rc;
}

static int insert_nodes(struct store *st, int64_t id, const struct store_node *nodes, int n) {
  sqlite3_stmt *s;
  int rc = prepare(
      st,
      "INSERT INTO node (rollout_id, name, wave, seq, state, reason, human_hold, entered_ns)"
      " VALUES (?,?,?,?,?,?,?,?)",
      &s);
  int64_t now = time_wall_ns();
  for (int i = 0; rc == 0 && i < n; i++) {
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, nodes[i].name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, nodes[i].wave);
    sqlite3_bind_int(s, 4, nodes[i].seq);
    sqlite3_bind_text(s, 5, nodes[i].state[0] ? nodes[i].state : "upgrade-required", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(s, 6, nodes[i].reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, nodes[i].human_hold);
    sqlite3_bind_int64(s, 8, now);
    if (sqlite3_step(s) != SQLITE_DONE)
      rc = err_set(ERR_INVALID, "rollout database %s: cannot add node '%s': %s", st->path,
                   nodes[i].name, sqlite3_errmsg(st->db));
  }
  sqlite3_finalize(s);
  return rc;
}

int store_rollout_create(struct store *st, struct store_rollout *r, const struct store_node *nodes,
                         int n) {
  int64_t busy;
  int rc = exec_sql(st, "BEGIN IMMEDIATE");
  if (rc < 0) return rc;
  rc = unfinished(st, &busy);
  if (rc == 0 && busy)
    rc = err_set(ERR_STATE, "rollout %lld in %s is not finished: resume it or abort it first",
                 (long long)busy, st->path);
  if (rc == 0) rc = insert_rollout(st, r);
  if (rc == 0) rc = insert_nodes(st, r->id, nodes, n);
  if (rc == 0) rc = store_audit(st, r->id, "", "create", "ok");
  if (rc == 0) rc = exec_sql(st, "COMMIT");
  if (rc < 0) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int store_rollout_get(struct store *st, int64_t id, struct store_rollout *r) {
  sqlite3_stmt *s;
  memset(r, 0, sizeof *r);
  int rc = prepare(
      st,
      id ? "SELECT * FROM rollout WHERE id = ?" : "SELECT * FROM rollout ORDER BY id DESC LIMIT 1",
      &s);
  if (rc < 0) return rc;
  if (id) sqlite3_bind_int64(s, 1, id);
  if (sqlite3_step(s) != SQLITE_ROW) {
    sqlite3_finalize(s);
    if (id) return err_set(ERR_NOTFOUND, "no rollout %lld in %s", (long long)id, st->path);
    return err_set(ERR_NOTFOUND, "no rollout in %s (start one with gpuops rollout run --apply)",
                   st->path);
  }
  int c = 0;
  r->id = sqlite3_column_int64(s, c++);
  col_text(s, c++, r->kind, sizeof r->kind);
  col_text(s, c++, r->target, sizeof r->target);
  col_text(s, c++, r->executor, sizeof r->executor);
  col_text(s, c++, r->inventory, sizeof r->inventory);
  r->fleet_size = sqlite3_column_int(s, c++);
  col_text(s, c++, r->max_unavailable_spec, sizeof r->max_unavailable_spec);
  r->max_unavailable = sqlite3_column_int(s, c++);
  r->max_parallel = sqlite3_column_int(s, c++);
  r->canary = sqlite3_column_int(s, c++);
  r->batch_pct = sqlite3_column_int(s, c++);
  r->failure_budget = sqlite3_column_int(s, c++);
  r->wait_timeout_ms = sqlite3_column_int64(s, c++);
  r->drain_timeout_ms = sqlite3_column_int64(s, c++);
  r->upgrade_timeout_ms = sqlite3_column_int64(s, c++);
  r->validate_timeout_ms = sqlite3_column_int64(s, c++);
  col_text(s, c++, r->status, sizeof r->status);
  col_text(s, c++, r->status_reason, sizeof r->status_reason);
  r->created_ns = sqlite3_column_int64(s, c++);
  r->updated_ns = sqlite3_column_int64(s, c++);
  r->accepted_wave = sqlite3_column_int(s, c++);
  sqlite3_finalize(s);
  return 0;
}

int store_rollout_count(struct store *st, int *n) {
  sqlite3_stmt *s;
  int rc = prepare(st, "SELECT COUNT(*) FROM rollout", &s);
  if (rc < 0) return rc;
  *n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_finalize(s);
  return 0;
}

/* ---- 4. nodes and transitions ---- */

int store_nodes_get(struct store *st, int64_t id, struct store_node **out, int *n) {
  sqlite3_stmt *s;
  *out = NULL, *n = 0;
  int rc = prepare(st,
                   "SELECT name, wave, seq, state, reason, human_hold, entered_ns FROM node"
                   " WHERE rollout_id = ? ORDER BY seq",
                   &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, id);
  int cap = 0;
  while (sqlite3_step(s) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      struct store_node *p = realloc(*out, (size_t)cap * sizeof *p);
      if (!p) {
        rc = err_set(ERR_NOMEM, "store: out of memory");
        break;
      }
      *out = p;
    }
    struct store_node *x = &(*out)[(*n)++];
    memset(x, 0, sizeof *x);
    col_text(s, 0, x->name, sizeof x->name);
    x->wave = sqlite3_column_int(s, 1);
    x->seq = sqlite3_column_int(s, 2);
    col_text(s, 3, x->state, sizeof x->state);
    col_text(s, 4, x->reason, sizeof x->reason);
    x->human_hold = sqlite3_column_int(s, 5) != 0;
    x->entered_ns = sqlite3_column_int64(s, 6);
  }
  sqlite3_finalize(s);
  if (rc < 0) free(*out), *out = NULL, *n = 0;
  return rc;
}

static int lease_held(struct store *st, int64_t rollout, const char *token) {
  sqlite3_stmt *s;
  int rc = prepare(st, "SELECT token, expires_ns, pid, host FROM lease WHERE rollout_id = ?", &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, rollout);
  if (sqlite3_step(s) != SQLITE_ROW)
    rc = err_set(ERR_STATE, "lease on rollout %lld lost (no holder)", (long long)rollout);
  else if (strcmp((const char *)sqlite3_column_text(s, 0), token) != 0)
    rc = err_set(ERR_STATE, "lease on rollout %lld lost to pid %d on %s", (long long)rollout,
                 sqlite3_column_int(s, 2), (const char *)sqlite3_column_text(s, 3));
  else if (sqlite3_column_int64(s, 1) < time_wall_ns())
    rc = err_set(ERR_STATE, "lease on rollout %lld expired (renewal stalled)", (long long)rollout);
  sqlite3_finalize(s);
  return rc;
}

static int update_node(struct store *st, int64_t rollout, const struct store_transition *t) {
  sqlite3_stmt *s;
  int rc = prepare(st,
                   "UPDATE node SET state = ?, reason = COALESCE(?, reason),"
                   " human_hold = CASE WHEN ? < 0 THEN human_hold ELSE ? END, entered_ns = ?"
                   " WHERE rollout_id = ? AND name = ? AND state = ?",
                   &s);
  if (rc < 0) return rc;
  sqlite3_bind_text(s, 1, t->to, -1, SQLITE_STATIC);
  if (t->reason) sqlite3_bind_text(s, 2, t->reason, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 3, t->human_hold);
  sqlite3_bind_int(s, 4, t->human_hold);
  sqlite3_bind_int64(s, 5, time_wall_ns());
  sqlite3_bind_int64(s, 6, rollout);
  sqlite3_bind_text(s, 7, t->node, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 8, t->from, -1, SQLITE_STATIC);
  rc = step_done(st, s);
  sqlite3_finalize(s);
  if (rc == 0 && sqlite3_changes(st->db) != 1)
    rc = err_set(ERR_STATE,
                 "rollout %lld: node %s is no longer in state %s (another process moved it)",
                 (long long)rollout, t->node, t->from);
  return rc;
}

static int update_status(struct store *st, int64_t rollout, const struct store_transition *t) {
  sqlite3_stmt *s;
  int rc = prepare(
      st,
      "UPDATE rollout SET status = ?, status_reason = COALESCE(?, status_reason), updated_ns = ?"
      " WHERE id = ? AND status = ?",
      &s);
  if (rc < 0) return rc;
  sqlite3_bind_text(s, 1, t->to, -1, SQLITE_STATIC);
  if (t->reason) sqlite3_bind_text(s, 2, t->reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, time_wall_ns());
  sqlite3_bind_int64(s, 4, rollout);
  sqlite3_bind_text(s, 5, t->from, -1, SQLITE_STATIC);
  rc = step_done(st, s);
  sqlite3_finalize(s);
  if (rc == 0 && sqlite3_changes(st->db) != 1)
    rc = err_set(ERR_STATE, "rollout %lld is no longer %s", (long long)rollout, t->from);
  return rc;
}

static int insert_audit(struct store *st, int64_t rollout, const char *node, const char *action,
                        const char *from, const char *to, const char *result) {
  sqlite3_stmt *s;
  int rc =
      prepare(st,
              "INSERT INTO audit (rollout_id, t_ns, node, action, from_state, to_state, result)"
              " VALUES (?,?,?,?,?,?,?)",
              &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, rollout);
  sqlite3_bind_int64(s, 2, time_wall_ns());
  sqlite3_bind_text(s, 3, node ? node : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, action ? action : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, from ? from : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 6, to ? to : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 7, result ? result : "", -1, SQLITE_STATIC);
  rc = step_done(st, s);
  sqlite3_finalize(s);
  return rc;
}

int store_transition(struct store *st, int64_t rollout, const struct store_transition *t) {
  int rc = exec_sql(st, "BEGIN IMMEDIATE");
  if (rc < 0) return rc;
  if (t->lease_token) rc = lease_held(st, rollout, t->lease_token);
  if (rc == 0) rc = t->node ? update_node(st, rollout, t) : update_status(st, rollout, t);
  if (rc == 0)
    rc = insert_audit(st, rollout, t->node, t->action ? t->action : "transition", t->from, t->to,
                      t->result ? t->result : "ok");
  if (rc == 0) rc = exec_sql(st, "COMMIT");
  if (rc < 0) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int store_rollout_resume_halted(struct store *st, int64_t rollout, int accepted_wave) {
  sqlite3_stmt *s;
  int rc = exec_sql(st, "BEGIN IMMEDIATE");
  if (rc < 0) return rc;
  rc = prepare(
      st,
      "UPDATE rollout SET status = 'running', status_reason = '', accepted_wave = ?, updated_ns = ?"
      " WHERE id = ? AND status = 'halted'",
      &s);
  if (rc == 0) {
    sqlite3_bind_int(s, 1, accepted_wave);
    sqlite3_bind_int64(s, 2, time_wall_ns());
    sqlite3_bind_int64(s, 3, rollout);
    rc = step_done(st, s);
    sqlite3_finalize(s);
  }
  if (rc == 0 && sqlite3_changes(st->db) != 1)
    rc = err_set(ERR_STATE, "rollout %lld is not halted", (long long)rollout);
  char note[96];
  snprintf(note, sizeof note, "resumed by a person; failures in waves up to %d accepted",
           accepted_wave);
  if (rc == 0) rc = insert_audit(st, rollout, "", "resume", "halted", "running", note);
  if (rc == 0) rc = exec_sql(st, "COMMIT");
  if (rc < 0) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* ---- 5. audit ---- */

int store_audit(struct store *st, int64_t rollout, const char *node, const char *action,
                const char *result) {
  return insert_audit(st, rollout, node, action, NULL, NULL, result);
}

int store_audit_get(struct store *st, int64_t rollout, struct store_audit_row **out, int *n) {
  sqlite3_stmt *s;
  *out = NULL, *n = 0;
  int rc = prepare(st,
                   "SELECT id, t_ns, node, action, from_state, to_state, result FROM audit"
                   " WHERE rollout_id = ? ORDER BY id",
                   &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, rollout);
  int cap = 0;
  while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      struct store_audit_row *p = realloc(*out, (size_t)cap * sizeof *p);
      if (!p) {
        rc = err_set(ERR_NOMEM, "store: out of memory");
        break;
      }
      *out = p;
    }
    struct store_audit_row *a = &(*out)[(*n)++];
    a->id = sqlite3_column_int64(s, 0);
    a->t_ns = sqlite3_column_int64(s, 1);
    col_text(s, 2, a->node, sizeof a->node);
    col_text(s, 3, a->action, sizeof a->action);
    col_text(s, 4, a->from, sizeof a->from);
    col_text(s, 5, a->to, sizeof a->to);
    col_text(s, 6, a->result, sizeof a->result);
  }
  sqlite3_finalize(s);
  if (rc < 0) free(*out), *out = NULL, *n = 0;
  return rc;
}

/* ---- 6. lease ---- */

static void host_name(char *buf, size_t len) {
  if (gethostname(buf, len - 1) != 0) snprintf(buf, len, "unknown");
  buf[len - 1] = 0;
}

/* Is the current holder gone (expired, or a dead process on this host)? */
static bool holder_gone(sqlite3_stmt *s, const char *host) {
  int64_t expires = sqlite3_column_int64(s, 1);
  int pid = sqlite3_column_int(s, 2);
  const char *h = (const char *)sqlite3_column_text(s, 3);
  if (expires < time_wall_ns()) return true;
  return h && !strcmp(h, host) && pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

static int take_lease(struct store *st, int64_t rollout, struct store_lease *l, const char *host) {
  sqlite3_stmt *s;
  int rc = prepare(st, "SELECT token, expires_ns, pid, host FROM lease WHERE rollout_id = ?", &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, rollout);
  if (sqlite3_step(s) == SQLITE_ROW && !holder_gone(s, host)) {
    char when[32];
    rc = err_set(ERR_STATE,
                 "rollout %lld is being driven by pid %d on %s (lease until %s); two processes "
                 "never drive one "
                 "rollout: wait for it, or stop that process",
                 (long long)rollout, sqlite3_column_int(s, 2),
                 (const char *)sqlite3_column_text(s, 3),
                 time_iso8601(sqlite3_column_int64(s, 1), when, sizeof when));
  }
  sqlite3_finalize(s);
  if (rc < 0) return rc;
  rc = prepare(
      st,
      "INSERT OR REPLACE INTO lease (rollout_id, token, pid, host, expires_ns) VALUES (?,?,?,?,?)",
      &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, rollout);
  sqlite3_bind_text(s, 2, l->token, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 3, (int)getpid());
  sqlite3_bind_text(s, 4, host, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, time_wall_ns() + (int64_t)l->ttl_ms * 1000000);
  rc = step_done(st, s);
  sqlite3_finalize(s);
  return rc;
}

static int renew(struct store *st, struct store_lease *l) {
  sqlite3_stmt *s;
  int rc = prepare(st, "UPDATE lease SET expires_ns = ? WHERE rollout_id = ? AND token = ?", &s);
  if (rc < 0) return rc;
  sqlite3_bind_int64(s, 1, time_wall_ns() + (int64_t)l->ttl_ms * 1000000);
  sqlite3_bind_int64(s, 2, l->rollout);
  sqlite3_bind_text(s, 3, l->token, -1, SQLITE_STATIC);
  rc = step_done(st, s);
  if (rc == 0 && sqlite3_changes(st->db) != 1) rc = err_set(ERR_STATE, "lease lost");
  sqlite3_finalize(s);
  return rc;
}

static void *renew_thread(void *arg) {
  struct store_lease *l = arg;
  struct store *st = NULL;
  if (store_open(l->path, &st) < 0) {
    atomic_store(&l->lost, true);
    return NULL;
  }
  int64_t period_ns = (int64_t)l->ttl_ms * 1000000 / 3, step_ns = 5000000, waited = 0;
  while (!atomic_load(&l->stop)) {
    time_sleep_ns(step_ns);
    waited += step_ns;
    if (waited < period_ns) continue;
    waited = 0;
    if (renew(st, l) == ERR_STATE) atomic_store(&l->lost, true);
  }
  store_close(st);
  return NULL;
}

int store_lease_acquire(struct store *st, const char *path, int64_t rollout, int ttl_ms,
                        struct store_lease *l) {
  memset(l, 0, sizeof *l);
  char host[128];
  host_name(host, sizeof host);
  l->rollout = rollout;
  l->ttl_ms = ttl_ms > 0 ? ttl_ms : 30000;
  snprintf(l->path, sizeof l->path, "%s", path);
  snprintf(l->token, sizeof l->token, "%s:%d:%016llx", host, (int)getpid(),
           (unsigned long long)(time_wall_ns() ^ ((int64_t)getpid() << 32)));
  int rc = exec_sql(st, "BEGIN IMMEDIATE");
  if (rc < 0) return rc;
  rc = take_lease(st, rollout, l, host);
  if (rc == 0) rc = insert_audit(st, rollout, "", "lease", NULL, NULL, l->token);
  if (rc == 0) rc = exec_sql(st, "COMMIT");
  if (rc < 0) {
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  atomic_store(&l->stop, false);
  atomic_store(&l->lost, false);
  if (pthread_create(&l->thread, NULL, renew_thread, l) != 0) {
    store_lease_release(st, l);
    return err_set(ERR_INTERNAL, "cannot start the lease renewal thread");
  }
  l->running = true;
  return 0;
}

void store_lease_release(struct store *st, struct store_lease *l) {
  if (l->running) {
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    l->running = false;
  }
  if (!l->token[0] || !st) return;
  sqlite3_stmt *s;
  if (prepare(st, "DELETE FROM lease WHERE rollout_id = ? AND token = ?", &s) < 0) return;
  sqlite3_bind_int64(s, 1, l->rollout);
  sqlite3_bind_text(s, 2, l->token, -1, SQLITE_STATIC);
  sqlite3_step(s);
  sqlite3_finalize(s);
  l->token[0] = 0;
}
