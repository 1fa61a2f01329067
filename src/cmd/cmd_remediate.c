/*
 * cmd_remediate.c — `gpuops remediate`: act on health verdicts through an
 * executor, with guardrails (maint/remediate.h). Dry-run unless --apply.
 *
 * Input: /health documents (docs/telemetry.md) from files (`gpuops health
 * --format json` output: one document or a JSON array of them) or URLs (an
 * exporter's /health), given as arguments or with --from.
 *
 * Exit: 0 done, 1 an alert (mass failure or rate limit held nodes back),
 * 2 bad input (unknown or duplicate nodes, impossible limits; nothing
 * changed or written), 3 the engine is missing (slurmctld not answering).
 *
 * Sections: reading verdicts; the fleet and the executor; output; the command.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "maint/budget.h"
#include "maint/remediate.h"
#include "maint/sim_exec.h"
#include "maint/slurm_exec.h"

#define COMMAND     "remediate"
#define MAX_SOURCES 1024

/* ---- reading verdicts ---- */

struct verdicts {
  struct remediate_verdict *v;
  int n, cap;
};

static size_t on_data(char *data, size_t size, size_t n, void *cls) {
  char **buf = cls;
  size_t old = *buf ? strlen(*buf) : 0, add = size * n;
  if (old + add > (16u << 20)) return 0;
  char *p = realloc(*buf, old + add + 1);
  if (!p) return 0;
  memcpy(p + old, data, add);
  p[old + add] = '\0';
  *buf = p;
  return add;
}

static json_t *load_url(const char *url) {
  char *body = NULL;
  long code = 0;
  json_t *doc = NULL;
  CURL *h = curl_easy_init();
  if (!h) return err_set(ERR_NOMEM, "cannot start libcurl"), NULL;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  CURLcode cr = curl_easy_perform(h);
  if (cr == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(h);
  if (cr != CURLE_OK || code != 200) {
    err_set(ERR_NODEVICE, "cannot read %s: %s", url,
            cr != CURLE_OK ? curl_easy_strerror(cr) : "not HTTP 200");
  } else {
    json_error_t je;
    doc = json_loads(body ? body : "", 0, &je);
    if (!doc) err_set(ERR_PARSE, "%s: not JSON (line %d: %s)", url, je.line, je.text);
  }
  free(body);
  return doc;
}

static int add_doc(struct verdicts *vs, const json_t *doc, const char *src, int idx) {
  struct health_report r;
  health_report_init(&r);
  int rc = health_report_from_json(doc, &r);
  if (rc < 0) {
    health_report_free(&r);
    return err_wrap(rc, "%s: document %d", src, idx + 1);
  }
  if (vs->n == vs->cap) {
    int cap = vs->cap ? 2 * vs->cap : 64;
    struct remediate_verdict *v = realloc(vs->v, (size_t)cap * sizeof *v);
    if (!v) return health_report_free(&r), err_set(ERR_NOMEM, "out of memory");
    vs->v = v, vs->cap = cap;
  }
  remediate_verdict_from_report(&r, &vs->v[vs->n++]);
  health_report_free(&r);
  return 0;
}

static int load_source(struct verdicts *vs, const char *src) {
  json_error_t je;
  bool url = !strncmp(src, "http://", 7) || !strncmp(src, "https://", 8);
  json_t *doc = url ? load_url(src) : json_load_file(src, 0, &je);
  if (!doc) return url ? err_last() : err_set(ERR_PARSE, "%s:%d: %s", src, je.line, je.text);
  int rc = 0;
  if (json_is_array(doc)) {
    for (size_t i = 0; i < json_array_size(doc) && rc == 0; i++)
      rc = add_doc(vs, json_array_get(doc, i), src, (int)i);
  } else {
    rc = add_doc(vs, doc, src, 0);
  }
  json_decref(doc);
  return rc;
}

/* ---- the fleet and the executor ---- */

struct fleet {
  struct inventory inv;
  char **slurm_names;
  const char **names;
  int n;
};

static void fleet_free(struct fleet *f) {
  for (int i = 0; f->slurm_names && i < f->n; i++) free(f->slurm_names[i]);
  free(f->slurm_names);
  free(f->names);
  inventory_free(&f->inv);
}

/* The fleet's names, and the slurm executor (which writes nothing when opened). */
static int open_executor(const char *kind, const struct cli_common *c, const char *state,
                         const char *slurm_conf, struct executor *e, struct fleet *f) {
  int rc;
  inventory_init(&f->inv);
  if (!strcmp(kind, "slurm")) {
    if ((rc = slurm_executor_open(e, slurm_conf)) < 0) return rc;
    if ((rc = slurm_exec_nodes(&f->slurm_names, &f->n)) < 0) return rc;
  } else {
    /* The sim executor is opened after the input is checked (it writes its state file). */
    (void)state, (void)e;
    rc = c->spec ? inventory_load_yaml(&f->inv, c->spec) : inventory_default(&f->inv);
    if (rc < 0) return rc;
    f->n = f->inv.n_nodes;
  }
  f->names = calloc(f->n ? (size_t)f->n : 1, sizeof *f->names);
  if (!f->names) return err_set(ERR_NOMEM, "out of memory");
  for (int i = 0; i < f->n; i++)
    f->names[i] = f->slurm_names ? f->slurm_names[i] : f->inv.nodes[i].name;
  return 0;
}

/* ---- output ---- */

static int write_result(const struct cli_common *c, const struct remediate_result *r) {
  static const char *cols[] = {"node", "action", "decision", "detail"};
  struct table *t = table_new(4, cols);
  if (!t) return err_set(ERR_NOMEM, "out of memory");
  for (int i = 0; i < r->n; i++) {
    const struct remediate_decision *d = &r->decisions[i];
    const char *cells[4] = {d->node, verdict_action_name(d->action),
                            remediate_outcome_name(d->outcome), d->detail};
    table_add_row(t, cells);
  }
  bool close_it = false;
  FILE *out = cli_output_open(COMMAND, c, &close_it);
  int rc = out ? table_write(t, out, c->format) : err_set(ERR_IO, "cannot open output");
  if (out) {
    int crc = cli_output_close(out, close_it);
    if (rc == 0) rc = crc;
  }
  table_free(t);
  return rc;
}

/* ---- the command ---- */

struct rem_args {
  const char *from, *executor, *max_unavailable, *rate, *state, *slurm_conf, *audit;
  int cooldown_s, flap_s, repair_timeout_s;
  bool apply;
};

static int parse_rate(const char *s, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || v < 1 || v > 1000000 || (*end && strcmp(end, "/h")))
    return err_set(ERR_INVALID, "--rate '%s': give actions per hour, e.g. 10/h", s);
  *out = (int)v;
  return 0;
}

static int run(const struct cli_common *c, const struct rem_args *a, char **srcs, int nsrc) {
  struct verdicts vs = {0};
  struct fleet f = {0};
  struct executor e = {0};
  struct remediate_policy p;
  struct remediate_result res = {0};
  int rc = 0;
  remediate_policy_default(&p);
  for (int i = 0; i < nsrc && rc == 0; i++) rc = load_source(&vs, srcs[i]);
  if (rc < 0) goto out;
  if ((rc = open_executor(a->executor, c, a->state, a->slurm_conf, &e, &f)) < 0) goto out;
  e.dry_run = !a->apply;
  if ((rc = budget_resolve(a->max_unavailable, f.n, &p.max_unavailable)) < 0) goto out;
  if ((rc = parse_rate(a->rate, &p.rate_per_hour)) < 0) goto out;
  p.cooldown_s = a->cooldown_s, p.flap_window_s = a->flap_s;
  p.repair_timeout_ms = a->repair_timeout_s * 1000;
  p.dry_run = !a->apply;
  p.audit_path = a->audit;
  if ((rc = remediate_check(&p, f.names, f.n, vs.v, vs.n)) < 0) goto out; /* before any state */
  if (!e.ops) {
    struct sim_exec_options so = {.state_path = a->state, .upgrade_ms = -1};
    if ((rc = sim_exec_open(&e, &f.inv, &so)) < 0) goto out;
  }
  e.dry_run = !a->apply;
  if ((rc = remediate_run(&e, &p, f.names, f.n, vs.v, vs.n, &res)) < 0) goto out;
  if ((rc = write_result(c, &res)) < 0) goto out;
  fprintf(stderr,
          "gpuops remediate: %s%d verdict(s), %d action(s); out of service %d -> %d (max %d at "
          "once, limit %d)\n",
          p.dry_run ? "DRY RUN (--apply to act): " : "", vs.n, res.actions, res.out_before,
          res.out_after, res.out_max, p.max_unavailable);
  if (res.alert) fprintf(stderr, "gpuops remediate: ALERT: %s\n", res.alert_msg);
  rc = res.alert ? 1 : 0;
out:
  if (rc < 0) rc = cli_fail(COMMAND, rc);
  remediate_result_free(&res);
  if (e.ops) e.ops->close(&e);
  fleet_free(&f);
  free(vs.v);
  return rc;
}

int cmd_remediate(int argc, char **argv) {
  struct rem_args a = {.executor = "sim",
                       .max_unavailable = "1",
                       .rate = "10/h",
                       .cooldown_s = 600,
                       .flap_s = 3600,
                       .repair_timeout_s = 600};
  const struct cli_option opts[] = {
      {"from", 0, CLI_ARG_STRING, &a.from, "FILE|URL",
       "a /health document (or array of them); also as arguments"},
      {"executor", 0, CLI_ARG_STRING, &a.executor, "sim|slurm", "where nodes live (default sim)"},
      {"max-unavailable", 0, CLI_ARG_STRING, &a.max_unavailable, "N|P%",
       "most nodes out of service at once, counting everyone's drains (default 1)"},
      {"rate", 0, CLI_ARG_STRING, &a.rate, "N/h", "most actions per rolling hour (default 10/h)"},
      {"cooldown", 0, CLI_ARG_INT, &a.cooldown_s, "S", "seconds between actions on one node (600)"},
      {"flap-window", 0, CLI_ARG_INT, &a.flap_s, "S",
       "a failure this soon after a repair keeps the node drained for a human (3600)"},
      {"repair-timeout", 0, CLI_ARG_INT, &a.repair_timeout_s, "S",
       "wait this long for jobs to end or a reboot (600)"},
      {"audit", 0, CLI_ARG_STRING, &a.audit, "FILE",
       "append-only audit log (JSON lines); history for the guardrails"},
      {"state", 0, CLI_ARG_STRING, &a.state, "FILE",
       "sim executor's fleet state (default $GPUOPS_SIM_FLEET)"},
      {"slurm-conf", 0, CLI_ARG_STRING, &a.slurm_conf, "FILE",
       "slurm executor: slurm.conf (default $SLURM_CONF)"},
      {"apply", 0, CLI_ARG_FLAG, &a.apply, NULL,
       "act (without it: a dry run that changes and writes nothing)"},
      {0}};
  const struct cli_spec spec = {
      COMMAND,
      "[--from] FILE|URL... [--executor sim|slurm] [--max-unavailable N|P%] [--rate N/h] "
      "[--cooldown S] [--apply]",
      "Act on health verdicts: restart_app is reported; reset_gpu, drain_and_reset and reboot_node "
      "are "
      "repaired (cordon, reset/reboot, validate, uncordon); drain_and_repair is drained for a "
      "human. Never "
      "more than --max-unavailable nodes out of service (anyone's drains count); a mass failure "
      "drains only "
      "up to it and raises an alert (exit 1). Dry run unless --apply. See docs/maintenance.md.",
      CLI_SPEC | CLI_FORMAT | CLI_OUTPUT,
      opts,
      0,
      -1};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (strcmp(a.executor, "sim") && strcmp(a.executor, "slurm"))
    return cli_usage_error(COMMAND, "--executor must be sim or slurm, got '%s'", a.executor);
  if (a.cooldown_s < 0 || a.flap_s < 0 || a.repair_timeout_s < 0)
    return cli_usage_error(COMMAND, "--cooldown, --flap-window and --repair-timeout must be >= 0");
  char *srcs[MAX_SOURCES];
  int nsrc = 0;
  if (a.from) srcs[nsrc++] = (char *)a.from;
  for (int i = 0; i < npos && nsrc < MAX_SOURCES; i++) srcs[nsrc++] = argv[1 + i];
  if (nsrc == 0)
    return cli_usage_error(COMMAND, "give the verdicts: --from FILE|URL (or as arguments)");
  return run(&c, &a, srcs, nsrc);
}
