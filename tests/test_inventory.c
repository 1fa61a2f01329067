/*
 * test_inventory.c — inventory/: the built-in fleet, the YAML fleet spec
 * (docs/inventory.md) and its errors.
 *
 * Sections:
 *   1. helpers: fixture paths, loading a buffer, checking an error's
 *      code, file:line, field path and words, and that the inventory is empty;
 *   2. the built-in fleet;
 *   3. good specs: tests/fixtures/fleet-good.yaml value by value,
 *      fleet-mixed.yaml, hostlists, defaults, names;
 *   4. malformed fixtures (tests/fixtures/fleet-bad-*.yaml), one by one;
 *   5. malformed specs inline, for the rules that need no file of their own;
 *   6. I/O, limits, and quiet stderr.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "catalog/mig.h"
#include "inventory/inventory.h"
#include "testutil.h"

/* ---- 1. helpers ------------------------------------------------------------ */

static int load_text(struct inventory *inv, const char *text) {
  return inventory_load_yaml_buf(inv, text, strlen(text), "spec.yaml");
}

/* The last error is `code`, its message starts "file:line: path: " and holds words; inv is empty.
 */
static void expect_error(int rc, const struct inventory *inv, int code, const char *file, int line,
                         const char *path, const char *words) {
  char prefix[1200];
  const char *msg = err_msg();
  cr_assert_eq(rc, code, "expected %s, got %s: %s", err_name(code), err_name(rc), msg);
  if (path)
    snprintf(prefix, sizeof prefix, "%s:%d: %s%s", file, line, path, path[0] ? ": " : "");
  else
    snprintf(prefix, sizeof prefix, "%s:%d:", file, line);
  cr_expect_eq(strncmp(msg, prefix, strlen(prefix)), 0, "message '%s' should start '%s'", msg,
               prefix);
  cr_expect_not_null(strstr(msg, words), "message '%s' should say '%s'", msg, words);
  cr_expect_null(strchr(msg, '\n'), "one line: '%s'", msg);
  cr_expect_eq(inv->n_nodes, 0, "inventory left empty on error");
  cr_expect_null(inv->nodes);
}

static void expect_text_error(const char *text, int code, int line, const char *path,
                              const char *words) {
  struct inventory inv;
  int rc = load_text(&inv, text);
  expect_error(rc, &inv, code, "spec.yaml", line, path, words);
  inventory_free(&inv);
}

static const struct inv_node *node(const struct inventory *inv, const char *name) {
  const struct inv_node *n = inventory_node(inv, name);
  cr_assert_not_null(n, "node %s missing", name);
  return n;
}

static void expect_layout(const struct inv_gpu *g, const char *const *texts, int n) {
  cr_assert(g->mig_enabled, "GPU %d: MIG should be on", g->index);
  cr_assert_eq(g->n_mig, n, "GPU %d", g->index);
  for (int i = 0; i < n; i++) {
    struct mig_placement want;
    cr_assert_eq(mig_placement_parse(g->model, texts[i], &want, NULL, 0), 0);
    cr_expect_eq(g->mig[i].profile_id, want.profile_id, "GPU %d instance %d", g->index, i);
    cr_expect_eq(g->mig[i].start, want.start, "GPU %d instance %d", g->index, i);
  }
  cr_expect(mig_layout_valid(g->model, g->mig, g->n_mig, NULL, 0));
}

/* ---- 2. the built-in fleet -------------------------------------------------- */

Test(inventory, default_fleet) {
  struct inventory inv;
  cr_assert_eq(inventory_default(&inv), 0);
  cr_expect_str_eq(inv.name, "default");
  cr_expect_str_eq(inv.source, "built-in");
  cr_expect_eq(inv.seed, 1);
  cr_assert_eq(inv.n_nodes, 1);
  const struct inv_node *n = node(&inv, "sim-node-0");
  cr_expect_eq(n->cpu_milli, 112000);
  cr_expect_eq(n->memory_mib, 2ull << 20);
  cr_expect_str_eq(n->driver_version, "580.159.04");
  cr_expect_str_eq(n->firmware_version, "96.00.A5.00.1A");
  cr_expect_str_eq(n->state, "up");
  cr_assert_eq(n->n_gpus, 8);
  for (int i = 0; i < 8; i++) {
    cr_expect_eq(n->gpus[i].index, i);
    cr_expect_eq(n->gpus[i].model, catalog_find("H200"));
    cr_expect_not(n->gpus[i].mig_enabled);
    cr_expect_str_eq(n->gpus[i].uuid, "");
  }
  cr_expect_eq(inventory_gpu_count(&inv), 8);
  inventory_free(&inv);
  cr_expect_eq(inv.n_nodes, 0);
  inventory_free(&inv); /* freeing twice is safe */
}

/* ---- 3. good specs ------------------------------------------------------------- */

Test(spec, good_fixture_loads_with_exact_values) {
  struct inventory inv;
  const char *path = testutil_fixture("fleet-good.yaml");
  int rc = inventory_load_yaml(&inv, path);
  cr_assert_eq(rc, 0, "%s", err_msg());
  cr_expect_str_eq(inv.name, "good-fleet");
  cr_expect_str_eq(inv.source, path);
  cr_expect_eq(inv.seed, 42);
  static const char *const names[] = {"gpu-01",     "gpu-02",    "gpu-03",    "gpu-04",
                                      "r1-a100-7",  "r1-a100-8", "r2-a100-7", "r2-a100-8",
                                      "a100-spare", "h100-0",    "login1"};
  cr_assert_eq(inv.n_nodes, 11);
  for (int i = 0; i < 11; i++) cr_expect_str_eq(inv.nodes[i].name, names[i]);
  cr_expect_eq(inventory_gpu_count(&inv), 4 * 8 + 5 * 4 + 2);

  /* gpu-01..04: node values over defaults; labels merged, the node's zone wins. */
  for (int i = 0; i < 4; i++) {
    const struct inv_node *n = &inv.nodes[i];
    cr_expect_eq(n->cpu_milli, 112000);
    cr_expect_eq(n->memory_mib, 2ull << 20);
    cr_expect_str_eq(n->driver_version, "580.159.04");
    cr_expect_str_eq(n->firmware_version, "96.00.A5.00.1A");
    cr_expect_str_eq(n->state, "up");
    cr_expect_eq(n->n_labels, 3);
    cr_expect_str_eq(inventory_label(n, "zone"), "b");
    cr_expect_str_eq(inventory_label(n, "tier"), "prod");
    cr_expect_str_eq(inventory_label(n, "rack"), "r1");
    cr_assert_eq(n->n_gpus, 8);
    static const char *const two_3g[] = {"3g.71gb@0", "3g.71gb@4"};
    static const char *const mixed[] = {"1g.18gb+me@0", "1g.18gb@1", "1g.35gb@2", "2g.35gb@4",
                                        "1g.35gb@6"};
    expect_layout(&n->gpus[0], two_3g, 2);
    expect_layout(&n->gpus[1], two_3g, 2);
    expect_layout(&n->gpus[2], NULL, 0);
    expect_layout(&n->gpus[7], mixed, 5);
    for (int g = 3; g < 7; g++) cr_expect_not(n->gpus[g].mig_enabled, "gpu %d", g);
    for (int g = 0; g < 8; g++) cr_expect_eq(n->gpus[g].model, catalog_find("H200"));
  }

  /* The A100 entry: product name, cpu_milli, memory_mib, drain, own driver, MIG on all. */
  for (int i = 4; i < 9; i++) {
    const struct inv_node *n = &inv.nodes[i];
    cr_expect_eq(n->cpu_milli, 96500);
    cr_expect_eq(n->memory_mib, 1000000);
    cr_expect_str_eq(n->state, "drain");
    cr_expect_str_eq(n->driver_version, "570.86.15");
    cr_expect_str_eq(n->firmware_version, "96.00.A5.00.1A");
    cr_expect_str_eq(inventory_label(n, "zone"), "a");
    cr_expect_null(inventory_label(n, "rack"));
    cr_assert_eq(n->n_gpus, 4);
    static const char *const full[] = {"7g.80gb@0"};
    for (int g = 0; g < 4; g++) {
      cr_expect_eq(n->gpus[g].model, catalog_find("A100-80GB"));
      expect_layout(&n->gpus[g], full, 1);
    }
  }

  const struct inv_node *h100 = node(&inv, "h100-0");
  cr_expect_str_eq(h100->state, "down");
  cr_expect_eq(h100->cpu_milli, 64000, "defaults.cpus");
  cr_expect_eq(h100->memory_mib, 512ull << 10, "defaults.memory");
  cr_assert_eq(h100->n_gpus, 2);
  cr_expect_eq(h100->gpus[0].model, catalog_find("H100-80GB"));
  cr_expect_str_eq(h100->gpus[0].uuid, "GPU-11111111-2222-3333-4444-555555555555");
  cr_expect_str_eq(h100->gpus[1].uuid, "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

  const struct inv_node *login = node(&inv, "login1");
  cr_expect_eq(login->n_gpus, 0);
  cr_expect_null(login->gpus);
  cr_expect_str_eq(inventory_label(login, "role"), "login");
  cr_expect_str_eq(inventory_label(login, "ports"), "22", "numbers kept as text");
  cr_expect_str_eq(inventory_label(login, "tier"), "prod");
  cr_expect_null(inventory_node(&inv, "gpu-05"));
  cr_expect_null(inventory_label(login, "nope"));
  inventory_free(&inv);
}

Test(spec, mixed_fixture_for_the_sim_backend) {
  struct inventory inv;
  cr_assert_eq(inventory_load_yaml(&inv, testutil_fixture("fleet-mixed.yaml")), 0, "%s", err_msg());
  cr_expect_str_eq(inv.name, "mixed");
  cr_expect_eq(inv.seed, 7);
  cr_assert_eq(inv.n_nodes, 3);
  const struct inv_node *h = node(&inv, "h200-0"), *a = node(&inv, "a100-1");
  cr_expect_eq(h->gpus[0].model, catalog_find("H200"));
  static const char *const layout[] = {"3g.71gb@0", "2g.35gb@4", "1g.18gb@6"};
  expect_layout(&h->gpus[0], layout, 3);
  for (int g = 1; g < h->n_gpus; g++) cr_expect_not(h->gpus[g].mig_enabled);
  cr_expect_eq(a->n_gpus, 8);
  cr_expect_eq(a->gpus[7].model, catalog_find("A100-80GB"));
  cr_expect_eq(a->cpu_milli, 128000);
  cr_expect_eq(a->memory_mib, 1ull << 20);
  cr_expect_str_eq(a->driver_version, "580.159.04");
  int models = 0;
  for (int i = 0; i < inv.n_nodes; i++)
    models |= inv.nodes[i].gpus[0].model == catalog_find("H200") ? 1 : 2;
  cr_expect_eq(models, 3, "both models present");
  inventory_free(&inv);
}

static void expect_names(const char *pattern, const char *const *want, int n) {
  char text[256];
  struct inventory inv;
  snprintf(text, sizeof text, "nodes:\n  - name: \"%s\"\n", pattern);
  cr_assert_eq(load_text(&inv, text), 0, "%s: %s", pattern, err_msg());
  cr_assert_eq(inv.n_nodes, n, "%s", pattern);
  for (int i = 0; i < n; i++) cr_expect_str_eq(inv.nodes[i].name, want[i], "%s", pattern);
  inventory_free(&inv);
}

Test(spec, hostlist_expansion) {
  expect_names("gpu-[01-03]", (const char *const[]){"gpu-01", "gpu-02", "gpu-03"}, 3);
  expect_names("n[8-11]", (const char *const[]){"n8", "n9", "n10", "n11"}, 4);
  expect_names("n[008-010]", (const char *const[]){"n008", "n009", "n010"}, 3);
  expect_names("a[1-2]b[1,3]", (const char *const[]){"a1b1", "a1b3", "a2b1", "a2b3"}, 4);
  expect_names("x,y[1-2],z", (const char *const[]){"x", "y1", "y2", "z"}, 4);
  expect_names("r[1,3-4]-c", (const char *const[]){"r1-c", "r3-c", "r4-c"}, 3);
  expect_names("plain.host_name-1", (const char *const[]){"plain.host_name-1"}, 1);
}

Test(spec, defaults_and_overrides) {
  struct inventory inv;
  const char *text =
      "defaults:\n"
      "  gpus: {model: A100-40GB, count: 2}\n"
      "  state: drain\n"
      "  labels: {a: '1'}\n"
      "nodes:\n"
      "  - name: inherits\n"
      "  - name: replaces\n"
      "    state: up\n"
      "    labels: {b: '2'}\n"
      "    gpus: {model: H200, count: 1}\n";
  cr_assert_eq(load_text(&inv, text), 0, "%s", err_msg());
  const struct inv_node *a = node(&inv, "inherits"), *b = node(&inv, "replaces");
  cr_expect_eq(a->n_gpus, 2);
  cr_expect_eq(a->gpus[1].model, catalog_find("A100-40GB"));
  cr_expect_eq(a->gpus[1].index, 1);
  cr_expect_str_eq(a->state, "drain");
  cr_expect_eq(b->n_gpus, 1);
  cr_expect_eq(b->gpus[0].model, catalog_find("H200"));
  cr_expect_str_eq(b->state, "up");
  cr_expect_str_eq(inventory_label(b, "a"), "1");
  cr_expect_str_eq(inventory_label(b, "b"), "2");
  cr_expect_null(inventory_label(a, "b"), "a node's labels stay its own");
  cr_expect_eq(a->cpu_milli, 0, "not given: 0");
  cr_expect_str_eq(a->driver_version, "");
  cr_expect_eq(inv.seed, 1, "default seed");
  inventory_free(&inv);
}

Test(spec, fleet_name_defaults_to_the_file_name_and_buffers_need_no_nul) {
  struct inventory inv;
  const char text[] = "nodes:\n  - name: a\nGARBAGE: [";
  size_t len = strlen("nodes:\n  - name: a\n");
  cr_assert_eq(inventory_load_yaml_buf(&inv, text, len, "conf/prod-east.yaml"), 0, "%s", err_msg());
  cr_expect_str_eq(inv.name, "prod-east");
  cr_expect_str_eq(inv.source, "conf/prod-east.yaml");
  cr_expect_str_eq(inv.nodes[0].state, "up");
  inventory_free(&inv);
  cr_assert_eq(inventory_load_yaml_buf(&inv, text, len, "x.yml"), 0);
  cr_expect_str_eq(inv.name, "x");
  inventory_free(&inv);
  cr_assert_eq(load_text(&inv, "nodes:\n  - name: a\n    memory: 512 gib\n    cpus: 0\n"), 0);
  cr_expect_eq(inv.nodes[0].memory_mib, 512ull << 10, "unit is case-insensitive, space allowed");
  inventory_free(&inv);
}

/* ---- 4. malformed fixtures ------------------------------------------------------- */

struct bad_fixture {
  const char *file;
  int code;
  int line;
  const char *path; /* NULL: a YAML syntax error, "file:line:col:" */
  const char *words;
};

static const struct bad_fixture bad_fixtures[] = {
    {"fleet-bad-syntax.yaml", ERR_PARSE, 6, NULL, "YAML syntax error"},
    {"fleet-bad-empty.yaml", ERR_INVALID, 1, "", "empty fleet spec"},
    {"fleet-bad-unknown-key.yaml", ERR_INVALID, 6, "nodes[0].gpu",
     "unknown key; did you mean 'gpus'? (allowed here: name, cpus"},
    {"fleet-bad-model.yaml", ERR_INVALID, 8, "nodes[1].gpus.model",
     "unknown GPU model 'H300' (known: H200, H100-80GB, A100-80GB, A100-40GB)"},
    {"fleet-bad-type.yaml", ERR_INVALID, 4, "nodes[0].labels", "expected a mapping"},
    {"fleet-bad-quoted-number.yaml", ERR_INVALID, 6, "nodes[0].gpus.count",
     "expected a whole number, got the quoted string '8'"},
    {"fleet-bad-negative.yaml", ERR_INVALID, 3, "defaults.cpus", "-112 is negative"},
    {"fleet-bad-overflow.yaml", ERR_INVALID, 3, "seed", "out of range"},
    {"fleet-bad-duplicate.yaml", ERR_INVALID, 6, "nodes[2].name",
     "duplicate node name 'gpu-03' (also from nodes[0] at line 3)"},
    {"fleet-bad-mig-start.yaml", ERR_INVALID, 11, "nodes[0].gpus.mig[0].instances[1]",
     "start 2 is not a valid start for 3g.71gb (valid: 0,4)"},
    {"fleet-bad-mig-overlap.yaml", ERR_INVALID, 9, "nodes[0].gpus.mig[0].instances[1]",
     "invalid MIG layout for A100-80GB: placement 1 (2g.20gb@2): memory slices 2-3 overlap"},
    {"fleet-bad-mig-profile.yaml", ERR_INVALID, 9, "nodes[0].gpus.mig[0].instances[1]",
     "unknown profile '1g.18gb' for A100-40GB"},
    {"fleet-bad-mig-index.yaml", ERR_INVALID, 10, "nodes[0].gpus.mig[1].gpus[1]",
     "GPU index 8 is out of range: this node has 8 GPUs (0-7)"},
    {"fleet-bad-hostlist.yaml", ERR_INVALID, 5, "nodes[1].name", "range '09-02' goes backwards"},
    {"fleet-bad-state.yaml", ERR_INVALID, 4, "nodes[0].state",
     "unknown state 'drained' (expected up, drain or down)"},
};

Test(spec, every_malformed_fixture_names_file_line_and_field) {
  for (size_t i = 0; i < sizeof bad_fixtures / sizeof bad_fixtures[0]; i++) {
    const struct bad_fixture *b = &bad_fixtures[i];
    struct inventory inv;
    char path[1024];
    snprintf(path, sizeof path, "%s", testutil_fixture(b->file));
    int rc = inventory_load_yaml(&inv, path);
    expect_error(rc, &inv, b->code, path, b->line, b->path, b->words);
    inventory_free(&inv);
  }
}

/* ---- 5. malformed specs inline ------------------------------------------------- */

Test(spec, yaml_features_that_are_refused) {
  expect_text_error("nodes:\n  - name: a\n---\nnodes:\n  - name: b\n", ERR_PARSE, 4, "",
                    "a second YAML document");
  expect_text_error("defaults: &d\n  cpus: 4\nnodes:\n  - name: a\n    labels: *d\n", ERR_INVALID,
                    5, "nodes[0].labels", "YAML aliases (*d) are not supported");
  expect_text_error("nodes:\n  - name: !!str a\n", ERR_INVALID, 2, "nodes[0].name", "YAML tags");
  expect_text_error("nodes:\n  - name: a\n    name: b\n", ERR_PARSE, 3, NULL, "duplicate key");
  expect_text_error("nodes:\n\t- name: a\n", ERR_PARSE, 2, NULL, "YAML syntax error");
  expect_text_error("# only a comment\n", ERR_INVALID, 1, "", "empty fleet spec");
  expect_text_error("", ERR_INVALID, 1, "", "empty fleet spec");
  expect_text_error("- name: a\n", ERR_INVALID, 1, "", "the top level must be a mapping");
  /* Checked before libfyaml sees the text (0.7.12 hangs on the first: upstream issue #101). */
  expect_text_error("# c\n%\xff\n", ERR_PARSE, 2, NULL, "directives");
  expect_text_error("%YAML 1.2\n---\nnodes: [{name: a}]\n", ERR_PARSE, 1, NULL, "directives");
  expect_text_error("nodes:\n  - name: a\xff\n", ERR_PARSE, 2, NULL, "2:12: not UTF-8 text");
  expect_text_error("nodes:\n  - name: \xed\xa0\x80\n", ERR_PARSE, 2, NULL, "not UTF-8");
  expect_text_error("nodes:\n  - name: \xc0\xaf\n", ERR_PARSE, 2, NULL, "not UTF-8");
  expect_text_error("nodes:\n  - name: a\x01\n", ERR_PARSE, 2, NULL, "control character 0x01");
  /* libfyaml 0.7.12 leaks unescaping some '' escapes (upstream issue #233): refused up front. */
  expect_text_error("nodes:\n  - name: a\n    labels: {x: 'a''''''b'}\n", ERR_INVALID, 3,
                    "nodes[0].labels.x", "write it double-quoted");
  expect_text_error("'''''''''''''''': 1\nnodes:\n  - name: a\n", ERR_INVALID, 1, "",
                    "write it double-quoted");
  expect_text_error("nodes:\n  - name: a\n    driver: 'a\n      b'\n", ERR_INVALID, 3,
                    "nodes[0].driver", "line breaks are not supported");
  struct inventory inv;
  cr_expect_eq(load_text(&inv, "nodes:\n  - name: 'a'\n    labels: {x: \"it's \\\"ok\\\"\"}\n"), 0,
               "%s", err_msg());
  cr_expect_str_eq(inventory_label(&inv.nodes[0], "x"), "it's \"ok\"");
  inventory_free(&inv);
  cr_expect_eq(inventory_load_yaml_buf(&inv, "nodes: [{name: a}]\n\0", 20, "nul.yaml"), ERR_PARSE);
  cr_expect_eq(
      load_text(&inv, "nodes:\n  - name: a\n    labels: {city: \"Z\xc3\xbcrich \xe2\x82\xac\"}\n"),
      0, "%s", err_msg());
  cr_expect_str_eq(inventory_label(&inv.nodes[0], "city"), "Z\xc3\xbcrich \xe2\x82\xac");
  inventory_free(&inv);
  expect_text_error("? [x]\n: 1\nnodes:\n  - name: a\n", ERR_INVALID, 1, "",
                    "mapping keys must be plain strings");
}

Test(spec, structure_errors) {
  expect_text_error("fleet: x\n", ERR_INVALID, 1, "", "missing required key 'nodes'");
  expect_text_error("nodes: []\n", ERR_INVALID, 1, "nodes", "at least one node");
  expect_text_error("nodes: gpu-01\n", ERR_INVALID, 1, "nodes", "expected a list, got 'gpu-01'");
  expect_text_error("seed: 1\nnode:\n  - name: a\n", ERR_INVALID, 2, "node",
                    "did you mean 'nodes'?");
  expect_text_error("nodes:\n  - cpus: 4\n", ERR_INVALID, 2, "nodes[0]",
                    "missing required key 'name'");
  expect_text_error("nodes:\n  - name:\n", ERR_INVALID, 2, "nodes[0].name", "missing value");
  expect_text_error("nodes:\n  - name: a\n    labels:\n      rack:\n", ERR_INVALID, 4,
                    "nodes[0].labels.rack", "missing value");
  expect_text_error("nodes:\n  - name: a\n    gpus: 8\n", ERR_INVALID, 3, "nodes[0].gpus",
                    "expected a mapping, got '8'");
  expect_text_error("nodes:\n  - name: a\n    gpus: {count: 8}\n", ERR_INVALID, 3, "nodes[0].gpus",
                    "missing required key 'model'");
  expect_text_error("nodes:\n  - name: a\n    gpus: {model: H200, count: 1, mig: [{gpus: [0]}]}\n",
                    ERR_INVALID, 3, "nodes[0].gpus.mig[0]", "missing required key 'instances'");
  expect_text_error("defaults:\n  name: x\nnodes:\n  - name: a\n", ERR_INVALID, 2, "defaults.name",
                    "unknown key");
}

Test(spec, number_and_size_errors) {
  expect_text_error("nodes:\n  - name: a\n    cpus: 4\n    cpu_milli: 4000\n", ERR_INVALID, 4,
                    "nodes[0].cpu_milli", "give cpus or cpu_milli, not both");
  expect_text_error("nodes:\n  - name: a\n    memory_mib: 10\n    memory: 1GiB\n", ERR_INVALID, 4,
                    "nodes[0].memory", "give memory or memory_mib, not both");
  /* Too long, at the very end of the buffer (no newline, no NUL after it). */
  struct inventory inv;
  const char tail[] = "nodes:\n  - name: a\n    state: downdowndowndown";
  char *exact = malloc(sizeof tail - 1); /* exact size: nothing after the text */
  memcpy(exact, tail, sizeof tail - 1);
  cr_expect_eq(inventory_load_yaml_buf(&inv, exact, sizeof tail - 1, "spec.yaml"), ERR_INVALID);
  free(exact);
  cr_expect_not_null(strstr(err_msg(), "nodes[0].state: 'downdowndowndown...' is too long"), "%s",
                     err_msg());
  expect_text_error("nodes:\n  - name: a\n    cpus: 1.5\n", ERR_INVALID, 3, "nodes[0].cpus",
                    "expected a whole number, got '1.5'");
  expect_text_error("nodes:\n  - name: a\n    cpus: 4294968\n", ERR_INVALID, 3, "nodes[0].cpus",
                    "out of range (0 to 4294967)");
  expect_text_error("nodes:\n  - name: a\n    cpu_milli: 4294967296\n", ERR_INVALID, 3,
                    "nodes[0].cpu_milli", "out of range");
  expect_text_error("nodes:\n  - name: a\n    memory: 2TB\n", ERR_INVALID, 3, "nodes[0].memory",
                    "needs a binary unit");
  expect_text_error("nodes:\n  - name: a\n    memory: 2048\n", ERR_INVALID, 3, "nodes[0].memory",
                    "needs a binary unit");
  expect_text_error("nodes:\n  - name: a\n    memory: -1GiB\n", ERR_INVALID, 3, "nodes[0].memory",
                    "expected a size");
  expect_text_error("nodes:\n  - name: a\n    memory: 9999999999TiB\n", ERR_INVALID, 3,
                    "nodes[0].memory", "out of range");
  expect_text_error("nodes:\n  - name: a\n    memory: 99999999999999999999999MiB\n", ERR_INVALID, 3,
                    "nodes[0].memory", "out of range");
  expect_text_error("nodes:\n  - name: a\n    gpus: {model: H200, count: 65}\n", ERR_INVALID, 3,
                    "nodes[0].gpus.count", "65 is out of range (0 to 64)");
  expect_text_error("nodes:\n  - name: a\n    gpus: {model: H200, count: -1}\n", ERR_INVALID, 3,
                    "nodes[0].gpus.count", "negative");
  expect_text_error("seed: 0x10\nnodes:\n  - name: a\n", ERR_INVALID, 1, "seed",
                    "expected a whole number");
}

Test(spec, name_errors) {
  expect_text_error("nodes:\n  - name: \"gpu 1\"\n", ERR_INVALID, 2, "nodes[0].name",
                    "' ' is not allowed in a node name");
  expect_text_error("nodes:\n  - name: gpu-[01-04\n", ERR_INVALID, 2, "nodes[0].name",
                    "'[' without ']'");
  expect_text_error("nodes:\n  - name: gpu-01]\n", ERR_INVALID, 2, "nodes[0].name",
                    "']' without '['");
  expect_text_error("nodes:\n  - name: gpu-[]\n", ERR_INVALID, 2, "nodes[0].name", "empty '[]'");
  expect_text_error("nodes:\n  - name: gpu-[a-b]\n", ERR_INVALID, 2, "nodes[0].name",
                    "bad range 'a-b'");
  expect_text_error("nodes:\n  - name: a,,b\n", ERR_INVALID, 2, "nodes[0].name", "an empty name");
  expect_text_error(
      "nodes:\n  - name: "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
      ERR_INVALID, 2, "nodes[0].name", "longer than 63 characters");
  expect_text_error("nodes:\n  - name: n[1-2]\n  - name: n[2-3]\n", ERR_INVALID, 3, "nodes[1].name",
                    "duplicate node name 'n2' (also from nodes[0] at line 2)");
  expect_text_error("nodes:\n  - name: n[1,1]\n", ERR_INVALID, 2, "nodes[0].name",
                    "duplicate node name 'n1'");
  expect_text_error("nodes:\n  - name: ok\n  - name: \"\"\n", ERR_INVALID, 3, "nodes[1].name",
                    "an empty name");
  expect_text_error("fleet: \"\"\nnodes:\n  - name: ok\n", ERR_INVALID, 1, "fleet",
                    "the fleet name is empty");
}

Test(spec, gpu_and_mig_errors) {
  const char *head = "nodes:\n  - name: a\n    gpus:\n      model: H200\n      count: 8\n";
  char text[1024];
#define WITH(tail) (snprintf(text, sizeof text, "%s%s", head, tail), text)
  expect_text_error(WITH("      mig:\n        - gpus: [0]\n          instances: [\"3g.71gb@4\", "
                         "\"3g.71gb@0\", \"1g.18gb@0\"]\n"),
                    ERR_INVALID, 8, "nodes[0].gpus.mig[0].instances[2]", "overlap placement 1");
  expect_text_error(WITH("      mig:\n        - gpus: [0]\n          instances: [\"20@0\", "
                         "\"20@1\"]\n"),
                    ERR_INVALID, 8, "nodes[0].gpus.mig[0].instances[1]", "max instances (1)");
  expect_text_error(WITH("      mig:\n        - gpus: [0]\n          instances: [19@0, 19@1, "
                         "19@2, 19@3, 19@4, 19@5, 19@6, 15@6, 19@0]\n"),
                    ERR_INVALID, 8, "nodes[0].gpus.mig[0].instances", "at most 7");
  expect_text_error(WITH("      mig:\n        - gpus: [0]\n          instances: [3g.71gb]\n"),
                    ERR_INVALID, 8, "nodes[0].gpus.mig[0].instances[0]", "no '@START'");
  expect_text_error(WITH("      mig:\n        - gpus: [1, 1]\n          instances: []\n"),
                    ERR_INVALID, 7, "nodes[0].gpus.mig[0].gpus[1]", "GPU 1 is listed twice");
  expect_text_error(WITH("      mig:\n        - gpus: all\n          instances: []\n"
                         "        - gpus: [5]\n          instances: []\n"),
                    ERR_INVALID, 9, "nodes[0].gpus.mig[1].gpus",
                    "GPU 5 already has a MIG layout from mig[0]");
  expect_text_error(WITH("      mig:\n        - gpus: []\n          instances: []\n"), ERR_INVALID,
                    7, "nodes[0].gpus.mig[0].gpus", "selects no GPUs");
  expect_text_error(WITH("      mig:\n        - gpus: some\n          instances: []\n"),
                    ERR_INVALID, 7, "nodes[0].gpus.mig[0].gpus", "a list of GPU indices or all");
  expect_text_error(WITH("      mig:\n        - gpus: [-1]\n          instances: []\n"),
                    ERR_INVALID, 7, "nodes[0].gpus.mig[0].gpus[0]", "negative");
  expect_text_error(WITH("      uuids: [GPU-1, GPU-2]\n"), ERR_INVALID, 6, "nodes[0].gpus.uuids",
                    "2 uuids for 8 GPUs");
  expect_text_error("nodes:\n  - name: a[1-2]\n    gpus: {model: H200, count: 1, uuids: [GPU-1]}\n",
                    ERR_INVALID, 3, "nodes[0].gpus.uuids", "this entry names 2 nodes");
  expect_text_error(
      "defaults:\n  gpus: {model: H200, count: 1, uuids: [GPU-1]}\nnodes:\n"
      "  - name: a\n",
      ERR_INVALID, 2, "defaults.gpus.uuids", "not in defaults");
  expect_text_error("nodes:\n  - name: a\n    gpus: {model: H200, count: 2, uuids: [GPU-1, x]}\n",
                    ERR_INVALID, 3, "nodes[0].gpus.uuids[1]", "'x' is not a GPU UUID");
  expect_text_error(
      "nodes:\n  - name: a\n    gpus: {model: H200, count: 2, uuids: [GPU-1, GPU-1]}\n",
      ERR_INVALID, 3, "nodes[0].gpus.uuids[1]", "given twice");
  expect_text_error("nodes:\n  - name: a\n    gpus: {model: H200, count: 0, mig: []}\n",
                    ERR_INVALID, 3, "nodes[0].gpus.mig", "no GPUs");
#undef WITH
}

/* ---- 6. I/O, limits, quiet stderr ---------------------------------------------- */

Test(spec, missing_file_and_directory_are_io_errors) {
  struct inventory inv;
  int rc = inventory_load_yaml(&inv, "/nonexistent/fleet.yaml");
  cr_expect_eq(rc, ERR_IO);
  cr_expect_not_null(strstr(err_msg(), "/nonexistent/fleet.yaml"), "%s", err_msg());
  cr_expect_eq(inv.n_nodes, 0);
  rc = inventory_load_yaml(&inv, getenv("GPUOPS_FIXTURES"));
  cr_expect_eq(rc, ERR_IO, "%s", err_msg());
  cr_expect_eq(inventory_load_yaml(&inv, ""), ERR_INVALID);
  cr_expect_eq(inventory_load_yaml(&inv, NULL), ERR_INVALID);
  cr_expect_eq(inventory_load_yaml_buf(&inv, NULL, 5, "x"), ERR_INVALID);
  cr_expect_eq(inv.n_nodes, 0);
}

Test(spec, fleet_size_limits) {
  expect_text_error("nodes:\n  - name: n[0-65536]\n", ERR_INVALID, 2, "nodes[0].name",
                    "more than 65536 nodes");
  expect_text_error("nodes:\n  - name: n[1-5000]\n    gpus: {model: H200, count: 64}\n",
                    ERR_INVALID, 2, "nodes[0].name", "more than 262144 GPUs");
  /* A range inside the limit loads. */
  struct inventory inv;
  cr_assert_eq(load_text(&inv, "nodes:\n  - name: n[1-2000]\n    gpus: {model: H200, count: 8}\n"),
               0, "%s", err_msg());
  cr_expect_eq(inv.n_nodes, 2000);
  cr_expect_str_eq(inv.nodes[1999].name, "n2000");
  cr_expect_eq(inventory_gpu_count(&inv), 16000);
  inventory_free(&inv);
}

Test(spec, nothing_reaches_stderr, .init = cr_redirect_stderr) {
  struct inventory inv;
  cr_expect_eq(inventory_load_yaml(&inv, testutil_fixture("fleet-bad-syntax.yaml")), ERR_PARSE);
  cr_expect_eq(load_text(&inv, "a: [1, 2\n"), ERR_PARSE);
  cr_expect_eq(load_text(&inv, "a: 1\na: 2\n"), ERR_PARSE);
  cr_expect_eq(inventory_load_yaml(&inv, testutil_fixture("fleet-good.yaml")), 0);
  inventory_free(&inv);
  fflush(stderr);
  cr_expect_stderr_eq_str("");
}
