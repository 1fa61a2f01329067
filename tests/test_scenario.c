/*
 * test_scenario.c — fleet/scenario.h: every contention scenario passes its
 * invariants under every policy (the invariants do not depend on which node
 * a policy prefers), and the scenario runner's errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "fleet/policy.h"
#include "fleet/scenario.h"

static void expect_pass(const char *name, const char *policy) {
  struct fleet_scenario_result r;
  cr_assert_eq(fleet_scenario_run(name, policy, &r), 0, "%s: %s", name, err_msg());
  cr_expect_geq(r.n_checks, 3, "%s makes its checks", name);
  for (int i = 0; i < r.n_checks; i++)
    cr_expect(r.checks[i].ok, "%s (%s): %s", name, policy ? policy : "default", r.checks[i].what);
  cr_expect(r.passed);
  json_t *j = fleet_scenario_json(&r);
  cr_expect(json_is_true(json_object_get(j, "passed")));
  cr_expect_eq(json_array_size(json_object_get(j, "checks")), (size_t)r.n_checks);
  json_decref(j);
}

Test(scenario, priority_burst) { expect_pass("priority-burst", NULL); }
Test(scenario, tenant_quota) { expect_pass("tenant-quota", NULL); }
Test(scenario, node_failure) { expect_pass("node-failure", NULL); }
Test(scenario, gang) { expect_pass("gang", NULL); }
Test(scenario, mig_fragmentation) { expect_pass("mig-fragmentation", NULL); }

Test(scenario, every_policy_keeps_the_invariants) {
  int np, ns;
  const struct fleet_policy_ops *const *pol = fleet_policy_all(&np);
  const char *const *names = fleet_scenario_names(&ns);
  cr_expect_eq(ns, 5);
  for (int p = 0; p < np; p++)
    for (int s = 0; s < ns; s++) expect_pass(names[s], pol[p]->name);
}

Test(scenario, unknown_names) {
  struct fleet_scenario_result r;
  cr_expect_eq(fleet_scenario_run("priority", NULL, &r), ERR_NOTFOUND);
  cr_expect_not_null(strstr(err_msg(), "priority-burst"), "lists the names: %s", err_msg());
  cr_expect_eq(fleet_scenario_run("gang", "no-such-policy", &r), ERR_NOTFOUND);
}
