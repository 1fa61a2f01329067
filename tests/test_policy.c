/*
 * test_policy.c — fleet/policy.h: each policy's choice on a small hand-made
 * cluster, where the right answer can be worked out by hand; ties; random
 * never picks a node that does not fit; the score cache gives the scores a
 * fresh computation gives.
 *
 * The cluster (shared GPUs, 64 cores each):
 *   a  8 x G2, six 1-GPU tasks (4 cores each) on it: 2 idle GPUs, 40 cores free
 *   b  8 x G2, idle
 *   c  2 x T4, a 600-thousandths task (2 cores) on each GPU: 400 free on each
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fleet/policy.h"
#include "inventory/alibaba.h"
#include "testutil.h"

enum { A, B, C };

struct fixture {
  struct inventory inv;
  struct fleet_cluster c;
  struct fleet_frag frag;
};

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

/* Build the cluster above; typical tasks: `typical` thousandths of one GPU, 1 core. */
static void setup(struct fixture *fx, uint16_t typical) {
  const char *csv =
      "sn,cpu_milli,memory_mib,gpu,model\n"
      "a,64000,262144,8,G2\nb,64000,262144,8,G2\nc,64000,262144,2,T4\n";
  cr_assert_eq(alibaba_load_nodes_buf(&fx->inv, csv, strlen(csv), "policy.csv"), 0, "%s",
               err_msg());
  cr_assert_eq(fleet_cluster_build(&fx->c, &fx->inv, false), 0, "%s", err_msg());
  struct fleet_req one = req(4000, 1, 1000), part = req(2000, 1, 600);
  struct fleet_place p;
  for (int i = 0; i < 6; i++) {
    cr_assert_eq(fleet_cluster_choose_gpus(&fx->c, A, &one, -1, FLEET_SEL_BEST, &p), 0);
    fleet_cluster_apply(&fx->c, &one, &p);
  }
  for (int g = 0; g < 2; g++) {
    cr_assert_eq(fleet_cluster_choose_gpus(&fx->c, C, &part, g, FLEET_SEL_BEST, &p), 0);
    fleet_cluster_apply(&fx->c, &part, &p);
  }
  struct fleet_req reqs[4] = {req(1000, 1, typical), req(1000, 1, typical), req(1000, 1, typical),
                              req(1000, 1, typical)};
  cr_assert_eq(fleet_frag_build(&fx->frag, reqs, 4, 1.0), 0);
}

static void teardown(struct fixture *fx) {
  fleet_frag_free(&fx->frag);
  fleet_cluster_free(&fx->c);
  inventory_free(&fx->inv);
}

/* Where `policy` puts r (node, and the GPU bit mask in *gpus); -1 when nowhere. */
static int choose(struct fixture *fx, const char *policy, struct fleet_req r, uint64_t seed,
                  uint64_t *gpus) {
  struct fleet_policy p;
  struct fleet_place pl;
  cr_assert_eq(fleet_policy_init(&p, policy, &fx->c, &fx->frag, seed, FLEET_TIES_ORDER), 0, "%s",
               err_msg());
  int node = fleet_policy_choose(&p, &fx->c, &r, &pl) ? pl.node : -1;
  if (gpus) *gpus = pl.gpus;
  fleet_policy_free(&p);
  return node;
}

Test(policy, one_whole_gpu_on_the_hand_made_cluster) {
  struct fixture fx;
  setup(&fx, 500);
  struct fleet_req r = req(4000, 1, 1000);
  cr_expect_eq(choose(&fx, "first-fit", r, 1, NULL), A, "the first node that fits");
  /* c has no idle GPU. Left after (half CPU, half GPU, by the largest node): a 0.344, b 0.906. */
  cr_expect_eq(choose(&fx, "best-fit", r, 1, NULL), A, "least left");
  cr_expect_eq(choose(&fx, "worst-fit", r, 1, NULL), B, "most left");
  cr_expect_eq(choose(&fx, "gpu-clustering", r, 1, NULL), A, "only 1-GPU tasks there");
  /* Dot products 0.070 (a), 0.184 (b): scores 96, 90. */
  cr_expect_eq(choose(&fx, "dot-product", r, 1, NULL), A, "smallest dot product");
  for (uint64_t seed = 1; seed < 20; seed++)
    cr_expect_neq(choose(&fx, "gpu-packing", r, seed, NULL), B, "packing keeps the idle node idle");
  teardown(&fx);
}

Test(policy, fgd_keeps_the_hole_the_workload_can_use) {
  struct fixture fx;
  setup(&fx, 400); /* the workload: tasks of 400 thousandths */
  uint64_t gpus;
  struct fleet_req r = req(1000, 1, 300);
  /* c's GPUs have exactly 400 free: a typical task fits each. A 300 there leaves 100 nobody
   * can use (dF = +100); on an idle GPU the 700 left still fits one (dF = 0). */
  for (uint64_t seed = 1; seed < 10; seed++) {
    int node = choose(&fx, "fgd", r, seed, NULL);
    cr_expect(node == A || node == B, "fgd avoids c (seed %llu): %d", (unsigned long long)seed,
              node);
    node = choose(&fx, "fgd-exact", r, seed, NULL);
    cr_expect(node == A || node == B, "fgd-exact too: %d", node);
  }
  cr_expect_eq(choose(&fx, "gpu-packing", r, 1, &gpus), C, "packing takes the partly used GPU");
  cr_expect_eq(gpus, 1u, "GPU 0");
  teardown(&fx);
}

Test(policy, fgd_fills_a_hole_nobody_else_can_use) {
  struct fixture fx;
  setup(&fx, 500); /* the workload: 500s; c's 400 hole is a fragment */
  uint64_t gpus;
  struct fleet_req r = req(1000, 1, 400);
  /* On c a 400 fragment disappears (dF = -400); anywhere else dF = 0. */
  cr_expect_eq(choose(&fx, "fgd", r, 1, &gpus), C);
  cr_expect_eq(gpus, 1u, "GPU 0, the hole");
  struct fleet_policy p;
  struct fleet_score s;
  cr_assert_eq(fleet_policy_init(&p, "fgd-exact", &fx.c, &fx.frag, 1, FLEET_TIES_ORDER), 0);
  fleet_policy_score(&p, &fx.c, C, &r, &s);
  cr_expect_float_eq(s.primary, 400, 1e-9, "dF = -400 on c");
  cr_expect_eq(s.gpu, 0);
  fleet_policy_score(&p, &fx.c, B, &r, &s);
  cr_expect_float_eq(s.primary, 0, 1e-9, "dF = 0 on an idle node");
  fleet_policy_free(&p);
  cr_assert_eq(fleet_policy_init(&p, "fgd", &fx.c, &fx.frag, 1, FLEET_TIES_ORDER), 0);
  fleet_policy_score(&p, &fx.c, C, &r, &s);
  cr_expect_float_eq(s.primary, floor(100 / (1 + exp(-0.4))), 1e-9, "the Kubernetes scale");
  fleet_policy_free(&p);
  teardown(&fx);
}

Test(policy, fgd_cpu_puts_cpu_tasks_beside_busy_gpus) {
  struct fixture fx;
  setup(&fx, 400);
  struct fleet_req cpu = req(1000, 0, 0);
  /* FGD sees no change anywhere (every node keeps plenty of CPU); fgd-cpu takes the node with
   * the least free GPU: c (800 thousandths) before a (2000) and b (8000). */
  cr_expect_eq(choose(&fx, "fgd-cpu", cpu, 1, NULL), C);
  /* A 1-GPU task with 30 cores: on a it leaves 10 cores for 1 free GPU (short of 8 per GPU: no),
   * on b 34 cores for 7 free GPUs (22 short). FGD scores both alike; fgd-cpu takes a. */
  struct fleet_req heavy = req(30000, 1, 1000);
  struct fleet_policy p;
  struct fleet_score sa, sb;
  cr_assert_eq(fleet_policy_init(&p, "fgd", &fx.c, &fx.frag, 1, FLEET_TIES_ORDER), 0);
  fleet_policy_score(&p, &fx.c, A, &heavy, &sa);
  fleet_policy_score(&p, &fx.c, B, &heavy, &sb);
  fleet_policy_free(&p);
  cr_expect_float_eq(sa.primary, sb.primary, 1e-12, "FGD cannot tell a from b");
  cr_expect_eq(choose(&fx, "fgd-cpu", heavy, 1, NULL), A);
  teardown(&fx);
}

Test(policy, random_never_picks_a_node_that_does_not_fit) {
  struct fixture fx;
  setup(&fx, 500);
  struct fleet_req three = req(1000, 3, 1000); /* only b has 3 idle GPUs */
  int seen[3] = {0, 0, 0};
  for (uint64_t seed = 1; seed <= 50; seed++)
    cr_expect_eq(choose(&fx, "random", three, seed, NULL), B);
  struct fleet_req one = req(1000, 1, 1000); /* a and b have idle GPUs, c none */
  for (uint64_t seed = 1; seed <= 200; seed++) seen[choose(&fx, "random", one, seed, NULL)]++;
  cr_expect(seen[A] > 60 && seen[B] > 60 && seen[C] == 0, "a and b, never c: %d %d %d", seen[A],
            seen[B], seen[C]);
  struct fleet_req huge = req(1000, 9, 1000);
  for (int k = 0; k < 3; k++) {
    static const char *const names[] = {"random", "fgd", "best-fit"};
    cr_expect_eq(choose(&fx, names[k], huge, 1, NULL), -1, "%s: nothing fits 9 GPUs", names[k]);
  }
  teardown(&fx);
}

Test(policy, ties_follow_a_seeded_order_or_chance) {
  struct fixture fx;
  setup(&fx, 500);
  struct fleet_req r = req(1000, 0, 0); /* first-fit aside, CPU-only requests tie under packing */
  int first = choose(&fx, "gpu-packing", r, 7, NULL), same = 1;
  for (int k = 0; k < 5; k++) same &= choose(&fx, "gpu-packing", r, 7, NULL) == first;
  cr_expect(same, "the same seed gives the same order");
  int seen[3] = {0, 0, 0};
  for (uint64_t seed = 1; seed <= 60; seed++) seen[choose(&fx, "gpu-packing", r, seed, NULL)]++;
  cr_expect(seen[A] && seen[B] && seen[C], "other seeds, other orders: %d %d %d", seen[A], seen[B],
            seen[C]);
  teardown(&fx);
}

Test(policy, cached_scores_equal_fresh_ones) {
  struct fixture fx;
  setup(&fx, 500);
  struct fleet_req r = req(1000, 1, 300);
  r.cls = 0;
  struct fleet_policy cached, fresh;
  cr_assert_eq(fleet_policy_init(&cached, "fgd-cpu", &fx.c, &fx.frag, 1, FLEET_TIES_ORDER), 0);
  cr_assert_eq(fleet_policy_init(&fresh, "fgd-cpu", &fx.c, &fx.frag, 1, FLEET_TIES_ORDER), 0);
  for (int round = 0; round < 6; round++) {
    struct fleet_place pl;
    for (int n = 0; n < fx.c.n_nodes; n++) {
      if (!fleet_fits(&fx.c, n, &r)) continue;
      struct fleet_score a, b;
      struct fleet_req nr = r;
      nr.cls = -1;
      fleet_policy_score(&cached, &fx.c, n, &r, &a);
      fleet_policy_score(&fresh, &fx.c, n, &nr, &b);
      cr_expect_float_eq(a.primary, b.primary, 1e-12);
      cr_expect_float_eq(a.secondary, b.secondary, 1e-12);
      cr_expect_eq(a.gpu, b.gpu);
    }
    cr_assert(fleet_policy_choose(&cached, &fx.c, &r, &pl));
    fleet_cluster_apply(&fx.c, &r, &pl); /* changes one node: its cache entry must go stale */
  }
  cr_expect_gt(cached.cached, 0u, "the cache served some scores");
  fleet_policy_free(&cached);
  fleet_policy_free(&fresh);
  teardown(&fx);
}

Test(policy, names_and_errors) {
  int n;
  const struct fleet_policy_ops *const *all = fleet_policy_all(&n);
  cr_expect_eq(n, 10);
  cr_expect_eq(fleet_policy_find("FGD"), fleet_policy_find("fgd"), "the paper's name works too");
  cr_expect_str_eq(fleet_policy_find("BestFit")->name, "best-fit");
  for (int i = 0; i < n; i++) cr_expect_eq(fleet_policy_find(all[i]->name), all[i]);
  struct fixture fx;
  setup(&fx, 500);
  struct fleet_policy p;
  cr_expect_eq(fleet_policy_init(&p, "fdg", &fx.c, NULL, 1, FLEET_TIES_ORDER), ERR_NOTFOUND);
  cr_expect_not_null(strstr(err_msg(), "fgd-cpu"), "lists the names: %s", err_msg());
  cr_expect_eq(fleet_policy_init(&p, "fgd", &fx.c, NULL, 1, FLEET_TIES_ORDER), ERR_INVALID);
  teardown(&fx);
}
