/*
 * test_fuzz.c — time-bounded mutation fuzzing of the parsers that read user
 * input: the YAML fleet spec, the simulated-fault state file and the
 * inference server's request parser (JSON and the binary extension).
 *
 * Each target starts from a valid document and applies seeded random
 * mutations (byte flips, deletions, duplications, truncations, splices of
 * YAML/JSON punctuation). Every result must be accepted or rejected with an
 * error code and a message — never a crash, a hang or a leak; the ASan+UBSan
 * build of this test (CI) turns memory errors into failures. Deterministic:
 * the seed is fixed (GPUOPS_FUZZ_SEED overrides it), and the iteration count
 * (GPUOPS_FUZZ_ITERS, default 10000) bounds the time.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "gpu/simstate.h"
#include "inventory/inventory.h"
#include "serve/infer.h"
#include "testutil.h"

static const char *const punct[] = {":", "- ", "[", "]", "{", "}", ",", "\"", "'", "\n", "  ", "#", "&a", "*a",
                                    "!!str ", "|", ">", "@", "-1", "99999999999999999999", "\t", "\\u0000", "null",
                                    /* these reached libfyaml 0.7.12 bugs (a hang, a leak) that spec.c guards */
                                    "%", "\xff", "''''''''", "'a''\n b'"};

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  buf[n] = '\0';
  *len = (size_t)n;
  return buf;
}

/* One random edit of buf (capacity cap, length *len). */
static void mutate(struct rng *r, char *buf, size_t *len, size_t cap) {
  size_t n = *len, at = n ? rng_below(r, n) : 0;
  switch (rng_below(r, 5)) {
  case 0: /* flip a byte */
    if (n) buf[at] = (char)(buf[at] ^ (1u << rng_below(r, 8)));
    break;
  case 1: { /* delete a run */
    size_t k = 1 + rng_below(r, 16);
    if (at + k > n) k = n - at;
    memmove(buf + at, buf + at + k, n - at - k);
    *len = n - k;
    break;
  }
  case 2: { /* splice punctuation */
    const char *p = punct[rng_below(r, sizeof punct / sizeof punct[0])];
    size_t k = strlen(p);
    if (n + k >= cap) break;
    memmove(buf + at + k, buf + at, n - at);
    memcpy(buf + at, p, k);
    *len = n + k;
    break;
  }
  case 3: { /* duplicate a run */
    size_t k = 1 + rng_below(r, 32);
    if (at + k > n) k = n - at;
    if (n + k >= cap) break;
    memmove(buf + at + k, buf + at, n - at);
    *len = n + k;
    break;
  }
  case 4: /* truncate */
    *len = at;
    break;
  }
  buf[*len] = '\0';
}

static uint64_t seed(void) {
  const char *s = getenv("GPUOPS_FUZZ_SEED");
  return s ? strtoull(s, NULL, 0) : 20261129;
}

static int iterations(void) {
  const char *s = getenv("GPUOPS_FUZZ_ITERS");
  int n = s ? atoi(s) : 10000;
  return n > 0 ? n : 10000;
}

Test(fuzz, fleet_spec_parser_never_crashes) {
  char path[512];
  snprintf(path, sizeof path, "%s/fleet-good.yaml", getenv("GPUOPS_FIXTURES"));
  size_t base_len;
  char *base = read_file(path, &base_len);
  size_t cap = base_len * 2 + 256;
  char *buf = malloc(cap);
  struct rng r;
  rng_seed(&r, seed());
  int accepted = 0, rejected = 0;
  for (int i = 0; i < iterations(); i++) {
    memcpy(buf, base, base_len + 1);
    size_t len = base_len;
    int edits = 1 + (int)rng_below(&r, 4);
    for (int e = 0; e < edits; e++) mutate(&r, buf, &len, cap);
    struct inventory inv;
    inventory_init(&inv);
    err_clear();
    int rc = inventory_load_yaml_buf(&inv, buf, len, "fuzz.yaml");
    if (rc == 0) {
      accepted++;
      cr_assert_geq(inv.n_nodes, 1, "an accepted spec has nodes");
    } else {
      rejected++;
      cr_assert_lt(rc, 0);
      cr_assert(strstr(err_msg(), "fuzz.yaml"), "iteration %d: message must name the file: %s", i, err_msg());
      cr_assert_eq(inv.n_nodes, 0, "a rejected spec leaves the inventory empty");
    }
    inventory_free(&inv);
  }
  cr_assert_gt(rejected, 0, "mutations must reach the error paths");
  cr_log_info("fleet spec: %d accepted, %d rejected", accepted, rejected);
  free(buf);
  free(base);
}

Test(fuzz, sim_state_loader_never_crashes) {
  char dir[256], path[300];
  testutil_tmpdir(dir, sizeof dir, "fuzz");
  snprintf(path, sizeof path, "%s/state.json", dir);
  static const char base[] =
      "{\"version\": 1, \"faults\": [{\"node\": \"sim-node-0\", \"gpu\": 3, \"kind\": \"xid\", \"value\": 79, "
      "\"t_ns\": 1764382639000000000}, {\"node\": \"n1\", \"gpu\": 0, \"kind\": \"thermal\", \"value\": 0, "
      "\"t_ns\": 1764382639000000001}]}";
  size_t cap = sizeof base * 2 + 256;
  char *buf = malloc(cap);
  struct rng r;
  rng_seed(&r, seed() + 1);
  int rejected = 0;
  for (int i = 0; i < iterations() / 3; i++) {
    memcpy(buf, base, sizeof base);
    size_t len = sizeof base - 1;
    int edits = 1 + (int)rng_below(&r, 3);
    for (int e = 0; e < edits; e++) mutate(&r, buf, &len, cap);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    struct sim_fault *faults = NULL;
    int n = -1;
    int rc = simstate_load(path, &faults, &n);
    if (rc == 0) {
      cr_assert_geq(n, 0);
      for (int k = 0; k < n; k++) cr_assert((unsigned)faults[k].kind < SIM_FAULT_COUNT);
    } else {
      rejected++;
      cr_assert(strstr(err_msg(), path), "message must name the file: %s", err_msg());
    }
    free(faults);
  }
  cr_assert_gt(rejected, 0);
  free(buf);
  testutil_rmrf(dir);
}

Test(fuzz, infer_request_parser_never_crashes) {
  static const char base[] =
      "{\"id\":\"q\",\"parameters\":{\"priority\":1,\"timeout\":100,\"binary_data_output\":true},"
      "\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[[1,2],[3,4.5]]},"
      "{\"name\":\"B\",\"shape\":[3],\"datatype\":\"INT16\",\"parameters\":{\"binary_data_size\":6}}],"
      "\"outputs\":[{\"name\":\"OUTPUT0\",\"parameters\":{\"binary_data\":false}}]}"
      "\x01\x00\x02\x00\xff\x7f";
  const size_t base_len = sizeof base - 1, header = base_len - 6;
  size_t cap = base_len * 2 + 256;
  char *buf = malloc(cap);
  struct rng r;
  rng_seed(&r, seed() + 2);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < iterations(); i++) {
    memcpy(buf, base, base_len + 1);
    size_t len = base_len;
    int edits = 1 + (int)rng_below(&r, 3);
    for (int e = 0; e < edits; e++) mutate(&r, buf, &len, cap);
    /* the header length as sent, as a stale one, or none */
    int64_t hlen = rng_below(&r, 4) ? (int64_t)(header < len ? header : len) : (int64_t)rng_below(&r, len + 8) - 4;
    struct infer_request q;
    int rc = infer_request_parse(&q, buf, len, hlen);
    if (rc == 0) {
      accepted++;
      for (int k = 0; k < q.n_inputs; k++) {
        const struct infer_tensor *t = &q.inputs[k];
        cr_assert_eq(t->nbytes, t->numel * safetensors_dtype_size(t->dtype));
        if (!t->owned) /* binary: inside the body */
          cr_assert((const char *)t->data >= buf && (const char *)t->data + t->nbytes <= buf + len);
      }
    } else {
      rejected++;
      cr_assert(rc == ERR_INVALID || rc == ERR_NOMEM, "rc %d", rc);
      cr_assert(err_msg()[0], "a rejection says why");
      cr_assert_eq(q.n_inputs, 0);
    }
    infer_request_free(&q);
  }
  cr_assert_gt(rejected, 0);
  cr_assert_gt(accepted, 0, "some mutations keep the request valid");
  cr_log_info("infer requests: %d accepted, %d rejected", accepted, rejected);
  free(buf);
}
