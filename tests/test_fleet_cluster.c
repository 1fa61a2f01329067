/*
 * test_fleet_cluster.c — fleet/cluster.h and fleet/frag.h: the live cluster
 * model (whole, shared and MIG GPUs, apply/release, the books it keeps) and
 * the fragmentation measure (a hand-worked example, and the fast evaluation
 * against a brute-force one on random states).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "fleet/frag.h"
#include "fleet/sim.h"
#include "fleet/policy.h"
#include "fleet/workload.h"
#include "inventory/alibaba.h"
#include "testutil.h"

static struct fleet_req req(uint32_t cpu, uint16_t gpus, uint16_t milli) {
  return (struct fleet_req){.cpu_milli = cpu,
                            .memory_mib = 1024,
                            .num_gpu = gpus,
                            .gpu_milli = milli,
                            .mig_profile = -1,
                            .kind = (int16_t)(gpus == 0      ? -1
                                              : milli < 1000 ? 0
                                                             : gpus),
                            .model_mask = FLEET_ANY_MODEL,
                            .cls = -1};
}

static struct fleet_req mig_req(int profile) {
  struct fleet_req r = req(1000, 1, 142);
  r.mig_profile = (int16_t)profile;
  r.kind = FLEET_KIND_MIG;
  return r;
}

/* ---- the cluster --------------------------------------------------------- */

Test(cluster, built_from_the_node_list) {
  struct inventory inv;
  struct fleet_cluster c;
  cr_assert_eq(alibaba_load_nodes(&inv, testutil_fixture("fleet-nodes-good.csv")), 0, "%s", err_msg());
  cr_assert_eq(fleet_cluster_build(&c, &inv, false), 0, "%s", err_msg());
  cr_expect_eq(c.n_nodes, 4);
  cr_expect_eq(c.n_gpus, 18);
  cr_expect_eq(c.n_models, 3);
  cr_expect_eq(fleet_cluster_model(&c, "T4"), 1);
  cr_expect_eq(c.nodes[2].model, -1, "no GPUs, no model");
  cr_expect_eq(c.max_cpu_milli, 112000);
  cr_expect_eq(c.max_node_gpus, 8);
  cr_expect_eq(c.nodes[0].n_idle, 8);
  cr_expect_eq(c.nodes[0].max_share_free, 1000);
  cr_expect_float_eq(fleet_cluster_gpus(&c), 18.0, 1e-9);
  cr_expect_eq(fleet_cluster_check(&c), 0, "%s", err_msg());
  fleet_cluster_free(&c);
  inventory_free(&inv);
}

Test(cluster, apply_and_release_keep_the_books) {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_gen_fleet f = {.n_nodes = 2,
                              .model = "T4",
                              .gpus_per_node = 4,
                              .cpu_milli = 16000,
                              .memory_mib = 65536,
                              .shared = true};
  cr_assert_eq(fleet_gen_fleet(&inv, &f), 0, "%s", err_msg());
  cr_assert_eq(fleet_cluster_build(&c, &inv, false), 0, "%s", err_msg());
  struct fleet_req share = req(2000, 1, 300), whole = req(4000, 3, 1000), cpu = req(12000, 0, 0);
  struct fleet_place p1, p2, p3;
  uint32_t v0 = c.nodes[0].version;
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 0, &share, -1, FLEET_SEL_BEST, &p1), 0);
  cr_expect_eq(p1.gpus, 1u, "an idle node: the first GPU");
  fleet_cluster_apply(&c, &share, &p1);
  cr_expect_gt(c.nodes[0].version, v0, "a change bumps the version");
  cr_expect_eq(c.free[0], 700);
  cr_expect_eq(c.nodes[0].n_idle, 3);
  cr_expect_eq(c.nodes[0].free_total, 3700);
  cr_expect_eq(c.nodes[0].cpu_free, 14000);
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 0, &whole, -1, FLEET_SEL_BEST, &p2), 0);
  cr_expect_eq(p2.gpus, 0xEu, "the three idle GPUs");
  fleet_cluster_apply(&c, &whole, &p2);
  cr_expect_eq(c.nodes[0].n_idle, 0);
  cr_expect(!fleet_fits(&c, 0, &whole), "no idle GPU left");
  cr_expect(fleet_fits(&c, 0, &share), "700 left on GPU 0 takes 300");
  cr_expect(!fleet_fits(&c, 0, &cpu), "10000 CPU left, 12000 asked");
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 1, &cpu, -1, FLEET_SEL_BEST, &p3), 0);
  fleet_cluster_apply(&c, &cpu, &p3);
  cr_expect_float_eq(fleet_cluster_alloc_gpus(&c), 3.3, 1e-9);
  cr_expect_eq(c.nodes[0].kind_mask, (1u << 0) | (1u << 3), "a share task and a 3-GPU task");
  cr_expect_eq(fleet_cluster_check(&c), 0, "%s", err_msg());
  fleet_cluster_release(&c, &whole, &p2);
  fleet_cluster_release(&c, &share, &p1);
  fleet_cluster_release(&c, &cpu, &p3);
  cr_expect_eq(c.nodes[0].n_idle, 4);
  cr_expect_eq(c.nodes[0].cpu_free, 16000);
  cr_expect_eq(c.nodes[0].kind_mask, 0u);
  cr_expect_float_eq(fleet_cluster_alloc_gpus(&c), 0, 1e-12);
  cr_expect_eq(fleet_cluster_check(&c), 0, "%s", err_msg());
  c.free[3] = 999; /* corrupt the books: the check must notice */
  cr_expect_eq(fleet_cluster_check(&c), ERR_INTERNAL);
  fleet_cluster_free(&c);
  inventory_free(&inv);
}

Test(cluster, whole_gpus_refuse_fractions_unless_shared) {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_gen_fleet f = {.n_nodes = 1, .model = "H200", .gpus_per_node = 8};
  cr_assert_eq(fleet_gen_fleet(&inv, &f), 0, "%s", err_msg());
  cr_assert_eq(fleet_cluster_build(&c, &inv, false), 0);
  struct fleet_req share = req(1000, 1, 500), whole = req(1000, 1, 1000);
  cr_expect(!fleet_fits(&c, 0, &share), "H200s from a spec are not shared");
  cr_expect(fleet_fits(&c, 0, &whole));
  fleet_cluster_free(&c);
  cr_assert_eq(fleet_cluster_build(&c, &inv, true), 0);
  cr_expect(fleet_fits(&c, 0, &share), "--share-gpus");
  fleet_cluster_free(&c);
  inventory_free(&inv);
}

Test(cluster, model_constraints) {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_taskset ts;
  cr_assert_eq(alibaba_load_nodes(&inv, testutil_fixture("fleet-nodes-good.csv")), 0);
  cr_assert_eq(fleet_cluster_build(&c, &inv, false), 0);
  fleet_taskset_init(&ts);
  struct fleet_task t = {
      .cpu_milli = 1000, .memory_mib = 1, .num_gpu = 1, .gpu_milli = 1000, .mig_profile = -1};
  t.model_mask = 1ULL << fleet_taskset_model(&ts, "T4");
  struct fleet_req r;
  fleet_req_from_task(&r, &t, &ts, &c);
  cr_expect(!fleet_fits(&c, 0, &r), "G2 node");
  cr_expect(fleet_fits(&c, 1, &r), "T4 node");
  t.model_mask = 1ULL << fleet_taskset_model(&ts, "A100-80GB");
  fleet_req_from_task(&r, &t, &ts, &c);
  cr_expect_eq(r.model_mask, 0u, "a model the fleet lacks");
  for (int i = 0; i < c.n_nodes; i++) cr_expect(!fleet_fits(&c, i, &r));
  fleet_taskset_free(&ts);
  fleet_cluster_free(&c);
  inventory_free(&inv);
}

Test(cluster, mig_slots_follow_the_planner_and_stay_valid) {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_gen_fleet f = {.n_nodes = 1, .model = "H200", .gpus_per_node = 1, .mig = true};
  cr_assert_eq(fleet_gen_fleet(&inv, &f), 0, "%s", err_msg());
  cr_assert_eq(fleet_cluster_build(&c, &inv, false), 0, "%s", err_msg());
  cr_expect_eq(c.n_mig_gpus, 1);
  struct fleet_req whole = req(1000, 1, 1000);
  cr_expect(!fleet_fits(&c, 0, &whole), "no whole GPU on a MIG GPU");
  struct fleet_req g1 = mig_req(19), g4 = mig_req(5), g2 = mig_req(14), g7 = mig_req(0);
  struct fleet_place p[3];
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 0, &g1, -1, FLEET_SEL_BEST, &p[0]), 0);
  cr_expect_neq(p[0].mig_start, 0, "a 1g instance keeps slice 0 free for a 4g (got %d)",
                p[0].mig_start);
  fleet_cluster_apply(&c, &g1, &p[0]);
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 0, &g4, -1, FLEET_SEL_BEST, &p[1]), 0);
  cr_expect_eq(p[1].mig_start, 0);
  fleet_cluster_apply(&c, &g4, &p[1]);
  cr_assert_eq(fleet_cluster_choose_gpus(&c, 0, &g2, -1, FLEET_SEL_BEST, &p[2]), 0, "%s",
               err_msg());
  fleet_cluster_apply(&c, &g2, &p[2]);
  cr_expect_eq(c.gpus[0].mig_compute, 7);
  cr_expect_eq(c.nodes[0].mig_free_slices, 0);
  cr_expect(!fleet_fits(&c, 0, &g1), "full");
  cr_expect_float_eq(fleet_cluster_alloc_gpus(&c), 1.0, 1e-9);
  cr_expect_eq(fleet_cluster_check(&c), 0, "%s", err_msg());
  for (int i = 2; i >= 0; i--) fleet_cluster_release(&c, i == 2 ? &g2 : i == 1 ? &g4 : &g1, &p[i]);
  cr_expect_eq(c.gpus[0].n_mig, 0);
  cr_expect(fleet_fits(&c, 0, &g7), "empty again: a 7g fits");
  cr_expect_eq(fleet_cluster_check(&c), 0, "%s", err_msg());
  fleet_cluster_free(&c);
  inventory_free(&inv);
}

Test(cluster, refuses_what_it_cannot_model) {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_gen_fleet f = {.n_nodes = 1, .model = "T4", .gpus_per_node = 2};
  cr_assert_eq(fleet_gen_fleet(&inv, &f), 0);
  snprintf(inv.nodes[0].gpus[1].model_name, INV_NAME_MAX, "P100");
  cr_expect_eq(fleet_cluster_build(&c, &inv, false), ERR_INVALID);
  cr_expect_not_null(strstr(err_msg(), "mixes GPU models T4 and P100"), "%s", err_msg());
  snprintf(inv.nodes[0].gpus[1].model_name, INV_NAME_MAX, "T4");
  inv.nodes[0].gpus[0].mig_enabled = true;
  cr_expect_eq(fleet_cluster_build(&c, &inv, false), ERR_INVALID);
  cr_expect_not_null(strstr(err_msg(), "no MIG profiles"), "%s", err_msg());
  inventory_free(&inv);
}

/* ---- the fragmentation measure ------------------------------------------- */

/* Typical tasks: A (1 core, half a GPU) x2, B (1 core, 1 GPU) x1, C (1 core, no GPU) x1. */
static void hand_frag(struct fleet_frag *f) {
  struct fleet_req reqs[4] = {req(1000, 1, 500), req(1000, 1, 500), req(1000, 1, 1000),
                              req(1000, 0, 0)};
  cr_assert_eq(fleet_frag_build(f, reqs, 4, 1.0), 0, "%s", err_msg());
  cr_assert_eq(f->n_classes, 3);
  cr_expect_float_eq(f->classes[0].p, 0.5, 1e-12);
}

Test(frag, the_definition_on_a_hand_worked_node) {
  struct fleet_frag f;
  hand_frag(&f);
  /* Two shared GPUs with 1000 and 300 free, 8 cores free: R = 1300.
   * F(A) = 300 (GPU with 300 < 500), F(B) = 300, F(C) = 1300 (no GPU: all of it).
   * F = 0.5*300 + 0.25*300 + 0.25*1300 = 550. */
  struct fleet_frag_view v = {
      .model = 0, .cpu_free = 8000, .total = 1300, .n_idle = 1, .n_share = 2, .share = {1000, 300}};
  cr_expect_float_eq(fleet_frag_eval(&f, &v), 550, 1e-9);
  v.cpu_free = 500; /* no class fits: all 1300 is fragment */
  cr_expect_float_eq(fleet_frag_eval(&f, &v), 1300, 1e-9);
  v.cpu_free = 8000; /* A placed on the idle GPU: 500 and 300 left, no idle GPU. */
  v.share[0] = 500, v.n_idle = 0, v.total = 800;
  cr_expect_float_eq(fleet_frag_eval(&f, &v), 0.5 * 300 + 0.25 * 800 + 0.25 * 800, 1e-9);
  v.model = -1; /* a node without GPUs has no GPU fragments beyond its free total */
  cr_expect_float_eq(fleet_frag_eval(&f, &v), 800, 1e-9);
  fleet_frag_free(&f);
}

/* F by the definition, class by class. */
static double brute(const struct fleet_frag *f, const struct fleet_cluster *c, int node) {
  const struct fleet_node *n = &c->nodes[node];
  double R = n->free_total, F = 0;
  for (int m = 0; m < f->n_classes; m++) {
    const struct fleet_frag_class *k = &f->classes[m];
    double part = R;
    if (k->num_gpu && n->model >= 0 && (k->model_mask >> n->model & 1) &&
        n->cpu_free >= k->cpu_milli) {
      int fit = 0;
      double waste = 0;
      for (int g = 0; g < n->n_gpus; g++) {
        int gi = n->first_gpu + g;
        uint16_t fm = c->free[gi];
        bool ok = k->gpu_milli >= 1000 ? fm == 1000
                                       : c->gpus[gi].mode == FLEET_GPU_SHARED && fm >= k->gpu_milli;
        if (ok)
          fit++;
        else
          waste += fm;
      }
      part = fit >= k->num_gpu ? waste : R;
    }
    F += k->p * part;
  }
  return F;
}

Test(frag, fast_evaluation_equals_the_definition_on_random_states) {
  struct inventory inv;
  struct fleet_taskset ts;
  struct fleet_sim s;
  struct fleet_gen_fleet gf = {.n_nodes = 120, .model = "mix"};
  struct fleet_gen_tasks gt = {
      .n_tasks = 3000, .seed = 11, .multi = 0.05, .share = 0.4, .cpu_only = 0.15};
  cr_assert_eq(fleet_gen_fleet(&inv, &gf), 0);
  cr_assert_eq(fleet_gen_tasks(&ts, &gt), 0);
  cr_assert_eq(fleet_sim_init(&s, &inv, &ts, false), 0, "%s", err_msg());
  cr_assert(s.have_frag);
  cr_expect_gt(s.frag.n_classes, 5);
  struct fleet_policy p;
  cr_assert_eq(fleet_policy_init(&p, "random", &s.cluster, &s.frag, 5, FLEET_TIES_RANDOM), 0);
  struct rng r;
  rng_seed(&r, 9);
  double worst = 0;
  for (int i = 0; i < 3000; i++) {
    const struct fleet_req *q = &s.reqs[rng_below(&r, (uint64_t)ts.n)];
    struct fleet_place pl;
    if (fleet_policy_choose(&p, &s.cluster, q, &pl)) fleet_cluster_apply(&s.cluster, q, &pl);
    if (i % 100) continue;
    for (int n = 0; n < s.cluster.n_nodes; n++) {
      double d = fabs(fleet_frag_node(&s.frag, &s.cluster, n) - brute(&s.frag, &s.cluster, n));
      if (d > worst) worst = d;
    }
  }
  cr_expect_lt(worst, 1e-6, "fast and brute-force F differ by %g", worst);
  fleet_policy_free(&p);
  fleet_sim_free(&s);
  fleet_taskset_free(&ts);
  inventory_free(&inv);
}

Test(frag, typical_tasks_cover_the_share_asked) {
  struct fleet_req reqs[100];
  for (int i = 0; i < 100; i++)
    reqs[i] = req(1000 * (uint32_t)(i < 60 ? 1 : i < 90 ? 2 : i - 87), 1, 1000);
  struct fleet_frag f;
  cr_assert_eq(fleet_frag_build(&f, reqs, 100, 0.95), 0);
  /* 60 + 30 = 90 < 95: then the single tasks one by one until 95. */
  cr_expect_eq(f.n_classes, 7);
  cr_expect_float_eq(f.coverage, 0.95, 1e-12);
  double sum = 0;
  for (int i = 0; i < f.n_classes; i++) sum += f.classes[i].p;
  cr_expect_float_eq(sum, 1.0, 1e-12, "renormalised");
  fleet_frag_free(&f);
  cr_expect_eq(fleet_frag_build(&f, reqs, 0, 0.95), ERR_INVALID);
  cr_expect_eq(fleet_frag_build(&f, reqs, 10, 1.5), ERR_INVALID);
}
