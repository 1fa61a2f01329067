/*
 * test_jobsubmit.c — the pure logic of the Slurm job_submit plugin
 * (contrib/slurm/job_submit_gpuops/gpumem.c): memory sizes, the
 * "gpuops:mem=" request in a comment, the plugin's config, and choosing the
 * smallest MIG profile that fits. The logic file is compiled in here with the
 * catalog alone (it needs no Slurm), so this runs without libslurm-dev too.
 *
 * Sections: sizes; requests; config; choosing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../contrib/slurm/job_submit_gpuops/gpumem.c"

/* ---- sizes ---- */

static uint64_t size_ok(const char *s) {
  uint64_t mib = 0;
  char why[128] = "";
  cr_assert_eq(gpumem_size_parse(s, strlen(s), &mib, why, sizeof why), 0, "%s: %s", s, why);
  return mib;
}

static void size_bad(const char *s, const char *want) {
  uint64_t mib = 0;
  char why[128] = "";
  cr_assert_eq(gpumem_size_parse(s, strlen(s), &mib, why, sizeof why), -1, "%s accepted", s);
  cr_assert(strstr(why, want), "%s: '%s' lacks '%s'", s, why, want);
}

Test(size, units_are_binary_and_round_up) {
  cr_assert_eq(size_ok("20G"), 20480);
  cr_assert_eq(size_ok("20GiB"), 20480);
  cr_assert_eq(size_ok("20gb"), 20480);
  cr_assert_eq(size_ok("512"), 512);
  cr_assert_eq(size_ok("512M"), 512);
  cr_assert_eq(size_ok("1T"), 1048576);
  cr_assert_eq(size_ok("1025K"), 2);
}

Test(size, rejects_bad_input) {
  size_bad("", "expected a number");
  size_bad("G", "expected a number");
  size_bad("20X", "unknown unit");
  size_bad("20GX", "unknown unit");
  size_bad("0G", "above 0");
  size_bad("2000T", "1 PiB");
  size_bad("99999999999999999999999G", "1 PiB");
}

/* ---- requests ---- */

Test(request, found_in_a_comment) {
  uint64_t mib = 0;
  char why[128];
  cr_assert_eq(gpumem_request_parse("train gpuops:mem=20G,extra", &mib, why, sizeof why), 1);
  cr_assert_eq(mib, 20480);
  cr_assert_eq(gpumem_request_parse("nothing here", &mib, why, sizeof why), 0);
  cr_assert_eq(gpumem_request_parse(NULL, &mib, why, sizeof why), 0);
  cr_assert_eq(gpumem_request_parse("gpuops:mem=lots", &mib, why, sizeof why), -1);
  cr_assert(strstr(why, "lots"));
}

/* ---- config ---- */

Test(config, model_and_types) {
  struct gpumem_config c;
  char why[256] = "";
  cr_assert_eq(gpumem_config_parse("# c\nmodel = H200\ntypes = 1g.18gb, 3g.71gb 7g.141gb\n", &c,
                                   why, sizeof why),
               0, "%s", why);
  cr_assert_str_eq(c.model->key, "H200");
  cr_assert_eq(c.n_types, 3);
  cr_assert_str_eq(c.types[1]->name, "3g.71gb");
}

static void config_bad(const char *text, const char *want) {
  struct gpumem_config c;
  char why[256] = "";
  cr_assert_eq(gpumem_config_parse(text, &c, why, sizeof why), -1, "accepted: %s", text);
  cr_assert(strstr(why, want), "'%s' lacks '%s'", why, want);
}

Test(config, errors_name_the_line) {
  config_bad("model = Z9000\n", "line 1: unknown GPU model 'Z9000'");
  config_bad("model = H200\ntypes = 1g.10gb\n", "line 2: '1g.10gb' is not a MIG profile of H200");
  config_bad("types = 1g.18gb\n", "line 1: give 'model' before 'types'");
  config_bad("model = H200\ncolour = red\n", "line 2: unknown key 'colour'");
  config_bad("model = H200\njunk\n", "line 2: expected 'key = value'");
  config_bad("model = H200\n", "missing 'types");
  config_bad("", "missing 'model");
}

/* ---- choosing ---- */

static struct gpumem_config h200(const char *types) {
  struct gpumem_config c;
  char text[256], why[256] = "";
  snprintf(text, sizeof text, "model = H200\ntypes = %s\n", types);
  cr_assert_eq(gpumem_config_parse(text, &c, why, sizeof why), 0, "%s", why);
  return c;
}

static const char *choose(const char *types, uint64_t mib) {
  struct gpumem_config c = h200(types);
  char why[512] = "";
  const struct catalog_mig_profile *p = gpumem_choose(&c, mib, why, sizeof why);
  return p ? p->name : NULL;
}

Test(choose, smallest_that_fits) {
  const char *all = "7g.141gb,4g.71gb,3g.71gb,2g.35gb,1g.35gb,1g.18gb+me,1g.18gb";
  cr_assert_str_eq(choose(all, 1), "1g.18gb");     /* not the +me twin */
  cr_assert_str_eq(choose(all, 16384), "1g.18gb"); /* exactly 16 GiB fits */
  cr_assert_str_eq(choose(all, 16385), "1g.35gb"); /* fewer slices than 2g.35gb */
  cr_assert_str_eq(choose(all, 20480), "1g.35gb");
  cr_assert_str_eq(choose(all, 40000), "3g.71gb");
  cr_assert_str_eq(choose(all, 143360), "7g.141gb");
  /* only what the cluster carries counts */
  cr_assert_str_eq(choose("1g.18gb,3g.71gb", 20480), "3g.71gb");
  cr_assert_str_eq(choose("1g.18gb+me", 100), "1g.18gb+me");
}

Test(choose, nothing_fits_says_why) {
  struct gpumem_config c = h200("1g.18gb,3g.71gb");
  char why[512] = "";
  cr_assert_null(gpumem_choose(&c, 204800, why, sizeof why));
  cr_assert(strstr(why, "204800 MiB"), "%s", why);
  cr_assert(strstr(why, "largest is 3g.71gb with 71424 MiB on H200"), "%s", why);
}
