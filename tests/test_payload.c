/*
 * test_payload.c — KServe v2 infer bodies from model metadata
 * (load/payload.h): shapes (the batch in a leading -1, --shape for the rest,
 * overrides that must fit), JSON bodies that parse back with the right
 * shape, datatype and element count, binary bodies whose header length and
 * sizes add up, bodies that differ, and clear errors for metadata that is not
 * KServe's, BYTES inputs and FP16 without the binary extension.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "base/err.h"
#include "load/payload.h"

static json_t *meta(const char *text) {
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  cr_assert_not_null(j, "fixture: %s", je.text);
  return j;
}

static const char *MLP =
    "{\"name\":\"mlp\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,16]},"
    "{\"name\":\"mask\",\"datatype\":\"BOOL\",\"shape\":[-1,4]}],\"outputs\":[]}";

Test(payload, batch_fills_the_leading_dimension) {
  json_t *j = meta(MLP);
  struct payload_model m;
  cr_assert_eq(payload_model_parse(j, 8, NULL, &m), 0, "%s", err_msg());
  cr_assert_str_eq(m.name, "mlp");
  cr_assert_eq(m.n_inputs, 2);
  cr_assert_eq(m.inputs[0].shape[0], 8);
  cr_assert_eq(m.inputs[0].count, 8 * 16);
  cr_assert_eq(m.inputs[1].dtype, PAYLOAD_BOOL);
  cr_assert_eq(m.inputs[1].count, 32);
  json_decref(j);
}

Test(payload, shapes_for_other_variable_dimensions) {
  json_t *j = meta("{\"name\":\"seq\",\"inputs\":[{\"name\":\"ids\",\"datatype\":\"INT64\","
                   "\"shape\":[-1,-1]},{\"name\":\"len\",\"datatype\":\"INT32\",\"shape\":[1]}]}");
  struct payload_model m;
  cr_assert_eq(payload_model_parse(j, 2, NULL, &m), ERR_INVALID, "dimension 1 left variable");
  cr_assert_not_null(strstr(err_msg(), "--shape ids="), "%s", err_msg());
  cr_assert_eq(payload_model_parse(j, 2, "ids=3,128", &m), 0, "%s", err_msg());
  cr_assert_eq(m.inputs[0].shape[0], 3);
  cr_assert_eq(m.inputs[0].shape[1], 128);
  cr_assert_eq(m.inputs[1].count, 1);
  cr_assert_eq(payload_model_parse(j, 2, "ids=3", &m), ERR_INVALID, "wrong rank");
  cr_assert_eq(payload_model_parse(j, 2, "ids=3,128;len=2", &m), ERR_INVALID, "fixed dim changed");
  cr_assert_not_null(strstr(err_msg(), "fixed"), "%s", err_msg());
  json_decref(j);
}

Test(payload, json_bodies_parse_back_with_the_right_shape) {
  json_t *j = meta(MLP);
  struct payload_model m;
  cr_assert_eq(payload_model_parse(j, 3, NULL, &m), 0);
  struct payload_set s;
  cr_assert_eq(payload_generate(&m, 4, false, 7, &s), 0, "%s", err_msg());
  cr_assert_eq(s.n, 4);
  cr_assert_str_eq(s.header, "");
  cr_assert_str_eq(s.content_type, "Content-Type: application/json");
  for (int i = 0; i < s.n; i++) {
    json_error_t je;
    json_t *b = json_loadb(s.bodies[i].data, s.bodies[i].len, 0, &je);
    cr_assert_not_null(b, "body %d is not JSON: %s", i, je.text);
    json_t *x = json_array_get(json_object_get(b, "inputs"), 0);
    json_t *mask = json_array_get(json_object_get(b, "inputs"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(x, "datatype")), "FP32");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(x, "shape"), 0)), 3);
    cr_assert_eq(json_array_size(json_object_get(x, "data")), 48);
    json_t *v = json_array_get(json_object_get(x, "data"), 5);
    cr_assert(json_is_real(v) && json_real_value(v) >= -1 && json_real_value(v) < 1);
    cr_assert(json_is_boolean(json_array_get(json_object_get(mask, "data"), 0)));
    json_decref(b);
  }
  cr_assert(s.bodies[0].len != s.bodies[1].len ||
                memcmp(s.bodies[0].data, s.bodies[1].data, s.bodies[0].len),
            "bodies must differ so caches do not flatter");
  payload_set_free(&s);
  json_decref(j);
}

Test(payload, binary_bodies_add_up) {
  json_t *j = meta("{\"name\":\"h\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP16\",\"shape\":"
                   "[-1,8]},{\"name\":\"b\",\"datatype\":\"INT64\",\"shape\":[2]}]}");
  struct payload_model m;
  cr_assert_eq(payload_model_parse(j, 4, NULL, &m), 0);
  struct payload_set s;
  cr_assert_eq(payload_generate(&m, 1, false, 1, &s), ERR_INVALID, "FP16 needs --binary");
  cr_assert_not_null(strstr(err_msg(), "--binary"), "%s", err_msg());
  cr_assert_eq(payload_generate(&m, 3, true, 1, &s), 0, "%s", err_msg());
  long hl = 0;
  cr_assert_eq(sscanf(s.header, "Inference-Header-Content-Length: %ld", &hl), 1, "%s", s.header);
  cr_assert_str_eq(s.content_type, "Content-Type: application/octet-stream");
  for (int i = 0; i < s.n; i++) {
    cr_assert_eq(s.bodies[i].len, (size_t)hl + 4 * 8 * 2 + 2 * 8, "body %d: %zu bytes", i,
                 s.bodies[i].len);
    json_error_t je;
    json_t *h = json_loadb(s.bodies[i].data, (size_t)hl, 0, &je);
    cr_assert_not_null(h, "header of body %d: %s", i, je.text);
    json_t *a = json_array_get(json_object_get(h, "inputs"), 0);
    cr_assert_null(json_object_get(a, "data"));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(a, "parameters"),
                                                    "binary_data_size")), 64);
    /* every FP16 value is finite: exponent bits not all ones */
    const unsigned char *raw = (const unsigned char *)s.bodies[i].data + hl;
    for (int k = 0; k < 32; k++) cr_assert_neq((raw[2 * k + 1] >> 2) & 0x1f, 0x1f);
    /* INT64 values are 0..99, little-endian */
    const unsigned char *ints = raw + 64;
    cr_assert(ints[0] < 100 && ints[1] == 0 && ints[7] == 0);
    json_decref(h);
  }
  cr_assert(memcmp(s.bodies[0].data + hl, s.bodies[1].data + hl, 64), "tensors differ");
  payload_set_free(&s);
  json_decref(j);
}

Test(payload, bad_metadata_is_a_clear_error) {
  static const char *bad[] = {
      "{\"name\":\"m\"}", "[1,2]", "{\"inputs\":[]}",
      "{\"inputs\":[{\"name\":\"x\",\"shape\":[1]}]}",
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP8\",\"shape\":[1]}]}",
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[0]}]}",
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":\"1\"}]}"};
  struct payload_model m;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *j = meta(bad[i]);
    cr_assert_eq(payload_model_parse(j, 1, NULL, &m), ERR_PARSE, "accepted %s", bad[i]);
    cr_assert_not_null(strstr(err_msg(), "metadata"), "%s", err_msg());
    json_decref(j);
  }
  json_t *j = meta("{\"inputs\":[{\"name\":\"t\",\"datatype\":\"BYTES\",\"shape\":[1]}]}");
  cr_assert_eq(payload_model_parse(j, 1, NULL, &m), ERR_INVALID);
  cr_assert_not_null(strstr(err_msg(), "--body"), "%s", err_msg());
  json_decref(j);
  j = meta(MLP);
  cr_assert_eq(payload_model_parse(j, 0, NULL, &m), ERR_INVALID, "batch 0");
  json_decref(j);
}

Test(payload, fetch_from_nothing_is_unreachable) {
  json_t *j;
  cr_assert_eq(payload_fetch("http://127.0.0.1:1", "m", 2, &j), ERR_UNREACHABLE);
  cr_assert_null(j);
}
