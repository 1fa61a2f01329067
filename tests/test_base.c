/* test_base.c — base/: error table, rng. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"

Test(err, table_names_and_exit_codes) {
  cr_assert_str_eq(err_name(ERR_PARSE), "ERR_PARSE");
  cr_assert_eq(err_exit_code(ERR_INVALID), 2);
  cr_assert_eq(err_exit_code(ERR_NODEVICE), 3);
  cr_assert_eq(err_exit_code(0), 0);
  cr_assert_str_eq(err_name(-999), "ERR_UNKNOWN");
}

Test(err, message_is_set_wrapped_and_cleared) {
  cr_assert_eq(err_set(ERR_IO, "reading %s", "x.yaml"), ERR_IO);
  cr_assert_str_eq(err_msg(), "reading x.yaml");
  err_wrap(ERR_IO, "loading fleet");
  cr_assert_str_eq(err_msg(), "loading fleet: reading x.yaml");
  cr_assert_eq(err_last(), ERR_IO);
  err_clear();
  cr_assert_str_eq(err_msg(), "success");
}

Test(rng, same_seed_same_sequence_and_ranges) {
  struct rng a, b;
  rng_seed(&a, 42);
  rng_seed(&b, 42);
  for (int i = 0; i < 1000; i++) {
    cr_assert_eq(rng_u64(&a), rng_u64(&b));
    double u = rng_uniform(&a);
    (void)rng_uniform(&b);
    cr_assert(u >= 0.0 && u < 1.0);
    cr_assert_lt(rng_below(&a, 7), 7);
    (void)rng_below(&b, 7);
  }
  rng_seed(&b, 43);
  cr_assert_neq(rng_u64(&a), rng_u64(&b));
  cr_assert_eq(rng_hash_str("node-a"), rng_hash_str("node-a"));
  cr_assert_neq(rng_hash_str("node-a"), rng_hash_str("node-b"));
}

#include <jansson.h>
#include <stdlib.h>

#include "base/jsonio.h"
#include "base/table.h"

static char *render(struct table *t, enum table_format f) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  cr_assert_eq(table_write(t, m, f), 0);
  fclose(m);
  return buf;
}

Test(table, three_formats_from_one_table) {
  static const char *cols[] = {"name", "count", "note"};
  struct table *t = table_new(3, cols);
  table_add_rowf(t, "%s|%d|%s", "gpu-a", 8, "plain");
  const char *row2[] = {"gpu,b", "2.5", "say \"hi\""};
  table_add_row(t, row2);
  cr_assert_eq(table_rows(t), 2);
  cr_assert_str_eq(table_cell(t, 1, 0), "gpu,b");

  char *csv = render(t, TABLE_FMT_CSV);
  cr_assert_str_eq(csv, "name,count,note\r\ngpu-a,8,plain\r\n\"gpu,b\",2.5,\"say \"\"hi\"\"\"\r\n");
  free(csv);

  char *js = render(t, TABLE_FMT_JSON);
  json_t *doc = json_loads(js, 0, NULL);
  cr_assert_not_null(doc);
  cr_assert(json_is_integer(json_object_get(json_array_get(doc, 0), "count")));
  cr_assert_float_eq(json_real_value(json_object_get(json_array_get(doc, 1), "count")), 2.5, 1e-12);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(doc, 1), "note")), "say \"hi\"");
  json_decref(doc);
  free(js);

  char *txt = render(t, TABLE_FMT_TABLE);
  cr_assert(!strncmp(txt, "name   count  note", 18), "%s", txt);
  free(txt);
  table_free(t);
}

Test(table, format_parse_rejects_unknown) {
  enum table_format f;
  cr_assert_eq(table_format_parse("csv", &f), 0);
  cr_assert_eq(f, TABLE_FMT_CSV);
  cr_assert_eq(table_format_parse("yaml", &f), ERR_INVALID);
  cr_assert(strstr(err_msg(), "yaml"));
}

Test(jsonio, invalid_values_are_null_and_load_errors_have_positions) {
  json_t *v = jsonio_number(false, 0);
  cr_assert(json_is_null(v));
  json_decref(v);
  v = jsonio_number(true, 42);
  cr_assert(json_is_integer(v) && json_integer_value(v) == 42);
  json_decref(v);
  char path[] = "/tmp/gpuops-jsonio-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(write(fd, "{\"a\": 1,\n \"b\": }", 16) == 16);
  close(fd);
  json_t *doc;
  cr_assert_eq(jsonio_load_file(path, &doc), ERR_PARSE);
  cr_assert(strstr(err_msg(), path) && strstr(err_msg(), ":2:"), "%s", err_msg());
  unlink(path);
  cr_assert_eq(jsonio_load_file("/nonexistent/x.json", &doc), ERR_IO);
}
