/*
 * cli.c — option parsing, help text, errors and output for every subcommand.
 * Sections: suggestions; help; parsing; errors; output; GPU options.
 */
#include "cmd/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

/* ---- suggestions (edit distance) ---- */
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
  return d[la][lb];
}

const char *cli_suggest(const char *word, const char *const *candidates) {
  const char *best = NULL;
  int best_d = 3; /* suggest only near misses */
  for (int i = 0; candidates[i]; i++) {
    int d = edit_distance(word, candidates[i]);
    if (d < best_d || (strncmp(word, candidates[i], strlen(word)) == 0 && d < 6 && !best)) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best;
}

/* ---- the common options, as a table like a command's own ---- */
struct common_def {
  unsigned flag;
  const char *name;
  char short_name;
  const char *metavar;
  const char *help;
};
static const struct common_def common_defs[] = {
    {CLI_BACKEND, "backend", 0, "auto|nvml|sim", "GPU backend (default auto)"},
    {CLI_SPEC, "spec", 0, "FILE", "fleet spec (YAML) for the simulated backend"},
    {CLI_NODE, "node", 0, "NAME", "simulated node to present (default: hostname match, else first)"},
    {CLI_FORMAT, "format", 0, "table|json|csv", "output format (default table)"},
    {CLI_OUTPUT, "output", 'o', "FILE", "write output to FILE instead of stdout"},
};
#define N_COMMON (sizeof common_defs / sizeof common_defs[0])

/* ---- help ---- */
static void print_opt(FILE *out, char short_name, const char *name, const char *metavar, const char *help) {
  char left[96];
  if (short_name)
    snprintf(left, sizeof left, "-%c, --%s%s%s", short_name, name, metavar ? " " : "", metavar ? metavar : "");
  else
    snprintf(left, sizeof left, "    --%s%s%s", name, metavar ? " " : "", metavar ? metavar : "");
  fprintf(out, "  %-34s %s\n", left, help);
}

static void print_help(const struct cli_spec *spec) {
  printf("usage: gpuops %s %s\n\n", spec->command, spec->usage ? spec->usage : "[options]");
  if (spec->about) printf("%s\n\n", spec->about);
  printf("options:\n");
  for (const struct cli_option *o = spec->options; o && o->name; o++)
    print_opt(stdout, o->short_name, o->name, o->kind == CLI_ARG_FLAG ? NULL : o->metavar, o->help);
  for (size_t i = 0; i < N_COMMON; i++)
    if (spec->common & common_defs[i].flag)
      print_opt(stdout, common_defs[i].short_name, common_defs[i].name, common_defs[i].metavar,
                common_defs[i].help);
  print_opt(stdout, 'v', "verbose", NULL, "more log output (repeat for debug)");
  print_opt(stdout, 'q', "quiet", NULL, "errors only");
  print_opt(stdout, 'h', "help", NULL, "this help");
}

/* ---- errors ---- */
int cli_usage_error(const char *command, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "gpuops %s: %s (see gpuops %s --help)\n", command, buf, command);
  return EXIT_USAGE;
}

int cli_fail(const char *command, int rc) {
  fprintf(stderr, "gpuops %s: %s\n", command, err_msg());
  return err_exit_code(rc);
}

/* ---- parsing ---- */
static int set_value(const char *cmd, const char *name, enum cli_arg kind, void *dest, const char *val) {
  char *end;
  switch (kind) {
  case CLI_ARG_FLAG: *(bool *)dest = true; return 0;
  case CLI_ARG_STRING: *(const char **)dest = val; return 0;
  case CLI_ARG_INT: {
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val || v < -2147483647L || v > 2147483647L)
      return cli_usage_error(cmd, "--%s wants an integer, got '%s'", name, val);
    *(int *)dest = (int)v;
    return 0;
  }
  case CLI_ARG_DOUBLE: {
    errno = 0;
    double v = strtod(val, &end);
    if (errno || *end || end == val) return cli_usage_error(cmd, "--%s wants a number, got '%s'", name, val);
    *(double *)dest = v;
    return 0;
  }
  }
  return EXIT_USAGE;
}

static int set_common(const char *cmd, unsigned flag, const char *val, struct cli_common *c) {
  int rc = 0;
  switch (flag) {
  case CLI_BACKEND: rc = gpu_backend_kind_parse(val, &c->backend); break;
  case CLI_SPEC: c->spec = val; break;
  case CLI_NODE: c->node = val; break;
  case CLI_FORMAT: rc = table_format_parse(val, &c->format); break;
  case CLI_OUTPUT: c->output = val; break;
  }
  return rc < 0 ? cli_usage_error(cmd, "%s", err_msg()) : 0;
}

/* Collect every long option name the command accepts, for suggestions. */
static void known_names(const struct cli_spec *spec, const char **names, int cap) {
  int n = 0;
  for (const struct cli_option *o = spec->options; o && o->name && n < cap - 4; o++) names[n++] = o->name;
  for (size_t i = 0; i < N_COMMON && n < cap - 4; i++)
    if (spec->common & common_defs[i].flag) names[n++] = common_defs[i].name;
  names[n++] = "help";
  names[n++] = "verbose";
  names[n++] = "quiet";
  names[n] = NULL;
}

static int unknown_option(const struct cli_spec *spec, const char *word) {
  const char *names[64];
  known_names(spec, names, 64);
  const char *bare = word;
  while (*bare == '-') bare++;
  char stem[64];
  snprintf(stem, sizeof stem, "%.*s", (int)strcspn(bare, "="), bare);
  const char *s = cli_suggest(stem, names);
  if (s) return cli_usage_error(spec->command, "unknown option '%s' (did you mean --%s?)", word, s);
  return cli_usage_error(spec->command, "unknown option '%s'", word);
}

/* Take the option's value: "--name=value", or the next argument. */
static int take_value(const struct cli_spec *spec, const char *name, const char *eq, int argc, char **argv,
                      int *i, const char **val) {
  if (eq) {
    *val = eq + 1;
    return 0;
  }
  if (*i + 1 >= argc) return cli_usage_error(spec->command, "option --%s needs a value", name);
  *val = argv[++*i];
  return 0;
}

/* Match argv[*i] against the command's and the common options. */
static int parse_one(const struct cli_spec *spec, int argc, char **argv, int *i, struct cli_common *c) {
  const char *arg = argv[*i];
  bool is_long = arg[1] == '-';
  const char *name = arg + (is_long ? 2 : 1);
  const char *eq = is_long ? strchr(name, '=') : NULL;
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  if (!is_long && len != 1) return unknown_option(spec, arg);
  const char *val = NULL;

  for (const struct cli_option *o = spec->options; o && o->name; o++) {
    bool hit = is_long ? (strlen(o->name) == len && !strncmp(o->name, name, len)) : (o->short_name == name[0]);
    if (!hit) continue;
    if (o->kind == CLI_ARG_FLAG) {
      if (eq) return cli_usage_error(spec->command, "option --%s takes no value", o->name);
      return set_value(spec->command, o->name, o->kind, o->dest, NULL);
    }
    int rc = take_value(spec, o->name, eq, argc, argv, i, &val);
    return rc ? rc : set_value(spec->command, o->name, o->kind, o->dest, val);
  }
  for (size_t k = 0; k < N_COMMON; k++) {
    const struct common_def *d = &common_defs[k];
    if (!(spec->common & d->flag)) continue;
    bool hit = is_long ? (strlen(d->name) == len && !strncmp(d->name, name, len)) : (d->short_name == name[0]);
    if (!hit) continue;
    int rc = take_value(spec, d->name, eq, argc, argv, i, &val);
    return rc ? rc : set_common(spec->command, d->flag, val, c);
  }
  return unknown_option(spec, arg);
}

static int parse_logging(const char *arg, int *verbosity) {
  if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) return (*verbosity)++, 1;
  if (!strcmp(arg, "-vv")) return (*verbosity) += 2, 1;
  if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet")) return *verbosity = -1, 1;
  return 0;
}

int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_common *c, int *npos) {
  memset(c, 0, sizeof *c);
  c->backend = GPU_BACKEND_AUTO;
  c->format = TABLE_FMT_TABLE;
  int verbosity = 0, pos = 0;
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (options_done || arg[0] != '-' || arg[1] == '\0') {
      argv[1 + pos++] = argv[i];
      continue;
    }
    if (!strcmp(arg, "--")) {
      options_done = true;
      continue;
    }
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      print_help(spec);
      return -1; /* handled: exit 0 */
    }
    if (parse_logging(arg, &verbosity)) continue;
    int rc = parse_one(spec, argc, argv, &i, c);
    if (rc) return rc;
  }
  log_set_level(verbosity < 0 ? LOG_ERROR : verbosity == 0 ? LOG_WARN : verbosity == 1 ? LOG_INFO : LOG_DEBUG);
  if (pos < spec->min_positional)
    return cli_usage_error(spec->command, "missing argument%s: expected %s", spec->min_positional > 1 ? "s" : "",
                           spec->usage ? spec->usage : "more arguments");
  if (spec->max_positional >= 0 && pos > spec->max_positional)
    return cli_usage_error(spec->command, "unexpected argument '%s'", argv[1 + spec->max_positional]);
  *npos = pos;
  return 0;
}

/* ---- output ---- */
FILE *cli_output_open(const char *command, const struct cli_common *c, bool *close_it) {
  *close_it = false;
  if (!c->output || !strcmp(c->output, "-")) return stdout;
  FILE *f = fopen(c->output, "w");
  if (!f) {
    fprintf(stderr, "gpuops %s: cannot write %s: %s\n", command, c->output, strerror(errno));
    return NULL;
  }
  *close_it = true;
  return f;
}

int cli_output_close(FILE *f, bool close_it) {
  int bad = ferror(f);
  if (close_it && fclose(f) != 0) bad = 1;
  else if (!close_it) fflush(f);
  return bad ? err_set(ERR_IO, "write failed") : 0;
}

/* ---- GPU options ---- */
int cli_gpu_options(const struct cli_common *c, struct inventory *inv, struct gpu_options *o) {
  memset(o, 0, sizeof *o);
  inventory_init(inv);
  o->kind = c->backend;
  o->sim_node = c->node;
  if (c->spec) {
    int rc = inventory_load_yaml(inv, c->spec);
    if (rc < 0) return rc;
    o->inv = inv;
  }
  return 0;
}
