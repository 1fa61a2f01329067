/*
 * test_safetensors.c — the safetensors reader and writer (serve/safetensors.h).
 *
 * Sections: helpers (write a raw file from a header string and data bytes);
 * the committed fixture made in the Python package's layout
 * (tests/fixtures/make_tiny_safetensors.py); writer round trip; each broken
 * rule → a clean ERR_PARSE naming the file, the tensor and the rule; a seeded
 * mutation fuzz loop over the fixture (GPUOPS_FUZZ_SEED / GPUOPS_FUZZ_ITERS).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "serve/safetensors.h"
#include "testutil.h"

/* ---- helpers ---- */

static char dir[256];

static void setup(void) { testutil_tmpdir(dir, sizeof dir, "safetensors"); }
static void teardown(void) { testutil_rmrf(dir); }

TestSuite(safetensors, .init = setup, .fini = teardown);

/* Write dir/name: 8-byte length (hlen, or strlen(header) when hlen == UINT64_MAX), header, data. */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, const void *data,
                             size_t dlen) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  if (hlen == UINT64_MAX) hlen = strlen(header);
  for (int i = 0; i < 8; i++) fputc((int)(hlen >> (8 * i)) & 0xff, f);
  fwrite(header, 1, strlen(header), f);
  if (dlen) fwrite(data, 1, dlen, f);
  fclose(f);
  return path;
}

/* Expect ERR_PARSE from opening the file, with every word of want[] in the message. */
static void expect_bad(const char *path, const char *const *want) {
  struct safetensors st;
  int rc = safetensors_open(&st, path);
  cr_assert_eq(rc, ERR_PARSE, "%s: rc %d (%s)", path, rc, err_msg());
  cr_assert_not_null(strstr(err_msg(), path), "message lacks the file: %s", err_msg());
  for (; *want; want++)
    cr_assert_not_null(strstr(err_msg(), *want), "message lacks '%s': %s", *want, err_msg());
  cr_assert_eq(st.n, 0);
  cr_assert_null(st.tensors);
}

static const uint8_t zeros[64];

/* ---- the fixture ---- */

Test(safetensors, fixture_from_python_layout) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny.safetensors", getenv("GPUOPS_FIXTURES"));
  struct safetensors st;
  cr_assert_eq(safetensors_open(&st, path), 0, "%s", err_msg());
  cr_assert_eq(st.n, 8);
  cr_assert_str_eq(json_string_value(json_object_get(st.metadata, "format")), "pt");

  const struct st_tensor *a = safetensors_find(&st, "a.weight");
  cr_assert_not_null(a);
  cr_assert_eq(a->dtype, ST_F32);
  cr_assert_eq(a->ndim, 2);
  cr_assert_eq(a->shape[0], 2);
  cr_assert_eq(a->shape[1], 3);
  float fv[6];
  memcpy(fv, a->data, sizeof fv);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(fv[i], 0.5f * i, 0);

  const struct st_tensor *b = safetensors_find(&st, "b");
  uint16_t bv[4];
  memcpy(bv, b->data, sizeof bv);
  cr_assert_eq(b->dtype, ST_BF16);
  cr_assert_eq(bv[1], 0xC000);
  const struct st_tensor *c = safetensors_find(&st, "c");
  int64_t cv[2];
  memcpy(cv, c->data, sizeof cv);
  cr_assert_eq(c->dtype, ST_I64);
  cr_assert_eq(cv[0], -1);
  cr_assert_eq(cv[1], (int64_t)1 << 40);
  const struct st_tensor *d = safetensors_find(&st, "d");
  cr_assert_eq(d->dtype, ST_U8);
  cr_assert_eq(((const uint8_t *)d->data)[2], 255);
  cr_assert_eq(safetensors_find(&st, "e")->dtype, ST_BOOL);
  const struct st_tensor *f = safetensors_find(&st, "f");
  cr_assert_eq(f->dtype, ST_F16);
  cr_assert_eq(((const uint8_t *)f->data)[1], 0x3C); /* 1.0 in fp16 = 0x3C00, little-endian */
  const struct st_tensor *s = safetensors_find(&st, "s");
  cr_assert_eq(s->ndim, 0);
  cr_assert_eq(s->numel, 1);
  const struct st_tensor *z = safetensors_find(&st, "z");
  cr_assert_eq(z->numel, 0);
  cr_assert_eq(z->begin, z->end);
  cr_assert_null(safetensors_find(&st, "missing"));
  safetensors_close(&st);
  cr_assert_eq(st.n, 0);
}

/* ---- writer round trip ---- */

Test(safetensors, write_read_round_trip) {
  float w[3][5];
  for (int i = 0; i < 15; i++) w[i / 5][i % 5] = (float)i * 0.25f - 1.0f;
  int32_t idx[7] = {1, -2, 3, -4, 5, -6, 7};
  uint8_t flags[1] = {1};
  uint16_t half[2] = {0x3F80, 0x4000};
  double dd[2] = {3.5, -1e300};
  struct st_write_tensor t[] = {
      {"w", ST_F32, 2, {3, 5}, w},      {"idx", ST_I32, 1, {7}, idx},
      {"flag", ST_BOOL, 0, {0}, flags}, {"h", ST_BF16, 2, {1, 2}, half},
      {"d", ST_F64, 1, {2}, dd},        {"empty", ST_U16, 2, {0, 4}, zeros},
  };
  json_t *meta = json_pack("{s:s}", "who", "test");
  char path[512];
  snprintf(path, sizeof path, "%s/rt.safetensors", dir);
  cr_assert_eq(safetensors_write(path, t, 6, meta), 0, "%s", err_msg());
  json_decref(meta);

  struct safetensors st;
  cr_assert_eq(safetensors_open(&st, path), 0, "%s", err_msg());
  cr_assert_eq(st.n, 6);
  for (int i = 0; i < 6; i++) {
    const struct st_tensor *r = safetensors_find(&st, t[i].name);
    cr_assert_not_null(r, "%s", t[i].name);
    cr_assert_eq(r->dtype, t[i].dtype);
    cr_assert_eq(r->ndim, t[i].ndim);
    for (int d = 0; d < r->ndim; d++) cr_assert_eq(r->shape[d], t[i].shape[d]);
    cr_assert_eq(memcmp(r->data, t[i].data, r->end - r->begin), 0, "%s bytes differ", t[i].name);
  }
  cr_assert_str_eq(st.tensors[0].name, "w"); /* header order kept */
  cr_assert_str_eq(json_string_value(json_object_get(st.metadata, "who")), "test");
  safetensors_close(&st);
  FILE *f = fopen(path, "rb");
  uint64_t hlen = 0;
  cr_assert_eq(fread(&hlen, 8, 1, f), 1);
  fclose(f);
  cr_assert_eq(hlen % 8, 0, "header padded to 8 bytes");
}

Test(safetensors, writer_rejects_bad_input) {
  char path[512];
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  struct st_write_tensor dup[] = {{"x", ST_U8, 1, {1}, zeros}, {"x", ST_U8, 1, {1}, zeros}};
  cr_assert_eq(safetensors_write(path, dup, 2, NULL), ERR_INVALID);
  struct st_write_tensor big[] = {{"x", ST_F64, 2, {UINT64_MAX / 2, 4}, zeros}};
  cr_assert_eq(safetensors_write(path, big, 1, NULL), ERR_INVALID);
  json_t *meta = json_pack("{s:i}", "n", 1);
  cr_assert_eq(safetensors_write(path, dup, 1, meta), ERR_INVALID);
  json_decref(meta);
  cr_assert_eq(safetensors_write("/nonexistent-dir/x.safetensors", dup, 1, NULL), ERR_IO);
}

/* ---- each broken rule ---- */

Test(safetensors, empty_header_is_valid) {
  struct safetensors st;
  cr_assert_eq(safetensors_open(&st, write_raw("e.st", UINT64_MAX, "{}", NULL, 0)), 0, "%s",
               err_msg());
  cr_assert_eq(st.n, 0);
  safetensors_close(&st);
}

Test(safetensors, truncated_file) {
  const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
  expect_bad(write_raw("t1.st", UINT64_MAX, h, zeros, 12),
             (const char *const[]){"'x'", "past the data area", NULL});
  const char *p = write_raw("t2.st", 0, "", NULL, 0);
  FILE *f = fopen(p, "wb");
  fwrite("abc", 1, 3, f);
  fclose(f);
  expect_bad(p, (const char *const[]){"too short", NULL});
  f = fopen(p, "wb");
  fclose(f);
  expect_bad(p, (const char *const[]){"0 bytes", NULL});
}

Test(safetensors, header_length_past_eof) {
  expect_bad(write_raw("h.st", 4096, "{}", NULL, 0),
             (const char *const[]){"header length 4096", "past the end", NULL});
}

Test(safetensors, huge_header_length) {
  expect_bad(write_raw("h.st", UINT64_MAX - 1, "{}", NULL, 0),
             (const char *const[]){"exceeds the limit", NULL});
  expect_bad(write_raw("h2.st", (uint64_t)1 << 63, "{}", NULL, 0),
             (const char *const[]){"exceeds the limit", NULL});
}

Test(safetensors, overlapping_offsets) {
  const char *h =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}";
  expect_bad(write_raw("o.st", UINT64_MAX, h, zeros, 12),
             (const char *const[]){"'b'", "overlap", "'a'", NULL});
}

Test(safetensors, offsets_outside_data) {
  const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[100,108]}}";
  expect_bad(write_raw("out.st", UINT64_MAX, h, zeros, 8),
             (const char *const[]){"'a'", "past the data area", NULL});
  const char *h2 = "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9,4]}}";
  expect_bad(write_raw("rev.st", UINT64_MAX, h2, zeros, 8),
             (const char *const[]){"'a'", "begin 9 > end 4", NULL});
  const char *h3 = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}";
  expect_bad(write_raw("neg.st", UINT64_MAX, h3, zeros, 8),
             (const char *const[]){"'a'", "data_offsets", NULL});
}

Test(safetensors, gap_and_trailing_bytes) {
  const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}";
  expect_bad(write_raw("gap.st", UINT64_MAX, h, zeros, 8),
             (const char *const[]){"'a'", "gap", NULL});
  const char *h2 = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
  expect_bad(write_raw("tail.st", UINT64_MAX, h2, zeros, 8),
             (const char *const[]){"4 bytes after the last tensor", NULL});
}

Test(safetensors, size_shape_mismatch) {
  const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}";
  expect_bad(write_raw("m.st", UINT64_MAX, h, zeros, 20),
             (const char *const[]){"'w'", "6 elements of F32 need 24 bytes", "span 20", NULL});
  const char *h2 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}";
  expect_bad(write_raw("n.st", UINT64_MAX, h2, NULL, 0),
             (const char *const[]){"'w'", "shape[1]", NULL});
  const char *h3 =
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}";
  expect_bad(write_raw("r.st", UINT64_MAX, h3, zeros, 4),
             (const char *const[]){"'w'", "9 dimensions", NULL});
}

Test(safetensors, shape_product_overflow) {
  const char *h =
      "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,0]}}";
  expect_bad(write_raw("ov.st", UINT64_MAX, h, NULL, 0),
             (const char *const[]){"'w'", "overflows", NULL});
  const char *h2 =
      "{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}";
  expect_bad(write_raw("ov2.st", UINT64_MAX, h2, NULL, 0),
             (const char *const[]){"'w'", "overflows", NULL});
}

Test(safetensors, unknown_dtype) {
  const char *h = "{\"w\":{\"dtype\":\"F8_E9M9\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  expect_bad(write_raw("dt.st", UINT64_MAX, h, zeros, 1),
             (const char *const[]){"'w'", "unknown dtype 'F8_E9M9'", NULL});
  const char *h2 = "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}";
  expect_bad(write_raw("dt2.st", UINT64_MAX, h2, zeros, 1),
             (const char *const[]){"'w'", "dtype", NULL});
}

Test(safetensors, bad_json_header) {
  expect_bad(write_raw("j1.st", UINT64_MAX, "{\"w\":{\"dtype\":", NULL, 0),
             (const char *const[]){"bad JSON header", NULL});
  expect_bad(write_raw("j2.st", UINT64_MAX, "[1,2,3]", NULL, 0),
             (const char *const[]){"start with '{'", NULL});
  expect_bad(write_raw("j3.st", UINT64_MAX, "{\"w\":3}", NULL, 0),
             (const char *const[]){"'w'", "object", NULL});
  expect_bad(write_raw("j4.st", UINT64_MAX, "{\"__metadata__\":{\"a\":1}}", NULL, 0),
             (const char *const[]){"__metadata__", "'a'", NULL});
}

Test(safetensors, duplicate_names) {
  const char *h =
      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
  expect_bad(write_raw("dup.st", UINT64_MAX, h, zeros, 2),
             (const char *const[]){"duplicate", "w", NULL});
}

Test(safetensors, missing_file_is_io_error) {
  struct safetensors st;
  cr_assert_eq(safetensors_open(&st, "/nonexistent/x.safetensors"), ERR_IO);
  cr_assert_not_null(strstr(err_msg(), "/nonexistent/x.safetensors"));
}

/* ---- fuzz ---- */

static const char *const splices[] = {"9",
                                      "99999999999999999999",
                                      "18446744073709551615",
                                      "-",
                                      ",",
                                      "]",
                                      "}",
                                      "\"",
                                      "[0,0]",
                                      "{}",
                                      "\"F32\"",
                                      "\"BOOL\"",
                                      "\\u0000",
                                      "null",
                                      "1e3"};

static void mutate(struct rng *r, uint8_t *buf, size_t *len, size_t cap) {
  size_t n = *len, at = n ? rng_below(r, n) : 0;
  switch (rng_below(r, 6)) {
    case 0:
      if (n) buf[at] ^= (uint8_t)(1u << rng_below(r, 8));
      break;
    case 1:
      if (n) buf[at] = (uint8_t)('0' + rng_below(r, 10));
      break;
    case 2: { /* delete a run */
      size_t k = 1 + rng_below(r, 8);
      if (at + k > n) k = n - at;
      memmove(buf + at, buf + at + k, n - at - k);
      *len = n - k;
      break;
    }
    case 3: { /* splice */
      const char *s = splices[rng_below(r, sizeof splices / sizeof splices[0])];
      size_t k = strlen(s);
      if (n + k > cap) break;
      memmove(buf + at + k, buf + at, n - at);
      memcpy(buf + at, s, k);
      *len = n + k;
      break;
    }
    case 4: /* the length field */
      buf[rng_below(r, 8 < n ? 8 : (n ? n : 1))] = (uint8_t)rng_u64(r);
      break;
    case 5: *len = at; break;
  }
}

Test(safetensors, fuzz_mutations_never_crash, .timeout = 110) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny.safetensors", getenv("GPUOPS_FIXTURES"));
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  uint8_t orig[4096];
  size_t olen = fread(orig, 1, sizeof orig, f);
  fclose(f);
  const char *s = getenv("GPUOPS_FUZZ_SEED"), *it = getenv("GPUOPS_FUZZ_ITERS");
  long iters = it ? atol(it) : 20000;
  struct rng r;
  rng_seed(&r, s ? strtoull(s, NULL, 0) : 0x5afe);
  int ok = 0, bad = 0;
  for (long i = 0; i < iters; i++) {
    size_t cap = olen + 256, len = olen;
    uint8_t *buf = malloc(cap);
    memcpy(buf, orig, olen);
    int nm = 1 + (int)rng_below(&r, 4);
    for (int m = 0; m < nm; m++) mutate(&r, buf, &len, cap);
    uint8_t *exact = malloc(len ? len : 1); /* exact size: ASan sees any read past the end */
    memcpy(exact, buf, len);
    free(buf);
    struct safetensors st;
    int rc = safetensors_parse(&st, exact, len, "fuzz");
    if (rc == 0) {
      ok++;
      unsigned sum = 0;
      for (int t = 0; t < st.n; t++) {
        const uint8_t *p = st.tensors[t].data;
        cr_assert(p >= exact && p + (st.tensors[t].end - st.tensors[t].begin) <= exact + len);
        for (uint64_t b = 0; b < st.tensors[t].end - st.tensors[t].begin; b++) sum += p[b];
      }
      (void)sum;
      safetensors_close(&st);
    } else {
      bad++;
      cr_assert(rc == ERR_PARSE || rc == ERR_NOMEM, "iteration %ld: rc %d", i, rc);
      cr_assert(err_msg()[0] != '\0');
      cr_assert_null(st.tensors);
    }
    free(exact);
  }
  cr_log_info("fuzz: %d accepted, %d rejected", ok, bad);
  cr_assert_gt(bad, 0);
}
