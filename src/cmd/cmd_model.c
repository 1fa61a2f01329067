/*
 * cmd_model.c — `gpuops model create|info|run`: model directories
 * (serve/model.h) made with random weights, described, and run through the
 * CPU runtime (serve/mlp_cpu.h) to check and time them.
 *
 * Sections: create; info; run; dispatch.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/rng.h"
#include "base/table.h"
#include "base/timeutil.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "serve/infer.h"
#include "serve/mlp_cpu.h"
#include "serve/model.h"

/* ---- create ---- */

/* "1024,4096,1024" into w[]; returns the count or a usage error (negative). */
static int parse_layers(const char *s, int *w) {
  int n = 0;
  const char *p = s;
  while (p && *p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || v < 1 || v > MODEL_MAX_WIDTH || n >= MODEL_MAX_LAYERS)
      return err_set(ERR_INVALID, "--layers '%s': need 2 to %d comma-separated widths in 1..%d", s,
                     MODEL_MAX_LAYERS, MODEL_MAX_WIDTH);
    w[n++] = (int)v;
    p = *end ? end + 1 : end;
  }
  if (n < 2) return err_set(ERR_INVALID, "--layers '%s': need at least 2 widths (input,output)", s);
  return n;
}

/* A test model (identity, sleep) from the create flags. */
static int create_test(const char *dir, const char *type, int width, const char *datatype,
                       int service_us, int per_row_us, int mbs) {
  enum st_dtype io;
  if (width < 1) return cli_usage_error("model create", "--type %s needs --width N (>= 1)", type);
  if (infer_dtype_parse(datatype, &io))
    return cli_usage_error("model create", "--datatype '%s': use a protocol datatype (FP32, FP16, INT8, ...)",
                           datatype);
  struct model_config cfg;
  int rc = model_config_test(&cfg, type, width, io, service_us, per_row_us);
  if (rc) return cli_fail("model create", rc);
  cfg.max_batch_size = mbs;
  if ((rc = model_create(dir, &cfg, 0))) return cli_fail("model create", rc);
  printf("wrote %s (%s, width %d, %s)\n", dir, type, width, datatype);
  return 0;
}

static int model_create_cmd(int argc, char **argv) {
  const char *type = "mlp", *layers = NULL, *dtype = "bf16", *datatype = "FP32";
  int seed = 1, mbs = 64, width = 0, service_us = 0, per_row_us = 0;
  const struct cli_option opts[] = {
      {"type", 0, CLI_ARG_STRING, &type, "TYPE",
       "mlp (default), or the test models identity (y = x) and sleep (y = x after a fixed time)"},
      {"layers", 0, CLI_ARG_STRING, &layers, "W0,W1,...", "mlp: widths: input, hidden..., output"},
      {"seed", 0, CLI_ARG_INT, &seed, "S", "mlp: random seed (default 1): same seed, same bytes"},
      {"dtype", 0, CLI_ARG_STRING, &dtype, "bf16|f32", "mlp: weight dtype (default bf16)"},
      {"width", 0, CLI_ARG_INT, &width, "N", "identity, sleep: columns of the input and output"},
      {"datatype", 0, CLI_ARG_STRING, &datatype, "DT", "identity, sleep: their datatype (default FP32)"},
      {"service-us", 0, CLI_ARG_INT, &service_us, "U", "sleep: time per batch (µs)"},
      {"per-row-us", 0, CLI_ARG_INT, &per_row_us, "U", "sleep: time per row on top (µs)"},
      {"max-batch-size", 0, CLI_ARG_INT, &mbs, "N",
       "max_batch_size written to config.json (default 64)"},
      {0}};
  const struct cli_spec spec = {
      "model create",
      "[--type mlp] --layers W0,W1,... | --type identity|sleep --width N  -o DIR [options]",
      "Write a model directory: an MLP with random weights (config.json + model.safetensors),\n"
      "weights ~ U(-1/sqrt(K), 1/sqrt(K)) as PyTorch's Linear initializes them; or a test model\n"
      "(config.json only) for the server's benchmarks and the load generator's tests.",
      CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (!c.output) return cli_usage_error("model create", "-o DIR is required");
  if (mbs < 1) return cli_usage_error("model create", "--max-batch-size must be >= 1");
  if (!strcmp(type, "identity") || !strcmp(type, "sleep"))
    return create_test(c.output, type, width, datatype, service_us, per_row_us, mbs);
  if (strcmp(type, "mlp"))
    return cli_usage_error("model create", "--type '%s': use mlp, identity or sleep", type);
  if (!layers) return cli_usage_error("model create", "--layers is required (e.g. 1024,4096,1024)");
  if (strcmp(dtype, "bf16") && strcmp(dtype, "f32"))
    return cli_usage_error("model create", "--dtype '%s': use bf16 or f32", dtype);
  int w[MODEL_MAX_LAYERS], n = parse_layers(layers, w);
  if (n < 0) return cli_fail("model create", n);
  struct model_config cfg;
  if ((rc = model_config_mlp(&cfg, w, n))) return cli_fail("model create", rc);
  cfg.dtype = strcmp(dtype, "bf16") ? ST_F32 : ST_BF16;
  cfg.max_batch_size = mbs;
  if ((rc = model_create(c.output, &cfg, (uint64_t)seed))) return cli_fail("model create", rc);
  printf("wrote %s (mlp %s, %s, seed %d)\n", c.output, layers, dtype, seed);
  return 0;
}

/* ---- info ---- */

static void print_config(const struct model *m) {
  const struct model_config *c = &m->config;
  printf(
      "model %s: type %s, activation %s (not after the last layer), dtype %s, max_batch_size %d\n",
      m->dir, c->type, c->activation, c->dtype == ST_BF16 ? "bf16" : "f32", c->max_batch_size);
  printf("layers:");
  for (int i = 0; i < c->n_widths; i++) printf("%s%d", i ? "," : " ", c->widths[i]);
  uint64_t p = model_params(m);
  printf("  (%llu parameters, %.1f MB of weights)\n\n", (unsigned long long)p,
         (double)p * (double)safetensors_dtype_size(c->dtype) / 1e6);
}

static int model_info_cmd(int argc, char **argv) {
  const struct cli_spec spec = {
      "model info",
      "DIR [--format table|json|csv]",
      "Show a model directory's config and its tensors (name, dtype, shape, bytes, offset).",
      CLI_FORMAT,
      NULL,
      1,
      1};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  struct model m;
  if ((rc = model_load(&m, argv[1]))) return cli_fail("model info", rc);
  static const char *const hdr[] = {"tensor", "dtype", "shape", "bytes", "offset"};
  struct table *t = table_new(5, hdr);
  for (int i = 0; i < m.st.n && t; i++) {
    const struct st_tensor *s = &m.st.tensors[i];
    char shape[128] = "[";
    for (int d = 0; d < s->ndim; d++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", d ? ", " : "",
               (unsigned long long)s->shape[d]);
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "]");
    char bytes[32], off[32];
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)(s->end - s->begin));
    snprintf(off, sizeof off, "%llu", (unsigned long long)s->begin);
    const char *cells[] = {s->name, safetensors_dtype_name(s->dtype), shape, bytes, off};
    table_add_row(t, cells);
  }
  if (!t)
    rc = err_set(ERR_NOMEM, "out of memory");
  else {
    if (c.format == TABLE_FMT_TABLE) print_config(&m);
    rc = table_write(t, stdout, c.format);
  }
  table_free(t);
  model_free(&m);
  return rc ? cli_fail("model info", rc) : 0;
}

/* ---- run ---- */

static int run_timed(struct mlp_cpu *r, const float *x, int batch, float *y, int iters,
                     double *mean_ms, double *min_ms) {
  int rc = mlp_cpu_run(r, x, batch, y); /* warm-up: page in the weights and scratch */
  *mean_ms = 0;
  *min_ms = INFINITY;
  for (int i = 0; i < iters && !rc; i++) {
    int64_t t0 = time_mono_ns();
    rc = mlp_cpu_run(r, x, batch, y);
    double ms = (double)(time_mono_ns() - t0) / 1e6;
    *mean_ms += ms / iters;
    if (ms < *min_ms) *min_ms = ms;
  }
  return rc;
}

/*
 * --input FILE: a KServe v2 infer request (JSON, FP32 input [B, in]) through the
 * plain double-precision reference, printed as the server's response would be:
 * the check the server's answers are compared with.
 */
static int run_request(const struct model *m, const char *path) {
  json_t *doc = NULL;
  char *text = NULL;
  struct infer_request q = {0};
  struct mlp_cpu r = {0};
  float *y = NULL;
  struct infer_buf b = {0};
  int rc = jsonio_load_file(path, &doc);
  if (rc) goto out;
  text = json_dumps(doc, JSON_COMPACT);
  if (!text) {
    rc = err_set(ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((rc = infer_request_parse(&q, text, strlen(text), -1))) goto out;
  const struct infer_tensor *x = &q.inputs[0];
  if (q.n_inputs != 1 || x->dtype != ST_F32 || x->ndim != 2 || x->shape[0] < 1 ||
      x->shape[1] != m->config.widths[0]) {
    rc = err_set(ERR_INVALID, "%s: need one FP32 input of shape [B, %d]", path, m->config.widths[0]);
    goto out;
  }
  int rows = (int)x->shape[0], nout = m->config.widths[m->config.n_widths - 1];
  if ((rc = mlp_cpu_init(&r, m, rows))) goto out;
  if (!(y = malloc(sizeof *y * (size_t)rows * (size_t)nout))) {
    rc = err_set(ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((rc = mlp_cpu_reference(&r, x->data, rows, y))) goto out;
  struct infer_tensor t = {.name = "OUTPUT0", .dtype = ST_F32, .ndim = 2, .data = y};
  t.shape[0] = rows, t.shape[1] = nout;
  t.numel = (uint64_t)rows * (uint64_t)nout, t.nbytes = t.numel * sizeof *y;
  bool binary = false;
  struct infer_response resp = {"reference", "1", q.id, 1, &t, &binary};
  size_t hlen;
  if (!(rc = infer_response_write(&b, &resp, &hlen))) printf("%s\n", b.p);
out:
  infer_buf_free(&b);
  free(y);
  mlp_cpu_free(&r);
  infer_request_free(&q);
  free(text);
  json_decref(doc);
  return rc;
}

static int model_run_cmd(int argc, char **argv) {
  int batch = 1, seed = 1, iters = 10;
  const char *input = NULL;
  const struct cli_option opts[] = {
      {"input", 0, CLI_ARG_STRING, &input, "FILE",
       "a KServe v2 infer request (JSON): print the reference's response instead"},
      {"batch", 0, CLI_ARG_INT, &batch, "B", "rows per batch (default 1)"},
      {"seed", 0, CLI_ARG_INT, &seed, "S", "seed of the random input ~ U(-1, 1) (default 1)"},
      {"iters", 0, CLI_ARG_INT, &iters, "N", "timed batches after one warm-up (default 10)"},
      {0}};
  const struct cli_spec spec = {
      "model run",
      "DIR [--batch B] [--seed S] [--iters N] | DIR --input REQUEST.json",
      "Run random input through the CPU runtime; print an output checksum and the time per "
      "batch.",
      0,
      opts,
      1,
      1};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (batch < 1 || batch > 1 << 20)
    return cli_usage_error("model run", "--batch must be in 1..%d", 1 << 20);
  if (iters < 1) return cli_usage_error("model run", "--iters must be >= 1");
  struct model m;
  struct mlp_cpu r = {0};
  float *x = NULL, *y = NULL;
  if ((rc = model_load(&m, argv[1]))) return cli_fail("model run", rc);
  if (!model_config_is_mlp(&m.config)) {
    rc = cli_usage_error("model run", "%s is a '%s' test model: serve it with gpuops serve",
                         argv[1], m.config.type);
    model_free(&m);
    return rc;
  }
  if (input) {
    rc = run_request(&m, input);
    model_free(&m);
    return rc ? cli_fail("model run", rc) : 0;
  }
  if ((rc = mlp_cpu_init(&r, &m, batch))) goto out;
  size_t nin = (size_t)batch * (size_t)r.widths[0],
         nout = (size_t)batch * (size_t)r.widths[r.n_layers];
  x = malloc(sizeof *x * nin);
  y = malloc(sizeof *y * nout);
  if (!x || !y) {
    rc = err_set(ERR_NOMEM, "out of memory for batch %d", batch);
    goto out;
  }
  struct rng g;
  rng_seed(&g, (uint64_t)seed);
  for (size_t i = 0; i < nin; i++) x[i] = (float)(2.0 * rng_uniform(&g) - 1.0);
  double mean_ms, min_ms, sum = 0, asum = 0;
  if ((rc = run_timed(&r, x, batch, y, iters, &mean_ms, &min_ms))) goto out;
  for (size_t i = 0; i < nout; i++) sum += y[i], asum += fabs(y[i]);
  printf("model %s: batch %d, %d layers, cpu fp32\n", argv[1], batch, r.n_layers);
  printf("checksum: sum %.9g, sum|y| %.9g\n", sum, asum);
  printf("time per batch: mean %.3f ms, min %.3f ms over %d batches (%.1f rows/s, %.2f GFLOP/s)\n",
         mean_ms, min_ms, iters, batch / (mean_ms / 1e3),
         2.0 * (double)model_params(&m) * batch / (mean_ms / 1e3) / 1e9);
out:
  free(x);
  free(y);
  mlp_cpu_free(&r);
  model_free(&m);
  return rc ? cli_fail("model run", rc) : 0;
}

/* ---- dispatch ---- */

int cmd_model(int argc, char **argv) {
  static const char *subs[] = {"create", "info", "run", NULL};
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *o = argc < 2 ? stderr : stdout;
    fprintf(o,
            "usage: gpuops model create|info|run [options]\n\n"
            "  create   write a random-weight model directory (config.json + model.safetensors)\n"
            "  info     show a model's config and tensors\n"
            "  run      run random input through the CPU runtime: checksum and time per batch\n");
    return argc < 2 ? EXIT_USAGE : 0;
  }
  if (!strcmp(argv[1], "create")) return model_create_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "info")) return model_info_cmd(argc - 1, argv + 1);
  if (!strcmp(argv[1], "run")) return model_run_cmd(argc - 1, argv + 1);
  const char *hint = cli_suggest(argv[1], subs);
  if (hint)
    return cli_usage_error("model", "unknown subcommand '%s' (did you mean '%s'?)", argv[1], hint);
  return cli_usage_error("model", "unknown subcommand '%s' (use create, info or run)", argv[1]);
}
