/*
 * cmd_fleet.c — `gpuops fleet sim|compare|scenario|capacity|policies|mig-plan`:
 * the fleet scheduling capability on the command line (src/fleet/ does the
 * work; docs/fleet.md says what each measures).
 *
 * Sections:
 *   1. the world: nodes (Alibaba node CSV, YAML fleet spec, or generated) and
 *      tasks (trace CSV/JSON, or generated), options shared by subcommands;
 *   2. replay options: tenant caps and weights, node events;
 *   3. fleet sim;
 *   4. fleet compare;
 *   5. fleet scenario;
 *   6. fleet capacity;
 *   7. fleet policies and the dispatcher.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "fleet/capacity.h"
#include "fleet/chart.h"
#include "fleet/compare.h"
#include "fleet/policy.h"
#include "fleet/scenario.h"
#include "fleet/sim.h"
#include "fleet/trace.h"
#include "fleet/workload.h"
#include "inventory/alibaba.h"

/* ---- 1. the world -------------------------------------------------------- */

struct world_opts {
  const char *nodes, *tasks, *gen_model, *gen_mig;
  int gen_nodes, gen_gpus, gen_tasks, gen_tenants;
  double gen_rate, gen_run, gen_high, compress;
  bool share_gpus;
  int seed;
};

/* Copy the world options (nodes, tasks, generators) to the front of o. Returns their number. */
static int world_options(struct world_opts *w, struct cli_option *o) {
  const struct cli_option list[] = {
      {"nodes", 0, CLI_ARG_STRING, &w->nodes, "FILE",
       "nodes: Alibaba node list (.csv) or fleet spec (.yaml)"},
      {"tasks", 0, CLI_ARG_STRING, &w->tasks, "FILE",
       "tasks: Alibaba/generic task list (.csv) or JSON"},
      {"gen-nodes", 0, CLI_ARG_INT, &w->gen_nodes, "N",
       "generate N nodes (Alibaba node mix, or --gen-model)"},
      {"gen-model", 0, CLI_ARG_STRING, &w->gen_model, "MODEL",
       "generated nodes: one GPU model (H200, G2, ...)"},
      {"gen-gpus", 0, CLI_ARG_INT, &w->gen_gpus, "G", "generated nodes: GPUs per node (default 8)"},
      {"gen-tasks", 0, CLI_ARG_INT, &w->gen_tasks, "N", "generate N tasks (the trace's shape mix)"},
      {"gen-rate", 0, CLI_ARG_DOUBLE, &w->gen_rate, "PER_H",
       "generated tasks: Poisson arrivals per hour"},
      {"gen-run", 0, CLI_ARG_DOUBLE, &w->gen_run, "S",
       "generated tasks: mean run time in seconds (3600)"},
      {"gen-tenants", 0, CLI_ARG_INT, &w->gen_tenants, "K",
       "generated tasks: spread over K tenants t0..t(K-1)"},
      {"gen-high", 0, CLI_ARG_DOUBLE, &w->gen_high, "F",
       "generated tasks: share of high-priority (LS) tasks"},
      {"gen-mig", 0, CLI_ARG_STRING, &w->gen_mig, "MODEL",
       "generated tasks: fractions become MIG instances"},
      {"compress", 0, CLI_ARG_DOUBLE, &w->compress, "F",
       "divide arrival gaps by F (replay a sparse trace under load)"},
      {"share-gpus", 0, CLI_ARG_FLAG, &w->share_gpus, NULL,
       "let fractions share every non-MIG GPU (YAML fleets)"},
  };
  memcpy(o, list, sizeof list);
  return (int)(sizeof list / sizeof *list);
}

struct world {
  struct inventory inv;
  struct fleet_taskset ts;
  struct fleet_sim sim;
};

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static int load_nodes(const struct world_opts *o, struct inventory *inv) {
  if (o->nodes && o->gen_nodes)
    return err_set(ERR_INVALID, "give --nodes or --gen-nodes, not both");
  if (o->gen_nodes) {
    struct fleet_gen_fleet f = {.n_nodes = o->gen_nodes,
                                .model = o->gen_model,
                                .gpus_per_node = o->gen_gpus,
                                .shared = true,
                                .mig = o->gen_mig != NULL};
    return fleet_gen_fleet(inv, &f);
  }
  if (!o->nodes) return err_set(ERR_INVALID, "give the nodes: --nodes FILE or --gen-nodes N");
  if (ends_with(o->nodes, ".yaml") || ends_with(o->nodes, ".yml"))
    return inventory_load_yaml(inv, o->nodes);
  return alibaba_load_nodes(inv, o->nodes);
}

static int load_tasks(const struct world_opts *o, struct fleet_taskset *ts) {
  if (o->tasks && o->gen_tasks)
    return err_set(ERR_INVALID, "give --tasks or --gen-tasks, not both");
  int rc;
  if (o->gen_tasks) {
    struct fleet_gen_tasks g = {.n_tasks = o->gen_tasks,
                                .seed = (uint64_t)o->seed + 1000,
                                .arrivals_per_hour = o->gen_rate,
                                .mean_run_s = o->gen_run,
                                .n_tenants = o->gen_tenants,
                                .high_priority = o->gen_high,
                                .mig_model = o->gen_mig};
    rc = fleet_gen_tasks(ts, &g);
  } else if (!o->tasks) {
    fleet_taskset_init(ts);
    return err_set(ERR_INVALID, "give the tasks: --tasks FILE or --gen-tasks N");
  } else {
    rc = fleet_trace_load(ts, o->tasks);
  }
  if (rc == 0 && o->compress > 0) fleet_taskset_compress(ts, o->compress);
  return rc;
}

/* Load nodes and tasks and build the simulation. On error everything is freed. */
static int world_load(const struct world_opts *o, struct world *w) {
  memset(w, 0, sizeof *w);
  inventory_init(&w->inv);
  int rc = load_nodes(o, &w->inv);
  if (rc == 0)
    rc = load_tasks(o, &w->ts);
  else
    fleet_taskset_init(&w->ts);
  if (rc == 0) rc = fleet_sim_init(&w->sim, &w->inv, &w->ts, o->share_gpus);
  if (rc) {
    inventory_free(&w->inv);
    fleet_taskset_free(&w->ts);
  }
  return rc;
}

static void world_free(struct world *w) {
  fleet_sim_free(&w->sim);
  fleet_taskset_free(&w->ts);
  inventory_free(&w->inv);
}

static int parse_ties(const char *s, int *out) {
  if (!s || !strcmp(s, "order")) return *out = FLEET_TIES_ORDER, 0;
  if (!strcmp(s, "random")) return *out = FLEET_TIES_RANDOM, 0;
  return err_set(ERR_INVALID, "--ties is order or random, not '%s'", s);
}

/* ---- 2. replay options --------------------------------------------------- */

/* "team-a=16,team-b=8" into limits (cap or weight) by tenant index. */
static int parse_tenant_list(const char *list, const struct fleet_taskset *ts, bool weight,
                             struct fleet_tenant_limit *lim) {
  const char *opt = weight ? "--weight" : "--quota";
  for (const char *s = list; s && *s;) {
    size_t len = strcspn(s, ",");
    char item[96];
    snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), s);
    char *eq = strchr(item, '='), *end;
    if (!eq) return err_set(ERR_INVALID, "%s wants TENANT=NUMBER items, got '%s'", opt, item);
    *eq = '\0';
    double v = strtod(eq + 1, &end);
    if (*end || end == eq + 1 || v < 0 || !isfinite(v))
      return err_set(ERR_INVALID, "%s %s: '%s' is not a number >= 0", opt, item, eq + 1);
    int t = -1;
    for (int i = 0; i < ts->n_tenants; i++)
      if (!strcmp(ts->tenants[i], item)) t = i;
    if (t < 0) return err_set(ERR_INVALID, "%s: no tenant '%s' in the tasks", opt, item);
    if (weight)
      lim[t].weight = v;
    else
      lim[t].cap_gpus = v;
    s += len + (s[len] == ',');
  }
  return 0;
}

/* "node-a@3600,node-b@7200" into events of one kind. */
static int parse_events(const char *list, enum fleet_node_event_kind kind, const char *opt,
                        const struct fleet_cluster *c, struct fleet_node_event *ev, int *n,
                        int cap) {
  for (const char *s = list; s && *s;) {
    size_t len = strcspn(s, ",");
    char item[96], *end;
    snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), s);
    char *at = strchr(item, '@');
    if (!at) return err_set(ERR_INVALID, "%s wants NODE@SECONDS items, got '%s'", opt, item);
    *at = '\0';
    long long t = strtoll(at + 1, &end, 10);
    if (*end || end == at + 1 || t < 0)
      return err_set(ERR_INVALID, "%s %s: '%s' is not a time in seconds", opt, item, at + 1);
    int node = -1;
    for (int i = 0; i < c->n_nodes; i++)
      if (!strcmp(c->names[i], item)) node = i;
    if (node < 0) return err_set(ERR_INVALID, "%s: no node '%s' in the fleet", opt, item);
    if (*n >= cap) return err_set(ERR_INVALID, "too many node events (at most %d)", cap);
    ev[(*n)++] = (struct fleet_node_event){t, node, kind};
    s += len + (s[len] == ',');
  }
  return 0;
}

/* ---- 3. fleet sim -------------------------------------------------------- */

struct sim_opts {
  const char *policy, *mode, *ties, *svg, *quota, *weight, *fail, *drain, *recover;
  double arrival;
  bool preempt, fair, curve, latency;
};

static void sim_table_rows(struct table *t, const struct fleet_sim_result *r) {
  table_add_rowf(t, "policy|%s", r->policy);
  table_add_rowf(t, "capacity_gpus|%.0f", r->capacity_gpus);
  table_add_rowf(t, "tasks_arrived|%d", r->arrived);
  table_add_rowf(t, "tasks_placed|%d", r->placed);
  if (r->mode == FLEET_MODE_PAPER) {
    table_add_rowf(t, "unallocated_gpus_at_100|%.1f", r->unalloc_at_100);
    table_add_rowf(t, "unallocated_gpus_at_end|%.1f", r->unalloc_at_end);
    table_add_rowf(t, "allocation|%.2f%%", 100 * r->alloc_ratio);
  } else {
    table_add_rowf(t, "queue_delay_p50_s|%.0f", r->queue_p50_s);
    table_add_rowf(t, "queue_delay_p99_s|%.0f", r->queue_p99_s);
    table_add_rowf(t, "never_started|%d", r->never_started);
    table_add_rowf(t, "preemptions|%d", r->preemptions);
    table_add_rowf(t, "requeued_by_failure|%d", r->requeued_by_failure);
    table_add_rowf(t, "mean_allocation|%.2f%%", 100 * r->mean_alloc_ratio);
    for (int i = 0; i < r->n_tenants && r->n_tenants > 1; i++)
      if (r->tenants[i].gpu_seconds > 0)
        table_add_rowf(t, "share_%s|%.1f%%", r->tenants[i].name, 100 * r->tenants[i].share);
  }
  table_add_rowf(t, "fragmentation_ratio|%.3f", r->frag_ratio);
  table_add_rowf(t, "run_s|%.3f", r->wall_s);
  if (isfinite(r->decision_p99_us)) table_add_rowf(t, "decision_p99_us|%.1f", r->decision_p99_us);
}

static int sim_output(const struct cli_common *c, const struct fleet_sim_result *r, bool curve) {
  bool close_it;
  int rc = 0;
  FILE *out = cli_output_open("fleet sim", c, &close_it);
  if (!out) return ERR_IO;
  if (c->format == TABLE_FMT_JSON) {
    json_t *doc = fleet_sim_result_json(r, curve);
    rc = jsonio_write(out, doc);
    json_decref(doc);
  } else {
    static const char *cols[] = {"metric", "value"};
    struct table *t = table_new(2, cols);
    sim_table_rows(t, r);
    rc = table_write(t, out, c->format);
    table_free(t);
  }
  int rc2 = cli_output_close(out, close_it);
  return rc ? rc : rc2;
}

/* A one-run chart: reuse the comparison chart with one row. */
static int sim_svg(const char *path, const struct fleet_sim_result *r, double arrival) {
  struct fleet_compare cmp = {.n_rows = 1,
                              .curve_step = 0.01,
                              .arrival = arrival,
                              .capacity_gpus = r->capacity_gpus,
                              .seeds = 1};
  struct fleet_compare_row row = {.runs = 1};
  double curve[1024];
  snprintf(row.policy, sizeof row.policy, "%s", r->policy);
  cmp.n_curve = (int)floor(arrival / 0.01 + 1e-9) + 1;
  if (cmp.n_curve > 1024) cmp.n_curve = 1024;
  for (int i = 0, k = 0; i < cmp.n_curve; i++) {
    while (k + 1 < r->n_curve && r->curve[k + 1].arrived <= i * 0.01) k++;
    curve[i] = r->n_curve ? r->curve[k].allocated : 0;
  }
  row.curve = curve;
  cmp.rows = &row;
  return fleet_chart_svg_file(path, &cmp, "GPU allocation vs arrived GPU request");
}

static int sim_config(const struct sim_opts *so, const struct world *w,
                      struct fleet_sim_config *cfg, struct fleet_tenant_limit *lim,
                      struct fleet_node_event *ev, int ev_cap) {
  int rc = parse_ties(so->ties, &cfg->ties);
  if (rc) return rc;
  if (!strcmp(so->mode, "paper"))
    cfg->mode = FLEET_MODE_PAPER;
  else if (!strcmp(so->mode, "replay"))
    cfg->mode = FLEET_MODE_REPLAY;
  else
    return err_set(ERR_INVALID, "--mode is paper or replay, not '%s'", so->mode);
  if (cfg->mode == FLEET_MODE_REPLAY && !w->ts.has_times)
    return err_set(ERR_INVALID, "%s has no arrival times: replay needs them (or use --mode paper)",
                   w->ts.source);
  for (int i = 0; i < w->ts.n_tenants; i++) lim[i] = (struct fleet_tenant_limit){0, 1};
  if ((rc = parse_tenant_list(so->quota, &w->ts, false, lim)) ||
      (rc = parse_tenant_list(so->weight, &w->ts, true, lim)))
    return rc;
  cfg->limits = lim;
  cfg->n_limits = w->ts.n_tenants;
  const struct fleet_cluster *c = &w->sim.cluster;
  if ((rc = parse_events(so->fail, FLEET_EV_FAIL, "--fail", c, ev, &cfg->n_events, ev_cap)) ||
      (rc = parse_events(so->drain, FLEET_EV_DRAIN, "--drain", c, ev, &cfg->n_events, ev_cap)) ||
      (rc =
           parse_events(so->recover, FLEET_EV_RECOVER, "--recover", c, ev, &cfg->n_events, ev_cap)))
    return rc;
  cfg->events = ev;
  return 0;
}

static int fleet_sim_cmd(int argc, char **argv) {
  struct world_opts wo = {0};
  struct sim_opts so = {.policy = "fgd", .mode = "paper", .arrival = 1.3};
  struct cli_option opts[48];
  const struct cli_option mine[] = {
      {"policy", 'p', CLI_ARG_STRING, &so.policy, "P", "placement policy (gpuops fleet policies)"},
      {"seed", 0, CLI_ARG_INT, &wo.seed, "S", "seed: resampling, shuffles, ties (default 0)"},
      {"mode", 0, CLI_ARG_STRING, &so.mode, "paper|replay",
       "the paper's experiment or an event replay"},
      {"arrival", 0, CLI_ARG_DOUBLE, &so.arrival, "X",
       "paper: arrived GPU request / capacity (1.3)"},
      {"ties", 0, CLI_ARG_STRING, &so.ties, "order|random",
       "equal scores: a seeded node order (the paper's scheduler) or random"},
      {"svg", 0, CLI_ARG_STRING, &so.svg, "FILE", "paper: write the allocation-vs-arrival chart"},
      {"curve", 0, CLI_ARG_FLAG, &so.curve, NULL, "paper: put the curve in the JSON"},
      {"latency", 0, CLI_ARG_FLAG, &so.latency, NULL, "measure every placement decision (p50/p99)"},
      {"preempt", 0, CLI_ARG_FLAG, &so.preempt, NULL, "replay: higher priority may evict lower"},
      {"fair-share", 0, CLI_ARG_FLAG, &so.fair, NULL, "replay: queue by tenant usage / weight"},
      {"quota", 0, CLI_ARG_STRING, &so.quota, "T=GPUS,...", "replay: hard GPU caps per tenant"},
      {"weight", 0, CLI_ARG_STRING, &so.weight, "T=W,...", "replay: fair-share weights per tenant"},
      {"fail", 0, CLI_ARG_STRING, &so.fail, "NODE@S,...", "replay: nodes failing at times"},
      {"drain", 0, CLI_ARG_STRING, &so.drain, "NODE@S,...", "replay: nodes draining at times"},
      {"recover", 0, CLI_ARG_STRING, &so.recover, "NODE@S,...", "replay: nodes coming back"},
      {0}};
  memcpy(opts + world_options(&wo, opts), mine, sizeof mine);
  const struct cli_spec spec = {
      "fleet sim",
      "(--nodes FILE | --gen-nodes N) (--tasks FILE | --gen-tasks N) [--policy P] [--mode "
      "paper|replay]",
      "Simulate placing a task list on a fleet under one policy and seed.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  struct world w;
  if ((rc = world_load(&wo, &w))) return cli_fail("fleet sim", rc);
  struct fleet_sim_config cfg = {.policy = so.policy,
                                 .seed = (uint64_t)wo.seed,
                                 .arrival = so.arrival,
                                 .record_latency = so.latency,
                                 .preempt = so.preempt,
                                 .fair_share = so.fair};
  struct fleet_tenant_limit *lim = calloc((size_t)w.ts.n_tenants, sizeof *lim);
  struct fleet_node_event ev[256];
  struct fleet_sim_result r = {0};
  rc = lim ? sim_config(&so, &w, &cfg, lim, ev, 256) : err_set(ERR_NOMEM, "out of memory");
  if (rc == 0) rc = fleet_sim_run(&w.sim, &cfg, &r);
  if (rc == 0 && so.svg && cfg.mode == FLEET_MODE_PAPER) rc = sim_svg(so.svg, &r, so.arrival);
  if (rc == 0) rc = sim_output(&c, &r, so.curve);
  fleet_sim_result_free(&r);
  free(lim);
  world_free(&w);
  return rc ? cli_fail("fleet sim", rc) : 0;
}

/* ---- 4. fleet compare ---------------------------------------------------- */

#define DEFAULT_POLICIES "random,dot-product,gpu-clustering,gpu-packing,best-fit,fgd,fgd-cpu"

/* Split "a,b,c" in place into names. */
static int split_policies(char *list, const char **names, int cap) {
  int n = 0;
  for (char *tok = strtok(list, ","); tok && n < cap; tok = strtok(NULL, ",")) {
    if (!fleet_policy_find(tok)) {
      struct fleet_policy probe;
      struct fleet_cluster empty = {0};
      return fleet_policy_init(&probe, tok, &empty, NULL, 0, FLEET_TIES_ORDER);
    }
    names[n++] = tok;
  }
  return n > 0 ? n : err_set(ERR_INVALID, "--policies is empty");
}

static int compare_output(const struct cli_common *c, const struct fleet_compare *cmp) {
  bool close_it;
  int rc;
  FILE *out = cli_output_open("fleet compare", c, &close_it);
  if (!out) return ERR_IO;
  if (c->format == TABLE_FMT_JSON) {
    json_t *doc = fleet_compare_json(cmp, true);
    rc = jsonio_write(out, doc);
    json_decref(doc);
  } else {
    struct table *t = fleet_compare_table(cmp);
    rc = table_write(t, out, c->format);
    table_free(t);
    if (c->format == TABLE_FMT_TABLE)
      fprintf(out, "%d policies x %d seeds (from %llu), arrival %.2fx of %.0f GPUs, %.2f s\n",
              cmp->n_rows, cmp->seeds, (unsigned long long)cmp->seed0, cmp->arrival,
              cmp->capacity_gpus, cmp->wall_s);
  }
  int rc2 = cli_output_close(out, close_it);
  return rc ? rc : rc2;
}

static int fleet_compare_cmd(int argc, char **argv) {
  struct world_opts wo = {.seed = 42};
  const char *policies = DEFAULT_POLICIES, *ties = NULL, *svg = NULL;
  int seeds = 10;
  double arrival = 1.3;
  bool latency = false;
  struct cli_option opts[48];
  const struct cli_option mine[] = {
      {"policies", 0, CLI_ARG_STRING, &policies, "P,P,...",
       "policies (default: the paper's six and fgd-cpu)"},
      {"seeds", 0, CLI_ARG_INT, &seeds, "N", "seeds per policy (default 10)"},
      {"seed", 0, CLI_ARG_INT, &wo.seed, "S", "first seed (default 42, as the paper's runs)"},
      {"arrival", 0, CLI_ARG_DOUBLE, &arrival, "X", "arrived GPU request / capacity (1.3)"},
      {"ties", 0, CLI_ARG_STRING, &ties, "order|random",
       "equal scores: a seeded node order or random"},
      {"svg", 0, CLI_ARG_STRING, &svg, "FILE",
       "write the allocation-vs-arrival chart of all policies"},
      {"latency", 0, CLI_ARG_FLAG, &latency, NULL, "measure every placement decision (p99 column)"},
      {0}};
  memcpy(opts + world_options(&wo, opts), mine, sizeof mine);
  const struct cli_spec spec = {
      "fleet compare",
      "(--nodes FILE | --gen-nodes N) (--tasks FILE | --gen-tasks N) [--policies P,...] [--seeds "
      "N]",
      "Run the paper's experiment for several policies and seeds; mean and standard deviation.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (seeds < 1 || seeds > 10000) return cli_usage_error("fleet compare", "--seeds is 1..10000");
  char list[512];
  const char *names[32];
  snprintf(list, sizeof list, "%s", policies);
  int n = split_policies(list, names, 32);
  if (n < 0) return cli_usage_error("fleet compare", "%s", err_msg());
  struct fleet_sim_config base = {.arrival = arrival, .record_latency = latency};
  if ((rc = parse_ties(ties, &base.ties))) return cli_usage_error("fleet compare", "%s", err_msg());
  struct world w;
  if ((rc = world_load(&wo, &w))) return cli_fail("fleet compare", rc);
  struct fleet_compare cmp;
  rc = fleet_compare_run(&w.sim, names, n, (uint64_t)wo.seed, seeds, &base, &cmp);
  if (rc == 0) {
    const char *base_name = strrchr(w.ts.source, '/') ? strrchr(w.ts.source, '/') + 1 : w.ts.source;
    char title[160];
    snprintf(title, sizeof title, "GPU allocation vs arrival: %.80s", base_name);
    if (svg) rc = fleet_chart_svg_file(svg, &cmp, title);
    if (rc == 0) rc = compare_output(&c, &cmp);
    fleet_compare_free(&cmp);
  }
  world_free(&w);
  return rc ? cli_fail("fleet compare", rc) : 0;
}

/* ---- 5. fleet scenario --------------------------------------------------- */

static int scenario_output(const struct cli_common *c, const struct fleet_scenario_result *res,
                           int n) {
  bool close_it;
  int rc = 0;
  FILE *out = cli_output_open("fleet scenario", c, &close_it);
  if (!out) return ERR_IO;
  if (c->format == TABLE_FMT_JSON) {
    json_t *doc = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(doc, fleet_scenario_json(&res[i]));
    rc = jsonio_write(out, doc);
    json_decref(doc);
  } else {
    static const char *cols[] = {"scenario", "check", "verdict"};
    struct table *t = table_new(3, cols);
    for (int i = 0; i < n; i++)
      for (int k = 0; k < res[i].n_checks; k++)
        table_add_rowf(t, "%s|%s|%s", res[i].name, res[i].checks[k].what,
                       res[i].checks[k].ok ? "ok" : "FAIL");
    rc = table_write(t, out, c->format);
    table_free(t);
  }
  int rc2 = cli_output_close(out, close_it);
  return rc ? rc : rc2;
}

static int fleet_scenario_cmd(int argc, char **argv) {
  const char *policy = NULL;
  const struct cli_option opts[] = {
      {"policy", 'p', CLI_ARG_STRING, &policy, "P", "placement policy (default fgd-cpu)"}, {0}};
  const struct cli_spec spec = {
      "fleet scenario",
      "[NAME|all]",
      "Contention scenarios with invariants: priority-burst, tenant-quota, node-failure, gang, "
      "mig-fragmentation. Exit 1 when a check fails.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      0,
      1};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  int n_all;
  const char *const *all = fleet_scenario_names(&n_all);
  const char *one = npos ? argv[1] : "all";
  struct fleet_scenario_result res[8];
  int n = 0, failed = 0;
  if (policy && !fleet_policy_find(policy))
    return cli_usage_error("fleet scenario", "unknown policy '%s' (gpuops fleet policies)", policy);
  for (int i = 0; i < n_all && rc == 0; i++) {
    if (strcmp(one, "all") && strcmp(one, all[i])) continue;
    rc = fleet_scenario_run(all[i], policy, &res[n]);
    if (rc == 0) failed += !res[n++].passed;
  }
  if (rc == 0 && n == 0) {
    const char *names[16] = {0}; /* NULL-terminated for cli_suggest */
    for (int i = 0; i < n_all && i < 15; i++) names[i] = all[i];
    const char *hint = cli_suggest(one, names);
    return cli_usage_error("fleet scenario", "unknown scenario '%s'%s%s%s", one,
                           hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
  }
  if (rc == 0) rc = scenario_output(&c, res, n);
  if (rc) return cli_fail("fleet scenario", rc);
  return failed ? EXIT_CHECK : 0;
}

/* ---- 6. fleet capacity --------------------------------------------------- */

static int capacity_output(const struct cli_common *c, const struct fleet_capacity_result *r,
                           const struct fleet_capacity_spec *sp) {
  bool close_it;
  int rc;
  FILE *out = cli_output_open("fleet capacity", c, &close_it);
  if (!out) return ERR_IO;
  if (c->format == TABLE_FMT_JSON) {
    json_t *doc = fleet_capacity_json(r, sp);
    rc = jsonio_write(out, doc);
    json_decref(doc);
  } else {
    static const char *cols[] = {"nodes",       "gpus",          "queue_p50_s",
                                 "queue_p99_s", "never_started", "mean_allocation",
                                 "meets_target"};
    struct table *t = table_new(7, cols);
    int g = sp->gpus_per_node ? sp->gpus_per_node : 8;
    for (int i = 0; i < r->n_probes; i++) {
      const struct fleet_capacity_probe *p = &r->probes[i];
      table_add_rowf(t, "%d|%d|%.0f|%.0f|%d|%.1f%%|%s", p->nodes, p->nodes * g, p->p50_s, p->p99_s,
                     p->never_started, 100 * p->mean_alloc, p->ok ? "yes" : "no");
    }
    rc = table_write(t, out, c->format);
    table_free(t);
    if (c->format == TABLE_FMT_TABLE) {
      if (r->found)
        fprintf(
            out,
            "%d nodes (%d x %s) keep the p99 queueing delay <= %.0f s (%d tasks, %d left out)\n",
            r->nodes, r->gpus, sp->model, sp->target_p99_s, r->tasks, r->dropped);
      else
        fprintf(out, "no size up to %d nodes meets p99 <= %.0f s\n",
                r->n_probes ? r->probes[0].nodes : 0, sp->target_p99_s);
    }
  }
  int rc2 = cli_output_close(out, close_it);
  return rc ? rc : rc2;
}

static int fleet_capacity_cmd(int argc, char **argv) {
  struct world_opts wo = {0};
  struct fleet_capacity_spec sp = {.model = NULL, .target_p99_s = -1};
  int cpu = 0, mem = 0;
  const struct cli_option opts[] = {
      {"tasks", 0, CLI_ARG_STRING, &wo.tasks, "FILE", "the workload (with arrival and run times)"},
      {"gen-tasks", 0, CLI_ARG_INT, &wo.gen_tasks, "N", "generate N tasks instead"},
      {"gen-rate", 0, CLI_ARG_DOUBLE, &wo.gen_rate, "PER_H", "generated tasks: arrivals per hour"},
      {"gen-run", 0, CLI_ARG_DOUBLE, &wo.gen_run, "S", "generated tasks: mean run time (s)"},
      {"compress", 0, CLI_ARG_DOUBLE, &wo.compress, "F", "divide arrival gaps by F"},
      {"model", 0, CLI_ARG_STRING, &sp.model, "MODEL", "GPU model of the nodes (required)"},
      {"gpus-per-node", 0, CLI_ARG_INT, &sp.gpus_per_node, "G", "GPUs per node (8)"},
      {"cpu-milli", 0, CLI_ARG_INT, &cpu, "M", "CPU per node in milli-cores (96000)"},
      {"memory-mib", 0, CLI_ARG_INT, &mem, "MIB", "memory per node (393216)"},
      {"whole-gpus", 0, CLI_ARG_FLAG, &sp.whole_gpus, NULL, "GPUs are not shared"},
      {"target-p99", 0, CLI_ARG_DOUBLE, &sp.target_p99_s, "S",
       "p99 queueing delay target in seconds (required)"},
      {"policy", 'p', CLI_ARG_STRING, &sp.policy, "P", "placement policy (fgd-cpu)"},
      {"seed", 0, CLI_ARG_INT, &wo.seed, "S", "seed"},
      {"max-nodes", 0, CLI_ARG_INT, &sp.max_nodes, "N", "search ceiling"},
      {0}};
  const struct cli_spec spec = {"fleet capacity",
                                "(--tasks FILE | --gen-tasks N) --model MODEL --target-p99 S",
                                "How many nodes of one shape keep the p99 queueing delay under a "
                                "target, by replaying the workload (bisection on the node count).",
                                CLI_FORMAT | CLI_OUTPUT,
                                opts,
                                0,
                                0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (!sp.model) return cli_usage_error("fleet capacity", "--model is required");
  if (sp.target_p99_s < 0)
    return cli_usage_error("fleet capacity", "--target-p99 SECONDS is required");
  if (cpu < 0 || mem < 0 || sp.gpus_per_node < 0 || sp.max_nodes < 0)
    return cli_usage_error("fleet capacity", "sizes must be positive");
  if (sp.policy && !fleet_policy_find(sp.policy))
    return cli_usage_error("fleet capacity", "unknown policy '%s'", sp.policy);
  sp.cpu_milli = (uint32_t)cpu;
  sp.memory_mib = (uint64_t)mem;
  sp.seed = (uint64_t)wo.seed;
  struct fleet_taskset ts;
  if ((rc = load_tasks(&wo, &ts))) {
    fleet_taskset_free(&ts);
    return cli_fail("fleet capacity", rc);
  }
  struct fleet_capacity_result r;
  rc = fleet_capacity_plan(&ts, &sp, &r);
  if (rc == 0) rc = capacity_output(&c, &r, &sp);
  fleet_taskset_free(&ts);
  if (rc) return cli_fail("fleet capacity", rc);
  return r.found ? 0 : EXIT_CHECK;
}

/* ---- 7. fleet policies and the dispatcher -------------------------------- */

static int fleet_policies_cmd(int argc, char **argv) {
  const struct cli_spec spec = {
      "fleet policies", "", "The placement policies.", CLI_FORMAT | CLI_OUTPUT, NULL, 0, 0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  int n;
  const struct fleet_policy_ops *const *all = fleet_policy_all(&n);
  static const char *cols[] = {"policy", "paper", "about"};
  struct table *t = table_new(3, cols);
  for (int i = 0; i < n; i++)
    table_add_rowf(t, "%s|%s|%s", all[i]->name, all[i]->paper ? all[i]->paper : "", all[i]->about);
  bool close_it;
  FILE *out = cli_output_open("fleet policies", &c, &close_it);
  rc = out ? table_write(t, out, c.format) : ERR_IO;
  if (out) cli_output_close(out, close_it);
  table_free(t);
  return rc ? cli_fail("fleet policies", rc) : 0;
}

int cmd_fleet(int argc, char **argv) {
  static const char *subs[] = {"sim",      "compare",  "scenario", "capacity",
                               "policies", "mig-plan", NULL};
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *o = argc < 2 ? stderr : stdout;
    fprintf(o,
            "usage: gpuops fleet sim|compare|scenario|capacity|policies|mig-plan [options]\n\n"
            "  sim        place a task list on a fleet with one policy (paper mode or replay)\n"
            "  compare    policies x seeds, mean and sd (the ATC'23 paper's table), --svg chart\n"
            "  scenario   contention scenarios with invariants (exit 1 on a failed check)\n"
            "  capacity   how many nodes keep the p99 queueing delay under a target\n"
            "  policies   the placement policies\n"
            "  mig-plan   MIG layouts for a demand mix (mig-parted, Slurm)\n"
            "\nSee gpuops fleet SUBCOMMAND --help and docs/fleet.md.\n");
    return argc < 2 ? EXIT_USAGE : 0;
  }
  if (!strcmp(argv[1], "sim")) return fleet_sim_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "compare")) return fleet_compare_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "scenario")) return fleet_scenario_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "capacity")) return fleet_capacity_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "policies")) return fleet_policies_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "mig-plan")) return cmd_fleet_mig_plan(argc - 1, argv + 1);
  const char *hint = cli_suggest(argv[1], subs);
  if (hint)
    return cli_usage_error("fleet", "unknown subcommand '%s' (did you mean '%s'?)", argv[1], hint);
  return cli_usage_error(
      "fleet",
      "unknown subcommand '%s' (use sim, compare, scenario, capacity, policies or mig-plan)",
      argv[1]);
}
