/*
 * test_remediate.c — guarded remediation (maint/remediate.h) on the sim
 * executor: a 1,000-node fleet with a mass XID 79 failure never has more
 * than max-unavailable nodes out of service (observed by the executor's own
 * counter) and raises an alert; repairs, rate limit, cooldown, flap
 * detection, counting a person's drains, dry-run; bad input (unknown and
 * duplicate nodes, impossible limits) refused with nothing written.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "maint/budget.h"
#include "maint/remediate.h"
#include "maint/sim_exec.h"
#include "testutil.h"

static char dir[256], fleet_path[512], audit[512], faults[512];
static struct inventory inv;
static const char **names;
static struct executor ex;

static void fleet(int n) {
  testutil_tmpdir(dir, sizeof dir, "remediate");
  snprintf(fleet_path, sizeof fleet_path, "%s/fleet.json", dir);
  snprintf(audit, sizeof audit, "%s/audit.jsonl", dir);
  snprintf(faults, sizeof faults, "%s/faults.json", dir);
  setenv("GPUOPS_SIM_STATE", faults, 1); /* the sim executor's health: no injected faults */
  char yaml[256];
  snprintf(yaml, sizeof yaml, "nodes:\n  - name: n[0001-%04d]\n    gpus: {model: H200, count: 8}\n",
           n);
  inventory_init(&inv);
  cr_assert_eq(inventory_load_yaml_buf(&inv, yaml, strlen(yaml), "test"), 0, "%s", err_msg());
  names = calloc((size_t)n, sizeof *names);
  for (int i = 0; i < n; i++) names[i] = inv.nodes[i].name;
  struct sim_exec_options o = {.state_path = fleet_path, .upgrade_ms = 1};
  cr_assert_eq(sim_exec_open(&ex, &inv, &o), 0, "%s", err_msg());
}

static void teardown(void) {
  if (ex.ops) ex.ops->close(&ex);
  memset(&ex, 0, sizeof ex);
  inventory_free(&inv);
  free(names);
  testutil_rmrf(dir);
}

static struct remediate_verdict bad(const char *node, enum verdict_action a) {
  struct remediate_verdict v = {.verdict = HEALTH_FAILED, .action = a, .gpu = 0};
  snprintf(v.node, sizeof v.node, "%s", node);
  snprintf(v.summary, sizeof v.summary, "failed (%s): GPU 0 (xid: XID 79)", verdict_action_name(a));
  return v;
}

static struct remediate_policy policy(int max) {
  struct remediate_policy p;
  remediate_policy_default(&p);
  p.max_unavailable = max;
  p.rate_per_hour = 1000;
  p.dry_run = false;
  p.audit_path = audit;
  p.now_ms = 1700000000000LL;
  return p;
}

static int count(const struct remediate_result *r, enum remediate_outcome o) {
  int n = 0;
  for (int i = 0; i < r->n; i++) n += r->decisions[i].outcome == o;
  return n;
}

static int lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}

static int max_out_of_service(void) {
  json_t *doc = NULL;
  cr_assert_eq(sim_exec_report(fleet_path, &doc), 0, "%s", err_msg());
  int v = (int)json_integer_value(json_object_get(doc, "max_out_of_service"));
  json_decref(doc);
  return v;
}

TestSuite(remediate, .fini = teardown, .timeout = 120);

Test(remediate, mass_failure_on_1000_nodes_drains_only_up_to_the_limit) {
  fleet(1000);
  int n = 334, max = 0; /* a third of the fleet reports XID 79 at once */
  struct remediate_verdict *v = calloc((size_t)n, sizeof *v);
  for (int i = 0; i < n; i++) v[i] = bad(names[i * 3], VERDICT_ACTION_REBOOT_NODE);
  struct remediate_policy p = policy(0);
  cr_assert_eq(budget_resolve("5%", 1000, &max), 0);
  cr_assert_eq(max, 50);
  p.max_unavailable = max;
  struct remediate_result r;
  cr_assert_eq(remediate_run(&ex, &p, names, 1000, v, n, &r), 0, "%s", err_msg());
  cr_expect(r.alert, "a mass failure raises an alert");
  cr_expect_eq(count(&r, REMEDIATE_MASS_HOLD), 50);
  cr_expect_eq(count(&r, REMEDIATE_HELD_BUDGET), n - 50);
  cr_expect_eq(count(&r, REMEDIATE_REPAIRED), 0, "nothing is rebooted in a mass failure");
  cr_expect_eq(r.out_after, 50);
  cr_expect_leq(r.out_max, 50);
  cr_expect_leq(max_out_of_service(), 50, "the executor saw %d out at once", max_out_of_service());
  cr_expect_eq(lines(audit), n + 1, "one record per decision and one alert");
  remediate_result_free(&r);
  free(v);
}

Test(remediate, repairs_within_budget_and_counts_a_persons_drain) {
  fleet(10);
  cr_assert_eq(sim_exec_human_drain(&ex, "n0001", "bios update by bob"), 0);
  struct remediate_verdict v[3] = {bad("n0002", VERDICT_ACTION_REBOOT_NODE),
                                   bad("n0003", VERDICT_ACTION_RESET_GPU),
                                   bad("n0004", VERDICT_ACTION_RESTART_APP)};
  struct remediate_policy p = policy(2);
  struct remediate_result r;
  cr_assert_eq(remediate_run(&ex, &p, names, 10, v, 3, &r), 0, "%s", err_msg());
  cr_expect_eq(r.out_before, 1, "the person's drain counts");
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_REPAIRED, "%s", r.decisions[0].detail);
  cr_expect_eq(r.decisions[1].outcome, REMEDIATE_REPAIRED, "%s", r.decisions[1].detail);
  cr_expect_eq(r.decisions[2].outcome, REMEDIATE_REPORT);
  cr_expect_not(r.alert);
  cr_expect_eq(r.out_after, 1, "bob's drain is left alone");
  cr_expect_leq(max_out_of_service(), 2);
  remediate_result_free(&r);
  /* With the budget used up by people, nothing leaves service. */
  cr_assert_eq(sim_exec_human_drain(&ex, "n0005", "rack move"), 0);
  struct remediate_verdict w = bad("n0006", VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(remediate_run(&ex, &p, names, 10, &w, 1, &r), 0, "%s", err_msg());
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_HELD_BUDGET);
  cr_expect(r.alert);
  remediate_result_free(&r);
}

Test(remediate, rate_limit_per_hour) {
  fleet(20);
  struct remediate_verdict v[5];
  for (int i = 0; i < 5; i++) v[i] = bad(names[i], VERDICT_ACTION_RESET_GPU);
  struct remediate_policy p = policy(5);
  p.rate_per_hour = 3;
  struct remediate_result r;
  cr_assert_eq(remediate_run(&ex, &p, names, 20, v, 5, &r), 0, "%s", err_msg());
  cr_expect_eq(count(&r, REMEDIATE_REPAIRED), 3);
  cr_expect_eq(count(&r, REMEDIATE_HELD_RATE), 2);
  cr_expect(r.alert);
  remediate_result_free(&r);
  /* 30 minutes later the hour still holds three actions (from the audit log). */
  p.now_ms += 30 * 60 * 1000;
  struct remediate_verdict w[2] = {bad(names[3], VERDICT_ACTION_RESET_GPU),
                                   bad(names[4], VERDICT_ACTION_RESET_GPU)};
  cr_assert_eq(remediate_run(&ex, &p, names, 20, w, 2, &r), 0);
  cr_expect_eq(count(&r, REMEDIATE_HELD_RATE), 2);
  remediate_result_free(&r);
  /* An hour and a minute after the first ones: room again. */
  p.now_ms += 31 * 60 * 1000;
  cr_assert_eq(remediate_run(&ex, &p, names, 20, w, 2, &r), 0);
  cr_expect_eq(count(&r, REMEDIATE_REPAIRED), 2);
  remediate_result_free(&r);
}

Test(remediate, cooldown_then_flap_keeps_the_node_for_a_human) {
  fleet(5);
  struct remediate_verdict v = bad("n0002", VERDICT_ACTION_RESET_GPU);
  struct remediate_policy p = policy(1);
  p.cooldown_s = 0; /* flap first */
  struct remediate_result r;
  cr_assert_eq(remediate_run(&ex, &p, names, 5, &v, 1, &r), 0);
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_REPAIRED);
  remediate_result_free(&r);
  /* Fails again 20 minutes after the repair: flapping, drained for a human. */
  p.now_ms += 20 * 60 * 1000;
  cr_assert_eq(remediate_run(&ex, &p, names, 5, &v, 1, &r), 0);
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_FLAP_HOLD, "%s", r.decisions[0].detail);
  remediate_result_free(&r);
  struct node_observation o;
  cr_assert_eq(ex.ops->observe(&ex, "n0002", &o), 0);
  cr_expect(o.out_of_service);
  cr_expect(strstr(o.reason, "needs a human") != NULL, "reason: %s", o.reason);
  /* Later runs never repair it on their own. */
  p.now_ms += 2 * 3600 * 1000;
  cr_assert_eq(remediate_run(&ex, &p, names, 5, &v, 1, &r), 0);
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_ALREADY_OUT);
  remediate_result_free(&r);
  /* Cooldown: another node acted on 2 minutes ago is left alone. */
  struct remediate_verdict w = bad("n0003", VERDICT_ACTION_RESET_GPU);
  p.cooldown_s = 600;
  p.flap_window_s = 0;
  cr_assert_eq(ex.ops->uncordon(&ex, "n0002", true), 0);
  cr_assert_eq(remediate_run(&ex, &p, names, 5, &w, 1, &r), 0);
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_REPAIRED);
  remediate_result_free(&r);
  p.now_ms += 120 * 1000;
  cr_assert_eq(remediate_run(&ex, &p, names, 5, &w, 1, &r), 0);
  cr_expect_eq(r.decisions[0].outcome, REMEDIATE_HELD_COOLDOWN, "%s", r.decisions[0].detail);
  remediate_result_free(&r);
}

Test(remediate, dry_run_changes_nothing) {
  fleet(10);
  struct remediate_verdict v[3] = {bad("n0001", VERDICT_ACTION_REBOOT_NODE),
                                   bad("n0002", VERDICT_ACTION_DRAIN_AND_REPAIR),
                                   bad("n0003", VERDICT_ACTION_REBOOT_NODE)};
  struct remediate_policy p = policy(3);
  p.dry_run = true;
  struct remediate_result r;
  cr_assert_eq(remediate_run(&ex, &p, names, 10, v, 3, &r), 0);
  cr_expect_eq(r.actions, 3);
  cr_expect_eq(r.out_after, 1, "would be out: the drain_and_repair node");
  cr_expect_eq(max_out_of_service(), 0);
  cr_expect_eq(access(audit, F_OK), -1, "dry-run writes no audit log");
  remediate_result_free(&r);
}

Test(remediate, bad_input_is_refused_and_nothing_is_written) {
  fleet(10);
  struct remediate_policy p = policy(2);
  struct remediate_result r;
  struct remediate_verdict unknown = bad("nope", VERDICT_ACTION_REBOOT_NODE);
  cr_expect_eq(remediate_run(&ex, &p, names, 10, &unknown, 1, &r), ERR_INVALID);
  cr_expect(strstr(err_msg(), "'nope' is not in the fleet"), "%s", err_msg());
  struct remediate_verdict dup[2] = {bad("n0001", VERDICT_ACTION_REBOOT_NODE),
                                     bad("n0001", VERDICT_ACTION_RESET_GPU)};
  cr_expect_eq(remediate_run(&ex, &p, names, 10, dup, 2, &r), ERR_INVALID);
  cr_expect(strstr(err_msg(), "appears twice"), "%s", err_msg());
  p.max_unavailable = 11;
  cr_expect_eq(remediate_run(&ex, &p, names, 10, dup, 1, &r), ERR_INVALID);
  p.max_unavailable = 0;
  cr_expect_eq(remediate_run(&ex, &p, names, 10, dup, 1, &r), ERR_INVALID);
  p.max_unavailable = 1, p.rate_per_hour = 0;
  cr_expect_eq(remediate_run(&ex, &p, names, 10, dup, 1, &r), ERR_INVALID);
  int n = 0;
  cr_expect_eq(budget_resolve("150%", 10, &n), ERR_INVALID);
  cr_expect_eq(budget_resolve("-1", 10, &n), ERR_INVALID);
  cr_expect_eq(budget_resolve("abc", 10, &n), ERR_INVALID);
  cr_expect_eq(budget_resolve("11", 10, &n), ERR_INVALID);
  cr_expect_eq(budget_resolve("25%", 10, &n), 0);
  cr_expect_eq(n, 3, "25%% of 10 rounds up to 3");
  cr_expect_eq(access(audit, F_OK), -1, "no audit log written");
  cr_expect_eq(max_out_of_service(), 0);
}
