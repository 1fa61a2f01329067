/*
 * test_fleet_sim.c — fleet/sim.h, compare.h, chart.h, capacity.h, dossier.h:
 * the paper mode (resampling to the target, the curve, determinism), the
 * replay mode (queueing, invariants under preemption and failures), the
 * comparison and its chart, capacity planning, the dossier section, and the
 * paper's anchor on the real Alibaba trace (our FGD at or under the paper's
 * 286 idle GPUs, fgd-cpu under FGD).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fleet/capacity.h"
#include "fleet/chart.h"
#include "fleet/compare.h"
#include "fleet/dossier.h"
#include "fleet/sim.h"
#include "fleet/trace.h"
#include "fleet/workload.h"
#include "inventory/alibaba.h"
#include "testutil.h"

struct world {
  struct inventory inv;
  struct fleet_taskset ts;
  struct fleet_sim sim;
};

static void synthetic(struct world *w, int nodes, int tasks, double rate) {
  struct fleet_gen_fleet f = {.n_nodes = nodes, .model = "mix"};
  struct fleet_gen_tasks g = {.n_tasks = tasks,
                              .seed = 5,
                              .arrivals_per_hour = rate,
                              .mean_run_s = 1800,
                              .n_tenants = 2,
                              .high_priority = 0.3};
  cr_assert_eq(fleet_gen_fleet(&w->inv, &f), 0, "%s", err_msg());
  cr_assert_eq(fleet_gen_tasks(&w->ts, &g), 0, "%s", err_msg());
  cr_assert_eq(fleet_sim_init(&w->sim, &w->inv, &w->ts, false), 0, "%s", err_msg());
}

static void world_free(struct world *w) {
  fleet_sim_free(&w->sim);
  fleet_taskset_free(&w->ts);
  inventory_free(&w->inv);
}

/* ---- paper mode ---------------------------------------------------------- */

Test(paper, resamples_to_the_target_and_records_the_curve) {
  struct world w;
  synthetic(&w, 150, 800, 0);
  struct fleet_sim_config cfg = {
      .mode = FLEET_MODE_PAPER, .policy = "fgd", .seed = 3, .arrival = 1.3};
  struct fleet_sim_result r;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &r), 0, "%s", err_msg());
  double cap = r.capacity_gpus;
  cr_expect(r.arrived_gpus <= 1.3 * cap + 1e-9, "arrivals stop at the target: %.1f",
            r.arrived_gpus);
  cr_expect(r.arrived_gpus > 1.3 * cap - 8, "and come within one task of it: %.1f of %.1f",
            r.arrived_gpus, 1.3 * cap);
  cr_expect_eq(r.placed + r.unplaced, r.arrived);
  cr_expect_gt(r.unplaced, 0, "past 100%% some tasks cannot fit");
  cr_expect_float_eq(r.unalloc_at_end, cap - r.alloc_gpus, 1e-9);
  cr_expect(r.unalloc_at_100 >= r.unalloc_at_end - 1e-9, "no departures: idle GPUs only shrink");
  cr_expect_gt(r.n_curve, 100);
  for (int i = 1; i < r.n_curve; i++) {
    cr_assert_geq(r.curve[i].arrived, r.curve[i - 1].arrived);
    cr_assert_geq(r.curve[i].allocated, r.curve[i - 1].allocated - 1e-12, "allocation only grows");
    cr_assert_leq(r.curve[i].allocated, r.curve[i].arrived + 1e-9, "never more than arrived");
  }
  cr_expect(r.frag_ratio >= 0 && r.frag_ratio <= 1);
  struct fleet_sim_result again;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &again), 0);
  cr_expect_float_eq(again.unalloc_at_end, r.unalloc_at_end, 1e-12, "same seed, same run");
  cr_expect_eq(again.placed, r.placed);
  fleet_sim_result_free(&again);
  cfg.seed = 4;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &again), 0);
  cr_expect(again.placed != r.placed || again.unalloc_at_end != r.unalloc_at_end,
            "another seed, another run");
  fleet_sim_result_free(&again);
  fleet_sim_result_free(&r);
  world_free(&w);
}

Test(paper, a_longer_list_is_cut_down) {
  struct world w;
  synthetic(&w, 40, 3000, 0); /* far more than 1.3 x 40 nodes' GPUs */
  struct fleet_sim_config cfg = {
      .mode = FLEET_MODE_PAPER, .policy = "best-fit", .seed = 1, .arrival = 0.5};
  struct fleet_sim_result r;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &r), 0, "%s", err_msg());
  cr_expect(r.arrived_gpus <= 0.5 * r.capacity_gpus + 1e-9);
  cr_expect(r.arrived < 3000);
  cr_expect(isnan(r.unalloc_at_100), "the arrivals never reached 100%%");
  fleet_sim_result_free(&r);
  cfg.policy = "no-such-policy";
  cr_expect_eq(fleet_sim_run(&w.sim, &cfg, &r), ERR_NOTFOUND);
  world_free(&w);
}

/* ---- replay -------------------------------------------------------------- */

Test(replay, ample_capacity_means_no_queueing) {
  struct world w;
  synthetic(&w, 200, 500, 60); /* one task a minute on ~1000 GPUs */
  struct fleet_sim_config cfg = {.mode = FLEET_MODE_REPLAY,
                                 .policy = "fgd-cpu",
                                 .seed = 1,
                                 .check_invariants = true,
                                 .record_latency = true};
  struct fleet_sim_result r;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &r), 0, "%s", err_msg());
  cr_expect_eq(r.arrived, 500);
  cr_expect_eq(r.started, 500);
  cr_expect_eq(r.finished, 500);
  cr_expect_float_eq(r.queue_p99_s, 0, 1e-9);
  cr_expect(isfinite(r.decision_p99_us) && r.decision_p99_us > 0);
  cr_expect_float_eq(r.tenants[1].share + r.tenants[2].share, 1.0, 1e-9);
  fleet_sim_result_free(&r);
  world_free(&w);
}

Test(replay, contention_queues_and_the_books_hold) {
  struct world w;
  synthetic(&w, 12, 1500, 3000); /* ~50 GPUs, far more work than fits */
  int n = w.sim.cluster.n_nodes;
  struct fleet_node_event ev[] = {{600, 0, FLEET_EV_FAIL},
                                  {900, 1, FLEET_EV_DRAIN},
                                  {2400, 0, FLEET_EV_RECOVER},
                                  {3000, n - 1, FLEET_EV_FAIL}};
  struct fleet_tenant_limit lim[3] = {{0, 1}, {30, 2}, {0, 1}};
  struct fleet_sim_config cfg = {.mode = FLEET_MODE_REPLAY,
                                 .policy = "fgd",
                                 .seed = 1,
                                 .preempt = true,
                                 .fair_share = true,
                                 .n_limits = 3,
                                 .limits = lim,
                                 .n_events = 4,
                                 .events = ev,
                                 .check_invariants = true,
                                 .record_tasks = true};
  struct fleet_sim_result r;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &r), 0, "%s", err_msg());
  cr_expect_gt(r.queue_p99_s, 0, "contention: tasks waited");
  cr_expect_gt(r.preemptions, 0, "high priority evicted low priority");
  cr_expect_lt(r.max_victim_priority, r.min_preemptor_priority, "never the other way round");
  cr_expect_gt(r.requeued_by_failure, 0);
  cr_expect(r.tenants[1].peak_gpus <= 30 + 1e-9, "the cap held: %.1f", r.tenants[1].peak_gpus);
  int finished = 0;
  for (int i = 0; i < w.ts.n; i++) {
    cr_assert_leq(r.tasks[i].finishes, 1, "task %d finished twice", i);
    finished += r.tasks[i].finishes;
  }
  cr_expect_eq(finished, r.finished);
  cr_expect_eq(r.started + r.never_started, r.arrived);
  fleet_sim_result_free(&r);
  world_free(&w);
}

Test(replay, needs_times) {
  struct world w;
  synthetic(&w, 10, 50, 0);
  struct fleet_sim_config cfg = {.mode = FLEET_MODE_REPLAY, .policy = "fgd", .seed = 1};
  struct fleet_sim_result r;
  cr_assert_eq(fleet_sim_run(&w.sim, &cfg, &r), 0, "everything arrives at once: %s", err_msg());
  cr_expect_eq(r.arrived, 50);
  fleet_sim_result_free(&r);
  struct fleet_node_event bad = {10, 999, FLEET_EV_FAIL};
  cfg.n_events = 1, cfg.events = &bad;
  cr_expect_eq(fleet_sim_run(&w.sim, &cfg, &r), ERR_INVALID, "a node that does not exist");
  world_free(&w);
}

/* ---- compare, chart, capacity, dossier ----------------------------------- */

Test(compare, table_json_and_chart) {
  struct world w;
  synthetic(&w, 100, 600, 0);
  const char *pol[] = {"random", "best-fit", "fgd"};
  struct fleet_sim_config base = {.arrival = 1.2};
  struct fleet_compare cmp;
  cr_assert_eq(fleet_compare_run(&w.sim, pol, 3, 42, 3, &base, &cmp), 0, "%s", err_msg());
  cr_expect_eq(cmp.n_rows, 3);
  cr_expect_eq(cmp.n_curve, 121);
  cr_expect_str_eq(cmp.rows[2].paper, "FGD");
  cr_expect_eq(cmp.rows[0].runs, 3);
  cr_expect(cmp.rows[0].unalloc_end.sd >= 0);
  cr_expect_gt(cmp.rows[0].unalloc_end.mean, cmp.rows[2].unalloc_end.mean, "FGD beats random");
  for (int i = 0; i < cmp.n_curve; i++) cr_assert_leq(cmp.rows[1].curve[i], i * 0.01 + 1e-9);
  struct table *t = fleet_compare_table(&cmp);
  cr_expect_eq(table_rows(t), 3);
  cr_expect_str_eq(table_cell(t, 1, 0), "best-fit");
  table_free(t);
  json_t *doc = fleet_compare_json(&cmp, true);
  cr_expect_eq(json_array_size(json_object_get(doc, "policies")), 3);
  cr_expect_eq(json_array_size(
                   json_object_get(json_array_get(json_object_get(doc, "policies"), 0), "curve")),
               121);
  json_decref(doc);
  char dir[64], path[128];
  testutil_tmpdir(dir, sizeof dir, "chart");
  snprintf(path, sizeof path, "%s/c.svg", dir);
  cr_assert_eq(fleet_chart_svg_file(path, &cmp, "a <title> & more"), 0, "%s", err_msg());
  FILE *f = fopen(path, "r");
  char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  cr_expect_eq(strncmp(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
  cr_expect_not_null(strstr(buf, "</svg>"));
  cr_expect_not_null(strstr(buf, "a &lt;title&gt; &amp; more"), "text is escaped");
  int lines = 0;
  for (const char *p = buf; (p = strstr(p, "<polyline")); p++) lines++;
  cr_expect_eq(lines, 3, "one line per policy");
  cr_expect_null(strstr(buf, "<script"), "self-contained");
  testutil_rmrf(dir);
  fleet_compare_free(&cmp);
  world_free(&w);
}

Test(capacity, bisection_finds_the_smallest_passing_size) {
  struct fleet_taskset ts;
  struct fleet_gen_tasks g = {
      .n_tasks = 400, .seed = 2, .arrivals_per_hour = 400, .mean_run_s = 900};
  cr_assert_eq(fleet_gen_tasks(&ts, &g), 0);
  struct fleet_capacity_spec sp = {.model = "H200",
                                   .gpus_per_node = 8,
                                   .cpu_milli = 112000,
                                   .memory_mib = 2097152,
                                   .target_p99_s = 60,
                                   .seed = 1};
  struct fleet_capacity_result r;
  cr_assert_eq(fleet_capacity_plan(&ts, &sp, &r), 0, "%s", err_msg());
  cr_assert(r.found);
  cr_expect_eq(r.gpus, 8 * r.nodes);
  bool below_fails = true, at_passes = false;
  for (int i = 0; i < r.n_probes; i++) {
    if (r.probes[i].nodes == r.nodes) at_passes = r.probes[i].ok;
    if (r.probes[i].nodes < r.nodes && r.probes[i].ok) below_fails = false;
    if (r.probes[i].nodes == r.nodes - 1)
      cr_expect(!r.probes[i].ok, "one node fewer misses the target");
  }
  cr_expect(at_passes && below_fails);
  cr_expect_gt(r.nodes, 1);
  sp.target_p99_s = 1e9;
  cr_assert_eq(fleet_capacity_plan(&ts, &sp, &r), 0);
  cr_expect(r.found);
  fleet_taskset_free(&ts);
  struct fleet_taskset untimed;
  struct fleet_gen_tasks u = {.n_tasks = 10, .seed = 1};
  cr_assert_eq(fleet_gen_tasks(&untimed, &u), 0);
  untimed.has_times = false;
  cr_expect_eq(fleet_capacity_plan(&untimed, &sp, &r), ERR_INVALID);
  fleet_taskset_free(&untimed);
}

Test(dossier, the_fleet_section) {
  json_t *sec = fleet_dossier_section();
  cr_assert_not_null(sec);
  cr_expect_str_eq(json_string_value(json_object_get(sec, "id")), "fleet");
  cr_expect_str_eq(json_string_value(json_object_get(sec, "status")), "ok", "%s",
                   json_string_value(json_object_get(sec, "summary")));
  json_t *tables = json_object_get(sec, "tables");
  cr_assert_eq(json_array_size(tables), 2);
  cr_expect_eq(json_array_size(json_object_get(json_array_get(tables, 0), "rows")), 4);
  cr_expect_eq(json_array_size(json_object_get(json_array_get(tables, 1), "rows")), 5);
  json_decref(sec);
}

/* ---- the paper's anchor on the real trace -------------------------------- */

Test(anchor, fgd_reproduces_the_paper_and_fgd_cpu_beats_it, .timeout = 120) {
  const char *nodes = testutil_trace_file("openb_node_list_gpu_node.csv");
  const char *tasks = testutil_trace_file("openb_pod_list_default.csv");
  if (!nodes || !tasks)
    TEST_SKIP_OR_FAIL("the Alibaba trace is not in $GPUOPS_SHARED_DIR/data/alibaba-gpu-2023");
  struct world w;
  cr_assert_eq(alibaba_load_nodes(&w.inv, nodes), 0, "%s", err_msg());
  cr_assert_eq(fleet_trace_load(&w.ts, tasks), 0, "%s", err_msg());
  cr_assert_eq(fleet_sim_init(&w.sim, &w.inv, &w.ts, false), 0, "%s", err_msg());
  const char *pol[] = {"best-fit", "fgd", "fgd-cpu"};
  struct fleet_sim_config base = {.arrival = 1.3};
  struct fleet_compare cmp;
  cr_assert_eq(fleet_compare_run(&w.sim, pol, 3, 42, 10, &base, &cmp), 0, "%s", err_msg());
  /* The paper (ATC'23 artifact, same trace, 1.3x, 10 seeds): BestFit 430, FGD 286 idle GPUs. */
  cr_expect_leq(cmp.rows[1].unalloc_end.mean, 286, "our FGD: %.1f", cmp.rows[1].unalloc_end.mean);
  cr_expect_lt(cmp.rows[2].unalloc_end.mean, cmp.rows[1].unalloc_end.mean,
               "fgd-cpu %.1f vs fgd %.1f", cmp.rows[2].unalloc_end.mean,
               cmp.rows[1].unalloc_end.mean);
  cr_expect(fabs(cmp.rows[0].unalloc_end.mean - 430) < 40, "best-fit near the paper's 430: %.1f",
            cmp.rows[0].unalloc_end.mean);
  fleet_compare_free(&cmp);
  world_free(&w);
}
