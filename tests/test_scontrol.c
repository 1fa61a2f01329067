/*
 * test_scontrol.c — inventory/scontrol: `scontrol show node -o` into the
 * inventory. A fixture of five nodes (full GPUs with a GRES socket suffix,
 * MIG profiles packed onto GPUs, an A100 spelled with '_', untyped GPUs, a
 * drained node whose Reason holds spaces, down and not-responding nodes,
 * versions from features and from Comment=), then each bad input: a
 * duplicate node, the multi-line format, bad numbers and GRES counts, empty
 * input — clear errors naming file:line and field, and an empty inventory.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "catalog/mig.h"
#include "inventory/scontrol.h"
#include "testutil.h"

Test(scontrol, good_fixture) {
  struct inventory inv;
  cr_assert_eq(inventory_load_scontrol(&inv, testutil_fixture("scontrol-nodes.txt")), 0, "%s", err_msg());
  cr_assert_eq(inv.n_nodes, 5);
  cr_assert(strstr(inv.source, "scontrol:"), "%s", inv.source);

  const struct inv_node *n1 = inventory_node(&inv, "n1");
  cr_assert_not_null(n1);
  cr_assert_eq(n1->cpu_milli, 2000);
  cr_assert_eq(n1->memory_mib, 1000);
  cr_assert_eq(n1->n_gpus, 2);
  cr_assert_str_eq(n1->gpus[1].model->key, "H200");
  cr_assert_str_eq(n1->driver_version, "580.95.05");
  cr_assert_str_eq(n1->firmware_version, "96.00.A5.00.1A");
  cr_assert_str_eq(n1->state, "up");
  cr_assert_str_eq(inventory_label(n1, "slurm.partitions"), "debug");

  /* 7 x 1g.18gb + 2 x 3g.71gb: H200 MIG instances packed onto 3 GPUs, each layout valid */
  const struct inv_node *n2 = inventory_node(&inv, "n2");
  int instances = 0;
  for (int i = 0; i < n2->n_gpus; i++) {
    cr_assert(n2->gpus[i].mig_enabled);
    cr_assert_str_eq(n2->gpus[i].model->key, "H200");
    char why[200] = "";
    cr_assert(
        mig_layout_valid(n2->gpus[i].model, n2->gpus[i].mig, n2->gpus[i].n_mig, why, sizeof why),
        "%s", why);
    instances += n2->gpus[i].n_mig;
  }
  cr_assert_eq(instances, 9);
  cr_assert_eq(n2->n_gpus, 2, "7 x 1g fill one GPU, 3g@0 + 3g@4 another; got %d GPUs", n2->n_gpus);
  cr_assert_str_eq(n2->driver_version, "580.105.08", "from Comment=gpuops:driver=...");
  cr_assert_str_eq(n2->firmware_version, "96.00.A5.00.1B");

  const struct inv_node *n3 = inventory_node(&inv, "n3");
  cr_assert_eq(n3->n_gpus, 4, "shard GRES are not GPUs");
  cr_assert_str_eq(n3->gpus[0].model->key, "A100-40GB");
  cr_assert_str_eq(n3->state, "drain");
  cr_assert_str_eq(inventory_label(n3, "slurm.reason"),
                   "gpuops: xid 79 on GPU 2 (drain-and-reset) [root@2026-11-29T03:20:01]");
  cr_assert_eq(n3->memory_mib, 2063937);

  const struct inv_node *n4 = inventory_node(&inv, "n4");
  cr_assert_str_eq(n4->state, "down");
  cr_assert_eq(n4->n_gpus, 4);
  cr_assert_null(n4->gpus[0].model);
  cr_assert_str_eq(inventory_gpu_model_name(&n4->gpus[0]), "gpu");
  cr_assert_str_eq(n4->driver_version, "");

  const struct inv_node *login = inventory_node(&inv, "login1");
  cr_assert_str_eq(login->state, "down", "IDLE* (not responding) is down");
  cr_assert_eq(login->n_gpus, 0);
  inventory_free(&inv);
}

static void bad(const char *file, int code, const char *words) {
  struct inventory inv;
  cr_assert_eq(inventory_load_scontrol(&inv, testutil_fixture(file)), code, "%s: %s", file, err_msg());
  cr_assert(strstr(err_msg(), words), "%s: message '%s' lacks '%s'", file, err_msg(), words);
  cr_assert_eq(inv.n_nodes, 0);
  cr_assert_null(inv.nodes);
}

Test(scontrol, bad_inputs) {
  bad("scontrol-bad-duplicate.txt", ERR_INVALID, ":3: NodeName: 'n1' appears twice");
  bad("scontrol-bad-multiline.txt", ERR_INVALID,
      ":2: an indented line: this is `scontrol show node` without -o");
  bad("scontrol-bad-number.txt", ERR_INVALID, ":2: CPUTot: 'two' is not a whole number");
  bad("scontrol-bad-gres.txt", ERR_INVALID, ":1: Gres: 'gpu:h200:x'");
  bad("does-not-exist.txt", ERR_IO, "does-not-exist.txt");
}

Test(scontrol, buffers) {
  struct inventory inv;
  cr_assert_eq(inventory_load_scontrol_buf(&inv, "", 0, "empty"), ERR_INVALID);
  cr_assert(strstr(err_msg(), "no nodes"));
  const char *no_name = "Arch=x86_64 CPUTot=2\n";
  cr_assert_eq(inventory_load_scontrol_buf(&inv, no_name, strlen(no_name), "x"), ERR_INVALID);
  cr_assert(strstr(err_msg(), "x:1: no NodeName="), "%s", err_msg());
  const char *crlf =
      "NodeName=a CPUTot=1 RealMemory=2 State=ALLOCATED+DRAIN\r\n\r\nNodeName=b State=MIXED\r\n";
  cr_assert_eq(inventory_load_scontrol_buf(&inv, crlf, strlen(crlf), "crlf"), 0, "%s", err_msg());
  cr_assert_eq(inv.n_nodes, 2);
  cr_assert_str_eq(inv.nodes[0].state, "drain");
  cr_assert_str_eq(inv.nodes[1].state, "up");
  inventory_free(&inv);
  const char *nul = "NodeName=a\0x";
  cr_assert_eq(inventory_load_scontrol_buf(&inv, nul, 12, "nul"), ERR_INVALID);
  const char *badname = "NodeName=a/b CPUTot=1\n";
  cr_assert_eq(inventory_load_scontrol_buf(&inv, badname, strlen(badname), "n"), ERR_INVALID);
}
