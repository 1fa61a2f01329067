/*
 * cmd_rollout.c — `gpuops rollout plan|run|status|resume|abort|sim-report`:
 * rolling driver/firmware upgrades (maint/rollout.h) with their state in a
 * SQLite file (--db). Anything that changes a node is a dry run unless
 * --apply is given.
 *
 * Sections: options shared by the subcommands; loading the fleet and the
 * executor; one function per subcommand; dispatch.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "inventory/scontrol.h"
#include "maint/budget.h"
#include "maint/rollout.h"
#include "maint/sim_exec.h"
#include "maint/store.h"
#if __has_include("maint/slurm_exec.h")
#include "maint/slurm_exec.h"
#define HAVE_SLURM_EXEC 1
#endif

/* ---- options ---- */

struct args {
  struct cli_common c;
  const char *db, *scontrol, *executor, *sim_state, *slurm_conf, *driver, *firmware, *nodes,
      *max_unavailable;
  int max_parallel, canary, batch_pct, failure_budget, sim_upgrade_ms, poll_ms, lease_ms,
      rollout_id;
  int wait_ms, drain_ms, upgrade_ms, validate_ms, blocked_ms;
  bool apply, dry_run, audit;
};

static void args_default(struct args *a) {
  memset(a, 0, sizeof *a);
  struct rollout_options o;
  rollout_options_default(&o);
  a->db = getenv("GPUOPS_ROLLOUT_DB") ? getenv("GPUOPS_ROLLOUT_DB") : "gpuops-rollout.db";
  a->executor = "sim";
  a->max_unavailable = o.max_unavailable;
  a->max_parallel = o.max_parallel;
  a->canary = o.canary;
  a->batch_pct = o.batch_pct;
  a->sim_upgrade_ms = -1;
  a->poll_ms = 20;
  a->lease_ms = 30000;
  a->wait_ms = (int)o.wait_timeout_ms;
  a->drain_ms = (int)o.drain_timeout_ms;
  a->upgrade_ms = (int)o.upgrade_timeout_ms;
  a->validate_ms = (int)o.validate_timeout_ms;
  a->blocked_ms = 600000;
}

#define OPT_DB                                                                       \
  {                                                                                  \
    "db", 0, CLI_ARG_STRING, &a->db, "FILE",                                         \
        "rollout state database (default $GPUOPS_ROLLOUT_DB or ./gpuops-rollout.db)" \
  }
#define OPT_ID \
  { "rollout", 0, CLI_ARG_INT, &a->rollout_id, "ID", "which rollout (default: the newest)" }
#define OPT_APPLY \
  { "apply", 0, CLI_ARG_FLAG, &a->apply, NULL, "act on the nodes (the default is a dry run)" }
#define OPT_DRY                                                 \
  {                                                             \
    "dry-run", 0, CLI_ARG_FLAG, &a->dry_run, NULL,              \
        "show what would be done, change nothing (the default)" \
  }
#define OPT_FLEET                                                                            \
  {"scontrol",   0,      CLI_ARG_STRING,                                                     \
   &a->scontrol, "FILE", "the fleet from `scontrol show node -o` output instead of --spec"}, \
      {"executor", 0, CLI_ARG_STRING, &a->executor, "NAME", "sim (default) or slurm"},       \
      {"sim-state",   0,      CLI_ARG_STRING,                                                \
       &a->sim_state, "FILE", "sim executor: fleet state file (default $GPUOPS_SIM_FLEET)"}, \
      {"sim-upgrade-ms",   0,    CLI_ARG_INT,                                                \
       &a->sim_upgrade_ms, "MS", "sim executor: time an upgrade takes (default 20)"},        \
  {                                                                                          \
    "slurm-conf", 0, CLI_ARG_STRING, &a->slurm_conf, "FILE",                                 \
        "slurm executor: slurm.conf (default $SLURM_CONF)"                                   \
  }
#define OPT_DRIVE                                                                               \
  {"poll-ms", 0, CLI_ARG_INT, &a->poll_ms, "MS", "pause between steps (default 20)"},           \
      {"lease-ms", 0, CLI_ARG_INT, &a->lease_ms, "MS", "lease time-to-live (default 30000)"}, { \
    "blocked-timeout-ms", 0, CLI_ARG_INT, &a->blocked_ms, "MS",                                 \
        "stop when nothing can move this long (default 600000)"                                 \
  }
#define OPT_PLAN                                                                                    \
  {"driver", 0, CLI_ARG_STRING, &a->driver, "VERSION", "install this driver version"},              \
      {"firmware", 0, CLI_ARG_STRING, &a->firmware, "VERSION", "install this firmware version"},    \
      {"nodes",   0,         CLI_ARG_STRING,                                                        \
       &a->nodes, "A,B,...", "only these nodes (default: the whole fleet)"},                        \
      {"max-unavailable",                                                                           \
       0,                                                                                           \
       CLI_ARG_STRING,                                                                              \
       &a->max_unavailable,                                                                         \
       "N|P%",                                                                                      \
       "nodes of the fleet out of service at once, any cause (default 1; % rounds up)"},            \
      {"max-parallel",   0,   CLI_ARG_INT,                                                          \
       &a->max_parallel, "N", "nodes upgraded at once (default 1; 0 = as max-unavailable allows)"}, \
      {"canary", 0, CLI_ARG_INT, &a->canary, "N", "nodes in the first wave (default 1; 0 = none)"}, \
      {"batch",       0,     CLI_ARG_INT,                                                           \
       &a->batch_pct, "PCT", "later waves: this % of the plan's nodes, rounded up (default 25)"},   \
      {"failure-budget",                                                                            \
       0,                                                                                           \
       CLI_ARG_INT,                                                                                 \
       &a->failure_budget,                                                                          \
       "N",                                                                                         \
       "failed nodes a wave may have before the rollout halts (default 0)"},                        \
      {"wait-timeout-ms", 0,    CLI_ARG_INT,                                                        \
       &a->wait_ms,       "MS", "wait for jobs this long, then evict (default 600000)"},            \
      {"drain-timeout-ms", 0,    CLI_ARG_INT,                                                       \
       &a->drain_ms,       "MS", "drain this long, then fail the node (default 600000)"},           \
      {"upgrade-timeout-ms", 0,    CLI_ARG_INT,                                                     \
       &a->upgrade_ms,       "MS", "the upgrade must finish within (default 1800000)"},             \
  {                                                                                                 \
    "validate-timeout-ms", 0, CLI_ARG_INT, &a->validate_ms, "MS",                                   \
        "health must pass within (default 600000)"                                                  \
  }

static int parse(const char *cmd, const char *usage, const char *about,
                 const struct cli_option *opts, int argc, char **argv, struct args *a) {
  const struct cli_spec spec = {cmd, usage, about, CLI_SPEC | CLI_FORMAT | CLI_OUTPUT, opts, 0, 0};
  int npos, rc = cli_parse(&spec, argc, argv, &a->c, &npos);
  if (rc) return rc < 0 ? -1 : rc; /* -1: --help was printed */
  if (a->apply && a->dry_run)
    return cli_usage_error(cmd, "--apply and --dry-run contradict each other");
  if (strcmp(a->executor, "sim") && strcmp(a->executor, "slurm"))
    return cli_usage_error(cmd, "--executor '%s': use sim or slurm", a->executor);
  if (a->c.spec && a->scontrol) return cli_usage_error(cmd, "give --spec or --scontrol, not both");
  if (a->poll_ms < 1 || a->lease_ms < 100 || a->blocked_ms < 1)
    return cli_usage_error(cmd, "--poll-ms >= 1, --lease-ms >= 100 and --blocked-timeout-ms >= 1");
  return 0;
}

/* ---- fleet and executor ---- */

/* --spec / --scontrol, else the source recorded with the rollout, else the built-in fleet. */
static int load_fleet(const struct args *a, const char *recorded, struct inventory *inv) {
  inventory_init(inv);
  if (a->scontrol) return inventory_load_scontrol(inv, a->scontrol);
  if (a->c.spec) return inventory_load_yaml(inv, a->c.spec);
  if (recorded && !strncmp(recorded, SCONTROL_SOURCE_PREFIX, strlen(SCONTROL_SOURCE_PREFIX)))
    return inventory_load_scontrol(inv, recorded + strlen(SCONTROL_SOURCE_PREFIX));
  if (recorded && strcmp(recorded, "built-in")) return inventory_load_yaml(inv, recorded);
  return inventory_default(inv);
}

static int open_executor(const struct args *a, const struct inventory *inv, struct executor *e) {
  if (!strcmp(a->executor, "sim")) {
    struct sim_exec_options so = {.state_path = a->sim_state, .upgrade_ms = a->sim_upgrade_ms};
    return sim_exec_open(e, inv, &so);
  }
#ifdef HAVE_SLURM_EXEC
  return slurm_executor_open(e, a->slurm_conf);
#else
  return err_set(
      ERR_UNSUPPORTED,
      "the slurm executor is not built into this gpuops (src/maint/slurm_exec.c missing)");
#endif
}

static int plan_from_args(const struct args *a, const struct inventory *inv,
                          struct rollout_plan *p) {
  if (a->driver && a->firmware)
    return err_set(ERR_INVALID, "give --driver or --firmware, not both (one rollout per kind)");
  struct rollout_options o;
  rollout_options_default(&o);
  o.kind = a->firmware ? UPGRADE_FIRMWARE : UPGRADE_DRIVER;
  o.target = a->firmware ? a->firmware : a->driver;
  o.nodes = a->nodes;
  o.max_unavailable = a->max_unavailable;
  o.max_parallel = a->max_parallel;
  o.canary = a->canary;
  o.batch_pct = a->batch_pct;
  o.failure_budget = a->failure_budget;
  o.wait_timeout_ms = a->wait_ms;
  o.drain_timeout_ms = a->drain_ms;
  o.upgrade_timeout_ms = a->upgrade_ms;
  o.validate_timeout_ms = a->validate_ms;
  o.executor = a->executor;
  return rollout_plan_make(inv, &o, p);
}

/* Write a table in the chosen format (-o FILE or stdout). */
static int emit(const char *cmd, const struct args *a, struct table *t, const char *header) {
  bool close_it;
  FILE *out = cli_output_open(cmd, &a->c, &close_it);
  if (!out) return EXIT_USAGE;
  if (header && a->c.format == TABLE_FMT_TABLE) fprintf(out, "%s\n", header);
  int rc = table_write(t, out, a->c.format);
  cli_output_close(out, close_it);
  return rc < 0 ? cli_fail(cmd, rc) : 0;
}

static void plan_header(const struct rollout_plan *p, char *buf, size_t len) {
  const struct store_rollout *r = &p->r;
  snprintf(buf, len,
           "plan: %s %s on %d of %d nodes in %d wave%s (canary %d, then batches of %d%%); "
           "max-unavailable %s = %d "
           "node%s; max-parallel %d; failure budget %d per wave",
           r->kind, r->target, p->n_nodes, r->fleet_size, p->n_waves, p->n_waves == 1 ? "" : "s",
           r->canary, r->batch_pct, r->max_unavailable_spec, r->max_unavailable,
           r->max_unavailable == 1 ? "" : "s", r->max_parallel, r->failure_budget);
}

static struct table *plan_table(const struct rollout_plan *p, const struct inventory *inv) {
  static const char *cols[] = {"wave", "node", "installed", "target", "inventory_state"};
  struct table *t = table_new(5, cols);
  for (int i = 0; t && i < p->n_nodes; i++) {
    const struct inv_node *n = inventory_node(inv, p->nodes[i].name);
    const char *have = !strcmp(p->r.kind, "firmware") ? n->firmware_version : n->driver_version;
    table_add_rowf(t, "%d|%s|%s|%s|%s", p->nodes[i].wave, n->name, have, p->r.target, n->state);
  }
  return t;
}

/* ---- subcommands ---- */

static int do_plan(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {OPT_PLAN, OPT_FLEET, OPT_DB, {0}};
  int rc =
      parse("rollout plan", "(--driver V | --firmware V) [--spec FILE | --scontrol FILE] [limits]",
            "Show the waves a rollout would take. Changes nothing and writes nothing.", opts, argc,
            argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  struct inventory inv;
  struct rollout_plan p = {0};
  rc = load_fleet(a, NULL, &inv);
  if (rc == 0) rc = plan_from_args(a, &inv, &p);
  if (rc < 0) {
    inventory_free(&inv);
    return cli_fail("rollout plan", rc);
  }
  char header[512];
  plan_header(&p, header, sizeof header);
  struct table *t = plan_table(&p, &inv);
  int ec = emit("rollout plan", a, t, header);
  table_free(t);
  rollout_plan_free(&p);
  inventory_free(&inv);
  return ec;
}

static int drive(const char *cmd, struct args *a, struct store *st, struct executor *e,
                 const struct inventory *inv, int64_t id) {
  struct rollout_drive_options d;
  rollout_drive_options_default(&d);
  d.poll_ms = a->poll_ms;
  d.lease_ms = a->lease_ms;
  d.blocked_timeout_ms = a->blocked_ms;
  d.log = log_get_level() <= LOG_WARN ? stderr : NULL;
  struct rollout_summary s;
  int rc = rollout_drive(st, a->db, e, inv, id, &d, &s);
  if (rc < 0 && rc != ERR_CHECK) return cli_fail(cmd, rc);
  printf("rollout %lld: %s%s: %d done, %d failed, %d in flight, %d untouched\n", (long long)id,
         s.status, s.blocked ? " (blocked)" : "", s.done, s.failed, s.in_flight, s.pending);
  return rc < 0 ? EXIT_CHECK : EXIT_OK;
}

static int do_run(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {OPT_PLAN,  OPT_FLEET, OPT_DB, OPT_DRIVE,
                                    OPT_APPLY, OPT_DRY,   {0}};
  int rc = parse("rollout run",
                 "(--driver V | --firmware V) [--spec FILE | --scontrol FILE] [limits] [--apply]",
                 "Start a rollout and drive it to the end. Without --apply: show the plan and the "
                 "first actions, "
                 "change nothing.",
                 opts, argc, argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  struct inventory inv;
  struct rollout_plan p = {0};
  struct executor e = {0};
  struct store *st = NULL;
  int ec = 0;
  rc = load_fleet(a, NULL, &inv);
  if (rc == 0) rc = plan_from_args(a, &inv, &p); /* every input error before anything is written */
  if (rc < 0) goto out;
  if (!a->apply) {
    char header[512];
    plan_header(&p, header, sizeof header);
    fprintf(stderr,
            "dry run (nothing changed; add --apply to act): would record the rollout in %s\n",
            a->db);
    struct table *t = plan_table(&p, &inv);
    ec = emit("rollout run", a, t, header);
    table_free(t);
    goto out;
  }
  if ((rc = open_executor(a, &inv, &e)) < 0) goto out;
  if ((rc = store_open(a->db, &st)) < 0) goto out;
  if ((rc = store_rollout_create(st, &p.r, p.nodes, p.n_nodes)) < 0) goto out;
  if (log_get_level() <= LOG_WARN)
    fprintf(stderr, "rollout %lld recorded in %s\n", (long long)p.r.id, a->db);
  ec = drive("rollout run", a, st, &e, &inv, p.r.id);
out:
  if (rc < 0) ec = cli_fail("rollout run", rc);
  if (e.ops) e.ops->close(&e);
  store_close(st);
  rollout_plan_free(&p);
  inventory_free(&inv);
  return ec;
}

static int do_resume(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {OPT_FLEET, OPT_DB, OPT_ID, OPT_DRIVE, OPT_APPLY, OPT_DRY, {0}};
  int rc = parse("rollout resume", "[--db FILE] [--rollout ID] [--apply]",
                 "Continue a rollout from its last committed state (after a crash, a halt you "
                 "fixed, or a block). "
                 "Each node's step in flight is resolved by observing the node. Without --apply: "
                 "show where it stands.",
                 opts, argc, argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  if (access(a->db, F_OK) != 0)
    return cli_usage_error("rollout resume", "no rollout database %s", a->db);
  struct inventory inv;
  inventory_init(&inv);
  struct executor e = {0};
  struct store *st = NULL;
  struct store_rollout r;
  int ec = 0;
  if ((rc = store_open(a->db, &st)) < 0 || (rc = store_rollout_get(st, a->rollout_id, &r)) < 0)
    goto out;
  if (!strcmp(r.status, "halted") && a->apply && (rc = rollout_resume_halted(st, r.id)) < 0)
    goto out;
  if ((rc = load_fleet(a, r.inventory, &inv)) < 0 || (rc = open_executor(a, &inv, &e)) < 0)
    goto out;
  if (!a->apply) {
    struct rollout_summary s;
    if ((rc = rollout_summarize(st, r.id, &s)) < 0) goto out;
    printf(
        "dry run: rollout %lld is %s: %d done, %d failed, %d in flight, %d untouched; add --apply "
        "to continue\n",
        (long long)r.id, s.status, s.done, s.failed, s.in_flight, s.pending);
    goto out;
  }
  ec = drive("rollout resume", a, st, &e, &inv, r.id);
out:
  if (rc < 0) ec = cli_fail("rollout resume", rc);
  if (e.ops) e.ops->close(&e);
  store_close(st);
  inventory_free(&inv);
  return ec;
}

static struct table *status_table(struct store *st, int64_t id, int *rc) {
  static const char *cols[] = {"node", "wave", "state", "since", "held_by_person", "reason"};
  struct store_node *nodes = NULL;
  int n = 0;
  struct table *t = NULL;
  if ((*rc = store_nodes_get(st, id, &nodes, &n)) < 0) return NULL;
  t = table_new(6, cols);
  for (int i = 0; t && i < n; i++) {
    char when[32];
    table_add_rowf(t, "%s|%d|%s|%s|%s|%s", nodes[i].name, nodes[i].wave, nodes[i].state,
                   time_iso8601(nodes[i].entered_ns, when, sizeof when),
                   nodes[i].human_hold ? "yes" : "no", nodes[i].reason);
  }
  free(nodes);
  return t;
}

static struct table *audit_table(struct store *st, int64_t id, int *rc) {
  static const char *cols[] = {"time", "node", "action", "from", "to", "result"};
  struct store_audit_row *rows = NULL;
  int n = 0;
  if ((*rc = store_audit_get(st, id, &rows, &n)) < 0) return NULL;
  struct table *t = table_new(6, cols);
  for (int i = 0; t && i < n; i++) {
    char when[32];
    table_add_rowf(t, "%s|%s|%s|%s|%s|%s", time_iso8601(rows[i].t_ns, when, sizeof when),
                   rows[i].node, rows[i].action, rows[i].from, rows[i].to, rows[i].result);
  }
  free(rows);
  return t;
}

static int do_status(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {
      OPT_DB,
      OPT_ID,
      {"audit", 0, CLI_ARG_FLAG, &a->audit, NULL, "print the audit log instead of the nodes"},
      {0}};
  int rc = parse("rollout status", "[--db FILE] [--rollout ID] [--audit]",
                 "Where a rollout stands: its status and each node's state (or, with --audit, "
                 "every action and "
                 "its result). Reads the database only.",
                 opts, argc, argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  if (access(a->db, F_OK) != 0)
    return cli_usage_error("rollout status", "no rollout database %s", a->db);
  struct store *st = NULL;
  struct store_rollout r;
  struct table *t = NULL;
  int ec = 0;
  if ((rc = store_open(a->db, &st)) < 0 || (rc = store_rollout_get(st, a->rollout_id, &r)) < 0)
    goto out;
  t = a->audit ? audit_table(st, r.id, &rc) : status_table(st, r.id, &rc);
  if (rc < 0) goto out;
  char header[700];
  snprintf(header, sizeof header,
           "rollout %lld: %s %s via %s, %s%s%s; max-unavailable %s = %d, max-parallel %d",
           (long long)r.id, r.kind, r.target, r.executor, r.status, r.status_reason[0] ? ": " : "",
           r.status_reason, r.max_unavailable_spec, r.max_unavailable, r.max_parallel);
  ec = emit("rollout status", a, t, header);
out:
  if (rc < 0) ec = cli_fail("rollout status", rc);
  table_free(t);
  store_close(st);
  return ec;
}

static int do_abort(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {OPT_DB, OPT_ID, OPT_APPLY, OPT_DRY, {0}};
  int rc = parse("rollout abort", "[--db FILE] [--rollout ID] [--apply]",
                 "Stop a rollout: no new node starts; a running driver finishes the nodes in "
                 "flight (a node is "
                 "never left half-upgraded). Without --apply: say what would happen.",
                 opts, argc, argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  if (access(a->db, F_OK) != 0)
    return cli_usage_error("rollout abort", "no rollout database %s", a->db);
  struct store *st = NULL;
  struct store_rollout r;
  if ((rc = store_open(a->db, &st)) == 0 && (rc = store_rollout_get(st, a->rollout_id, &r)) == 0) {
    if (!a->apply)
      printf("dry run: would abort rollout %lld (now %s); add --apply\n", (long long)r.id,
             r.status);
    else if ((rc = rollout_abort(st, r.id, "aborted by a person (gpuops rollout abort)")) == 0)
      printf("rollout %lld aborted\n", (long long)r.id);
  }
  store_close(st);
  return rc < 0 ? cli_fail("rollout abort", rc) : 0;
}

/* The sim fleet's counters, for tests and demos: upgrades per node, the most nodes ever out of
 * service. */
static int do_sim_report(int argc, char **argv) {
  struct args a0, *a = &a0;
  args_default(a);
  const struct cli_option opts[] = {{"sim-state", 0, CLI_ARG_STRING, &a->sim_state, "FILE",
                                     "fleet state file (default $GPUOPS_SIM_FLEET)"},
                                    {0}};
  int rc = parse("rollout sim-report", "[--sim-state FILE]",
                 "The simulated fleet as the sim executor holds it: each node's state, versions, "
                 "upgrades issued, "
                 "and the most nodes ever out of service at once.",
                 opts, argc, argv, a);
  if (rc) return rc < 0 ? 0 : rc;
  json_t *doc = NULL;
  if ((rc = sim_exec_report(a->sim_state, &doc)) < 0) return cli_fail("rollout sim-report", rc);
  static const char *cols[] = {"node",   "drained",  "down",
                               "reason", "driver",   "firmware",
                               "jobs",   "upgrades", "max_out_of_service"};
  struct table *t = table_new(9, cols);
  long long max_out = json_integer_value(json_object_get(doc, "max_out_of_service"));
  const char *name;
  json_t *n;
  json_object_foreach(json_object_get(doc, "nodes"), name, n) {
    table_add_rowf(t, "%s|%s|%s|%s|%s|%s|%lld|%lld|%lld", name,
                   json_is_true(json_object_get(n, "drained")) ? "yes" : "no",
                   json_is_true(json_object_get(n, "down")) ? "yes" : "no",
                   json_string_value(json_object_get(n, "reason")),
                   json_string_value(json_object_get(n, "driver")),
                   json_string_value(json_object_get(n, "firmware")),
                   (long long)json_integer_value(json_object_get(n, "jobs")),
                   (long long)json_integer_value(json_object_get(n, "upgrades")), max_out);
  }
  int ec = emit("rollout sim-report", a, t, NULL);
  table_free(t);
  json_decref(doc);
  return ec;
}

/* ---- dispatch ---- */

int cmd_rollout(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *about;
  } subs[] = {
      {"plan", do_plan, "show the waves a rollout would take (writes nothing)"},
      {"run", do_run, "start a rollout and drive it (dry run unless --apply)"},
      {"status", do_status, "a rollout's status, each node's state, or --audit"},
      {"resume", do_resume,
       "continue a rollout from its last committed state (dry run unless --apply)"},
      {"abort", do_abort, "stop starting nodes (dry run unless --apply)"},
      {"sim-report", do_sim_report, "the simulated fleet's state and counters"},
  };
  int n = (int)(sizeof subs / sizeof subs[0]);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *out = argc < 2 ? stderr : stdout;
    fprintf(out,
            "usage: gpuops rollout <subcommand> [options]\n\nrolling driver/firmware upgrades:\n");
    for (int i = 0; i < n; i++) fprintf(out, "  %-11s %s\n", subs[i].name, subs[i].about);
    fprintf(out,
            "\nrun `gpuops rollout <subcommand> --help` for its options; docs/maintenance.md "
            "explains.\n");
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  for (int i = 0; i < n; i++)
    if (!strcmp(argv[1], subs[i].name)) return subs[i].run(argc - 1, argv + 1);
  const char *names[8];
  for (int i = 0; i < n; i++) names[i] = subs[i].name;
  names[n] = NULL;
  const char *hint = cli_suggest(argv[1], names);
  return cli_usage_error("rollout", "unknown subcommand '%s'%s%s%s", argv[1],
                         hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}
