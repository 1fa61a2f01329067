/*
 * cmd_devices.c — `gpuops devices`: the GPUs this machine (or the simulated
 * node) has. One line per GPU like `nvidia-smi -L`; with --details every
 * static field and one sample; with --mig the MIG profiles and their
 * placements like `nvidia-smi mig -lgipp`; --format json carries everything.
 */
#define _GNU_SOURCE /* asprintf */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "gpu/gpujson.h"

struct devices_args {
  bool details, mig;
  int interval_ms; /* between the priming and the reported sample (GPM needs two) */
};

/* The line that says which backend answered (and why, after a fallback). */
static void backend_line(FILE *out, struct gpu_backend *b) {
  if (b->simulated)
    fprintf(out, "# backend: sim — SIMULATED GPUs%s%s\n", b->note[0] ? ": " : "", b->note);
  else
    fprintf(out, "# backend: %s\n", gpu_backend_name(b));
}

/* "{0,1,2,3,4,5,6}:1" as nvidia-smi prints placements. */
static void placements_text(const struct gpu_mig_profile *p, char *buf, size_t len) {
  size_t k = (size_t)snprintf(buf, len, "{");
  for (int i = 0; i < p->n_placements && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? "," : "", p->placements[i].start);
  if (k < len) snprintf(buf + k, len - k, "}:%d", p->placement_size);
}

static void print_mig_text(FILE *out, const json_t *dev) {
  int idx = (int)json_integer_value(json_object_get(dev, "index"));
  const json_t *profs = json_object_get(dev, "mig_profiles");
  if (!profs) {
    fprintf(out, "  MIG profiles: %s\n", json_string_value(json_object_get(dev, "mig_profiles_error")));
    return;
  }
  size_t i;
  const json_t *p;
  json_array_foreach(profs, i, p) {
    struct gpu_mig_profile gp = {0};
    const json_t *pl = json_object_get(p, "placements"), *e;
    size_t j;
    json_array_foreach(pl, j, e) {
      if (j >= CATALOG_MIG_MAX_STARTS) break;
      gp.placements[gp.n_placements++].start = (int)json_integer_value(json_object_get(e, "start"));
      gp.placement_size = (int)json_integer_value(json_object_get(e, "size"));
    }
    char text[64];
    placements_text(&gp, text, sizeof text);
    fprintf(out, "GPU %2d Profile ID %2d %-12s %d/%d instances, %6lld MiB, %3lld SMs, Placements: %s\n", idx,
            (int)json_integer_value(json_object_get(p, "id")), json_string_value(json_object_get(p, "name")),
            (int)json_integer_value(json_object_get(p, "max_instances")),
            (int)json_integer_value(json_object_get(p, "max_instances")),
            (long long)json_integer_value(json_object_get(p, "memory_mib")),
            (long long)json_integer_value(json_object_get(p, "sm_count")), text);
  }
  const json_t *inst = json_object_get(dev, "mig_instances");
  json_array_foreach(inst, i, p) {
    fprintf(out, "GPU %2d MIG instance %lld: %s at {%lld}:%lld\n", idx,
            (long long)json_integer_value(json_object_get(p, "gpu_instance_id")),
            json_string_value(json_object_get(p, "profile")), (long long)json_integer_value(json_object_get(p, "start")),
            (long long)json_integer_value(json_object_get(p, "size")));
  }
}

/* "key: value" for every field of an object, nested objects indented. */
static void print_kv(FILE *out, const json_t *obj, int indent) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (json_is_object(v)) {
      fprintf(out, "%*s%s:\n", indent, "", key);
      print_kv(out, v, indent + 2);
      continue;
    }
    if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0))) continue; /* MIG lists */
    char *text = NULL;
    if (json_is_real(v)) {
      if (asprintf(&text, "%.6g", json_real_value(v)) < 0) text = NULL;
    } else if (!json_is_null(v)) {
      text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    const char *shown = json_is_string(v) ? json_string_value(v) : text ? text : "n/a (not reported)";
    fprintf(out, "%*s%-32s %s\n", indent, "", key, shown);
    free(text);
  }
}

static void print_line(FILE *out, const json_t *dev) {
  const char *err = json_string_value(json_object_get(dev, "info_error"));
  int idx = (int)json_integer_value(json_object_get(dev, "index"));
  if (err) {
    fprintf(out, "GPU %d: error: %s\n", idx, err);
    return;
  }
  fprintf(out, "GPU %d: %s (UUID: %s)%s\n", idx, json_string_value(json_object_get(dev, "name")),
          json_string_value(json_object_get(dev, "uuid")),
          json_is_true(json_object_get(dev, "simulated")) ? " [simulated]" : "");
}

static int write_csv(FILE *out, const json_t *devs) {
  static const char *cols[] = {"index", "name", "uuid", "pci_bus_id", "memory_total_mib", "driver_version",
                               "simulated"};
  struct table *t = table_new(7, cols);
  if (!t) return err_set(ERR_NOMEM, "out of memory");
  size_t i;
  const json_t *d;
  json_array_foreach(devs, i, d) {
    table_add_rowf(t, "%lld|%s|%s|%s|%lld|%s|%s", (long long)json_integer_value(json_object_get(d, "index")),
                   json_string_value(json_object_get(d, "name")) ?: "", json_string_value(json_object_get(d, "uuid")) ?: "",
                   json_string_value(json_object_get(d, "pci_bus_id")) ?: "",
                   (long long)json_integer_value(json_object_get(d, "memory_total_mib")),
                   json_string_value(json_object_get(d, "driver_version")) ?: "",
                   json_is_true(json_object_get(d, "simulated")) ? "true" : "false");
  }
  int rc = table_write(t, out, TABLE_FMT_CSV);
  table_free(t);
  return rc;
}

static int write_table(FILE *out, struct gpu_backend *b, const json_t *devs, const struct devices_args *a) {
  backend_line(out, b);
  size_t i;
  const json_t *d;
  json_array_foreach(devs, i, d) {
    print_line(out, d);
    if (a->details) print_kv(out, d, 4);
    if (a->mig) print_mig_text(out, d);
  }
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}

int cmd_devices(int argc, char **argv) {
  struct devices_args a = {.interval_ms = 100};
  const struct cli_option opts[] = {
      {"details", 0, CLI_ARG_FLAG, &a.details, NULL, "every static field and one sample per GPU"},
      {"mig", 0, CLI_ARG_FLAG, &a.mig, NULL, "MIG profiles, placements and instances"},
      {"interval", 0, CLI_ARG_INT, &a.interval_ms, "MS",
       "sample twice this far apart so GPM metrics (SM/tensor/DRAM active) are valid (default 100; 0: once)"},
      {0}};
  const struct cli_spec spec = {"devices", "[--details] [--mig] [options]",
                                "List the GPUs: one line each (like nvidia-smi -L), or everything with --details / "
                                "--format json.\nWithout a usable GPU, auto falls back to simulated GPUs and says so.",
                                CLI_BACKEND | CLI_SPEC | CLI_NODE | CLI_FORMAT | CLI_OUTPUT, opts, 0, 0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;

  struct inventory inv;
  struct gpu_options go;
  struct gpu_backend *b = NULL;
  json_t *devs = NULL;
  FILE *out = NULL;
  bool close_out = false;
  rc = cli_gpu_options(&c, &inv, &go);
  if (rc < 0) goto out;
  go.allow_sim_fallback = true;
  rc = gpu_open(&go, &b);
  if (rc < 0) goto out;
  if (a.interval_ms < 0 || a.interval_ms > 60000) {
    rc = err_set(ERR_INVALID, "--interval must be 0..60000 ms, got %d", a.interval_ms);
    goto out;
  }
  bool sampled = a.details || c.format == TABLE_FMT_JSON;
  unsigned flags = (sampled ? GPUJSON_SAMPLE : 0) | (a.mig ? GPUJSON_MIG : 0);
  if ((rc = gpujson_devices(b, flags, a.interval_ms, &devs)) < 0) goto out;
  out = cli_output_open("devices", &c, &close_out);
  if (!out) {
    rc = err_set(ERR_IO, "cannot open output");
    goto out;
  }
  if (c.format == TABLE_FMT_JSON) {
    json_t *doc = json_pack("{s:s,s:b,s:o,s:O}", "backend", gpu_backend_name(b), "simulated", b->simulated,
                            "note", b->note[0] ? json_string(b->note) : json_null(), "gpus", devs);
    rc = jsonio_write(out, doc);
    json_decref(doc);
  } else if (c.format == TABLE_FMT_CSV) {
    if (b->simulated) fprintf(stderr, "gpuops devices: backend sim — SIMULATED GPUs\n");
    rc = write_csv(out, devs);
  } else {
    rc = write_table(out, b, devs, &a);
  }
  int crc = cli_output_close(out, close_out);
  if (rc == 0) rc = crc;
out:
  json_decref(devs);
  gpu_close(b);
  inventory_free(&inv);
  return rc < 0 ? cli_fail("devices", rc) : 0;
}
