/* test_report.c — dossier rendering: escaping, sections, simulated banner. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static char *render(const json_t *doc, int html) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  cr_assert_eq(html ? report_html(m, doc) : report_text(m, doc), 0);
  fclose(m);
  return buf;
}

static json_t *sample_doc(int simulated) {
  json_t *doc = json_pack("{s:s,s:s,s:b,s:s,s:[]}", "title", "gpuops dossier", "host", "h<1>", "simulated", simulated,
                          "note", "no NVML", "sections");
  json_t *s = report_section("devices", "Devices & health", "warn", "1 x H200 <&>");
  static const char *cols[] = {"GPU", "name"};
  json_t *rows = report_add_table(s, "t", cols, 2);
  json_array_append_new(rows, json_pack("[i,s]", 0, "<script>alert(1)</script>"));
  json_array_append_new(rows, json_pack("[n,s]", "x"));
  report_add_note(s, "XID %d seen", 79);
  json_array_append_new(json_object_get(doc, "sections"), s);
  return doc;
}

Test(report, html_escapes_everything_and_marks_simulation) {
  json_t *doc = sample_doc(1);
  char *html = render(doc, 1);
  cr_assert_null(strstr(html, "<script>"), "cell text must be escaped");
  cr_assert(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  cr_assert(strstr(html, "h&lt;1&gt;"));
  cr_assert(strstr(html, "1 x H200 &lt;&amp;&gt;"));
  cr_assert(strstr(html, "class=\"sim\""));
  cr_assert(strstr(html, "badge warn"));
  cr_assert(strstr(html, "XID 79 seen"));
  cr_assert(strstr(html, "<td>n/a</td>"), "null cells read n/a");
  free(html);
  json_decref(doc);
  doc = sample_doc(0);
  html = render(doc, 1);
  cr_assert_null(strstr(html, "class=\"sim\""), "real runs carry no simulation banner");
  free(html);
  json_decref(doc);
}

Test(report, text_has_status_marks_and_tables) {
  json_t *doc = sample_doc(1);
  char *txt = render(doc, 0);
  cr_assert(strstr(txt, "SIMULATED"));
  cr_assert(strstr(txt, "! Devices & health: 1 x H200 <&>"), "%s", txt);
  cr_assert(strstr(txt, "note: XID 79 seen"));
  free(txt);
  json_decref(doc);
}
