/*
 * test_infer.c — the KServe v2 request parser and response writer
 * (serve/infer.h): JSON tensors of every JSON datatype, the binary tensor
 * data extension for every datatype (FP16 and BF16 included), malformed and
 * hostile requests (clean ERR_INVALID with a message naming the rule), and
 * responses as JSON and binary, read back.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "serve/infer.h"

static struct infer_request r;

static int parse(const char *json) { return infer_request_parse(&r, json, strlen(json), -1); }

/* Parse a request whose input is `data` of datatype dt, shape [n]. */
static int parse_one(const char *dt, int n, const char *data) {
  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"inputs\":[{\"name\":\"x\",\"shape\":[%d],\"datatype\":\"%s\",\"data\":%s}]}", n, dt, data);
  return parse(buf);
}

static void expect_invalid(int rc, const char *needle) {
  cr_assert_eq(rc, ERR_INVALID, "rc %d (%s)", rc, err_msg());
  cr_assert(strstr(err_msg(), needle), "message '%s' should mention '%s'", err_msg(), needle);
  cr_assert_eq(r.n_inputs, 0, "a failed parse leaves the request empty");
}

Test(infer, datatype_names_round_trip) {
  for (int d = 0; d < ST_NDTYPES; d++) {
    enum st_dtype back;
    cr_assert_eq(infer_dtype_parse(infer_dtype_name((enum st_dtype)d), &back), 0);
    cr_assert_eq(back, d);
  }
  enum st_dtype x;
  cr_assert_eq(infer_dtype_parse("BYTES", &x), ERR_INVALID);
  cr_assert_eq(infer_dtype_parse("fp32", &x), ERR_INVALID, "names are exact");
}

Test(infer, fp32_request_with_parameters_and_outputs) {
  const char *j = "{\"id\":\"r1\",\"parameters\":{\"priority\":2,\"timeout\":5000,\"other\":\"ok\"},"
                  "\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[2,3],\"datatype\":\"FP32\","
                  "\"data\":[[1,2.5,-3],[4,5,6e-3]]}],"
                  "\"outputs\":[{\"name\":\"OUTPUT0\",\"parameters\":{\"binary_data\":true}}]}";
  cr_assert_eq(parse(j), 0, "%s", err_msg());
  cr_assert_str_eq(r.id, "r1");
  cr_assert(r.has_priority && r.priority == 2);
  cr_assert(r.has_timeout && r.timeout_us == 5000);
  cr_assert_eq(r.n_inputs, 1);
  const struct infer_tensor *t = infer_request_input(&r, "INPUT0");
  cr_assert_not_null(t);
  cr_assert_eq(t->ndim, 2);
  cr_assert_eq(t->shape[1], 3);
  cr_assert_eq(t->nbytes, 24);
  const float *f = t->data;
  cr_assert_float_eq(f[1], 2.5f, 0);
  cr_assert_float_eq(f[5], 6e-3f, 0);
  cr_assert_eq(r.n_outputs, 1);
  cr_assert(r.outputs[0].binary);
  infer_request_free(&r);
}

Test(infer, every_json_datatype_and_its_range) {
  cr_assert_eq(parse_one("BOOL", 3, "[true,false,true]"), 0, "%s", err_msg());
  cr_assert_eq(((const uint8_t *)r.inputs[0].data)[1], 0);
  cr_assert_eq(((const uint8_t *)r.inputs[0].data)[2], 1);
  infer_request_free(&r);
  struct { const char *dt, *ok, *bad; } cases[] = {
      {"INT8", "[-128,127]", "[128,0]"},        {"INT16", "[-32768,32767]", "[-32769,0]"},
      {"INT32", "[-2147483648,2147483647]", "[2147483648,0]"},
      {"INT64", "[-9223372036854775808,9223372036854775807]", "[1.5,0]"},
      {"UINT8", "[0,255]", "[256,0]"},          {"UINT16", "[0,65535]", "[-1,0]"},
      {"UINT32", "[0,4294967295]", "[4294967296,0]"}, {"UINT64", "[0,9223372036854775807]", "[-1,0]"},
      {"FP64", "[1e300,-2]", "[\"a\",0]"},      {"FP32", "[3.4e38,-1]", "[1e39,0]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cr_assert_eq(parse_one(cases[i].dt, 2, cases[i].ok), 0, "%s %s: %s", cases[i].dt, cases[i].ok, err_msg());
    cr_assert_eq(r.inputs[0].nbytes, 2 * safetensors_dtype_size(r.inputs[0].dtype));
    infer_request_free(&r);
    cr_assert_eq(parse_one(cases[i].dt, 2, cases[i].bad), ERR_INVALID, "%s %s accepted", cases[i].dt, cases[i].bad);
    cr_assert(strstr(err_msg(), "data[0]"), "%s", err_msg());
  }
  cr_assert_eq(parse_one("INT16", 2, "[-2,300]"), 0);
  const int16_t *v = r.inputs[0].data;
  cr_assert(v[0] == -2 && v[1] == 300);
  infer_request_free(&r);
  cr_assert_eq(parse_one("INT64", 1, "[-9223372036854775808]"), 0);
  int64_t big;
  memcpy(&big, r.inputs[0].data, 8);
  cr_assert_eq(big, INT64_MIN);
  infer_request_free(&r);
}

Test(infer, fp16_and_bf16_need_binary) {
  expect_invalid(parse_one("FP16", 1, "[1.0]"), "binary");
  expect_invalid(parse_one("BF16", 1, "[1.0]"), "binary");
}

/* A binary request: JSON header + the bytes of each input. */
static int parse_binary(const char *header, const void *bin, size_t bin_len, char *buf) {
  size_t h = strlen(header);
  memcpy(buf, header, h);
  memcpy(buf + h, bin, bin_len);
  return infer_request_parse(&r, buf, h + bin_len, (int64_t)h);
}

Test(infer, binary_data_for_every_datatype) {
  unsigned char bytes[64], buf[2048];
  for (int i = 0; i < 64; i++) bytes[i] = (unsigned char)(i * 37 + 1);
  for (int d = 0; d < ST_NDTYPES; d++) {
    size_t es = safetensors_dtype_size((enum st_dtype)d);
    char h[512];
    snprintf(h, sizeof h,
             "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"%s\","
             "\"parameters\":{\"binary_data_size\":%zu}},"
             "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"%s\",\"parameters\":{\"binary_data_size\":%zu}}]}",
             infer_dtype_name((enum st_dtype)d), 4 * es, infer_dtype_name((enum st_dtype)d), es);
    cr_assert_eq(parse_binary(h, bytes, 5 * es, (char *)buf), 0, "%s: %s", infer_dtype_name((enum st_dtype)d), err_msg());
    cr_assert_eq(r.n_inputs, 2);
    cr_assert_eq(memcmp(r.inputs[0].data, bytes, 4 * es), 0, "a's bytes as sent");
    cr_assert_eq(memcmp(r.inputs[1].data, bytes + 4 * es, es), 0, "b's bytes follow a's");
    infer_request_free(&r);
  }
}

Test(infer, binary_size_mismatches) {
  char buf[1024];
  float x[4] = {1, 2, 3, 4};
  const char *h = "{\"inputs\":[{\"name\":\"a\",\"shape\":[4],\"datatype\":\"FP32\","
                  "\"parameters\":{\"binary_data_size\":16}}]}";
  expect_invalid(parse_binary(h, x, 12, buf), "only 12");
  cr_assert_eq(parse_binary(h, x, 16, buf), 0, "the exact size passes: %s", err_msg());
  infer_request_free(&r);
  expect_invalid(parse_binary(h, x, 8, buf), "only 8");
  char extra[20] = {0};
  memcpy(extra, x, 16);
  expect_invalid(parse_binary(h, extra, 20, buf), "4 bytes of binary data");
  const char *h2 = "{\"inputs\":[{\"name\":\"a\",\"shape\":[4],\"datatype\":\"FP32\","
                   "\"parameters\":{\"binary_data_size\":12}}]}";
  expect_invalid(parse_binary(h2, x, 12, buf), "need 16 bytes");
  /* binary_data_size without the header */
  expect_invalid(parse(h), "Inference-Header-Content-Length");
  /* a header length beyond the body */
  expect_invalid(infer_request_parse(&r, h, strlen(h), (int64_t)strlen(h) + 1), "larger than the body");
}

Test(infer, malformed_requests_get_clear_errors) {
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,2]"), "malformed JSON");
  expect_invalid(parse("[1,2]"), "not a JSON object");
  expect_invalid(parse("{}"), "\"inputs\"");
  expect_invalid(parse("{\"inputs\":[]}"), "\"inputs\"");
  expect_invalid(parse_one("FP32", 3, "[1,2]"), "needs 3 values");
  expect_invalid(parse_one("FP32", 1, "[[[[[[[[[[1]]]]]]]]]]"), "deeper");
  expect_invalid(parse_one("FP32", 2, "[1,null]"), "data[1]");
  expect_invalid(parse_one("BYTES", 1, "[\"a\"]"), "not supported");
  expect_invalid(parse_one("BOOL", 1, "[1]"), "true or false");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[]}]}"), "non-negative");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[4294967296,4294967296,4294967296],"
                       "\"datatype\":\"FP32\",\"data\":[]}]}"), "overflows");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1,1,1,1,1,1,1,1],\"datatype\":\"FP32\",\"data\":[1]}]}"),
                 "at most 8");
  expect_invalid(parse("{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}"), "\"name\"");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}"), "no \"data\"");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
                       "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}"), "twice");
  expect_invalid(parse("{\"parameters\":{\"priority\":-1},\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
                       "\"datatype\":\"FP32\",\"data\":[1]}]}"), "priority");
  expect_invalid(parse("{\"parameters\":{\"timeout\":\"soon\"},\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
                       "\"datatype\":\"FP32\",\"data\":[1]}]}"), "timeout");
  expect_invalid(parse("{\"id\":7,\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}"), "\"id\"");
  expect_invalid(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
                       "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":1}}]}"), "binary_data");
  expect_invalid(parse("{\"a\":1,\"a\":2,\"inputs\":[]}"), "malformed JSON");
}

/* ---- responses ---- */

static struct infer_tensor out_tensor(enum st_dtype d, int rows, int cols, const void *data) {
  struct infer_tensor t = {.name = "OUTPUT0", .dtype = d, .ndim = 2, .data = data};
  t.shape[0] = rows, t.shape[1] = cols;
  t.numel = (uint64_t)rows * (uint64_t)cols;
  t.nbytes = t.numel * safetensors_dtype_size(d);
  return t;
}

Test(infer, json_response_reads_back) {
  float y[4] = {1.5f, -2.0f, 0.1f, 3.4028235e38f};
  struct infer_tensor t = out_tensor(ST_F32, 2, 2, y);
  bool bin = false;
  struct infer_response resp = {"m", "1", "id\"1", 1, &t, &bin};
  struct infer_buf b = {0};
  size_t hlen = 99;
  cr_assert_eq(infer_response_write(&b, &resp, &hlen), 0, "%s", err_msg());
  cr_assert_eq(hlen, 0, "no binary output: no header length");
  json_error_t je;
  json_t *doc = json_loadb(b.p, b.len, 0, &je);
  cr_assert_not_null(doc, "valid JSON: %s (%s)", je.text, b.p);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), "id\"1");
  json_t *o = json_array_get(json_object_get(doc, "outputs"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(o, "datatype")), "FP32");
  json_t *data = json_object_get(o, "data");
  for (int i = 0; i < 4; i++)
    cr_assert_eq((float)json_number_value(json_array_get(data, (size_t)i)), y[i], "FP32 round-trips exactly");
  json_decref(doc);
  infer_buf_free(&b);
}

Test(infer, binary_response_layout) {
  uint16_t y[6] = {0x3c00, 0xc000, 1, 2, 3, 0x7e00}; /* FP16 bits, a NaN among them */
  struct infer_tensor t = out_tensor(ST_F16, 2, 3, y);
  bool bin = true;
  struct infer_response resp = {"m", "1", NULL, 1, &t, &bin};
  struct infer_buf b = {0};
  size_t hlen = 0;
  cr_assert_eq(infer_response_write(&b, &resp, &hlen), 0, "%s", err_msg());
  cr_assert_eq(b.len, hlen + sizeof y);
  cr_assert_eq(memcmp(b.p + hlen, y, sizeof y), 0, "the bytes follow the JSON");
  json_t *doc = json_loadb(b.p, hlen, 0, NULL);
  cr_assert_not_null(doc);
  json_t *o = json_array_get(json_object_get(doc, "outputs"), 0);
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "parameters"), "binary_data_size")), 12);
  cr_assert_null(json_object_get(o, "data"));
  json_decref(doc);
  infer_buf_free(&b);
}

Test(infer, json_cannot_carry_fp16_or_nan) {
  uint16_t h[1] = {0x3c00};
  struct infer_tensor t = out_tensor(ST_BF16, 1, 1, h);
  bool bin = false;
  struct infer_response resp = {"m", "1", NULL, 1, &t, &bin};
  struct infer_buf b = {0};
  size_t hlen;
  cr_assert_eq(infer_response_write(&b, &resp, &hlen), ERR_INVALID);
  cr_assert(strstr(err_msg(), "binary"), "%s", err_msg());
  infer_buf_free(&b);
  float nan[1] = {NAN};
  t = out_tensor(ST_F32, 1, 1, nan);
  cr_assert_eq(infer_response_write(&b, &resp, &hlen), ERR_INVALID);
  cr_assert(strstr(err_msg(), "NaN"), "%s", err_msg());
  infer_buf_free(&b);
}

Test(infer, integer_outputs_sign_extend) {
  int8_t v[2] = {-5, 100};
  struct infer_tensor t = out_tensor(ST_I8, 1, 2, v);
  bool bin = false;
  struct infer_response resp = {"m", "1", NULL, 1, &t, &bin};
  struct infer_buf b = {0};
  size_t hlen;
  cr_assert_eq(infer_response_write(&b, &resp, &hlen), 0);
  cr_assert(strstr(b.p, "\"data\":[-5,100]"), "%s", b.p);
  infer_buf_free(&b);
}

Test(infer, error_json_escapes) {
  struct infer_buf b = {0};
  infer_error_write(&b, "bad \"x\"\n\xff");
  json_t *doc = json_loadb(b.p, b.len, 0, NULL);
  cr_assert_not_null(doc, "%s", b.p);
  cr_assert(strstr(json_string_value(json_object_get(doc, "error")), "bad \"x\""));
  json_decref(doc);
  infer_buf_free(&b);
}
