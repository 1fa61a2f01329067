/*
 * gpumem.c — GPU memory requests and the smallest fitting MIG profile
 * (gpumem.h). Depends only on libc and src/catalog/.
 *
 * Sections: sizes and requests; configuration; choosing.
 */
#include "gpumem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_MIB (1ULL << 30) /* 1 PiB */

/* ---- sizes and requests ---- */

/* KiB per unit for "", "K", "Mi", "GB", "TiB" (any case); 0 or -1 when unknown. */
static int unit_kib(const char *u, size_t ul, uint64_t *kib) {
  static const char units[] = "KMGT";
  *kib = 1024; /* no unit: MiB */
  if (ul == 0) return 0;
  const char *k = strchr(units, toupper((unsigned char)u[0]));
  if (!k || !*k) return -1;
  *kib = 1;
  for (const char *x = units; x < k; x++) *kib *= 1024;
  size_t i = 1;
  if (i < ul && (u[i] == 'i' || u[i] == 'I')) i++;
  if (i < ul && (u[i] == 'b' || u[i] == 'B')) i++;
  return i == ul ? 0 : -1;
}

int gpumem_size_parse(const char *text, size_t len, uint64_t *mib, char *why, size_t why_len) {
  size_t i = 0;
  uint64_t v = 0;
  for (; i < len && isdigit((unsigned char)text[i]); i++) {
    v = v * 10 + (uint64_t)(text[i] - '0');
    if (v > MAX_MIB * 1024) v = MAX_MIB * 1024 + 1; /* saturate: too big anyway */
  }
  if (i == 0) {
    snprintf(why, why_len, "size '%.*s': expected a number with a unit, e.g. 20G", (int)len, text);
    return -1;
  }
  uint64_t kib_per_unit;
  if (unit_kib(text + i, len - i, &kib_per_unit) < 0) {
    snprintf(why, why_len, "size '%.*s': unknown unit (use K, M, G or T, binary)", (int)len, text);
    return -1;
  }
  if (v == 0 || v > MAX_MIB * 1024 / kib_per_unit) {
    snprintf(why, why_len, "size '%.*s': must be above 0 and at most 1 PiB", (int)len, text);
    return -1;
  }
  *mib = (v * kib_per_unit + 1023) / 1024;
  return 0;
}

int gpumem_request_parse(const char *comment, uint64_t *mib, char *why, size_t why_len) {
  if (!comment) return 0;
  const char *p = strstr(comment, GPUMEM_TAG);
  if (!p) return 0;
  p += strlen(GPUMEM_TAG);
  size_t n = strcspn(p, " \t,;");
  if (gpumem_size_parse(p, n, mib, why, why_len) < 0) return -1;
  return 1;
}

/* ---- configuration ---- */

/* Trim spaces at both ends in place. */
static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* "types = a,b c": each word a profile of cfg->model. */
static int parse_types(char *val, struct gpumem_config *cfg, int line, char *why, size_t why_len) {
  for (char *save = NULL, *w = strtok_r(val, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
    const struct catalog_mig_profile *p = catalog_mig_profile_by_name(cfg->model, w);
    if (!p) {
      snprintf(why, why_len, "line %d: '%s' is not a MIG profile of %s", line, w, cfg->model->key);
      return -1;
    }
    if (cfg->n_types == GPUMEM_MAX_TYPES) {
      snprintf(why, why_len, "line %d: more than %d types", line, GPUMEM_MAX_TYPES);
      return -1;
    }
    cfg->types[cfg->n_types++] = p;
  }
  return 0;
}

int gpumem_config_parse(const char *text, struct gpumem_config *cfg, char *why, size_t why_len) {
  char buf[512];
  int line = 0;
  memset(cfg, 0, sizeof *cfg);
  for (const char *p = text; p && *p;) {
    size_t n = strcspn(p, "\n");
    line++;
    snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), p);
    p += n + (p[n] == '\n');
    buf[strcspn(buf, "#")] = '\0';
    char *l = trim(buf);
    if (!*l) continue;
    char *eq = strchr(l, '=');
    if (!eq) {
      snprintf(why, why_len, "line %d: expected 'key = value' (model, types)", line);
      return -1;
    }
    *eq = '\0';
    char *key = trim(l), *val = trim(eq + 1);
    if (!strcasecmp(key, "model")) {
      if (!(cfg->model = catalog_find(val))) {
        snprintf(why, why_len, "line %d: unknown GPU model '%s' (e.g. H200)", line, val);
        return -1;
      }
    } else if (!strcasecmp(key, "types")) {
      if (!cfg->model) {
        snprintf(why, why_len, "line %d: give 'model' before 'types'", line);
        return -1;
      }
      if (parse_types(val, cfg, line, why, why_len) < 0) return -1;
    } else {
      snprintf(why, why_len, "line %d: unknown key '%s' (model, types)", line, key);
      return -1;
    }
  }
  if (!cfg->model || cfg->n_types == 0) {
    snprintf(why, why_len, "missing %s", !cfg->model ? "'model = ...'" : "'types = ...'");
    return -1;
  }
  return 0;
}

/* ---- choosing ---- */

/* Is a a better (smaller) choice than b? */
static int smaller(const struct catalog_mig_profile *a, const struct catalog_mig_profile *b) {
  if (a->memory_mib != b->memory_mib) return a->memory_mib < b->memory_mib;
  if (a->compute_slices != b->compute_slices) return a->compute_slices < b->compute_slices;
  return !a->media_extension && b->media_extension;
}

const struct catalog_mig_profile *gpumem_choose(const struct gpumem_config *cfg, uint64_t mib,
                                                char *why, size_t why_len) {
  const struct catalog_mig_profile *best = NULL, *largest = NULL;
  for (int i = 0; i < cfg->n_types; i++) {
    const struct catalog_mig_profile *p = cfg->types[i];
    if (!largest || p->memory_mib > largest->memory_mib) largest = p;
    if (p->memory_mib >= mib && (!best || smaller(p, best))) best = p;
  }
  if (!best)
    snprintf(why, why_len,
             "gpuops: no MIG profile configured on this cluster holds %llu MiB of GPU memory "
             "(the largest is %s with %llu MiB on %s); ask for less, or for whole GPUs with "
             "--gres=gpu",
             (unsigned long long)mib, largest ? largest->name : "none",
             largest ? (unsigned long long)largest->memory_mib : 0ULL, cfg->model->key);
  return best;
}
