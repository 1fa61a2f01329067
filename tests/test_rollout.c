/*
 * test_rollout.c — maint/rollout, budget and sim_exec, and the
 * `gpuops rollout` command's input checks.
 *
 * Sections:
 *   1. helpers: a private folder, a fleet from YAML text, driving a rollout;
 *   2. max-unavailable resolution (count, %, rounded up; impossible limits);
 *   3. plans: waves, unknown/duplicate nodes, canary larger than the plan;
 *   4. driving on the sim fleet: all upgraded once within the budget; a
 *      person's drain counts and is kept; a failing canary halts the rollout
 *      and leaves the rest untouched, until a person resumes it; abort; a
 *      node already on the target;
 *   5. the CLI: bad input exits 2 and writes no rollout; dry run is the
 *      default; two processes never drive one rollout (the lease).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "maint/budget.h"
#include "maint/rollout.h"
#include "maint/sim_exec.h"
#include "maint/store.h"
#include "testutil.h"

/* ---- 1. helpers ---- */

static char dir[256], db[300], simf[300];

static void setup(void) {
  testutil_tmpdir(dir, sizeof dir, "rollout");
  snprintf(db, sizeof db, "%s/r.db", dir);
  snprintf(simf, sizeof simf, "%s/sim.json", dir);
}
static void teardown(void) { testutil_rmrf(dir); }

TestSuite(rollout, .init = setup, .fini = teardown, .timeout = 60);

static void fleet(struct inventory *inv, const char *yaml) {
  cr_assert_eq(inventory_load_yaml_buf(inv, yaml, strlen(yaml), "fleet.yaml"), 0, "%s", err_msg());
}

static const char *FOUR =
    "fleet: four\n"
    "defaults: {driver: \"580.95.05\", labels: {sim.upgrade_ms: \"3\"}, gpus: {model: H200, count: "
    "8}}\n"
    "nodes:\n  - name: n[1-4]\n";

struct run {
  struct inventory inv;
  struct executor e;
  struct store *st;
  struct rollout_plan plan;
  struct rollout_summary sum;
  int rc;
};

/* Plan (options o over the fleet), record and drive; leaves everything open for checks. */
static void drive(struct run *r, const char *yaml, const struct rollout_options *o) {
  memset(r, 0, sizeof *r);
  fleet(&r->inv, yaml);
  struct sim_exec_options so = {.state_path = simf, .upgrade_ms = 3};
  cr_assert_eq(sim_exec_open(&r->e, &r->inv, &so), 0, "%s", err_msg());
  cr_assert_eq(rollout_plan_make(&r->inv, o, &r->plan), 0, "%s", err_msg());
  cr_assert_eq(store_open(db, &r->st), 0, "%s", err_msg());
  cr_assert_eq(store_rollout_create(r->st, &r->plan.r, r->plan.nodes, r->plan.n_nodes), 0, "%s",
               err_msg());
  struct rollout_drive_options d;
  rollout_drive_options_default(&d);
  d.poll_ms = 1, d.blocked_timeout_ms = 2000;
  r->rc = rollout_drive(r->st, db, &r->e, &r->inv, r->plan.r.id, &d, &r->sum);
}

static void run_free(struct run *r) {
  r->e.ops->close(&r->e);
  store_close(r->st);
  rollout_plan_free(&r->plan);
  inventory_free(&r->inv);
}

static void options(struct rollout_options *o, const char *max_unavailable) {
  rollout_options_default(o);
  o->target = "580.105.08";
  o->max_unavailable = max_unavailable;
  o->wait_timeout_ms = o->validate_timeout_ms = 30;
}

static json_t *sim_node(json_t *doc, const char *name) {
  return json_object_get(json_object_get(doc, "nodes"), name);
}
static long long sim_int(json_t *doc, const char *node, const char *key) {
  return json_integer_value(json_object_get(node ? sim_node(doc, node) : doc, key));
}

/* ---- 2. max-unavailable ---- */

Test(rollout, budget_resolve_counts_and_percentages) {
  int n;
  cr_assert_eq(budget_resolve("1", 10, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(budget_resolve("25%", 10, &n), 0);
  cr_assert_eq(n, 3, "25%% of 10 rounds up to 3");
  cr_assert_eq(budget_resolve("10%", 4, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(budget_resolve("100%", 7, &n), 0);
  cr_assert_eq(n, 7);
  cr_assert_eq(budget_resolve("10", 10, &n), 0);
  cr_assert_eq(n, 10);
}

Test(rollout, budget_resolve_refuses_impossible_limits) {
  int n;
  const char *bad[] = {"0", "0%", "11", "101%", "abc", "", "-1", "5%x", "2.5"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_eq(budget_resolve(bad[i], 10, &n), ERR_INVALID, "'%s' must be refused", bad[i]);
  budget_resolve("0", 10, &n);
  cr_assert(strstr(err_msg(), "at least 1"), "%s", err_msg());
  budget_resolve("11", 10, &n);
  cr_assert(strstr(err_msg(), "more than the fleet"), "%s", err_msg());
}

/* ---- 3. plans ---- */

Test(rollout, plan_waves_canary_then_batches) {
  struct inventory inv;
  fleet(&inv, "defaults: {gpus: {model: H200, count: 1}}\nnodes:\n  - name: n[1-8]\n");
  struct rollout_options o;
  options(&o, "25%");
  o.canary = 1, o.batch_pct = 25; /* batches of 2 */
  struct rollout_plan p;
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), 0, "%s", err_msg());
  int want[8] = {0, 1, 1, 2, 2, 3, 3, 4};
  for (int i = 0; i < 8; i++)
    cr_assert_eq(p.nodes[i].wave, want[i], "node %d wave %d", i, p.nodes[i].wave);
  cr_assert_eq(p.n_waves, 5);
  cr_assert_eq(p.r.max_unavailable, 2);
  rollout_plan_free(&p);
  o.canary = 0, o.batch_pct = 50;
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), 0);
  cr_assert_eq(p.nodes[3].wave, 0);
  cr_assert_eq(p.nodes[4].wave, 1);
  cr_assert_eq(p.n_waves, 2);
  rollout_plan_free(&p);
  inventory_free(&inv);
}

Test(rollout, plan_refuses_bad_input) {
  struct inventory inv;
  fleet(&inv, FOUR);
  struct rollout_options o;
  struct rollout_plan p;
  options(&o, "1");
  o.nodes = "n1,n9";
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), ERR_INVALID);
  cr_assert(strstr(err_msg(), "'n9' is not in the fleet"), "%s", err_msg());
  o.nodes = "n1,n2,n1";
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), ERR_INVALID);
  cr_assert(strstr(err_msg(), "'n1' is listed twice"), "%s", err_msg());
  o.nodes = NULL, o.canary = 5;
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), ERR_INVALID);
  cr_assert(strstr(err_msg(), "--canary 5"), "%s", err_msg());
  options(&o, "5");
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), ERR_INVALID);
  options(&o, "1");
  o.target = "";
  cr_assert_eq(rollout_plan_make(&inv, &o, &p), ERR_INVALID);
  cr_assert_null(p.nodes, "nothing left allocated on error");
  inventory_free(&inv);
}

/* ---- 4. driving on the sim fleet ---- */

Test(rollout, all_upgraded_once_within_budget) {
  struct run r;
  struct rollout_options o;
  options(&o, "2");
  o.max_parallel = 0, o.canary = 1, o.batch_pct = 50;
  drive(&r, FOUR, &o);
  cr_assert_eq(r.rc, 0, "%s", err_msg());
  cr_assert_eq(r.sum.done, 4);
  json_t *doc;
  cr_assert_eq(sim_exec_report(simf, &doc), 0);
  for (int i = 1; i <= 4; i++) {
    char n[8];
    snprintf(n, sizeof n, "n%d", i);
    cr_assert_eq(sim_int(doc, n, "upgrades"), 1, "%s upgraded once", n);
    cr_assert_str_eq(json_string_value(json_object_get(sim_node(doc, n), "driver")), "580.105.08");
    cr_assert(json_is_false(json_object_get(sim_node(doc, n), "drained")), "%s back in service", n);
  }
  cr_assert_leq(sim_int(doc, NULL, "max_out_of_service"), 2);
  cr_assert_geq(sim_int(doc, NULL, "max_out_of_service"), 2,
                "max-parallel 0 used the whole budget");
  json_decref(doc);
  run_free(&r);
}

Test(rollout, person_drain_counts_and_is_kept) {
  /* n2 was drained by a person: it takes the single slot of max-unavailable 2 along with
   * the node being upgraded, is itself upgraded without using a slot, and stays drained. */
  const char *yaml =
      "defaults: {driver: \"580.95.05\", labels: {sim.upgrade_ms: \"3\"}, gpus: {model: H200, "
      "count: 8}}\n"
      "nodes:\n  - name: n[1-4]\n  - name: n5\n    state: drain\n";
  struct run r;
  struct rollout_options o;
  options(&o, "2");
  o.max_parallel = 0, o.canary = 0, o.batch_pct = 100;
  drive(&r, yaml, &o);
  cr_assert_eq(r.rc, 0, "%s", err_msg());
  json_t *doc;
  cr_assert_eq(sim_exec_report(simf, &doc), 0);
  cr_assert_leq(sim_int(doc, NULL, "max_out_of_service"), 2,
                "the person's drain counted against the budget");
  cr_assert_eq(sim_int(doc, "n5", "upgrades"), 1);
  cr_assert(json_is_true(json_object_get(sim_node(doc, "n5"), "drained")),
            "the person's drain is kept");
  cr_assert_str_eq(json_string_value(json_object_get(sim_node(doc, "n5"), "reason")),
                   "maintenance (set by a person)");
  json_decref(doc);
  struct store_node *nodes;
  int n;
  cr_assert_eq(store_nodes_get(r.st, r.plan.r.id, &nodes, &n), 0);
  cr_assert(nodes[4].human_hold);
  free(nodes);
  run_free(&r);
}

Test(rollout, failing_canary_halts_and_leaves_the_rest) {
  const char *yaml =
      "defaults: {driver: \"580.95.05\", labels: {sim.upgrade_ms: \"3\"}, gpus: {model: H200, "
      "count: 8}}\n"
      "nodes:\n  - name: n1\n    labels: {sim.upgrade: fail}\n  - name: n[2-4]\n";
  struct run r;
  struct rollout_options o;
  options(&o, "2");
  drive(&r, yaml, &o);
  cr_assert_eq(r.rc, ERR_CHECK);
  cr_assert_str_eq(r.sum.status, "halted");
  cr_assert_eq(r.sum.failed, 1);
  cr_assert_eq(r.sum.pending, 3);
  json_t *doc;
  cr_assert_eq(sim_exec_report(simf, &doc), 0);
  cr_assert(json_is_true(json_object_get(sim_node(doc, "n1"), "drained")),
            "failed node stays drained");
  cr_assert(
      strstr(json_string_value(json_object_get(sim_node(doc, "n1"), "reason")), "upgrade-failed"));
  for (int i = 2; i <= 4; i++) {
    char n[8];
    snprintf(n, sizeof n, "n%d", i);
    cr_assert_eq(sim_int(doc, n, "upgrades"), 0, "%s untouched", n);
    cr_assert(json_is_false(json_object_get(sim_node(doc, n), "drained")), "%s untouched", n);
  }
  json_decref(doc);
  struct store_rollout sr;
  cr_assert_eq(store_rollout_get(r.st, r.plan.r.id, &sr), 0);
  cr_assert(strstr(sr.status_reason, "wave 0 has 1 failed node(s) (n1)"), "%s", sr.status_reason);
  /* a person looks, accepts the failure and resumes: the rest is upgraded, n1 stays failed */
  cr_assert_eq(rollout_resume_halted(r.st, r.plan.r.id), 0, "%s", err_msg());
  struct rollout_drive_options d;
  rollout_drive_options_default(&d);
  d.poll_ms = 1;
  cr_assert_eq(rollout_drive(r.st, db, &r.e, &r.inv, r.plan.r.id, &d, &r.sum), ERR_CHECK);
  cr_assert_str_eq(r.sum.status, "done");
  cr_assert_eq(r.sum.done, 3);
  cr_assert_eq(r.sum.failed, 1);
  cr_assert_eq(rollout_resume_halted(r.st, r.plan.r.id), ERR_STATE,
               "only a halted rollout resumes that way");
  run_free(&r);
}

Test(rollout, validation_failure_and_stuck_job) {
  const char *yaml =
      "defaults: {driver: \"580.95.05\", labels: {sim.upgrade_ms: \"3\"}, gpus: {model: H200, "
      "count: 8}}\n"
      "nodes:\n  - name: n1\n    labels: {sim.jobs: \"2\", sim.drain_ms: \"-1\"}\n"
      "  - name: n2\n    labels: {sim.validate: fail}\n";
  struct run r;
  struct rollout_options o;
  options(&o, "1");
  o.canary = 0, o.failure_budget = 1, o.batch_pct = 100;
  drive(&r, yaml, &o);
  cr_assert_eq(r.rc, ERR_CHECK, "a failed node makes the run fail");
  cr_assert_eq(r.sum.done, 1);
  cr_assert_eq(r.sum.failed, 1);
  struct store_node *nodes;
  int n;
  cr_assert_eq(store_nodes_get(r.st, r.plan.r.id, &nodes, &n), 0);
  cr_assert_str_eq(nodes[0].state, "upgrade-done",
                   "the stuck job was evicted after the wait timeout");
  cr_assert_str_eq(nodes[1].state, "upgrade-failed");
  cr_assert(strstr(nodes[1].reason, "health check did not pass"), "%s", nodes[1].reason);
  free(nodes);
  run_free(&r);
}

Test(rollout, abort_starts_nothing_new) {
  struct run r;
  memset(&r, 0, sizeof r);
  fleet(&r.inv, FOUR);
  struct sim_exec_options so = {.state_path = simf};
  cr_assert_eq(sim_exec_open(&r.e, &r.inv, &so), 0);
  struct rollout_options o;
  options(&o, "1");
  cr_assert_eq(rollout_plan_make(&r.inv, &o, &r.plan), 0);
  cr_assert_eq(store_open(db, &r.st), 0);
  cr_assert_eq(store_rollout_create(r.st, &r.plan.r, r.plan.nodes, r.plan.n_nodes), 0);
  cr_assert_eq(rollout_abort(r.st, 0, "test"), 0);
  struct rollout_drive_options d;
  rollout_drive_options_default(&d);
  d.poll_ms = 1;
  cr_assert_eq(rollout_drive(r.st, db, &r.e, &r.inv, r.plan.r.id, &d, &r.sum), ERR_CHECK);
  cr_assert_str_eq(r.sum.status, "aborted");
  cr_assert_eq(r.sum.pending, 4);
  cr_assert_eq(rollout_abort(r.st, 0, "again"), ERR_STATE);
  run_free(&r);
}

Test(rollout, node_already_on_target_is_not_touched) {
  const char *yaml =
      "defaults: {driver: \"580.95.05\", labels: {sim.upgrade_ms: \"3\"}, gpus: {model: H200, "
      "count: 8}}\n"
      "nodes:\n  - name: n1\n    driver: \"580.105.08\"\n  - name: n2\n";
  struct run r;
  struct rollout_options o;
  options(&o, "1");
  drive(&r, yaml, &o);
  cr_assert_eq(r.rc, 0, "%s", err_msg());
  json_t *doc;
  cr_assert_eq(sim_exec_report(simf, &doc), 0);
  cr_assert_eq(sim_int(doc, "n1", "upgrades"), 0);
  cr_assert_eq(sim_int(doc, "n2", "upgrades"), 1);
  json_decref(doc);
  run_free(&r);
}

/* ---- 5. the CLI ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int rollouts_in_db(void) {
  if (access(db, F_OK) != 0) return 0;
  struct store *st;
  int n = -1;
  cr_assert_eq(store_open(db, &st), 0);
  store_rollout_count(st, &n);
  store_close(st);
  return n;
}

Test(rollout, cli_bad_input_exits_2_and_writes_nothing) {
  const char *bin = getenv("GPUOPS_BIN"), *fx = getenv("GPUOPS_FIXTURES");
  cr_assert(bin && fx);
  const char *cases[] = {
      "--nodes gpu-01,gpu-99",        /* unknown node */
      "--nodes gpu-01,gpu-02,gpu-01", /* duplicate node */
      "--max-unavailable 0",          /* impossible limits */
      "--max-unavailable 5",          /* more than the fleet's 4 */
      "--max-unavailable 0%",
      "--canary 9", /* canary larger than the fleet */
      "--batch 0",
      "--max-parallel -1",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc =
        sh("%s rollout run --spec %s/rollout-fleet.yaml --driver 580.105.08 --db %s --sim-state %s "
           "%s --apply "
           ">/dev/null 2>%s/err",
           bin, fx, db, simf, cases[i], dir);
    cr_assert_eq(rc, 2, "'%s' exited %d, want 2", cases[i], rc);
    cr_assert_eq(rollouts_in_db(), 0, "'%s' wrote a rollout", cases[i]);
    cr_assert_neq(access(simf, F_OK), 0, "'%s' touched the sim fleet", cases[i]);
  }
  /* an inventory with a duplicate node */
  cr_assert_eq(
      sh("%s rollout run --spec %s/fleet-bad-duplicate.yaml --driver 1 --db %s --apply 2>/dev/null",
         bin, fx, db),
      2);
  cr_assert_eq(rollouts_in_db(), 0);
  /* no version */
  cr_assert_eq(
      sh("%s rollout run --spec %s/rollout-fleet.yaml --db %s --apply 2>/dev/null", bin, fx, db),
      2);
  cr_assert_eq(rollouts_in_db(), 0);
}

Test(rollout, cli_dry_run_is_the_default) {
  const char *bin = getenv("GPUOPS_BIN"), *fx = getenv("GPUOPS_FIXTURES");
  cr_assert_eq(sh("%s rollout run --spec %s/rollout-fleet.yaml --driver 580.105.08 --db %s "
                  "--sim-state %s >/dev/null "
                  "2>&1",
                  bin, fx, db, simf),
               0);
  cr_assert_neq(access(db, F_OK), 0, "a dry run creates no database");
  cr_assert_neq(access(simf, F_OK), 0, "a dry run touches no node");
}

Test(rollout, cli_two_processes_never_drive_one_rollout) {
  const char *bin = getenv("GPUOPS_BIN");
  char spec[300];
  snprintf(spec, sizeof spec, "%s/slow.yaml", dir);
  FILE *f = fopen(spec, "w");
  cr_assert_not_null(f);
  fputs(
      "defaults: {driver: \"1\", labels: {sim.upgrade_ms: \"150\"}, gpus: {model: H200, count: "
      "1}}\n"
      "nodes:\n  - name: n[1-3]\n",
      f);
  fclose(f);
  /* the first process drives the rollout in the background */
  cr_assert_eq(sh("%s rollout run --spec %s --driver 2 --db %s --sim-state %s --poll-ms 2 --apply "
                  "-q >%s/first.out "
                  "2>&1 & echo $! > %s/first.pid",
                  bin, spec, db, simf, dir, dir),
               0);
  /* wait until it has recorded the rollout and holds the lease */
  int rc = 1;
  for (int i = 0; i < 500 && rc != 0; i++) {
    usleep(10000);
    rc = sh("%s rollout status --db %s --audit --format csv 2>/dev/null | grep -q ',lease,'", bin,
            db);
  }
  cr_assert_eq(rc, 0, "the first process never took the lease");
  rc = sh("%s rollout resume --db %s --sim-state %s --apply -q >/dev/null 2>%s/second.err", bin, db,
          simf, dir);
  cr_assert_eq(rc, 1, "the second driver must be refused (exit %d)", rc);
  cr_assert_eq(sh("grep -q 'being driven by pid' %s/second.err", dir), 0);
  /* the first finishes normally */
  rc =
      sh("pid=$(cat %s/first.pid); while kill -0 $pid 2>/dev/null; do sleep 0.02; done; grep -q "
         "'done: 3 done' %s/first.out",
         dir, dir);
  cr_assert_eq(rc, 0, "the first driver did not finish the rollout");
  json_t *doc;
  cr_assert_eq(sim_exec_report(simf, &doc), 0);
  cr_assert_eq(sim_int(doc, "n2", "upgrades"), 1);
  json_decref(doc);
}
