/*
 * mig.c — the MIG placement rule (see mig.h and ../shared/data/mig-geometry.md).
 *
 * Depends on catalog.h and libc only.
 *
 * Sections:
 *   1. helpers: a placement's memory-slice mask, its text form, why-writer;
 *   2. mig_layout_valid: checks each placement in order against the rules
 *      (known profile, valid start, no memory-slice overlap, max instances,
 *      compute slices <= 7) and names the first one that breaks a rule;
 *   3. mig_free_starts, mig_used_memory_slices;
 *   4. mig_placement_parse.
 *
 * With the four catalog geometries the compute rule never fires on its own:
 * every profile takes at most one compute slice per memory slice, and slice 7
 * is only reachable by profiles that take fewer, so a layout with valid
 * starts and no overlap uses at most 7. It is checked anyway, so the rule
 * stays whole for any geometry a catalog entry may carry.
 */
#include "catalog/mig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. helpers ----------------------------------------------------------- */

/* Memory slices [start, start+size) as a mask, clipped to the GPU's 8 slices. */
static unsigned span_mask(int start, int size) {
  unsigned mask = 0;
  for (int s = start; s < start + size && s < CATALOG_MIG_MEMORY_SLICES; s++) {
    if (s >= 0) mask |= 1u << s;
  }
  return mask;
}

static bool start_valid(const struct catalog_mig_profile *pr, int start) {
  for (int i = 0; i < pr->n_starts; i++) {
    if (pr->starts[i] == start) return true;
  }
  return false;
}

/* "3g.71gb@4", or "id 23@4" for an id the model lacks. */
static void placement_text(const struct catalog_model *m, const struct mig_placement *p, char *buf,
                           size_t len) {
  const struct catalog_mig_profile *pr = catalog_mig_profile(m, p->profile_id);
  if (pr)
    snprintf(buf, len, "%s@%d", pr->name, p->start);
  else
    snprintf(buf, len, "id %d@%d", p->profile_id, p->start);
}

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t why_len, const char *fmt, ...) {
  if (!why || why_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
}

/* "0,2,4,6" */
static void starts_text(const struct catalog_mig_profile *pr, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < pr->n_starts && used < len; i++) {
    int k = snprintf(buf + used, len - used, "%s%d", i ? "," : "", pr->starts[i]);
    if (k < 0) break;
    used += (size_t)k;
  }
}

/* "19, 20, 15, ..." or "1g.18gb, 1g.18gb+me, ..." */
static void profiles_text(const struct catalog_model *m, bool names, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < m->n_mig_profiles && used < len; i++) {
    const struct catalog_mig_profile *pr = &m->mig_profiles[i];
    int k = names ? snprintf(buf + used, len - used, "%s%s", i ? ", " : "", pr->name)
                  : snprintf(buf + used, len - used, "%s%d", i ? ", " : "", pr->id);
    if (k < 0) break;
    used += (size_t)k;
  }
}

/* ---- 2. mig_layout_valid -------------------------------------------------- */

/* Rule checks for placement i against placements 0..i-1; false with a reason. */
static bool check_known_and_start(const struct catalog_model *m, const struct mig_placement *p,
                                  int i, char *why, size_t why_len) {
  char list[96], what[48];
  const struct catalog_mig_profile *pr = catalog_mig_profile(m, p[i].profile_id);
  if (!pr) {
    placement_text(m, &p[i], what, sizeof what);
    profiles_text(m, false, list, sizeof list);
    say(why, why_len, "placement %d (%s): unknown profile id %d for %s (known: %s)", i, what,
        p[i].profile_id, m->key, list);
    return false;
  }
  if (!start_valid(pr, p[i].start)) {
    placement_text(m, &p[i], what, sizeof what);
    starts_text(pr, list, sizeof list);
    say(why, why_len, "placement %d (%s): start %d is not a valid start for %s (valid: %s)", i,
        what, p[i].start, pr->name, list);
    return false;
  }
  return true;
}

static bool check_overlap(const struct catalog_model *m, const struct mig_placement *p, int i,
                          char *why, size_t why_len) {
  const struct catalog_mig_profile *pr = catalog_mig_profile(m, p[i].profile_id);
  unsigned mine = span_mask(p[i].start, pr->memory_slices);
  for (int j = 0; j < i; j++) {
    const struct catalog_mig_profile *other = catalog_mig_profile(m, p[j].profile_id);
    unsigned theirs = span_mask(p[j].start, other->memory_slices);
    if (mine & theirs) {
      char what[48], them[48];
      placement_text(m, &p[i], what, sizeof what);
      placement_text(m, &p[j], them, sizeof them);
      say(why, why_len,
          "placement %d (%s): memory slices %d-%d overlap placement %d (%s, memory slices %d-%d)",
          i, what, p[i].start, p[i].start + pr->memory_slices - 1, j, them, p[j].start,
          p[j].start + other->memory_slices - 1);
      return false;
    }
  }
  return true;
}

static bool check_counts(const struct catalog_model *m, const struct mig_placement *p, int i,
                         int *compute, char *why, size_t why_len) {
  const struct catalog_mig_profile *pr = catalog_mig_profile(m, p[i].profile_id);
  char what[48];
  int same = 0;
  for (int j = 0; j <= i; j++) same += p[j].profile_id == p[i].profile_id;
  if (same > pr->max_instances) {
    placement_text(m, &p[i], what, sizeof what);
    say(why, why_len, "placement %d (%s): %d instances of %s exceed its max instances (%d)", i,
        what, same, pr->name, pr->max_instances);
    return false;
  }
  *compute += pr->compute_slices;
  if (*compute > CATALOG_MIG_COMPUTE_SLICES) {
    placement_text(m, &p[i], what, sizeof what);
    say(why, why_len,
        "placement %d (%s): compute slices would total %d, more than the %d a GPU has", i, what,
        *compute, CATALOG_MIG_COMPUTE_SLICES);
    return false;
  }
  return true;
}

bool mig_layout_valid(const struct catalog_model *m, const struct mig_placement *p, int n,
                      char *why, size_t why_len) {
  if (!m || n < 0 || (n > 0 && !p)) {
    say(why, why_len, "invalid arguments (model %s, %d placements)", m ? m->key : "NULL", n);
    return false;
  }
  if (n > 0 && m->n_mig_profiles == 0) {
    say(why, why_len, "%s does not support MIG", m->key);
    return false;
  }
  int compute = 0;
  for (int i = 0; i < n; i++) {
    if (!check_known_and_start(m, p, i, why, why_len)) return false;
    if (!check_overlap(m, p, i, why, why_len)) return false;
    if (!check_counts(m, p, i, &compute, why, why_len)) return false;
  }
  say(why, why_len, "valid");
  return true;
}

/* ---- 3. free starts, used slices ------------------------------------------ */

unsigned mig_used_memory_slices(const struct catalog_model *m, const struct mig_placement *p,
                                int n) {
  unsigned mask = 0;
  for (int i = 0; p && i < n; i++) {
    const struct catalog_mig_profile *pr = catalog_mig_profile(m, p[i].profile_id);
    if (pr) mask |= span_mask(p[i].start, pr->memory_slices);
  }
  return mask;
}

int mig_free_starts(const struct catalog_model *m, const struct mig_placement *p, int n,
                    int profile_id, int *starts) {
  const struct catalog_mig_profile *pr = catalog_mig_profile(m, profile_id);
  if (!pr || !starts || n < 0 || (n > 0 && !p)) return 0;
  int same = 0, compute = pr->compute_slices;
  for (int i = 0; i < n; i++) {
    const struct catalog_mig_profile *q = catalog_mig_profile(m, p[i].profile_id);
    if (q) compute += q->compute_slices;
    same += p[i].profile_id == profile_id;
  }
  if (same >= pr->max_instances || compute > CATALOG_MIG_COMPUTE_SLICES) return 0;
  unsigned used = mig_used_memory_slices(m, p, n);
  int k = 0;
  for (int i = 0; i < pr->n_starts && k < CATALOG_MIG_MAX_STARTS; i++) {
    if (!(used & span_mask(pr->starts[i], pr->memory_slices))) starts[k++] = pr->starts[i];
  }
  return k; /* catalog starts are ascending, so these are too */
}

/* ---- 4. parse ------------------------------------------------------------- */

/* A non-negative decimal integer filling all of s; -1 otherwise. */
static long parse_small_uint(const char *s) {
  if (!s[0]) return -1;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9') return -1;
  }
  errno = 0;
  long v = strtol(s, NULL, 10);
  return (errno || v > 1000000) ? -1 : v;
}

int mig_placement_parse(const struct catalog_model *m, const char *text, struct mig_placement *out,
                        char *why, size_t why_len) {
  char buf[64], list[160];
  if (!m || !text || !out) {
    say(why, why_len, "invalid arguments");
    return -1;
  }
  if (strlen(text) >= sizeof buf) {
    say(why, why_len, "placement '%.20s...' is too long (expected PROFILE@START, e.g. 3g.71gb@4)",
        text);
    return -1;
  }
  snprintf(buf, sizeof buf, "%s", text);
  char *at = strrchr(buf, '@');
  if (!at) {
    say(why, why_len, "placement '%s' has no '@START' (expected PROFILE@START, e.g. %s@0)", text,
        m->n_mig_profiles ? m->mig_profiles[m->n_mig_profiles - 1].name : "7g");
    return -1;
  }
  *at = '\0';
  long start = parse_small_uint(at + 1);
  if (start < 0 || start >= CATALOG_MIG_MEMORY_SLICES) {
    say(why, why_len, "placement '%s': start '%s' is not a memory slice 0-%d", text, at + 1,
        CATALOG_MIG_MEMORY_SLICES - 1);
    return -1;
  }
  long id = parse_small_uint(buf);
  const struct catalog_mig_profile *pr =
      id >= 0 ? catalog_mig_profile(m, (int)id) : catalog_mig_profile_by_name(m, buf);
  if (!pr) {
    profiles_text(m, id < 0, list, sizeof list);
    say(why, why_len, "placement '%s': unknown profile %s'%s' for %s (known: %s)", text,
        id >= 0 ? "id " : "", buf, m->key, list);
    return -1;
  }
  out->profile_id = pr->id;
  out->start = (int)start;
  return 0;
}
