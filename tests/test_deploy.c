/*
 * test_deploy.c — the files in deploy/ agree with each other:
 *   - deploy/grafana/dashboard-queries.txt lists exactly the dashboard's
 *     PromQL expressions (every target's expr is in the list, every line of
 *     the list is some target's expr, no line twice), so the Prometheus
 *     integration test (tests/cli/test_prometheus.sh) runs what Grafana runs;
 *   - the dashboard is well formed for Grafana: unique panel ids, every target
 *     on the ${datasource} variable with a unique refId, the variables the
 *     queries use are defined;
 *   - every gpuops:* recording rule the dashboard reads is defined in
 *     deploy/prometheus/gpuops-rules.yml;
 *   - every alert of the rules has a severity, a summary and a description,
 *     and deploy/prometheus/gpuops-rules.test.yml tests it both firing and
 *     not firing.
 *
 * Sections: helpers (files, the dashboard's targets, the rules); the query
 * list; the dashboard; the rules.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */

#define MAX_ITEMS 512

struct list {
  int n;
  char *s[MAX_ITEMS];
};

static void list_add(struct list *l, const char *s) {
  cr_assert_lt(l->n, MAX_ITEMS, "more than %d items", MAX_ITEMS);
  l->s[l->n++] = strdup(s);
}
static int list_find(const struct list *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->s[i], s)) return i;
  return -1;
}
static void list_free(struct list *l) {
  for (int i = 0; i < l->n; i++) free(l->s[i]);
  l->n = 0;
}

static void source_path(char *buf, size_t len, const char *rel) {
  const char *src = getenv("GPUOPS_SOURCE_DIR");
  cr_assert_not_null(src, "GPUOPS_SOURCE_DIR is not set: run through ctest");
  snprintf(buf, len, "%s/%s", src, rel);
}

static json_t *load_dashboard(void) {
  char path[1024];
  source_path(path, sizeof path, "deploy/grafana/gpuops-dashboard.json");
  json_error_t e;
  json_t *d = json_load_file(path, 0, &e);
  cr_assert_not_null(d, "%s:%d: %s", path, e.line, e.text);
  return d;
}

/* Every panel, rows' nested panels included (a collapsed row keeps its panels inside it). */
static void collect_panels(json_t *panels, json_t *out) {
  size_t i;
  json_t *p;
  json_array_foreach(panels, i, p) {
    json_array_append(out, p);
    json_t *nested = json_object_get(p, "panels");
    if (json_is_array(nested)) collect_panels(nested, out);
  }
}

static json_t *all_panels(json_t *dash) {
  json_t *out = json_array();
  collect_panels(json_object_get(dash, "panels"), out);
  return out;
}

/* The lines of dashboard-queries.txt that are not blank or # comments, with their line numbers. */
static void load_query_list(struct list *q, int *lines) {
  char path[1024];
  source_path(path, sizeof path, "deploy/grafana/dashboard-queries.txt");
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s: cannot open", path);
  char buf[4096];
  int line = 0;
  while (fgets(buf, sizeof buf, f)) {
    line++;
    size_t n = strlen(buf);
    cr_assert(n < sizeof buf - 1 || buf[n - 1] == '\n', "%s:%d: line too long", path, line);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    if (!n || buf[0] == '#') continue;
    cr_expect_eq(list_find(q, buf), -1, "%s:%d: listed twice: %s", path, line, buf);
    cr_expect(buf[0] != ' ' && buf[n - 1] != ' ', "%s:%d: leading or trailing blanks: '%s'", path,
              line, buf);
    lines[q->n] = line;
    list_add(q, buf);
  }
  fclose(f);
}

static struct fy_document *load_yaml(const char *rel) {
  char path[1024];
  source_path(path, sizeof path, rel);
  struct fy_document *d = fy_document_build_from_file(NULL, path);
  cr_assert_not_null(d, "%s: not valid YAML", path);
  return d;
}

static const char *scalar(struct fy_node *map, const char *key) {
  struct fy_node *n = map ? fy_node_mapping_lookup_by_string(map, key, FY_NT) : NULL;
  return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

/* Every rule (mapping) of a rules file's groups, in order. */
static int rules_of(struct fy_document *d, struct fy_node **out, int cap) {
  struct fy_node *groups = fy_node_mapping_lookup_by_string(fy_document_root(d), "groups", FY_NT);
  cr_assert(groups && fy_node_is_sequence(groups), "rules file: no groups");
  int n = 0;
  void *gi = NULL;
  struct fy_node *g;
  while ((g = fy_node_sequence_iterate(groups, &gi))) {
    struct fy_node *rules = fy_node_mapping_lookup_by_string(g, "rules", FY_NT);
    cr_assert(rules && fy_node_is_sequence(rules), "group %s: no rules", scalar(g, "name"));
    void *ri = NULL;
    struct fy_node *r;
    while ((r = fy_node_sequence_iterate(rules, &ri))) {
      cr_assert_lt(n, cap);
      out[n++] = r;
    }
  }
  return n;
}

/* ---- the query list ---- */

Test(deploy, query_list_matches_the_dashboard_exactly) {
  json_t *dash = load_dashboard(), *panels = all_panels(dash);
  struct list listed = {0}, used = {0};
  static int lines[MAX_ITEMS];
  load_query_list(&listed, lines);
  cr_assert_gt(listed.n, 20, "the list holds the dashboard's queries");
  size_t i, j;
  json_t *p, *t;
  json_array_foreach(panels, i, p) {
    json_array_foreach(json_object_get(p, "targets"), j, t) {
      const char *expr = json_string_value(json_object_get(t, "expr"));
      const char *title = json_string_value(json_object_get(p, "title"));
      cr_assert_not_null(expr, "panel '%s': a target without an expr", title);
      cr_expect_neq(list_find(&listed, expr), -1,
                    "panel '%s': query missing from deploy/grafana/dashboard-queries.txt:\n%s",
                    title, expr);
      if (list_find(&used, expr) < 0) list_add(&used, expr);
    }
  }
  for (int k = 0; k < listed.n; k++)
    cr_expect_neq(
        list_find(&used, listed.s[k]), -1,
        "dashboard-queries.txt:%d: not a query of the dashboard (remove it or add the panel):\n%s",
        lines[k], listed.s[k]);
  cr_expect_eq(listed.n, used.n);
  list_free(&listed);
  list_free(&used);
  json_decref(panels);
  json_decref(dash);
}

/* ---- the dashboard ---- */

Test(deploy, dashboard_is_well_formed_for_grafana) {
  json_t *dash = load_dashboard(), *panels = all_panels(dash);
  cr_expect_str_eq(json_string_value(json_object_get(dash, "uid")), "gpuops-gpus");
  cr_expect(json_is_integer(json_object_get(dash, "schemaVersion")));
  /* variables */
  struct list vars = {0};
  size_t i, j;
  json_t *p, *t, *v;
  json_array_foreach(json_object_get(json_object_get(dash, "templating"), "list"), i, v)
      list_add(&vars, json_string_value(json_object_get(v, "name")));
  cr_expect_neq(list_find(&vars, "datasource"), -1);
  cr_expect_neq(list_find(&vars, "Hostname"), -1);
  cr_expect_neq(list_find(&vars, "gpu"), -1);
  /* panels: unique ids; targets: the datasource variable, unique refIds, only defined variables */
  struct list ids = {0};
  json_array_foreach(panels, i, p) {
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(p, "id")));
    cr_expect_eq(list_find(&ids, id), -1, "panel id %s used twice", id);
    list_add(&ids, id);
    const char *title = json_string_value(json_object_get(p, "title"));
    cr_expect(title && *title, "panel %s has no title", id);
    struct list refs = {0};
    json_array_foreach(json_object_get(p, "targets"), j, t) {
      const char *uid = json_string_value(json_object_get(json_object_get(t, "datasource"), "uid"));
      cr_expect(uid && !strcmp(uid, "${datasource}"), "panel '%s': target not on ${datasource}",
                title);
      const char *ref = json_string_value(json_object_get(t, "refId"));
      cr_assert_not_null(ref, "panel '%s': target without refId", title);
      cr_expect_eq(list_find(&refs, ref), -1, "panel '%s': refId %s twice", title, ref);
      list_add(&refs, ref);
      const char *expr = json_string_value(json_object_get(t, "expr"));
      for (const char *d = expr ? strchr(expr, '$') : NULL; d; d = strchr(d + 1, '$')) {
        char name[64];
        if (sscanf(d + 1, "%63[A-Za-z0-9_]", name) != 1 || !strncmp(name, "__", 2))
          continue; /* $__rate_interval */
        cr_expect_neq(list_find(&vars, name), -1, "panel '%s': $%s is not a dashboard variable",
                      title, name);
      }
    }
    list_free(&refs);
  }
  list_free(&ids);
  list_free(&vars);
  json_decref(panels);
  json_decref(dash);
}

/* ---- the rules ---- */

Test(deploy, recording_rules_the_dashboard_reads_exist) {
  struct fy_document *d = load_yaml("deploy/prometheus/gpuops-rules.yml");
  struct fy_node *rules[256];
  int n = rules_of(d, rules, 256);
  struct list records = {0}, queries = {0};
  for (int i = 0; i < n; i++)
    if (scalar(rules[i], "record")) list_add(&records, scalar(rules[i], "record"));
  cr_assert_gt(records.n, 5);
  static int lines[MAX_ITEMS];
  load_query_list(&queries, lines);
  int seen = 0;
  for (int k = 0; k < queries.n; k++)
    for (const char *s = strstr(queries.s[k], "gpuops:"); s; s = strstr(s + 1, "gpuops:")) {
      char name[128];
      cr_assert_eq(sscanf(s, "%127[A-Za-z0-9_:]", name), 1);
      cr_expect_neq(list_find(&records, name), -1,
                    "dashboard-queries.txt:%d reads %s, which gpuops-rules.yml does not record",
                    lines[k], name);
      seen++;
    }
  cr_expect_gt(seen, 0, "the dashboard shows the SLO's recorded series");
  list_free(&records);
  list_free(&queries);
  fy_document_destroy(d);
}

Test(deploy, every_alert_is_documented_and_tested_firing_and_not_firing) {
  struct fy_document *rd = load_yaml("deploy/prometheus/gpuops-rules.yml");
  struct fy_document *td = load_yaml("deploy/prometheus/gpuops-rules.test.yml");
  struct fy_node *rules[256];
  int n = rules_of(rd, rules, 256), alerts = 0;
  struct fy_node *tests = fy_node_mapping_lookup_by_string(fy_document_root(td), "tests", FY_NT);
  cr_assert(tests && fy_node_is_sequence(tests));
  for (int i = 0; i < n; i++) {
    const char *name = scalar(rules[i], "alert");
    if (!name) continue;
    alerts++;
    struct fy_node *labels = fy_node_mapping_lookup_by_string(rules[i], "labels", FY_NT);
    struct fy_node *ann = fy_node_mapping_lookup_by_string(rules[i], "annotations", FY_NT);
    const char *sev = scalar(labels, "severity");
    cr_expect(sev && (!strcmp(sev, "page") || !strcmp(sev, "critical") || !strcmp(sev, "warning") ||
                      !strcmp(sev, "ticket")),
              "%s: severity must be page, critical, warning or ticket", name);
    cr_expect(scalar(ann, "summary") && scalar(ann, "description"),
              "%s: needs a summary and a description", name);
    int firing = 0, quiet = 0;
    void *ti = NULL;
    struct fy_node *t;
    while ((t = fy_node_sequence_iterate(tests, &ti))) {
      struct fy_node *cases = fy_node_mapping_lookup_by_string(t, "alert_rule_test", FY_NT);
      void *ci = NULL;
      struct fy_node *c;
      while (cases && (c = fy_node_sequence_iterate(cases, &ci))) {
        const char *an = scalar(c, "alertname");
        if (!an || strcmp(an, name)) continue;
        struct fy_node *exp = fy_node_mapping_lookup_by_string(c, "exp_alerts", FY_NT);
        if (exp && fy_node_is_sequence(exp) && fy_node_sequence_item_count(exp) > 0)
          firing++;
        else
          quiet++;
      }
    }
    cr_expect_gt(firing, 0, "%s: gpuops-rules.test.yml never shows it firing", name);
    cr_expect_gt(quiet, 0, "%s: gpuops-rules.test.yml never shows it not firing", name);
  }
  cr_expect_geq(alerts, 10,
                "XID, ECC, row remap, thermal, lost, exporter and the three burn-rate alerts");
  fy_document_destroy(rd);
  fy_document_destroy(td);
}
