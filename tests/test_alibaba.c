/*
 * test_alibaba.c — inventory/alibaba.h: the Alibaba 2023 node list imported
 * into the inventory, the CSV reader's errors (file, line, column; nothing
 * half loaded), and the real trace's node lists from ../shared.
 *
 * Sections: helpers; good lists; malformed lists; the CSV reader; the real
 * trace.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "inventory/alibaba.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

/* Loading `name` fails with ERR_PARSE, the message names the file and line (and words), inv empty.
 */
static void expect_bad(const char *name, int line, const char *words) {
  struct inventory inv;
  const char *path = testutil_fixture(name);
  int rc = alibaba_load_nodes(&inv, path);
  char prefix[1200];
  snprintf(prefix, sizeof prefix, "%s:%d:", path, line);
  cr_assert_eq(rc, ERR_PARSE, "%s: expected ERR_PARSE, got %s: %s", name, err_name(rc), err_msg());
  cr_expect_eq(strncmp(err_msg(), prefix, strlen(prefix)), 0, "'%s' should start '%s'", err_msg(),
               prefix);
  cr_expect_not_null(strstr(err_msg(), words), "'%s' should say '%s'", err_msg(), words);
  cr_expect_eq(inv.n_nodes, 0, "nothing half loaded");
  cr_expect_null(inv.nodes);
  cr_expect_eq(err_exit_code(rc), 2, "bad input exits 2");
}

/* ---- good lists ---------------------------------------------------------- */

Test(alibaba, node_list_becomes_the_inventory) {
  struct inventory inv;
  cr_assert_eq(alibaba_load_nodes(&inv, testutil_fixture("fleet-nodes-good.csv")), 0, "%s", err_msg());
  cr_assert_eq(inv.n_nodes, 4);
  cr_expect_str_eq(inv.name, "fleet-nodes-good");
  const struct inv_node *n0 = inventory_node(&inv, "n-0"), *n2 = inventory_node(&inv, "n-2");
  cr_assert_not_null(n0);
  cr_expect_eq(n0->cpu_milli, 96000);
  cr_expect_eq(n0->memory_mib, 393216);
  cr_expect_eq(n0->n_gpus, 8);
  cr_expect_str_eq(n0->state, "up");
  cr_expect_null(n0->gpus[0].model, "G2 is not a catalog model");
  cr_expect_str_eq(n0->gpus[7].model_name, "G2");
  cr_expect_str_eq(inventory_gpu_model_name(&n0->gpus[3]), "G2");
  cr_expect(n0->gpus[5].shared, "trace GPUs are shared");
  cr_expect_eq(n0->gpus[5].index, 5);
  cr_expect_eq(n2->n_gpus, 0, "a CPU-only node");
  const struct inv_node *n3 = inventory_node(&inv, "n-3");
  cr_assert_not_null(n3->gpus[0].model, "H200 is in the catalog");
  cr_expect_str_eq(n3->gpus[0].model->key, "H200");
  cr_expect_eq(inventory_gpu_count(&inv), 18);
  inventory_free(&inv);
}

Test(alibaba, columns_in_any_order_and_crlf) {
  struct inventory inv;
  const char *text =
      "model,gpu,sn,memory_mib,cpu_milli\r\nT4,2,a,1024,8000\r\n\r\nP100,1,b,2048,4000\r\n";
  cr_assert_eq(alibaba_load_nodes_buf(&inv, text, strlen(text), "x.csv"), 0, "%s", err_msg());
  cr_assert_eq(inv.n_nodes, 2);
  cr_expect_str_eq(inv.nodes[1].name, "b");
  cr_expect_eq(inv.nodes[1].cpu_milli, 4000);
  cr_expect_str_eq(inv.nodes[0].gpus[1].model_name, "T4");
  inventory_free(&inv);
}

/* ---- malformed lists ----------------------------------------------------- */

Test(alibaba, malformed_rows_name_file_line_and_column) {
  expect_bad("fleet-nodes-bad-number.csv", 3,
             "column 4 (gpu): expected a whole number 0..64, got 'x'");
  expect_bad("fleet-nodes-bad-fields.csv", 3, "expected 5 fields (as the header), got 4");
  expect_bad("fleet-nodes-bad-duplicate.csv", 4, "column 1 (sn): node 'n-0' is listed twice");
  expect_bad("fleet-nodes-bad-header.csv", 1, "no 'gpu' column");
  expect_bad("fleet-nodes-bad-model.csv", 3,
             "column 5 (model): a node with 2 GPUs needs a GPU model");
}

Test(alibaba, malformed_text_inline) {
  struct inventory inv;
  static const struct {
    const char *text, *words;
  } cases[] = {
      {"", "empty file"},
      {"sn,cpu_milli,memory_mib,gpu,model\n", "no nodes"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,-1,1,1,T4\n", "column 2 (cpu_milli)"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,1,1,65,T4\n", "0..64, got '65'"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,1,1,1,T 4\n", "model names"},
      {"sn,cpu_milli,memory_mib,gpu,model\nb a,1,1,1,T4\n", "node names"},
      {"sn,cpu_milli,memory_mib,gpu,model,extra\na,1,1,1,T4,x\n", "unknown column 'extra'"},
      {"sn,sn,memory_mib,gpu,model\n", "appears twice"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,1,1,1,\"T4\n", "line break inside a quoted field"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,1,1,1,\"T4\"x\n", "text after a closing quote"},
      {"sn,cpu_milli,memory_mib,gpu,model\na,1,1,1,T4\nb,1,1,1\n", ":3: expected 5 fields"},
      {"sn,cpu_milli,memory_mib,gpu,model\na, 1,1,1,T4\n", "got ' 1'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = alibaba_load_nodes_buf(&inv, cases[i].text, strlen(cases[i].text), "n.csv");
    cr_expect_eq(rc, ERR_PARSE, "case %zu: %s", i, err_msg());
    cr_expect_not_null(strstr(err_msg(), cases[i].words), "case %zu: '%s' should say '%s'", i,
                       err_msg(), cases[i].words);
    cr_expect_eq(strncmp(err_msg(), "n.csv:", 6), 0, "case %zu names the file: %s", i, err_msg());
    cr_expect_eq(inv.n_nodes, 0);
  }
}

Test(alibaba, missing_file_is_an_io_error) {
  struct inventory inv;
  cr_expect_eq(alibaba_load_nodes(&inv, "/nonexistent/nodes.csv"), ERR_IO);
  cr_expect_not_null(strstr(err_msg(), "/nonexistent/nodes.csv"));
  cr_expect_eq(inv.n_nodes, 0);
}

/* ---- the CSV reader ------------------------------------------------------ */

Test(alibaba_csv, quoted_fields_and_integers) {
  struct alibaba_csv *c = malloc(sizeof *c);
  const char *text = "a,b,c\n\"x,y\",\"say \"\"hi\"\"\",42\n";
  cr_assert_eq(alibaba_csv_open_buf(c, text, strlen(text), "q.csv"), 0, "%s", err_msg());
  cr_expect_eq(c->ncols, 3);
  cr_expect_eq(alibaba_csv_column(c, "c"), 2);
  cr_expect_eq(alibaba_csv_column(c, "d"), -1);
  cr_assert_eq(alibaba_csv_next(c), 1, "%s", err_msg());
  cr_expect_str_eq(c->field[0], "x,y");
  cr_expect_str_eq(c->field[1], "say \"hi\"");
  int64_t v;
  cr_expect_eq(alibaba_csv_int(c, 2, 0, 100, false, 0, &v), 0);
  cr_expect_eq(v, 42);
  cr_expect_eq(alibaba_csv_int(c, 2, 0, 10, false, 0, &v), ERR_PARSE);
  cr_expect_not_null(
      strstr(err_msg(), "q.csv:2: column 3 (c): expected a whole number 0..10, got '42'"), "%s",
      err_msg());
  cr_expect_eq(alibaba_csv_next(c), 0, "end of file");
  alibaba_csv_close(c);
  free(c);
}

/* ---- the real trace ------------------------------------------------------ */

Test(alibaba_trace, the_gpu_node_list_has_1213_nodes_and_6212_gpus) {
  const char *path = testutil_trace_file("openb_node_list_gpu_node.csv");
  if (!path)
    TEST_SKIP_OR_FAIL("the Alibaba trace is not in $GPUOPS_SHARED_DIR/data/alibaba-gpu-2023");
  struct inventory inv;
  cr_assert_eq(alibaba_load_nodes(&inv, path), 0, "%s", err_msg());
  cr_expect_eq(inv.n_nodes, 1213);
  cr_expect_eq(inventory_gpu_count(&inv), 6212);
  int g2 = 0, t4 = 0;
  for (int i = 0; i < inv.n_nodes; i++) {
    if (inv.nodes[i].n_gpus == 0) continue;
    const char *m = inventory_gpu_model_name(&inv.nodes[i].gpus[0]);
    g2 += !strcmp(m, "G2") ? inv.nodes[i].n_gpus : 0;
    t4 += !strcmp(m, "T4") ? inv.nodes[i].n_gpus : 0;
  }
  cr_expect_eq(g2, 4392, "G2 GPUs as the README counts them");
  cr_expect_eq(t4, 842);
  inventory_free(&inv);
}

Test(alibaba_trace, the_all_node_list_adds_310_cpu_nodes) {
  const char *path = testutil_trace_file("openb_node_list_all_node.csv");
  if (!path)
    TEST_SKIP_OR_FAIL("the Alibaba trace is not in $GPUOPS_SHARED_DIR/data/alibaba-gpu-2023");
  struct inventory inv;
  cr_assert_eq(alibaba_load_nodes(&inv, path), 0, "%s", err_msg());
  cr_expect_eq(inv.n_nodes, 1523);
  cr_expect_eq(inventory_gpu_count(&inv), 6212);
  inventory_free(&inv);
}
