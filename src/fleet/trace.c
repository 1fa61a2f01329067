/*
 * trace.c — task lists from CSV (Alibaba trace 2023 and the generic columns)
 * and JSON (see trace.h).
 *
 * Sections:
 *   1. shared checks: one task's fields, gang names, MIG profiles, model lists;
 *   2. CSV (through inventory/alibaba.h's reader);
 *   3. JSON;
 *   4. entry points and the CSV writer.
 */
#include "fleet/trace.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "catalog/catalog.h"
#include "inventory/alibaba.h"

/* ---- 1. shared checks ---------------------------------------------------- */

/* Gang names -> ids (open addressing over a growing array of names). */
struct gangs {
  char (*names)[FLEET_NAME_LEN];
  int n, cap;
  int *slot; /* -1 empty, else index into names */
  size_t nslot;
};

static void gangs_free(struct gangs *g) {
  free(g->names);
  free(g->slot);
  memset(g, 0, sizeof *g);
}

static int gangs_rehash(struct gangs *g) {
  size_t n = 64;
  while (n < (size_t)g->cap * 2 + 2) n *= 2;
  int *slot = malloc(n * sizeof *slot);
  if (!slot) return ERR_NOMEM;
  memset(slot, 0xff, n * sizeof *slot);
  for (int i = 0; i < g->n; i++) {
    size_t h = rng_hash_str(g->names[i]) & (n - 1);
    while (slot[h] >= 0) h = (h + 1) & (n - 1);
    slot[h] = i;
  }
  free(g->slot);
  g->slot = slot;
  g->nslot = n;
  return 0;
}

/* Id of gang `name`, adding it when new; -1 for an empty name; ERR_NOMEM. */
static int gangs_id(struct gangs *g, const char *name) {
  if (!name[0]) return -1;
  if (g->n == g->cap) {
    int cap = g->cap ? g->cap * 2 : 64;
    char(*grown)[FLEET_NAME_LEN] = realloc(g->names, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory reading gang names");
    g->names = grown;
    g->cap = cap;
    if (gangs_rehash(g)) return err_set(ERR_NOMEM, "out of memory reading gang names");
  }
  size_t h = rng_hash_str(name) & (g->nslot - 1);
  while (g->slot[h] >= 0) {
    if (!strcmp(g->names[g->slot[h]], name)) return g->slot[h];
    h = (h + 1) & (g->nslot - 1);
  }
  snprintf(g->names[g->n], FLEET_NAME_LEN, "%s", name);
  g->slot[h] = g->n;
  return g->n++;
}

/* A MIG profile given by name ("3g.71gb", any catalog model's) or id ("9"); -1 when unknown. */
static int mig_profile_id(const char *s) {
  char *end;
  long id = strtol(s, &end, 10);
  int n;
  const struct catalog_model *models = catalog_models(&n);
  if (*s && !*end) {
    for (int i = 0; i < n; i++)
      if (catalog_mig_profile(&models[i], (int)id)) return (int)id;
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const struct catalog_mig_profile *p = catalog_mig_profile_by_name(&models[i], s);
    if (p) return p->id;
  }
  return -1;
}

/*
 * Parse "A|B|C" into model bits of ts. Writes why into `why` on error.
 * Returns 0 or -1.
 */
static int parse_models(struct fleet_taskset *ts, const char *list, uint64_t *mask, char *why,
                        size_t why_len) {
  *mask = 0;
  const char *s = list;
  while (*s) {
    size_t len = strcspn(s, "|");
    char name[FLEET_MODEL_LEN];
    if (len == 0 || len >= sizeof name) {
      snprintf(why, why_len, "model names in a list are 1..%d characters, '|'-separated",
               FLEET_MODEL_LEN - 1);
      return -1;
    }
    memcpy(name, s, len);
    name[len] = '\0';
    for (size_t i = 0; i < len; i++)
      if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i])) {
        snprintf(why, why_len, "bad character in model name '%s'", name);
        return -1;
      }
    int bit = fleet_taskset_model(ts, name);
    if (bit < 0) {
      snprintf(why, why_len, "%s", err_msg());
      return -1;
    }
    *mask |= 1ULL << bit;
    s += len;
    if (*s == '|') s++;
  }
  return 0;
}

/* The fields of one task, before validation: -1 marks "not given". */
struct raw {
  int64_t cpu, mem, num, milli, create, del, sched, dur, prio;
  int mig; /* -2 not given */
};

/* Cross-field rules. Writes the message into why; returns 0 or -1. */
static int finish_task(const struct raw *r, struct fleet_task *t, char *why, size_t len) {
  t->cpu_milli = (uint32_t)r->cpu;
  t->memory_mib = (uint32_t)r->mem;
  t->mig_profile = -1;
  if (r->mig >= 0) {
    if (r->num > 1 || (r->milli >= 0 && r->milli != 0 && r->milli != FLEET_MILLI)) {
      snprintf(why, len, "a MIG task asks for one instance: leave num_gpu/gpu_milli empty or 1");
      return -1;
    }
    t->mig_profile = (int16_t)r->mig;
    t->num_gpu = 1;
    struct fleet_task probe = *t;
    t->gpu_milli = (uint16_t)fleet_task_gpu_milli_total(&probe);
  } else {
    if (r->num < 0) {
      snprintf(why, len, "num_gpu is missing");
      return -1;
    }
    t->num_gpu = (uint16_t)r->num;
    int64_t milli = r->milli >= 0 ? r->milli : (r->num > 0 ? FLEET_MILLI : 0);
    if (r->num == 0 && milli != 0) {
      snprintf(why, len, "gpu_milli is %lld but num_gpu is 0", (long long)milli);
      return -1;
    }
    if (r->num > 0 && milli == 0) {
      snprintf(why, len, "num_gpu is %lld but gpu_milli is 0", (long long)r->num);
      return -1;
    }
    if (r->num > 1 && milli != FLEET_MILLI) {
      snprintf(why, len, "a fraction of a GPU (gpu_milli %lld) needs num_gpu 1, not %lld",
               (long long)milli, (long long)r->num);
      return -1;
    }
    t->gpu_milli = (uint16_t)milli;
  }
  t->create_s = r->create;
  t->duration_s = -1;
  if (r->del >= 0 && r->create >= 0) {
    int64_t from = r->sched >= 0 ? r->sched : r->create;
    if (r->del < from) {
      snprintf(why, len, "deletion_time %lld is before %s %lld", (long long)r->del,
               r->sched >= 0 ? "scheduled_time" : "creation_time", (long long)from);
      return -1;
    }
    t->duration_s = r->del - from;
  } else if (r->dur >= 0) {
    t->duration_s = r->dur;
  }
  if (r->sched >= 0 && r->create >= 0 && r->sched < r->create) {
    snprintf(why, len, "scheduled_time %lld is before creation_time %lld", (long long)r->sched,
             (long long)r->create);
    return -1;
  }
  if (r->prio != INT64_MIN) t->priority = (int8_t)r->prio;
  return 0;
}

/* ---- 2. CSV -------------------------------------------------------------- */

enum {
  C_NAME,
  C_CPU,
  C_MEM,
  C_NUM,
  C_MILLI,
  C_SPEC,
  C_QOS,
  C_PHASE,
  C_CREATE,
  C_DELETE,
  C_SCHED,
  C_DUR,
  C_PRIO,
  C_TENANT,
  C_GANG,
  C_MIG,
  N_COLS
};
static const char *const col_names[N_COLS] = {
    "name",     "cpu_milli", "memory_mib",    "num_gpu",       "gpu_milli",      "gpu_spec",
    "qos",      "pod_phase", "creation_time", "deletion_time", "scheduled_time", "duration",
    "priority", "tenant",    "gang",          "mig_profile"};

static int csv_columns(const struct alibaba_csv *c, int *col) {
  for (int k = 0; k < N_COLS; k++) col[k] = alibaba_csv_column(c, col_names[k]);
  for (int i = 0; i < c->ncols; i++) {
    bool known = false;
    for (int k = 0; k < N_COLS; k++) known |= !strcmp(c->header[i], col_names[k]);
    if (!known)
      return err_set(ERR_PARSE,
                     "%s:1: column %d: unknown column '%s' in a task list (known: name, "
                     "cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, creation_time, "
                     "deletion_time, scheduled_time, duration, priority, tenant, gang, "
                     "mig_profile, pod_phase)",
                     c->name, i + 1, c->header[i]);
  }
  static const int required[] = {C_CPU, C_MEM};
  for (size_t k = 0; k < sizeof required / sizeof *required; k++)
    if (col[required[k]] < 0)
      return err_set(ERR_PARSE, "%s:1: the header has no '%s' column", c->name,
                     col_names[required[k]]);
  if (col[C_NUM] < 0 && col[C_MIG] < 0)
    return err_set(ERR_PARSE, "%s:1: the header has no 'num_gpu' (or 'mig_profile') column",
                   c->name);
  if (col[C_DELETE] >= 0 && col[C_CREATE] < 0)
    return err_set(ERR_PARSE, "%s:1: deletion_time needs a creation_time column", c->name);
  return 0;
}

static int csv_int(const struct alibaba_csv *c, const int *col, int k, int64_t min, int64_t max,
                   int64_t *out) {
  *out = -1;
  if (col[k] < 0) return 0;
  return alibaba_csv_int(c, col[k], min, max, true, -1, out);
}

/* The strings of one row: name, spec, qos, tenant, gang, MIG profile. */
static int csv_strings(const struct alibaba_csv *c, const int *col, struct fleet_taskset *ts,
                       struct gangs *gangs, struct fleet_task *t, struct raw *r) {
  char why[256];
  const char *name = col[C_NAME] >= 0 ? c->field[col[C_NAME]] : "";
  if (strlen(name) >= FLEET_NAME_LEN)
    return alibaba_csv_error(c, col[C_NAME], "names are at most %d characters", FLEET_NAME_LEN - 1);
  if (name[0])
    snprintf(t->name, sizeof t->name, "%s", name);
  else
    snprintf(t->name, sizeof t->name, "task-%d", ts->n);
  if (col[C_SPEC] >= 0 && parse_models(ts, c->field[col[C_SPEC]], &t->model_mask, why, sizeof why))
    return alibaba_csv_error(c, col[C_SPEC], "%s", why);
  t->qos = FLEET_QOS_LS;
  if (col[C_QOS] >= 0 && c->field[col[C_QOS]][0]) {
    int q = fleet_qos_parse(c->field[col[C_QOS]]);
    if (q < 0)
      return alibaba_csv_error(c, col[C_QOS], "unknown QoS '%.40s' (LS, BE, Burstable, Guaranteed)",
                               c->field[col[C_QOS]]);
    t->qos = (int8_t)q;
  }
  t->priority = t->qos;
  t->tenant = 0;
  if (col[C_TENANT] >= 0 && c->field[col[C_TENANT]][0]) {
    int id = fleet_taskset_tenant(ts, c->field[col[C_TENANT]]);
    if (id < 0) return alibaba_csv_error(c, col[C_TENANT], "%s", err_msg());
    t->tenant = id;
  }
  t->gang = -1;
  if (col[C_GANG] >= 0) {
    if (strlen(c->field[col[C_GANG]]) >= FLEET_NAME_LEN)
      return alibaba_csv_error(c, col[C_GANG], "gang names are at most %d characters",
                               FLEET_NAME_LEN - 1);
    int id = gangs_id(gangs, c->field[col[C_GANG]]);
    if (id < -1) return id;
    t->gang = id;
  }
  r->mig = -2;
  if (col[C_MIG] >= 0 && c->field[col[C_MIG]][0]) {
    r->mig = mig_profile_id(c->field[col[C_MIG]]);
    if (r->mig < 0)
      return alibaba_csv_error(c, col[C_MIG],
                               "unknown MIG profile '%.40s' (a name such as 3g.71gb or an id)",
                               c->field[col[C_MIG]]);
  }
  return 0;
}

static int csv_row(const struct alibaba_csv *c, const int *col, struct fleet_taskset *ts,
                   struct gangs *gangs) {
  struct fleet_task t = {0};
  struct raw r;
  int rc;
  char why[256];
  const int64_t T = (int64_t)1 << 40; /* times: ~35,000 years of seconds */
  if ((rc = alibaba_csv_int(c, col[C_CPU], 0, UINT32_MAX, false, 0, &r.cpu))) return rc;
  if ((rc = alibaba_csv_int(c, col[C_MEM], 0, UINT32_MAX, false, 0, &r.mem))) return rc;
  if ((rc = csv_int(c, col, C_NUM, 0, FLEET_MAX_GPUS_PER_TASK, &r.num))) return rc;
  if ((rc = csv_int(c, col, C_MILLI, 0, FLEET_MILLI, &r.milli))) return rc;
  if ((rc = csv_int(c, col, C_CREATE, 0, T, &r.create))) return rc;
  if ((rc = csv_int(c, col, C_DELETE, 0, T, &r.del))) return rc;
  if ((rc = csv_int(c, col, C_SCHED, 0, T, &r.sched))) return rc;
  if ((rc = csv_int(c, col, C_DUR, 0, T, &r.dur))) return rc;
  r.prio = INT64_MIN;
  if (col[C_PRIO] >= 0 && c->field[col[C_PRIO]][0] &&
      (rc = alibaba_csv_int(c, col[C_PRIO], -100, 100, false, 0, &r.prio)))
    return rc;
  if ((rc = csv_strings(c, col, ts, gangs, &t, &r))) return rc;
  if (col[C_CREATE] >= 0 && r.create < 0)
    return alibaba_csv_error(c, col[C_CREATE], "empty; the list has times, so every row needs one");
  if (finish_task(&r, &t, why, sizeof why)) {
    int k = strstr(why, "deletion")       ? C_DELETE
            : strstr(why, "scheduled")    ? C_SCHED
            : strstr(why, "MIG")          ? C_MIG
            : strstr(why, "gpu_milli is") ? C_MILLI
                                          : C_NUM;
    return alibaba_csv_error(c, col[k] >= 0 ? col[k] : col[C_NUM], "%s", why);
  }
  return fleet_taskset_add(ts, &t);
}

static int load_csv(struct fleet_taskset *ts, struct alibaba_csv *c) {
  int col[N_COLS], rc;
  struct gangs gangs = {0};
  if ((rc = csv_columns(c, col))) return rc;
  ts->has_times = col[C_CREATE] >= 0;
  while ((rc = alibaba_csv_next(c)) == 1)
    if ((rc = csv_row(c, col, ts, &gangs))) break;
  gangs_free(&gangs);
  if (rc == 0 && ts->n == 0)
    rc = err_set(ERR_PARSE, "%s:%d: no tasks (only a header)", c->name, c->line);
  return rc;
}

/* ---- 3. JSON ------------------------------------------------------------- */

static int jerr(const char *file, int i, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int jerr(const char *file, int i, const char *key, const char *fmt, ...) {
  char what[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return err_set(ERR_PARSE, "%s: tasks[%d]%s%s: %s", file, i, key ? "." : "", key ? key : "", what);
}

static int jint(const char *file, int i, json_t *o, const char *key, int64_t min, int64_t max,
                int64_t *out) {
  json_t *v = json_object_get(o, key);
  *out = -1;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
    return jerr(file, i, key, "expected a whole number %lld..%lld", (long long)min, (long long)max);
  *out = json_integer_value(v);
  return 0;
}

static const char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int json_keys(const char *file, int i, json_t *o) {
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    bool known = false;
    for (int k = 0; k < N_COLS; k++) known |= !strcmp(key, col_names[k]);
    if (!known) return jerr(file, i, key, "unknown key (known: the CSV column names)");
    bool want_str = !strcmp(key, "name") || !strcmp(key, "qos") || !strcmp(key, "tenant") ||
                    !strcmp(key, "pod_phase");
    if (want_str && !json_is_string(v) && !json_is_null(v))
      return jerr(file, i, key, "expected a string");
  }
  return 0;
}

static int json_strings(const char *file, int i, json_t *o, struct fleet_taskset *ts,
                        struct gangs *gangs, struct fleet_task *t, struct raw *r) {
  char why[256];
  const char *s = jstr(o, "name");
  if (s && strlen(s) >= FLEET_NAME_LEN) return jerr(file, i, "name", "too long");
  if (s && s[0])
    snprintf(t->name, sizeof t->name, "%s", s);
  else
    snprintf(t->name, sizeof t->name, "task-%d", ts->n);
  json_t *spec = json_object_get(o, "gpu_spec");
  if (json_is_string(spec)) {
    if (parse_models(ts, json_string_value(spec), &t->model_mask, why, sizeof why))
      return jerr(file, i, "gpu_spec", "%s", why);
  } else if (json_is_array(spec)) {
    size_t k;
    json_t *m;
    json_array_foreach(spec, k, m) {
      uint64_t bit;
      if (!json_is_string(m) || strchr(json_string_value(m), '|') ||
          parse_models(ts, json_string_value(m), &bit, why, sizeof why))
        return jerr(file, i, "gpu_spec", "expected model names");
      t->model_mask |= bit;
    }
  } else if (spec && !json_is_null(spec)) {
    return jerr(file, i, "gpu_spec", "expected \"A|B\" or [\"A\", \"B\"]");
  }
  t->qos = FLEET_QOS_LS;
  if ((s = jstr(o, "qos")) && s[0]) {
    if (fleet_qos_parse(s) < 0) return jerr(file, i, "qos", "unknown QoS '%.40s'", s);
    t->qos = (int8_t)fleet_qos_parse(s);
  }
  t->priority = t->qos;
  if ((s = jstr(o, "tenant")) && s[0]) {
    int id = fleet_taskset_tenant(ts, s);
    if (id < 0) return jerr(file, i, "tenant", "%s", err_msg());
    t->tenant = id;
  }
  t->gang = -1;
  json_t *g = json_object_get(o, "gang");
  if (g && !json_is_null(g)) {
    char buf[FLEET_NAME_LEN];
    if (json_is_integer(g))
      snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(g));
    else if (json_is_string(g) && strlen(json_string_value(g)) < sizeof buf)
      snprintf(buf, sizeof buf, "%s", json_string_value(g));
    else
      return jerr(file, i, "gang", "expected a gang name or number");
    int id = gangs_id(gangs, buf);
    if (id < -1) return id;
    t->gang = id;
  }
  r->mig = -2;
  json_t *mig = json_object_get(o, "mig_profile");
  if (mig && !json_is_null(mig)) {
    char buf[32];
    if (json_is_integer(mig))
      snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(mig));
    else if (json_is_string(mig))
      snprintf(buf, sizeof buf, "%s", json_string_value(mig));
    else
      buf[0] = '\0';
    if ((r->mig = mig_profile_id(buf)) < 0)
      return jerr(file, i, "mig_profile", "unknown MIG profile (a name such as 3g.71gb or an id)");
  }
  return 0;
}

static int json_task(const char *file, int i, json_t *o, struct fleet_taskset *ts,
                     struct gangs *gangs) {
  struct fleet_task t = {0};
  struct raw r;
  char why[256];
  int rc;
  const int64_t T = (int64_t)1 << 40;
  if (!json_is_object(o)) return jerr(file, i, NULL, "expected an object");
  if ((rc = json_keys(file, i, o))) return rc;
  if (!json_object_get(o, "cpu_milli")) return jerr(file, i, "cpu_milli", "missing");
  if (!json_object_get(o, "memory_mib")) return jerr(file, i, "memory_mib", "missing");
  if ((rc = jint(file, i, o, "cpu_milli", 0, UINT32_MAX, &r.cpu))) return rc;
  if ((rc = jint(file, i, o, "memory_mib", 0, UINT32_MAX, &r.mem))) return rc;
  if ((rc = jint(file, i, o, "num_gpu", 0, FLEET_MAX_GPUS_PER_TASK, &r.num))) return rc;
  if ((rc = jint(file, i, o, "gpu_milli", 0, FLEET_MILLI, &r.milli))) return rc;
  if ((rc = jint(file, i, o, "creation_time", 0, T, &r.create))) return rc;
  if ((rc = jint(file, i, o, "deletion_time", 0, T, &r.del))) return rc;
  if ((rc = jint(file, i, o, "scheduled_time", 0, T, &r.sched))) return rc;
  if ((rc = jint(file, i, o, "duration", 0, T, &r.dur))) return rc;
  if (r.cpu < 0 || r.mem < 0)
    return jerr(file, i, "cpu_milli", "cpu_milli and memory_mib are required");
  r.prio = INT64_MIN;
  if (json_object_get(o, "priority")) {
    if ((rc = jint(file, i, o, "priority", -100, 100, &r.prio))) return rc;
    if (r.prio == -1 && !json_is_integer(json_object_get(o, "priority"))) r.prio = INT64_MIN;
  }
  if ((rc = json_strings(file, i, o, ts, gangs, &t, &r))) return rc;
  if (finish_task(&r, &t, why, sizeof why)) return jerr(file, i, NULL, "%s", why);
  if (t.create_s >= 0) ts->has_times = true;
  return fleet_taskset_add(ts, &t);
}

static int load_json(struct fleet_taskset *ts, const char *buf, size_t len, const char *name) {
  json_error_t jerror;
  json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerror), *list;
  int rc = 0;
  if (!doc)
    return err_set(ERR_PARSE, "%s:%d:%d: %s", name, jerror.line, jerror.column, jerror.text);
  list = json_is_array(doc) ? doc : json_object_get(doc, "tasks");
  if (!json_is_array(list)) {
    rc = err_set(ERR_PARSE, "%s: expected {\"tasks\": [...]} or an array of tasks", name);
    goto out;
  }
  if (json_is_object(doc)) {
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) if (strcmp(key, "tasks")) {
      rc = err_set(ERR_PARSE, "%s: unknown top-level key '%s' (only \"tasks\")", name, key);
      goto out;
    }
  }
  struct gangs gangs = {0};
  size_t i;
  json_t *o;
  json_array_foreach(list, i, o) if ((rc = json_task(name, (int)i, o, ts, &gangs))) break;
  gangs_free(&gangs);
  if (rc == 0 && ts->n == 0) rc = err_set(ERR_PARSE, "%s: no tasks", name);
out:
  json_decref(doc);
  return rc;
}

/* ---- 4. entry points ----------------------------------------------------- */

static bool looks_json(const char *buf, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (isspace((unsigned char)buf[i])) continue;
    return buf[i] == '{' || buf[i] == '[';
  }
  return false;
}

static int finish(struct fleet_taskset *ts, const char *name, int rc) {
  if (rc) {
    fleet_taskset_free(ts);
    fleet_taskset_init(ts);
    return rc;
  }
  snprintf(ts->source, sizeof ts->source, "%s", name);
  return 0;
}

int fleet_trace_load_buf(struct fleet_taskset *ts, const char *buf, size_t len, const char *name) {
  int rc = fleet_taskset_init(ts);
  if (rc) return rc;
  if (!buf) buf = "", len = 0;
  name = name && name[0] ? name : "<buffer>";
  if (looks_json(buf, len)) return finish(ts, name, load_json(ts, buf, len, name));
  struct alibaba_csv *c = malloc(sizeof *c);
  if (!c) return finish(ts, name, err_set(ERR_NOMEM, "out of memory reading %s", name));
  rc = alibaba_csv_open_buf(c, buf, len, name);
  if (rc == 0) rc = load_csv(ts, c);
  alibaba_csv_close(c);
  free(c);
  return finish(ts, name, rc);
}

int fleet_trace_load(struct fleet_taskset *ts, const char *path) {
  int rc = fleet_taskset_init(ts);
  if (rc) return rc;
  FILE *f = fopen(path, "rb");
  if (!f) return finish(ts, path, err_set(ERR_IO, "cannot open '%s': %s", path, strerror(errno)));
  size_t cap = 1 << 16, len = 0;
  char *buf = NULL;
  for (;;) {
    char *grown = cap <= ALIBABA_CSV_MAX_BYTES ? realloc(buf, cap) : NULL;
    if (!grown) {
      rc = cap > ALIBABA_CSV_MAX_BYTES
               ? err_set(ERR_INVALID, "%s: larger than %u MiB", path, ALIBABA_CSV_MAX_BYTES >> 20)
               : err_set(ERR_NOMEM, "out of memory reading %s", path);
      break;
    }
    buf = grown;
    len += fread(buf + len, 1, cap - len, f);
    if (ferror(f)) {
      rc = err_set(ERR_IO, "cannot read '%s': %s", path, strerror(errno));
      break;
    }
    if (len < cap) break;
    cap *= 2;
  }
  fclose(f);
  if (rc == 0) {
    fleet_taskset_free(ts);
    rc = fleet_trace_load_buf(ts, buf, len, path);
  } else {
    rc = finish(ts, path, rc);
  }
  free(buf);
  return rc;
}

static void spec_text(const struct fleet_taskset *ts, uint64_t mask, char *buf, size_t len) {
  buf[0] = '\0';
  for (int b = 0; b < ts->n_models; b++)
    if (mask >> b & 1) {
      size_t k = strlen(buf);
      snprintf(buf + k, len - k, "%s%s", k ? "|" : "", ts->models[b]);
    }
}

int fleet_trace_write_csv(const struct fleet_taskset *ts, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  fprintf(f,
          "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,priority,tenant,gang,"
          "mig_profile,creation_time,duration\n");
  for (int i = 0; i < ts->n; i++) {
    const struct fleet_task *t = &ts->tasks[i];
    char spec[FLEET_MAX_MODELS * FLEET_MODEL_LEN], mig[8] = "", gang[16] = "", num[8] = "",
                                                   milli[8] = "", create[24] = "", dur[24] = "";
    spec_text(ts, t->model_mask, spec, sizeof spec);
    if (t->mig_profile >= 0) {
      snprintf(mig, sizeof mig, "%d", t->mig_profile);
    } else {
      snprintf(num, sizeof num, "%u", t->num_gpu);
      snprintf(milli, sizeof milli, "%u", t->gpu_milli);
    }
    if (t->gang >= 0) snprintf(gang, sizeof gang, "g%d", t->gang);
    if (t->create_s >= 0) snprintf(create, sizeof create, "%lld", (long long)t->create_s);
    if (t->duration_s >= 0) snprintf(dur, sizeof dur, "%lld", (long long)t->duration_s);
    fprintf(f, "%s,%u,%u,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s\n", t->name, t->cpu_milli, t->memory_mib,
            num, milli, spec, fleet_qos_name(t->qos), t->priority, ts->tenants[t->tenant], gang,
            mig, create, dur);
  }
  int bad = ferror(f);
  if (fclose(f) || bad) return err_set(ERR_IO, "cannot write '%s'", path);
  return 0;
}
