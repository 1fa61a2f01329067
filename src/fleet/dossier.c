/*
 * dossier.c — the fleet section of the dossier (see dossier.h).
 *
 * Sections: the policy comparison; the scenarios; the section.
 */
#include "fleet/dossier.h"

#include <math.h>
#include <stdio.h>

#include "base/err.h"
#include "fleet/compare.h"
#include "fleet/scenario.h"
#include "fleet/workload.h"
#include "report/report.h"

#define DOSSIER_NODES 300
#define DOSSIER_TASKS 2000
#define DOSSIER_SEEDS 2

/* ---- the policy comparison ----------------------------------------------- */

static int compare(struct fleet_compare *cmp, char *why, size_t len) {
  static const char *const policies[] = {"random", "best-fit", "fgd", "fgd-cpu"};
  struct inventory inv;
  struct fleet_taskset ts;
  struct fleet_sim s = {0};
  struct fleet_gen_fleet f = {.n_nodes = DOSSIER_NODES, .model = "mix"};
  struct fleet_gen_tasks g = {.n_tasks = DOSSIER_TASKS, .seed = 7};
  int rc = fleet_gen_fleet(&inv, &f);
  if (rc) goto out0;
  if ((rc = fleet_gen_tasks(&ts, &g))) goto out1;
  if ((rc = fleet_sim_init(&s, &inv, &ts, false))) goto out2;
  struct fleet_sim_config base = {.arrival = 1.3};
  rc = fleet_compare_run(&s, policies, 4, 42, DOSSIER_SEEDS, &base, cmp);
  fleet_sim_free(&s);
out2:
  fleet_taskset_free(&ts);
out1:
  inventory_free(&inv);
out0:
  if (rc) snprintf(why, len, "%s", err_msg());
  return rc;
}

static void add_compare(json_t *sec, const struct fleet_compare *cmp) {
  static const char *cols[] = {
      "policy",    "paper name", "idle GPUs at 100%", "idle GPUs at 130%", "allocation at 130%",
      "ms per run"};
  json_t *rows = report_add_table(sec, "Paper-mode experiment, synthetic workload", cols, 6);
  for (int i = 0; i < cmp->n_rows; i++) {
    const struct fleet_compare_row *r = &cmp->rows[i];
    char alloc[16];
    snprintf(alloc, sizeof alloc, "%.2f%%", 100 * r->alloc_ratio.mean);
    json_array_append_new(
        rows, json_pack("[s,o,f,f,s,f]", r->policy, r->paper ? json_string(r->paper) : json_null(),
                        round(10 * r->unalloc_100.mean) / 10, round(10 * r->unalloc_end.mean) / 10,
                        alloc, round(10 * 1000 * r->wall_s.mean) / 10));
  }
}

/* ---- the scenarios ------------------------------------------------------- */

static int add_scenarios(json_t *sec) {
  static const char *cols[] = {"scenario", "verdict", "checks", "first failed check"};
  json_t *rows = report_add_table(sec, "Contention scenarios", cols, 4);
  int n, failed = 0;
  const char *const *names = fleet_scenario_names(&n);
  for (int i = 0; i < n; i++) {
    struct fleet_scenario_result r;
    char checks[32];
    if (fleet_scenario_run(names[i], NULL, &r) < 0) {
      json_array_append_new(rows, json_pack("[s,s,s,s]", names[i], "error", "", err_msg()));
      failed++;
      continue;
    }
    const char *first = "";
    int ok = 0;
    for (int k = 0; k < r.n_checks; k++) {
      ok += r.checks[k].ok;
      if (!r.checks[k].ok && !first[0]) first = r.checks[k].what;
    }
    snprintf(checks, sizeof checks, "%d/%d", ok, r.n_checks);
    json_array_append_new(
        rows, json_pack("[s,s,s,s]", names[i], r.passed ? "pass" : "FAIL", checks, first));
    failed += !r.passed;
  }
  return failed;
}

/* ---- the section --------------------------------------------------------- */

json_t *fleet_dossier_section(void) {
  struct fleet_compare cmp;
  char why[512] = "";
  int rc = compare(&cmp, why, sizeof why);
  if (rc) {
    json_t *sec = report_section("fleet", "Fleet scheduling", "fail", "the simulation did not run");
    report_add_note(sec, "%s", why);
    return sec;
  }
  const struct fleet_compare_row *fgd = &cmp.rows[2], *ours = &cmp.rows[3], *rnd = &cmp.rows[0];
  char summary[256];
  snprintf(summary, sizeof summary,
           "%d synthetic nodes (%.0f GPUs): at 130%% arrival FGD leaves %.0f GPUs idle, fgd-cpu "
           "(ours) %.0f, random %.0f",
           DOSSIER_NODES, cmp.capacity_gpus, fgd->unalloc_end.mean, ours->unalloc_end.mean,
           rnd->unalloc_end.mean);
  json_t *sec = report_section("fleet", "Fleet scheduling", "ok", summary);
  add_compare(sec, &cmp);
  int failed = add_scenarios(sec);
  if (failed) json_object_set_new(sec, "status", json_string("warn"));
  report_add_note(sec,
                  "Synthetic fleet with the Alibaba 2023 node mix and a workload drawn like its "
                  "task list; %d seeds, paper mode (resampled to 130%% of GPU capacity, no "
                  "departures). The full trace comparison is `gpuops fleet compare` "
                  "(docs/fleet.md).",
                  DOSSIER_SEEDS);
  if (failed) report_add_note(sec, "%d contention scenario(s) failed their invariants", failed);
  json_object_set_new(sec, "compare", fleet_compare_json(&cmp, false));
  fleet_compare_free(&cmp);
  return sec;
}
