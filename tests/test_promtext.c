/*
 * test_promtext.c — the Prometheus writer (telemetry/promtext.h): escaping,
 * value formatting, text 0.0.4 against OpenMetrics for each type (the
 * dcgm-exporter counters declared unknown, gpuops counters as _total
 * families, info, histograms), and Accept negotiation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/promtext.h"

static char *render(enum prom_format fmt, void (*fill)(struct prom_writer *)) {
  static struct prom_buf b;
  prom_buf_free(&b);
  prom_buf_init(&b);
  struct prom_writer w;
  prom_writer_init(&w, &b, fmt);
  fill(&w);
  prom_finish(&w);
  cr_assert(!b.oom);
  return b.p ? b.p : "";
}

/* ---- escaping and values ---- */

Test(promtext, label_values_are_escaped) {
  struct prom_buf l;
  prom_buf_init(&l);
  prom_label(&l, "a", "x\"y\\z\nw");
  prom_label(&l, "b", "");
  cr_assert_str_eq(l.p, "a=\"x\\\"y\\\\z\\nw\",b=\"\"");
  prom_buf_free(&l);
}

Test(promtext, values_format_exactly) {
  char buf[48];
  prom_format_value(3, buf, sizeof buf);
  cr_assert_str_eq(buf, "3");
  prom_format_value(122685967028835.0, buf, sizeof buf);
  cr_assert_str_eq(buf, "122685967028835", "large integers keep every digit");
  prom_format_value(0.5, buf, sizeof buf);
  cr_assert_str_eq(buf, "0.5");
  prom_format_value(-2, buf, sizeof buf);
  cr_assert_str_eq(buf, "-2");
  prom_format_value(1795925419.123, buf, sizeof buf);
  cr_assert_str_eq(buf, "1795925419.123", "timestamps keep milliseconds");
  prom_format_value(NAN, buf, sizeof buf);
  cr_assert_str_eq(buf, "NaN");
  prom_format_value(INFINITY, buf, sizeof buf);
  cr_assert_str_eq(buf, "+Inf");
}

Test(promtext, buffer_grows_and_hands_over) {
  struct prom_buf b;
  prom_buf_init(&b);
  for (int i = 0; i < 10000; i++) prom_buf_printf(&b, "%05d\n", i);
  cr_assert_eq(b.len, 60000);
  size_t len = 0;
  char *p = prom_buf_take(&b, &len);
  cr_assert_eq(len, 60000);
  cr_assert_eq(strncmp(p + 59994, "09999\n", 6), 0);
  cr_assert_null(b.p);
  free(p);
}

/* ---- families ---- */

static void dcgm_counter(struct prom_writer *w) {
  prom_family(w, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", PROM_COUNTER,
              "Total energy consumption since boot (in mJ).");
  prom_sample(w, "gpu=\"0\"", NULL, 42);
}

Test(promtext, dcgm_counter_is_unknown_in_openmetrics) {
  cr_assert_str_eq(
      render(PROM_FMT_TEXT, dcgm_counter),
      "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).\n"
      "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
      "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\"} 42\n");
  cr_assert_str_eq(
      render(PROM_FMT_OPENMETRICS, dcgm_counter),
      "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).\n"
      "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION unknown\n"
      "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\"} 42\n"
      "# EOF\n");
}

static void own_counter(struct prom_writer *w) {
  prom_family(w, "gpuops_xid_errors_total", PROM_COUNTER, "XIDs.");
  prom_sample(w, "gpu=\"1\"", "xid=\"79\"", 2);
}

Test(promtext, own_counter_is_a_total_family_in_openmetrics) {
  cr_assert_str_eq(render(PROM_FMT_TEXT, own_counter),
                   "# HELP gpuops_xid_errors_total XIDs.\n# TYPE gpuops_xid_errors_total counter\n"
                   "gpuops_xid_errors_total{gpu=\"1\",xid=\"79\"} 2\n");
  cr_assert_str_eq(render(PROM_FMT_OPENMETRICS, own_counter),
                   "# HELP gpuops_xid_errors XIDs.\n# TYPE gpuops_xid_errors counter\n"
                   "gpuops_xid_errors_total{gpu=\"1\",xid=\"79\"} 2\n# EOF\n");
}

static void info(struct prom_writer *w) {
  prom_family(w, "gpuops_exporter_build_info", PROM_GAUGE, "Build.");
  prom_sample(w, "version=\"1\"", NULL, 1);
}

Test(promtext, build_info_is_an_info_family_in_openmetrics) {
  cr_assert(strstr(render(PROM_FMT_TEXT, info), "# TYPE gpuops_exporter_build_info gauge\n"));
  const char *om = render(PROM_FMT_OPENMETRICS, info);
  cr_assert(strstr(om, "# TYPE gpuops_exporter_build info\n"), "%s", om);
  cr_assert(strstr(om, "gpuops_exporter_build_info{version=\"1\"} 1\n"));
}

static void empty_family(struct prom_writer *w) {
  prom_family(w, "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION", PROM_COUNTER, "never sampled");
  prom_family(w, "g", PROM_GAUGE, NULL);
  prom_sample(w, NULL, NULL, 1);
}

Test(promtext, family_without_samples_writes_nothing) {
  cr_assert_str_eq(render(PROM_FMT_TEXT, empty_family), "# TYPE g gauge\ng 1\n");
}

static void help_escape(struct prom_writer *w) {
  prom_family(w, "h", PROM_GAUGE, "a\\b\nc \"q\"");
  prom_sample(w, NULL, NULL, 0);
}

Test(promtext, help_is_escaped_per_format) {
  cr_assert(strstr(render(PROM_FMT_TEXT, help_escape), "# HELP h a\\\\b\\nc \"q\"\n"));
  cr_assert(strstr(render(PROM_FMT_OPENMETRICS, help_escape), "# HELP h a\\\\b\\nc \\\"q\\\"\n"));
}

static void histogram(struct prom_writer *w) {
  static const double bounds[] = {0.001, 1};
  struct prom_histogram h;
  prom_histogram_init(&h, bounds, 2);
  prom_histogram_observe(&h, 0.0005);
  prom_histogram_observe(&h, 0.5);
  prom_histogram_observe(&h, 0.5);
  prom_histogram_observe(&h, 7);
  prom_histogram_write(w, "x_seconds", "X.", NULL, &h);
}

Test(promtext, histogram_buckets_are_cumulative) {
  cr_assert_str_eq(render(PROM_FMT_TEXT, histogram),
                   "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"
                   "x_seconds_bucket{le=\"0.001\"} 1\nx_seconds_bucket{le=\"1\"} 3\n"
                   "x_seconds_bucket{le=\"+Inf\"} 4\nx_seconds_sum 8.0005\nx_seconds_count 4\n");
  const char *om = render(PROM_FMT_OPENMETRICS, histogram);
  cr_assert(strstr(om, "x_seconds_bucket{le=\"1.0\"} 3\n"), "OpenMetrics le values are floats: %s",
            om);
  cr_assert(strstr(om, "# EOF\n"));
}

/* ---- negotiation ---- */

Test(promtext, accept_negotiation) {
  const char *prometheus =
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
  cr_assert_eq(prom_negotiate(prometheus), PROM_FMT_OPENMETRICS);
  cr_assert_eq(prom_negotiate("application/openmetrics-text"), PROM_FMT_OPENMETRICS);
  cr_assert_eq(prom_negotiate("Application/OpenMetrics-Text; version=1.0.0"), PROM_FMT_OPENMETRICS);
  cr_assert_eq(prom_negotiate(NULL), PROM_FMT_TEXT);
  cr_assert_eq(prom_negotiate(""), PROM_FMT_TEXT);
  cr_assert_eq(prom_negotiate("*/*"), PROM_FMT_TEXT);
  cr_assert_eq(prom_negotiate("text/plain;version=0.0.4"), PROM_FMT_TEXT);
  cr_assert_eq(prom_negotiate("application/openmetrics-text;q=0"), PROM_FMT_TEXT);
  cr_assert_eq(prom_negotiate("application/openmetrics-text;q=0.3, text/plain"), PROM_FMT_TEXT);
  cr_assert(strstr(prom_content_type(PROM_FMT_OPENMETRICS),
                   "application/openmetrics-text; version=1.0.0"));
  cr_assert(strstr(prom_content_type(PROM_FMT_TEXT), "text/plain; version=0.0.4"));
}
