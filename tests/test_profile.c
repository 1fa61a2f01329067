/*
 * test_profile.c — the profile capability on recorded activity fixtures
 * (tests/fixtures/profile/: overlapping streams with nested NVTX, a process
 * that forks, an empty run, a crashed run, truncated and corrupt files) and
 * on profiles built in the test: the record reader, summary, folded stacks,
 * flamegraph, trace (checked against the trace-event format), findings and
 * their thresholds, ncu CSV and roofline, the dossier section, and the
 * injection library's build.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "gpu/gpu.h"
#include "profile/dossier.h"
#include "profile/findings.h"
#include "profile/folded.h"
#include "profile/metrics.h"
#include "profile/outputs.h"
#include "profile/profile.h"
#include "profile/record.h"
#include "profile/summary.h"
#include "profile/trace.h"
#include "testutil.h"

#define W0 1796000000000000000LL /* wall_ns of the fixtures' headers */
#define US(x) (W0 + (int64_t)((x)*1000))

static void load(struct profile *p, const char *fixture_dir) {
  profile_init(p);
  int n = record_load_dir(p, testutil_fixture(fixture_dir));
  cr_assert_gt(n, 0, "%s: %s", fixture_dir, err_msg());
  profile_sort(p);
}

static char *capture_folded(const json_t *stacks) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  cr_assert_eq(folded_write(m, stacks), 0);
  fclose(m);
  return buf;
}

/* ---- the record reader ---- */
Test(profile_record, streams_fixture_reads_every_kind_on_the_wall_clock) {
  struct profile p;
  load(&p, "profile/streams");
  cr_assert_eq(p.n_procs, 1);
  cr_assert_eq(p.procs[0].pid, 100);
  cr_assert(p.procs[0].ended);
  cr_assert_eq(p.n_kernels, 3);
  cr_assert_eq(p.n_copies, 2); /* a memcpy and a memset */
  cr_assert_eq(p.n_syncs, 1);
  cr_assert_eq(p.n_apis, 5);
  cr_assert_eq(p.n_ranges, 4); /* three ranges and one instant mark */
  cr_assert_eq(p.kernels[0].s, US(50), "CUPTI time converted with the header's origin");
  cr_assert_str_eq(p.names[p.kernels[0].name], "matmul(float*, float*, int)", "demangled");
  cr_assert_eq(p.kernels[1].stream, 8u);
  cr_assert(p.copies[0].pageable);
  cr_assert_eq(p.copies[0].bytes, 1048576u);
  const struct prof_api *a = profile_api_by_corr(&p, 0, 3);
  cr_assert_not_null(a);
  cr_assert_eq(a->s, US(430));
  cr_assert_null(profile_api_by_corr(&p, 0, 99));
  cr_assert_eq(p.ranges[0].s, US(0));
  cr_assert_eq(p.ranges[0].e, US(1000), "train_step paired by id");
  cr_assert_str_eq(p.names[p.ranges[0].name], "train_step");
  profile_free(&p);
}

Test(profile_record, forked_process_writes_its_own_file) {
  struct profile p;
  load(&p, "profile/fork");
  cr_assert_eq(p.n_procs, 2);
  cr_assert_eq(p.procs[1].ppid, p.procs[0].pid);
  int child = 0;
  for (int i = 0; i < p.n_kernels; i++) child += p.kernels[i].proc == 1;
  cr_assert_eq(child, 2);
  profile_free(&p);
}

Test(profile_record, truncated_file_is_refused_naming_line_and_offset) {
  struct profile p;
  profile_init(&p);
  int rc = record_load_dir(&p, testutil_fixture("profile/truncated"));
  cr_assert_eq(rc, ERR_PARSE);
  cr_assert(strstr(err_msg(), "rec.300.jsonl:3 (byte 288)"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "truncated"), "%s", err_msg());
  profile_free(&p);
}

Test(profile_record, corrupt_line_is_refused_with_its_line) {
  struct profile p;
  profile_init(&p);
  cr_assert_eq(record_load_dir(&p, testutil_fixture("profile/corrupt")), ERR_PARSE);
  cr_assert(strstr(err_msg(), "rec.400.jsonl:3"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "not a JSON object"), "%s", err_msg());
  profile_free(&p);
}

static int load_text(const char *text) {
  struct profile p;
  profile_init(&p);
  int rc = record_load_buf(&p, text, strlen(text), "x.jsonl");
  profile_free(&p);
  return rc;
}

#define HDR "{\"gpuops_profile\":1,\"pid\":1,\"ppid\":0,\"cupti_ns\":0,\"wall_ns\":0}\n"

Test(profile_record, bad_records_are_named) {
  cr_assert_eq(load_text("{\"gpuops_profile\":2,\"pid\":1,\"ppid\":0,\"cupti_ns\":0,\"wall_ns\":0}\n"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "unsupported record format version 2"), "%s", err_msg());
  cr_assert_eq(load_text("{\"k\":\"kernel\"}\n"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "no header line"), "%s", err_msg());
  cr_assert_eq(load_text(HDR "{\"k\":\"kernel\",\"name\":\"a\",\"s\":5,\"e\":9}\n"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "x.jsonl:2") && strstr(err_msg(), "field: dev"), "%s", err_msg());
  cr_assert_eq(load_text(HDR "{\"k\":\"memcpy\",\"kind\":\"HtoD\",\"bytes\":1,\"src\":\"pinned\",\"dst\":\"device\","
                             "\"s\":9,\"e\":5,\"dev\":0,\"ctx\":0,\"str\":0,\"corr\":0}\n"),
               ERR_PARSE);
  cr_assert(strstr(err_msg(), "end before start"), "%s", err_msg());
  cr_assert_eq(load_text(HDR "{\"k\":\"warp\"}\n"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "unknown record kind: warp"), "%s", err_msg());
  cr_assert_eq(load_text(""), ERR_PARSE);
  cr_assert_eq(load_text(HDR), 0, "a header alone is an empty run, not an error");
}

Test(profile_record, crashed_run_keeps_what_was_flushed_and_says_so) {
  struct profile p;
  load(&p, "profile/crashed");
  cr_assert_eq(p.n_kernels, 3);
  cr_assert(p.procs[0].ended);
  cr_assert_eq(p.procs[0].signal, 11);
  cr_assert_not(p.procs[1].ended);
  bool noted = false;
  for (int i = 0; i < p.n_notes; i++) noted |= strstr(p.notes[i], "no end record: process 501") != NULL;
  cr_assert(noted);
  cr_assert_eq(p.ranges[0].e, US(40), "an open range ends at the process's last record");
  profile_free(&p);
}

Test(profile_record, demangles_cpp_names_and_keeps_others) {
  char buf[256];
  cr_assert_str_eq(profile_demangle("_Z6matmulPfS_i", buf, sizeof buf), "matmul(float*, float*, int)");
  cr_assert_str_eq(profile_demangle("relu_kernel", buf, sizeof buf), "relu_kernel");
  cr_assert_str_eq(profile_demangle("_Znot-mangled", buf, sizeof buf), "_Znot-mangled");
}

/* ---- the summary ---- */
Test(profile_summary, overlapping_streams) {
  struct profile p;
  struct summary s;
  load(&p, "profile/streams");
  cr_assert_eq(summary_compute(&p, &s), 0);
  cr_assert_eq(s.launches, 3);
  cr_assert_eq(s.n_kernels, 2);
  cr_assert_str_eq(p.names[s.kernels[0].name], "matmul(float*, float*, int)");
  cr_assert_eq(s.kernels[0].calls, 2);
  cr_assert_eq(s.kernels[0].total_ns, 600000);
  cr_assert_eq(s.kernels[0].min_ns, 250000);
  cr_assert_eq(s.kernels[0].max_ns, 350000);
  cr_assert_float_eq(s.kernels[0].share, 600.0 / 700.0, 1e-9);
  /* relu (100..200) runs inside matmul (50..300) on another stream: counted once in busy time */
  cr_assert_eq(s.window_s, US(6));
  cr_assert_eq(s.window_e, US(806));
  cr_assert_eq(s.busy_ns, 40000 + 250000 + 350000 + 1000);
  cr_assert_eq(s.idle_ns, 800000 - s.busy_ns);
  cr_assert_eq(s.copies[PROF_HTOD].count, 1);
  cr_assert_eq(s.copies[PROF_HTOD].pageable, 1);
  cr_assert_float_eq(s.copies[PROF_HTOD].gbps, 1048576.0 / 40000.0, 1e-9);
  cr_assert_eq(s.copy_overlap_ns, 0, "the copy ends before the first kernel starts");
  cr_assert_eq(s.launch_calls, 3);
  cr_assert_eq(s.launch_ns, 5000 + 4000 + 6000);
  cr_assert_eq(s.sync_calls, 1);
  cr_assert_eq(s.sync_records, 1);
  cr_assert_eq(s.tiny_launches, 0);
  cr_assert(s.have_nvtx);
  cr_assert_eq(s.nvtx_ns, 1000000, "train_step holds every other range");
  cr_assert_eq(s.nvtx_busy_ns, s.busy_ns, "all GPU work is inside train_step");
  json_t *f = findings_evaluate(&p, &s);
  cr_assert_eq(json_array_size(f), 1);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(f, 0), "id")), "gpu_idle");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(f, 0), "data"), "window")),
                   "nvtx_ranges", "idle inside the ranges (35.9%), not in the active window (19.9%)");
  json_decref(f);
  json_t *j = summary_json(&p, &s, 10);
  cr_assert_eq(json_array_size(json_object_get(j, "kernels")), 2);
  cr_assert_float_eq(json_real_value(json_object_get(json_object_get(j, "gpu_window"), "busy_ms")), 0.641, 1e-9);
  json_decref(j);
  summary_free(&s);
  profile_free(&p);
}

Test(profile_summary, empty_run_has_no_window) {
  struct profile p;
  struct summary s;
  load(&p, "profile/empty");
  cr_assert_eq(summary_compute(&p, &s), 0);
  cr_assert_not(s.have_window);
  cr_assert_eq(s.launches, 0);
  json_t *j = summary_json(&p, &s, 10);
  cr_assert(json_is_null(json_object_get(j, "gpu_window")));
  json_decref(j);
  summary_free(&s);
  profile_free(&p);
}

/* ---- folded stacks and the flamegraph ---- */
Test(profile_folded, nvtx_path_with_kernel_leaf_weighted_by_gpu_time) {
  struct profile p;
  load(&p, "profile/streams");
  json_t *st = folded_stacks(&p);
  char *text = capture_folded(st);
  cr_assert_str_eq(text, "train [100];train_step;backward;matmul(float*, float*, int) 350000\n"
                         "train [100];train_step;forward;matmul(float*, float*, int) 250000\n"
                         "train [100];train_step;forward;relu 100000\n");
  free(text);
  json_decref(st);
  profile_free(&p);
}

Test(profile_folded, forked_processes_are_separate_roots) {
  struct profile p;
  load(&p, "profile/fork");
  json_t *st = folded_stacks(&p);
  char *text = capture_folded(st);
  cr_assert_str_eq(text, "launcher [100];parent_kernel 100000\nworker [101];child_kernel 150000\n");
  free(text);
  json_decref(st);
  profile_free(&p);
}

Test(profile_folded, without_api_records_ranges_open_at_kernel_start_are_used) {
  struct profile p;
  load(&p, "profile/crashed");
  json_t *st = folded_stacks(&p);
  cr_assert_eq(json_integer_value(json_object_get(st, "crasher [500];loop;k")), 20000);
  json_decref(st);
  profile_free(&p);
}

Test(profile_folded, launch_from_a_worker_thread_takes_the_waiting_threads_ranges) {
  /* PyTorch's autograd: the main thread (11) waits in "backward" while a worker (12) launches. */
  struct profile p;
  profile_init(&p);
  int proc = profile_add_process(&p, 9);
  snprintf(p.procs[proc].exe, sizeof p.procs[proc].exe, "/usr/bin/python3");
  struct prof_range step = {.name = profile_name(&p, "step", false), .s = 0, .e = 1000, .tid = 11};
  struct prof_range bwd = {.name = profile_name(&p, "backward", false), .s = 100, .e = 900, .tid = 11};
  struct prof_api own = {.name = profile_name(&p, "cudaLaunchKernel", false), .s = 50, .e = 60, .tid = 11, .corr = 1};
  struct prof_api worker = {.name = own.name, .s = 200, .e = 210, .tid = 12, .corr = 2};
  struct prof_kernel k1 = {.name = profile_name(&p, "fwd", false), .s = 70, .e = 90, .corr = 1};
  struct prof_kernel k2 = {.name = profile_name(&p, "grad", false), .s = 300, .e = 400, .corr = 2};
  profile_add_range(&p, &step);
  profile_add_range(&p, &bwd);
  profile_add_api(&p, &own);
  profile_add_api(&p, &worker);
  profile_add_kernel(&p, &k1);
  profile_add_kernel(&p, &k2);
  profile_sort(&p);
  json_t *st = folded_stacks(&p);
  char *text = capture_folded(st);
  cr_assert_str_eq(text, "python3 [9];step;backward;grad 100\npython3 [9];step;fwd 20\n");
  free(text);
  json_decref(st);
  profile_free(&p);
}

static char *flamegraph(const json_t *stacks) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  cr_assert_eq(folded_flamegraph(m, stacks, "t"), 0);
  fclose(m);
  return buf;
}

Test(profile_folded, flamegraph_widths_names_and_titles) {
  json_t *st = json_pack("{s:I,s:I}", "app;step;big", (json_int_t)3000000, "app;small", (json_int_t)1000000);
  char *svg = flamegraph(st);
  cr_assert(strstr(svg, "<svg"));
  cr_assert(strstr(svg, "<title>app — 4.000 ms (100.00%)</title>"), "%s", svg);
  cr_assert(strstr(svg, "<title>big — 3.000 ms (75.00%)</title>"));
  cr_assert(strstr(svg, "<title>small — 1.000 ms (25.00%)</title>"));
  /* 1180 px of frames: big is 885 wide, small 295 */
  cr_assert(strstr(svg, "width=\"885.00\""), "big's width by time");
  cr_assert(strstr(svg, "width=\"295.00\""), "small's width by time");
  cr_assert(strstr(svg, ">big</text>"), "names drawn where they fit");
  free(svg);
  json_decref(st);
  json_t *none = json_object();
  svg = flamegraph(none);
  cr_assert(strstr(svg, "no kernel ran"));
  free(svg);
  json_decref(none);
}

/* ---- the trace ---- */
static int count_ph(const json_t *doc, const char *ph, const char *name) {
  int n = 0;
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(doc, "traceEvents"), i, e) {
    if (strcmp(json_string_value(json_object_get(e, "ph")), ph)) continue;
    if (name) {
      const json_t *nm = json_object_get(e, "name");
      const json_t *args = json_object_get(e, "args");
      if (!(json_is_string(nm) && !strcmp(json_string_value(nm), name)) &&
          !(json_is_string(json_object_get(args, "name")) && !strcmp(json_string_value(json_object_get(args, "name")), name)))
        continue;
    }
    n++;
  }
  return n;
}

Test(profile_trace, streams_trace_is_valid_and_has_every_track) {
  struct profile p;
  load(&p, "profile/streams");
  struct prof_sample smp = {.t = US(500), .dev = 0, .valid = 1u << PROF_C_SM_CLOCK};
  smp.v[PROF_C_SM_CLOCK] = 1980;
  profile_add_sample(&p, &smp);
  profile_sort(&p);
  json_t *doc = trace_build(&p);
  int n = trace_check(doc);
  cr_assert_gt(n, 0, "%s", err_msg());
  cr_assert_eq(count_ph(doc, "X", "matmul(float*, float*, int)"), 2);
  cr_assert_eq(count_ph(doc, "B", NULL), 3, "push/pop ranges as B/E");
  cr_assert_eq(count_ph(doc, "E", NULL), 3);
  cr_assert_eq(count_ph(doc, "M", "stream 7"), 1);
  cr_assert_eq(count_ph(doc, "M", "stream 8"), 1);
  cr_assert_eq(count_ph(doc, "M", "train [100]"), 1);
  cr_assert_eq(count_ph(doc, "M", "thread 11"), 1);
  cr_assert_eq(count_ph(doc, "X", "cudaLaunchKernel"), 3, "API calls on the host thread");
  cr_assert_eq(count_ph(doc, "i", "checkpoint"), 1);
  cr_assert_eq(count_ph(doc, "C", "SM clock MHz"), 1);
  cr_assert_eq(count_ph(doc, "X", "memcpy HtoD (pageable)"), 1);
  /* the first matmul starts 50 us after the run's first event (train_step at 0) */
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(doc, "traceEvents"), i, e) {
    const char *nm = json_string_value(json_object_get(e, "name"));
    if (nm && !strcmp(nm, "relu")) {
      cr_assert_float_eq(json_number_value(json_object_get(e, "ts")), 100.0, 1e-9);
      cr_assert_float_eq(json_number_value(json_object_get(e, "dur")), 100.0, 1e-9);
      cr_assert_eq(json_integer_value(json_object_get(e, "pid")), TRACE_GPU_PID);
      cr_assert_eq(json_integer_value(json_object_get(e, "tid")), 8);
    }
  }
  json_decref(doc);
  profile_free(&p);
}

Test(profile_trace, overlapping_start_end_ranges_stay_valid) {
  struct profile p;
  profile_init(&p);
  profile_add_process(&p, 7);
  int a = profile_name(&p, "a", false), b = profile_name(&p, "b", false);
  struct prof_range r1 = {.name = a, .s = 100, .e = 300, .tid = 1}, r2 = {.name = b, .s = 200, .e = 400, .tid = 1};
  profile_add_range(&p, &r1);
  profile_add_range(&p, &r2);
  profile_sort(&p);
  json_t *doc = trace_build(&p);
  cr_assert_gt(trace_check(doc), 0, "%s", err_msg());
  cr_assert_eq(count_ph(doc, "B", NULL), 1);
  cr_assert_eq(count_ph(doc, "X", "b"), 1, "a range that does not nest becomes a complete event");
  json_decref(doc);
  profile_free(&p);
}

Test(profile_trace, forked_and_empty_traces_are_valid) {
  const char *dirs[] = {"profile/fork", "profile/empty", "profile/crashed"};
  for (int k = 0; k < 3; k++) {
    struct profile p;
    load(&p, dirs[k]);
    json_t *doc = trace_build(&p);
    cr_assert_geq(trace_check(doc), 0, "%s: %s", dirs[k], err_msg());
    json_decref(doc);
    profile_free(&p);
  }
}

static int check_text(const char *text) {
  json_error_t je;
  json_t *doc = json_loads(text, 0, &je);
  cr_assert_not_null(doc, "%s: %s", text, je.text);
  int rc = trace_check(doc);
  json_decref(doc);
  return rc;
}

Test(profile_trace, checker_rejects_what_the_format_forbids) {
  cr_assert_eq(check_text("{\"traceEvents\":[]}"), 0);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":1}]"), 1, "bare array");
  cr_assert_eq(check_text("{\"events\":[]}"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"Q\",\"pid\":1,\"tid\":1,\"ts\":0}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0}]"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "event 0: X without"), "%s", err_msg());
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":-1}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"X\",\"tid\":1,\"ts\":0,\"dur\":1}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":\"0\",\"dur\":1}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"c\",\"ph\":\"C\",\"pid\":1,\"ts\":0,\"args\":{\"v\":\"x\"}}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"c\",\"ph\":\"C\",\"pid\":1,\"ts\":0,\"args\":{\"v\":2}}]"), 1);
  cr_assert_eq(check_text("[{\"name\":\"bogus\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{}}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{}}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"i\",\"ph\":\"i\",\"pid\":1,\"tid\":0,\"ts\":0,\"s\":\"x\"}]"), ERR_PARSE);
  /* B/E matching per (pid, tid), in time order */
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":0}]"), ERR_PARSE);
  cr_assert(strstr(err_msg(), "B never ended: a"), "%s", err_msg());
  cr_assert_eq(check_text("[{\"ph\":\"E\",\"pid\":1,\"tid\":1,\"ts\":0}]"), ERR_PARSE);
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":0},"
                          "{\"ph\":\"E\",\"pid\":1,\"tid\":2,\"ts\":1}]"),
               ERR_PARSE, "an E on another thread closes nothing");
  cr_assert_eq(check_text("[{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":0},"
                          "{\"name\":\"b\",\"ph\":\"E\",\"pid\":1,\"tid\":1,\"ts\":1}]"),
               ERR_PARSE);
  cr_assert_eq(check_text("[{\"ph\":\"E\",\"pid\":1,\"tid\":1,\"ts\":5},"
                          "{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":1}]"),
               2, "file order does not matter, time order does");
}

/* ---- findings ---- */
static bool has(const json_t *findings, const char *id) {
  size_t i;
  const json_t *f;
  json_array_foreach(findings, i, f) if (!strcmp(json_string_value(json_object_get(f, "id")), id)) return true;
  return false;
}

static json_t *evaluate(struct profile *p) {
  struct summary s;
  profile_sort(p);
  cr_assert_eq(summary_compute(p, &s), 0);
  json_t *f = findings_evaluate(p, &s);
  summary_free(&s);
  return f;
}

/* n kernels of dur_ns, one every period_ns. */
static void kernels(struct profile *p, const char *name, int n, int64_t dur_ns, int64_t period_ns) {
  int id = profile_name(p, name, false);
  for (int i = 0; i < n; i++) {
    struct prof_kernel k = {.name = id, .s = i * period_ns, .e = i * period_ns + dur_ns, .stream = 7};
    profile_add_kernel(p, &k);
  }
}

Test(profile_findings, tiny_kernels_and_idle_gpu) {
  struct profile p;
  profile_init(&p);
  profile_add_process(&p, 1);
  kernels(&p, "tiny", FINDINGS_TINY_MIN, 5000, 20000); /* 5 us every 20 us: about 75% idle */
  json_t *f = evaluate(&p);
  cr_assert(has(f, "tiny_kernels"));
  cr_assert(has(f, "gpu_idle"));
  cr_assert_not(has(f, "pageable_copies"));
  cr_assert(strstr(json_string_value(json_object_get(json_array_get(f, 0), "evidence")), "idle 74.8%"), "1485 us of gaps in a 1985 us window");
  json_decref(f);
  profile_free(&p);
  profile_init(&p);
  profile_add_process(&p, 1);
  kernels(&p, "tiny", FINDINGS_TINY_MIN - 1, 5000, 5000); /* one short of the count, and back to back */
  f = evaluate(&p);
  cr_assert_not(has(f, "tiny_kernels"), "below the threshold");
  cr_assert_not(has(f, "gpu_idle"));
  json_decref(f);
  profile_free(&p);
}

Test(profile_findings, pageable_copies_serialising_with_compute) {
  struct profile p;
  profile_init(&p);
  profile_add_process(&p, 1);
  kernels(&p, "step", 12, 50000, 100000);
  for (int i = 0; i < FINDINGS_PAGEABLE_MIN + 2; i++) {
    struct prof_copy c = {.kind = PROF_HTOD, .bytes = 1 << 20, .pageable = true, .s = i * 100000 + 50000,
                          .e = i * 100000 + 100000};
    profile_add_copy(&p, &c);
  }
  json_t *f = evaluate(&p);
  cr_assert(has(f, "pageable_copies"));
  cr_assert(has(f, "copy_serialised"));
  cr_assert_not(has(f, "dominant_kernel"), "0.6 ms of kernels: under the 1 ms floor of that rule");
  json_decref(f);
  profile_free(&p);
}

Test(profile_findings, pinned_overlapped_copies_raise_nothing) {
  struct profile p;
  profile_init(&p);
  profile_add_process(&p, 1);
  kernels(&p, "step", 12, 100000, 100000);
  for (int i = 0; i < 12; i++) {
    struct prof_copy c = {.kind = PROF_HTOD, .bytes = 1 << 20, .s = i * 100000 + 10000, .e = i * 100000 + 60000};
    profile_add_copy(&p, &c);
  }
  json_t *f = evaluate(&p);
  cr_assert_not(has(f, "pageable_copies"));
  cr_assert_not(has(f, "copy_serialised"), "copies under kernels overlap");
  cr_assert_not(has(f, "gpu_idle"));
  json_decref(f);
  profile_free(&p);
}

static void sample(struct profile *p, int64_t t, double util, double mhz, uint64_t reasons) {
  struct prof_sample s = {.t = t, .valid = (1u << PROF_C_UTIL) | (1u << PROF_C_SM_CLOCK), .have_reasons = true,
                          .clock_reasons = reasons};
  s.v[PROF_C_UTIL] = util;
  s.v[PROF_C_SM_CLOCK] = mhz;
  profile_add_sample(p, &s);
}

Test(profile_findings, clocks_dropping_under_load_with_reasons) {
  struct profile p;
  profile_init(&p);
  sample(&p, 1, 100, 1980, 0);
  sample(&p, 2, 100, 1600, GPU_CLOCK_REASON_SW_POWER_CAP);
  sample(&p, 3, 0, 345, GPU_CLOCK_REASON_GPU_IDLE); /* idle: a low clock is no finding */
  json_t *f = evaluate(&p);
  cr_assert(has(f, "clock_drop"));
  const char *ev = json_string_value(json_object_get(json_array_get(f, 0), "evidence"));
  cr_assert(strstr(ev, "1600 MHz") && strstr(ev, "sw_power_cap"), "%s", ev);
  json_decref(f);
  profile_free(&p);
  profile_init(&p);
  sample(&p, 1, 100, 1980, 0);
  sample(&p, 2, 100, 1800, 0); /* 9%: under the threshold */
  sample(&p, 3, 0, 345, GPU_CLOCK_REASON_GPU_IDLE);
  f = evaluate(&p);
  cr_assert_not(has(f, "clock_drop"));
  json_decref(f);
  profile_free(&p);
}

Test(profile_findings, one_kernel_dominating_points_at_metrics) {
  struct profile p;
  profile_init(&p);
  profile_add_process(&p, 1);
  kernels(&p, "gemm", 10, 900000, 1000000);
  kernels(&p, "other", 10, 50000, 1000000);
  json_t *f = evaluate(&p);
  cr_assert(has(f, "dominant_kernel"));
  size_t i;
  const json_t *x;
  json_array_foreach(f, i, x) if (!strcmp(json_string_value(json_object_get(x, "id")), "dominant_kernel")) {
    cr_assert(strstr(json_string_value(json_object_get(x, "remediation")), "--metrics"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(x, "data"), "kernel")), "gemm");
  }
  json_decref(f);
  profile_free(&p);
}

Test(profile_findings, empty_run_finds_nothing) {
  struct profile p;
  load(&p, "profile/empty");
  json_t *f = evaluate(&p);
  cr_assert_eq(json_array_size(f), 0);
  json_decref(f);
  profile_free(&p);
}

/* ---- metrics ---- */
Test(profile_metrics, ncu_raw_csv_and_roofline) {
  FILE *fp = fopen(testutil_fixture("profile/ncu-raw.csv"), "r");
  cr_assert_not_null(fp);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  json_t *k = json_array();
  cr_assert_eq(metrics_parse_csv(buf, n, k), 0, "%s", err_msg());
  cr_assert_eq(json_array_size(k), 1, "one kernel; the units row is skipped");
  json_t *one = json_array_get(k, 0);
  cr_assert_str_eq(json_string_value(json_object_get(one, "kernel")), "matmul(float *, float *, int)");
  metrics_derive(one);
  /* 1e6 fadd + 1e6 fmul + 2 * 4e6 ffma = 1e7 FLOP over 2e6 bytes in 10 us */
  cr_assert_float_eq(json_number_value(json_object_get(one, "flops")), 1e7, 1e-3);
  cr_assert_float_eq(json_number_value(json_object_get(one, "intensity")), 5.0, 1e-9);
  cr_assert_float_eq(json_number_value(json_object_get(one, "flops_per_s")), 1e12, 1);
  cr_assert_float_eq(json_number_value(json_object_get(one, "dram_gbps")), 200.0, 1e-9);
  cr_assert_float_eq(json_number_value(json_object_get(one, "local_memory_bytes")), 128.0, 1e-9);
  struct metrics_ceilings c;
  char path[1024];
  snprintf(path, sizeof path, "%s/bench/h200.json", getenv("GPUOPS_SOURCE_DIR"));
  cr_assert_eq(metrics_ceilings_load(path, &c), 0, "%s", err_msg());
  /* the copy ceiling as the stored baseline has it: bytes over median seconds */
  json_error_t jerr;
  json_t *bj = json_load_file(path, 0, &jerr), *ce, *cv;
  cr_assert_not_null(bj, "%s", jerr.text);
  double want_bps = 0;
  size_t ci;
  json_array_foreach(json_object_get(bj, "ceilings"), ci, ce) {
    if (strcmp(json_string_value(json_object_get(ce, "name")), "copy")) continue;
    cv = json_object_get(json_object_get(ce, "stats"), "median_ms");
    want_bps = json_number_value(json_object_get(ce, "bytes")) / (json_number_value(cv) * 1e-3);
  }
  json_decref(bj);
  cr_assert_gt(want_bps, 1e12, "bench/h200.json has a copy ceiling");
  cr_assert_float_eq(c.bytes_per_s, want_bps, 1e3);
  cr_assert_float_eq(c.flops_per_s, METRICS_DEFAULT_FLOPS, 1);
  char *svg = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&svg, &len);
  cr_assert_eq(metrics_roofline(m, k, &c), 0);
  fclose(m);
  char mem_label[64];
  snprintf(mem_label, sizeof mem_label, "memory %.0f GB/s", want_bps * 1e-9);
  cr_assert(strstr(svg, mem_label), "%s not in the roofline", mem_label);
  cr_assert(strstr(svg, "compute 50.6 TFLOP/s"));
  cr_assert(strstr(svg, "<title>matmul(float *, float *, int): 5 FLOP/B, 1 TFLOP/s, 200.0 GB/s</title>"), "%s", svg);
  free(svg);
  json_decref(k);
  json_t *none = json_array();
  cr_assert_eq(metrics_parse_csv("\"ID\",\"x\"\n\"1\",\"2\"\n", 20, none), ERR_PARSE, "no Kernel Name column");
  json_decref(none);
}

Test(profile_record, nvml_samples_round_trip_and_bad_files_are_named) {
  char dir[64], path[128];
  testutil_tmpdir(dir, sizeof dir, "profile");
  snprintf(path, sizeof path, "%s/nvml-samples.json", dir);
  struct profile p, q;
  profile_init(&p);
  snprintf(p.gpu_name, sizeof p.gpu_name, "NVIDIA H200");
  struct prof_sample a = {.t = 5, .dev = 0, .valid = 1u << PROF_C_POWER, .have_reasons = true, .clock_reasons = 4};
  a.v[PROF_C_POWER] = 650.5;
  profile_add_sample(&p, &a);
  cr_assert_eq(record_save_samples(&p, path), 0);
  profile_init(&q);
  cr_assert_eq(record_load_samples(&q, path), 0, "%s", err_msg());
  cr_assert_eq(q.n_samples, 1);
  cr_assert_eq(q.samples[0].valid, 1u << PROF_C_POWER, "missing values stay missing");
  cr_assert_float_eq(q.samples[0].v[PROF_C_POWER], 650.5, 1e-9);
  cr_assert_eq(q.samples[0].clock_reasons, 4u);
  cr_assert_str_eq(q.gpu_name, "NVIDIA H200");
  FILE *f = fopen(path, "w");
  fputs("{\"gpuops_nvml_samples\":1,\"samples\":[[1,2]]}", f);
  fclose(f);
  cr_assert_eq(record_load_samples(&q, path), ERR_PARSE);
  cr_assert(strstr(err_msg(), "samples[0]"), "%s", err_msg());
  snprintf(path, sizeof path, "%s/absent.json", dir);
  cr_assert_eq(record_load_samples(&q, path), 0, "no samples file: nothing to add");
  profile_free(&p);
  profile_free(&q);
  testutil_rmrf(dir);
}

/* ---- the folder and the dossier section ---- */
Test(profile_outputs, folder_and_dossier_section) {
  char dir[64];
  testutil_tmpdir(dir, sizeof dir, "profile");
  struct profile p;
  load(&p, "profile/streams");
  cr_assert_eq(outputs_write(dir, &p, NULL), 0, "%s", err_msg());
  const char *files[] = {"trace.json", "summary.json", "summary.txt", "stacks.folded", "flamegraph.svg",
                         "findings.json", "findings.txt"};
  char path[256];
  for (int i = 0; i < 7; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    fclose(f);
  }
  json_t *trace = NULL;
  snprintf(path, sizeof path, "%s/trace.json", dir);
  cr_assert_eq(jsonio_load_file(path, &trace), 0);
  cr_assert_gt(trace_check(trace), 0, "the written file checks too: %s", err_msg());
  json_decref(trace);
  json_t *sec = profile_dossier_section(dir);
  cr_assert_str_eq(json_string_value(json_object_get(sec, "status")), "warn", "the streams run has a finding (idle)");
  const char *svg = json_string_value(json_object_get(json_array_get(json_object_get(sec, "figures"), 0), "svg"));
  cr_assert(svg && !strncmp(svg, "<svg", 4));
  json_decref(sec);
  sec = profile_dossier_section("/nonexistent/profile");
  cr_assert_str_eq(json_string_value(json_object_get(sec, "status")), "fail");
  json_decref(sec);
  profile_free(&p);
  testutil_rmrf(dir);
}

/* ---- the injection library ---- */
Test(profile_inject, library_is_built_and_exports_the_entry_point) {
  char path[1024];
  snprintf(path, sizeof path, "%s/libgpuops_inject.so", getenv("GPUOPS_BUILD_DIR"));
  FILE *f = fopen(path, "r");
  if (!f) TEST_SKIP_OR_FAIL("%s not built (no CUPTI headers: install the CUDA toolkit)", path);
  fclose(f);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  cr_assert_not_null(h, "it loads without CUDA (libcupti is dlopen()ed later): %s", dlerror());
  cr_assert_not_null(dlsym(h, "InitializeInjection"));
  cr_assert_null(dlsym(h, "buffer_completed"), "everything else is hidden");
  dlclose(h);
}
