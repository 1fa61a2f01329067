/*
 * test_catalog.c — catalog/: the model table, the MIG geometry and the
 * placement rule.
 *
 * Sections:
 *   1. the geometry tables of ../shared/data/mig-geometry.md, copied here so
 *      the test runs from a fresh clone, a parser for them, and the check of
 *      every model's profiles against them (plus: the copy still matches the
 *      shared file when that file is there);
 *   2. H200 figures against what the real card reported (shared data files);
 *   3. model lookups and invariants;
 *   4. mig_layout_valid on every valid layout, found by brute force with a
 *      reference rule written independently (slice occupancy arrays), and on
 *      every one-step extension of each, valid or not; mig_free_starts and
 *      mig_used_memory_slices against the same reference;
 *   5. hand-picked invalid layouts, one group per rule, checking the reason;
 *   6. mig_placement_parse.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/mig.h"
#include "testutil.h"

/* ---- 1. geometry tables ---------------------------------------------------- */

/* The two tables of mig-geometry.md, verbatim (section 1 checks they still are). */
static const char geometry_copy[] =
    "| profile id | compute slices | memory slices | max instances | valid starts (size) |\n"
    "|---:|---:|---:|---:|---|\n"
    "| 19 (1g)             | 1 | 1 | 7 | 0,1,2,3,4,5,6 (1) |\n"
    "| 20 (1g+me, one media engine set) | 1 | 1 | 1 | 0..6 (1) |\n"
    "| 15 (1g, two memory slices) | 1 | 2 | 4 | 0,2,4,6 (2) |\n"
    "| 14 (2g)             | 2 | 2 | 3 | 0,2,4 (2) |\n"
    "| 9  (3g)             | 3 | 4 | 2 | 0,4 (4) |\n"
    "| 5  (4g)             | 4 | 4 | 1 | 0 (4) |\n"
    "| 0  (7g)             | 7 | 8 | 1 | 0 (8) |\n"
    "\n"
    "| id | A100-40GB | A100-80GB | H100-80GB | H200-141GB |\n"
    "|---|---|---|---|---|\n"
    "| 19 | 1g.5gb, 4.75 GiB, 14 SM | 1g.10gb, 9856 MB, 14 SM | 1g.10gb, 9.75 GiB, 16 SM | "
    "1g.18gb, 16384 MiB, 16 SM |\n"
    "| 20 | 1g.5gb+me | 1g.10gb+me | 1g.10gb+me | 1g.18gb+me |\n"
    "| 15 | 1g.10gb, 9.62 GiB, 14 SM | 1g.20gb, 19968 MB, 14 SM | 1g.20gb, 19.62 GiB, 26 SM | "
    "1g.35gb, 33280 MiB, 26 SM |\n"
    "| 14 | 2g.10gb, 9.62 GiB, 28 SM | 2g.20gb, 19968 MB, 28 SM | 2g.20gb, 19.62 GiB, 32 SM | "
    "2g.35gb, 33280 MiB, 32 SM |\n"
    "| 9  | 3g.20gb, 19.50 GiB, 42 SM | 3g.40gb, 40192 MB, 42 SM | 3g.40gb, 39.50 GiB, 60 SM | "
    "3g.71gb, 71424 MiB, 60 SM |\n"
    "| 5  | 4g.20gb, 19.50 GiB, 56 SM | 4g.40gb, 40192 MB, 56 SM | 4g.40gb, 39.50 GiB, 64 SM | "
    "4g.71gb, 71424 MiB, 64 SM |\n"
    "| 0  | 7g.40gb, 39.25 GiB, 98 SM | 7g.80gb, 80384 MB, 98 SM | 7g.80gb, 79.25 GiB, 132 SM | "
    "7g.141gb, 143360 MiB, 132 SM |\n";

#define MAX_ROWS  16
#define MAX_CELLS 8

struct geo_row { /* first table */
  int id, compute, mem_slices, max_inst, n_starts, starts[8], size;
};
struct geo_cell { /* second table: one model's figures for one profile */
  char name[32];
  char mem_text[32]; /* "4.75 GiB", "9856 MB", "" when the row gives none */
  int sms;           /* -1 when the row gives none */
};
struct geometry {
  int n_rows;
  struct geo_row rows[MAX_ROWS];
  int n_models;
  char model_keys[MAX_CELLS][32]; /* catalog keys in column order */
  int n_named;
  int named_ids[MAX_ROWS];
  struct geo_cell cells[MAX_ROWS][MAX_CELLS];
};

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

/* Split "| a | b |" into trimmed cells; returns their number. */
static int split_cells(char *line, char **cells, int cap) {
  int n = 0;
  char *p = strchr(line, '|');
  while (p && n < cap) {
    char *q = strchr(p + 1, '|');
    if (!q) break;
    *q = '\0';
    cells[n++] = trim(p + 1);
    p = q;
  }
  return n;
}

/* "0,1,2,3 (1)" or "0..6 (1)" */
static void parse_starts(const char *cell, struct geo_row *r) {
  int a, b;
  r->n_starts = 0;
  if (sscanf(cell, "%d..%d (%d)", &a, &b, &r->size) == 3) {
    for (int s = a; s <= b; s++) r->starts[r->n_starts++] = s;
    return;
  }
  const char *p = cell;
  while (*p && *p != '(') {
    char *end;
    long v = strtol(p, &end, 10);
    cr_assert_neq(end, p, "bad starts cell '%s'", cell);
    r->starts[r->n_starts++] = (int)v;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  cr_assert_eq(sscanf(p, "(%d)", &r->size), 1, "bad size in '%s'", cell);
}

static void parse_row1(char **c, int n, struct geometry *g) {
  cr_assert_eq(n, 5);
  struct geo_row *r = &g->rows[g->n_rows++];
  r->id = atoi(c[0]);
  r->compute = atoi(c[1]);
  r->mem_slices = atoi(c[2]);
  r->max_inst = atoi(c[3]);
  parse_starts(c[4], r);
}

static void parse_row2(char **c, int n, struct geometry *g) {
  cr_assert_eq(n, g->n_models + 1);
  int row = g->n_named++;
  g->named_ids[row] = atoi(c[0]);
  for (int i = 1; i < n; i++) {
    struct geo_cell *cell = &g->cells[row][i - 1];
    char mem_num[16] = "", mem_unit[8] = "";
    cell->sms = -1;
    int k = sscanf(c[i], "%31[^,], %15s %7[^,], %d SM", cell->name, mem_num, mem_unit, &cell->sms);
    cr_assert(k == 1 || k == 4, "bad cell '%s'", c[i]);
    if (k == 4) snprintf(cell->mem_text, sizeof cell->mem_text, "%s %s", mem_num, mem_unit);
  }
}

static void parse_header2(char **c, int n, struct geometry *g) {
  g->n_models = n - 1;
  for (int i = 1; i < n; i++) {
    /* "H200-141GB" is the catalog's "H200"; the others are catalog keys as written. */
    const char *key = strncmp(c[i], "H200", 4) == 0 ? "H200" : c[i];
    snprintf(g->model_keys[i - 1], sizeof g->model_keys[0], "%s", key);
  }
}

static void parse_geometry(const char *text, struct geometry *g) {
  memset(g, 0, sizeof *g);
  char *copy = strdup(text), *save = NULL;
  int table = 0;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *cells[MAX_CELLS + 2];
    if (line[0] != '|') continue;
    int n = split_cells(line, cells, MAX_CELLS + 2);
    if (n == 0) continue;
    if (strcmp(cells[0], "profile id") == 0)
      table = 1;
    else if (strcmp(cells[0], "id") == 0)
      table = 2, parse_header2(cells, n, g);
    else if (!isdigit((unsigned char)cells[0][0]))
      continue;
    else if (table == 1)
      parse_row1(cells, n, g);
    else if (table == 2)
      parse_row2(cells, n, g);
  }
  free(copy);
  cr_assert_eq(g->n_rows, 7);
  cr_assert_eq(g->n_named, 7);
  cr_assert_eq(g->n_models, 4);
}

/* The figures the second table gives for profile `id` (19's for 20, which gives names only). */
static const struct geo_cell *geo_figures(const struct geometry *g, int id, int model_col) {
  for (int r = 0; r < g->n_named; r++) {
    if (g->named_ids[r] == id && g->cells[r][model_col].sms >= 0) return &g->cells[r][model_col];
  }
  return id == 20 ? geo_figures(g, 19, model_col) : NULL;
}

static const char *geo_name(const struct geometry *g, int id, int model_col) {
  for (int r = 0; r < g->n_named; r++)
    if (g->named_ids[r] == id) return g->cells[r][model_col].name;
  return NULL;
}

/* Does the catalog's MiB figure print as the table does? GiB as nvidia-smi (%.2f); MB/MiB exact. */
static void check_memory_text(uint64_t mib, const char *text, const char *what) {
  char num[16], unit[8], mine[32];
  cr_assert_eq(sscanf(text, "%15s %7s", num, unit), 2);
  if (strcmp(unit, "GiB") == 0)
    snprintf(mine, sizeof mine, "%.2f", (double)mib / 1024.0);
  else
    snprintf(mine, sizeof mine, "%llu", (unsigned long long)mib);
  cr_expect_str_eq(mine, num, "%s: catalog %llu MiB reads %s %s, table says %s", what,
                   (unsigned long long)mib, mine, unit, text);
}

static void check_model_against(const struct geometry *g, int col) {
  const struct catalog_model *m = catalog_find(g->model_keys[col]);
  cr_assert_not_null(m, "model %s missing from catalog", g->model_keys[col]);
  cr_assert_eq(m->n_mig_profiles, g->n_rows, "%s", m->key);
  for (int i = 0; i < m->n_mig_profiles; i++) {
    const struct catalog_mig_profile *pr = &m->mig_profiles[i];
    const struct geo_row *r = &g->rows[i]; /* same order as the table: 19, 20, 15, 14, 9, 5, 0 */
    cr_expect_eq(pr->id, r->id, "%s profile %d", m->key, i);
    cr_expect_eq(pr->compute_slices, r->compute, "%s %s", m->key, pr->name);
    cr_expect_eq(pr->memory_slices, r->mem_slices, "%s %s", m->key, pr->name);
    cr_expect_eq(pr->memory_slices, r->size, "%s %s: placement size", m->key, pr->name);
    cr_expect_eq(pr->max_instances, r->max_inst, "%s %s", m->key, pr->name);
    cr_expect_eq(pr->n_starts, r->n_starts, "%s %s", m->key, pr->name);
    for (int s = 0; s < r->n_starts && s < pr->n_starts; s++)
      cr_expect_eq(pr->starts[s], r->starts[s], "%s %s start %d", m->key, pr->name, s);
    cr_expect_str_eq(pr->name, geo_name(g, pr->id, col), "%s id %d", m->key, pr->id);
    cr_expect_eq(pr->media_extension, strstr(geo_name(g, pr->id, col), "+me") != NULL);
    const struct geo_cell *f = geo_figures(g, pr->id, col);
    cr_assert_not_null(f);
    cr_expect_eq(pr->sm_count, f->sms, "%s %s SMs", m->key, pr->name);
    char what[64];
    snprintf(what, sizeof what, "%s %s", m->key, pr->name);
    check_memory_text(pr->memory_mib, f->mem_text, what);
  }
}

Test(geometry, every_model_matches_the_geometry_table) {
  struct geometry g;
  parse_geometry(geometry_copy, &g);
  for (int col = 0; col < g.n_models; col++) check_model_against(&g, col);
  int n;
  catalog_models(&n);
  cr_assert_eq(n, g.n_models, "every catalog model must be in the geometry table");
}

static char *read_shared(const char *rel) {
  const char *dir = getenv("GPUOPS_SHARED_DIR");
  if (!dir) return NULL;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t got = fread(buf, 1, (1 << 20) - 1, f);
  buf[got] = '\0';
  fclose(f);
  return buf;
}

Test(geometry, the_copy_still_matches_the_shared_file) {
  char *text = read_shared("data/mig-geometry.md");
  if (!text) TEST_SKIP_OR_FAIL("GPUOPS_SHARED_DIR/data/mig-geometry.md not present");
  struct geometry file, copy;
  parse_geometry(text, &file);
  parse_geometry(geometry_copy, &copy);
  cr_assert_eq(memcmp(&file, &copy, sizeof file), 0,
               "tests/test_catalog.c's copy of the geometry tables drifted from the shared file");
  free(text);
}

/* ---- 2. H200 figures against the real card ---------------------------------- */

/* The value after "label ... : " on the first line holding label, or NULL. */
static const char *field_after(const char *text, const char *label, char *out, size_t len) {
  const char *p = strstr(text, label);
  if (!p) return NULL;
  p = strchr(p, ':');
  if (!p) return NULL;
  p++;
  while (*p == ' ') p++;
  size_t k = strcspn(p, "\n");
  snprintf(out, len, "%.*s", (int)k, p);
  return out;
}

Test(h200, figures_match_nvidia_smi_q_and_dmon) {
  char *q = read_shared("data/h200/nvidia-smi-q.txt");
  char *dmon = read_shared("data/h200/dmon.txt");
  if (!q || !dmon) TEST_SKIP_OR_FAIL("shared H200 transcripts not present");
  const struct catalog_model *m = catalog_find("H200");
  char v[128];
  cr_assert_not_null(field_after(q, "Product Name", v, sizeof v));
  cr_expect_str_eq(v, m->product_name);
  cr_assert_not_null(field_after(q, "Device Id", v, sizeof v));
  cr_expect_eq(strtoul(v, NULL, 16), m->pci_device_id);
  const char *fb = strstr(q, "FB Memory Usage");
  cr_assert_not_null(fb);
  cr_assert_not_null(field_after(fb, "Total", v, sizeof v));
  cr_expect_eq(strtoull(v, NULL, 10), m->memory_mib);
  /* dmon: "# gpu pwr ... mclk pclk", then rows whose last two columns are MHz. */
  const char *row = strstr(dmon, "\n    0 ");
  cr_assert_not_null(row);
  unsigned vals[12];
  int k =
      sscanf(row, " %u %u %u %u %u %u %u %u %u %u %u %u", &vals[0], &vals[1], &vals[2], &vals[3],
             &vals[4], &vals[5], &vals[6], &vals[7], &vals[8], &vals[9], &vals[10], &vals[11]);
  cr_assert_eq(k, 12);
  cr_expect_eq(vals[10], m->max_mem_clock_mhz);
  cr_expect_eq(vals[11], m->max_sm_clock_mhz);
  free(q);
  free(dmon);
}

Test(h200, mig_profiles_match_the_real_card) {
  char *t = read_shared("data/h200/mig-profiles.txt");
  if (!t) TEST_SKIP_OR_FAIL("shared H200 mig-profiles.txt not present");
  const struct catalog_model *m = catalog_find("H200");
  int seen = 0;
  for (const char *p = strstr(t, "MIG "); p; p = strstr(p + 1, "MIG ")) {
    char name[32];
    int id, free_n, total, sms;
    double gib;
    if (sscanf(p, "MIG %31s %d %d/%d %lf No %d", name, &id, &free_n, &total, &gib, &sms) != 6)
      continue;
    const struct catalog_mig_profile *pr = catalog_mig_profile(m, id);
    cr_assert_not_null(pr, "id %d", id);
    cr_expect_str_eq(pr->name, name);
    cr_expect_eq(pr->max_instances, total, "%s", name);
    cr_expect_eq(pr->sm_count, sms, "%s", name);
    cr_expect_eq(pr->memory_mib, (uint64_t)(gib * 1024.0 + 0.5), "%s", name);
    seen++;
  }
  cr_expect_eq(seen, 7);
  seen = 0;
  for (const char *p = strstr(t, "Profile ID"); p; p = strstr(p + 1, "Profile ID")) {
    int id, size, n = 0, starts[8];
    cr_assert_eq(sscanf(p, "Profile ID %d", &id), 1);
    const char *b = strchr(p, '{');
    cr_assert_not_null(b);
    for (b++; *b != '}'; b += (*b == ',')) starts[n++] = (int)strtol(b, (char **)&b, 10);
    cr_assert_eq(sscanf(b, "}:%d", &size), 1);
    const struct catalog_mig_profile *pr = catalog_mig_profile(m, id);
    cr_assert_not_null(pr);
    cr_expect_eq(pr->memory_slices, size, "id %d", id);
    cr_assert_eq(pr->n_starts, n, "id %d", id);
    for (int i = 0; i < n; i++) cr_expect_eq(pr->starts[i], starts[i], "id %d", id);
    seen++;
  }
  cr_expect_eq(seen, 7);
  free(t);
}

/* ---- 3. lookups and invariants --------------------------------------------- */

Test(catalog, lookups_by_key_product_name_and_pci_id) {
  int n;
  const struct catalog_model *all = catalog_models(&n);
  cr_assert_geq(n, 4);
  for (int i = 0; i < n; i++) {
    cr_expect_eq(catalog_find(all[i].key), &all[i]);
    cr_expect_eq(catalog_find(all[i].product_name), &all[i]);
    cr_expect_eq(catalog_find_pci(all[i].pci_device_id), &all[i]);
    char lower[64];
    snprintf(lower, sizeof lower, "%s", all[i].product_name);
    for (char *c = lower; *c; c++) *c = (char)tolower((unsigned char)*c);
    cr_expect_eq(catalog_find(lower), &all[i], "case-insensitive '%s'", lower);
  }
  cr_expect_eq(catalog_find("NVIDIA H100 80GB HBM3"), catalog_find("H100-80GB"));
  cr_expect_eq(catalog_find("NVIDIA A100-SXM4-40GB"), catalog_find("A100-40GB"));
  cr_expect_eq(catalog_find_pci(0x20B210DE), catalog_find("A100-80GB"));
  cr_expect_not_null(catalog_find("A100-80GB"));
  cr_expect_null(catalog_find("H300"));
  cr_expect_null(catalog_find(""));
  cr_expect_null(catalog_find(NULL));
  cr_expect_null(catalog_find_pci(0x12345678));
  cr_expect_null(catalog_mig_profile(NULL, 19));
  cr_expect_null(catalog_mig_profile_by_name(catalog_find("H200"), NULL));
}

Test(catalog, model_figures_the_rest_of_the_tree_relies_on) {
  const struct catalog_model *h200 = catalog_find("H200"), *h100 = catalog_find("H100-80GB");
  const struct catalog_model *a80 = catalog_find("A100-80GB"), *a40 = catalog_find("A100-40GB");
  cr_expect_eq(h200->memory_mib, 143771);
  cr_expect_eq(h200->sm_count, 132);
  cr_expect_eq(h100->sm_count, 132);
  cr_expect_eq(a80->sm_count, 108);
  cr_expect_eq(a40->sm_count, 108);
  cr_expect_eq(h200->power_limit_w, 700);
  cr_expect_eq(h100->power_limit_w, 700);
  cr_expect_eq(a80->power_limit_w, 400);
  cr_expect_eq(h200->pci_device_id, 0x233510DE);
  cr_expect_eq(h100->pci_device_id, 0x233010DE);
  cr_expect_eq(a40->pci_device_id, 0x20B010DE);
  cr_expect_eq(a80->pci_device_id, 0x20B210DE);
  cr_expect_eq(h200->mem_bandwidth_gbs, 4800);
  cr_expect_eq(h100->mem_bandwidth_gbs, 3350);
  cr_expect_eq(a80->mem_bandwidth_gbs, 2039);
  cr_expect_eq(a40->mem_bandwidth_gbs, 1555);
}

Test(catalog, every_model_is_internally_consistent) {
  int n;
  const struct catalog_model *all = catalog_models(&n);
  for (int i = 0; i < n; i++) {
    const struct catalog_model *m = &all[i];
    cr_expect(m->bf16_dense_tflops > m->fp32_tflops, "%s", m->key);
    cr_expect(m->l2_cache_kib > 0 && m->max_sm_clock_mhz > 0 && m->max_mem_clock_mhz > 0);
    for (int j = 0; j < m->n_mig_profiles; j++) {
      const struct catalog_mig_profile *pr = &m->mig_profiles[j];
      char prefix[8];
      snprintf(prefix, sizeof prefix, "%dg.", pr->compute_slices);
      cr_expect_eq(strncmp(pr->name, prefix, strlen(prefix)), 0, "%s %s", m->key, pr->name);
      cr_expect_eq(catalog_mig_profile(m, pr->id), pr);
      cr_expect_eq(catalog_mig_profile_by_name(m, pr->name), pr, "%s %s", m->key, pr->name);
      cr_expect_leq(pr->memory_mib, m->memory_mib);
      /* NVML's figures are whole multiples of 128 MiB: with the %.2f GiB check above this
       * pins the derived H100/A100-40GB figures to one value each. */
      cr_expect_eq(pr->memory_mib % 128, 0, "%s %s: %llu MiB", m->key, pr->name,
                   (unsigned long long)pr->memory_mib);
      cr_expect_leq(pr->sm_count, m->sm_count);
      cr_expect_leq(pr->memory_slices * pr->max_instances, CATALOG_MIG_MEMORY_SLICES);
      for (int s = 1; s < pr->n_starts; s++) cr_expect_lt(pr->starts[s - 1], pr->starts[s]);
      for (int s = 0; s < pr->n_starts; s++)
        cr_expect_leq(pr->starts[s] + pr->memory_slices, CATALOG_MIG_MEMORY_SLICES);
    }
  }
}

Test(catalog, same_name_means_different_profiles_on_different_models) {
  const struct catalog_mig_profile *h100 =
      catalog_mig_profile_by_name(catalog_find("H100-80GB"), "1g.10gb");
  const struct catalog_mig_profile *a40 =
      catalog_mig_profile_by_name(catalog_find("A100-40GB"), "1g.10gb");
  cr_assert_not_null(h100);
  cr_assert_not_null(a40);
  cr_expect_eq(h100->id, 19);
  cr_expect_eq(a40->id, 15);
  cr_expect_null(catalog_mig_profile_by_name(catalog_find("H200"), "1g.10gb"));
}

/* ---- 4. brute force over every layout -------------------------------------- */

/*
 * The reference rule, written apart from mig.c: a slice-occupancy array, a
 * per-profile count and a compute total, built by adding one placement at a
 * time. Starts are checked by scanning the profile's start list.
 */
struct ref_state {
  int owner[CATALOG_MIG_MEMORY_SLICES]; /* placement index + 1 using the slice, 0 free */
  int count[64];                        /* instances per profile id */
  int compute;
};

static bool ref_add(const struct catalog_model *m, struct ref_state *st, struct mig_placement p,
                    int index, bool with_compute_rule) {
  const struct catalog_mig_profile *pr = NULL;
  for (int i = 0; i < m->n_mig_profiles; i++)
    if (m->mig_profiles[i].id == p.profile_id) pr = &m->mig_profiles[i];
  if (!pr) return false;
  bool start_ok = false;
  for (int i = 0; i < pr->n_starts; i++) start_ok |= pr->starts[i] == p.start;
  if (!start_ok) return false;
  for (int s = p.start; s < p.start + pr->memory_slices; s++)
    if (s >= CATALOG_MIG_MEMORY_SLICES || st->owner[s]) return false;
  if (st->count[p.profile_id] + 1 > pr->max_instances) return false;
  if (with_compute_rule && st->compute + pr->compute_slices > CATALOG_MIG_COMPUTE_SLICES)
    return false;
  for (int s = p.start; s < p.start + pr->memory_slices; s++) st->owner[s] = index + 1;
  st->count[p.profile_id]++;
  st->compute += pr->compute_slices;
  return true;
}

static unsigned ref_mask(const struct ref_state *st) {
  unsigned mask = 0;
  for (int s = 0; s < CATALOG_MIG_MEMORY_SLICES; s++)
    if (st->owner[s]) mask |= 1u << s;
  return mask;
}

struct search {
  const struct catalog_model *m;
  bool with_compute_rule;
  int n_valid;                   /* layouts found, the empty one included */
  int by_size[9];                /* of them, by number of instances */
  int max_compute;               /* most compute slices any layout found uses */
  int n_invalid_checked;         /* one-step extensions the reference rejects */
  struct mig_placement cand[64]; /* every (profile, start) with start 0..7 */
  int n_cand;
};

static void check_layout(struct search *s, const struct mig_placement *p, int n,
                         const struct ref_state *st) {
  char why[256];
  cr_assert(mig_layout_valid(s->m, p, n, why, sizeof why), "%s: valid layout rejected: %s",
            s->m->key, why);
  struct mig_placement rev[8];
  for (int i = 0; i < n; i++) rev[i] = p[n - 1 - i];
  cr_assert(mig_layout_valid(s->m, rev, n, NULL, 0), "%s: order matters", s->m->key);
  cr_assert_eq(mig_used_memory_slices(s->m, p, n), ref_mask(st));
  for (int j = 0; j < s->m->n_mig_profiles; j++) {
    int id = s->m->mig_profiles[j].id, starts[CATALOG_MIG_MAX_STARTS], want[8], n_want = 0;
    for (int start = 0; start < CATALOG_MIG_MEMORY_SLICES; start++) {
      struct ref_state t = *st;
      if (ref_add(s->m, &t, (struct mig_placement){id, start}, n, true)) want[n_want++] = start;
    }
    int k = mig_free_starts(s->m, p, n, id, starts);
    cr_assert_eq(k, n_want, "%s: free starts of %d", s->m->key, id);
    for (int i = 0; i < k; i++) cr_assert_eq(starts[i], want[i]);
  }
}

/* Extend the layout p[0..n) by candidates from index `from` on (each layout once). */
static void search_from(struct search *s, struct mig_placement *p, int n,
                        const struct ref_state *st, int from) {
  if (s->with_compute_rule) check_layout(s, p, n, st);
  s->n_valid++;
  s->by_size[n]++;
  if (st->compute > s->max_compute) s->max_compute = st->compute;
  for (int c = 0; c < s->n_cand; c++) {
    struct ref_state next = *st;
    p[n] = s->cand[c];
    bool ok = ref_add(s->m, &next, p[n], n, s->with_compute_rule);
    if (s->with_compute_rule) {
      char why[256];
      bool got = mig_layout_valid(s->m, p, n + 1, why, sizeof why);
      cr_assert_eq(got, ok, "%s: mig_layout_valid says %d, reference %d (%s)", s->m->key, got, ok,
                   why);
      if (!ok) s->n_invalid_checked++;
    }
    if (ok && c >= from) search_from(s, p, n + 1, &next, c + 1);
  }
}

static void run_search(struct search *s, const struct catalog_model *m, bool with_compute_rule) {
  memset(s, 0, sizeof *s);
  s->m = m;
  s->with_compute_rule = with_compute_rule;
  for (int j = 0; j < m->n_mig_profiles; j++)
    for (int start = 0; start < CATALOG_MIG_MEMORY_SLICES; start++)
      s->cand[s->n_cand++] = (struct mig_placement){m->mig_profiles[j].id, start};
  struct mig_placement p[9];
  struct ref_state st;
  memset(&st, 0, sizeof st);
  search_from(s, p, 0, &st, 0);
}

/*
 * 2319 layouts (the empty one included; 25 single instances ... 15 of seven),
 * the same on every model: the geometry is shared. Counted independently by
 * an exhaustive pass over all 2^25 subsets of the 25 valid (profile, start)
 * pairs when this test was written.
 */
#define VALID_LAYOUTS 2319

Test(mig, every_valid_layout_is_accepted_and_every_extension_judged, .timeout = 60) {
  int n;
  const struct catalog_model *all = catalog_models(&n);
  for (int i = 0; i < n; i++) {
    struct search s;
    run_search(&s, &all[i], true);
    cr_log_info("%s: %d valid layouts, %d invalid one-step extensions checked", all[i].key,
                s.n_valid, s.n_invalid_checked);
    cr_expect_eq(s.n_valid, VALID_LAYOUTS, "%s", all[i].key);
    cr_expect_eq(s.by_size[1], 25);
    cr_expect_eq(s.by_size[7], 15);
    cr_expect_eq(s.by_size[8], 0, "no layout holds 8 instances");
    cr_expect_gt(s.n_invalid_checked, 1000);
  }
}

/* The compute rule is implied by the others on these geometries (see mig.c's header). */
Test(mig, compute_rule_never_binds_on_real_geometries) {
  int n;
  const struct catalog_model *all = catalog_models(&n);
  for (int i = 0; i < n; i++) {
    struct search s;
    run_search(&s, &all[i], false);
    cr_expect_eq(s.n_valid, VALID_LAYOUTS, "%s", all[i].key);
    cr_expect_eq(s.max_compute, 7, "%s", all[i].key);
  }
}

/* ---- 5. hand-picked layouts, one group per rule ----------------------------- */

#define P(id, start) ((struct mig_placement){(id), (start)})

static void expect_invalid(const char *model, const struct mig_placement *p, int n,
                           const char *rule_words, const char *names) {
  char why[256] = "";
  const struct catalog_model *m = catalog_find(model);
  cr_assert_not(mig_layout_valid(m, p, n, why, sizeof why), "%s: accepted, expected '%s'", model,
                rule_words);
  cr_expect(strstr(why, rule_words) != NULL, "reason '%s' should mention '%s'", why, rule_words);
  cr_expect(strstr(why, names) != NULL, "reason '%s' should name '%s'", why, names);
  cr_expect_null(strchr(why, '\n'), "one line");
}

static void expect_valid(const char *model, const struct mig_placement *p, int n) {
  char why[256] = "";
  cr_expect(mig_layout_valid(catalog_find(model), p, n, why, sizeof why), "%s: %s", model, why);
}

Test(mig, known_good_layouts) {
  struct mig_placement seven[7];
  for (int i = 0; i < 7; i++) seven[i] = P(19, i);
  expect_valid("H200", seven, 7);
  const struct catalog_model *h200 = catalog_find("H200");
  cr_expect_eq(mig_used_memory_slices(h200, seven, 7), 0x7Fu, "seven 1g leave slice 7 unused");
  int starts[8];
  cr_expect_eq(mig_free_starts(h200, seven, 7, 15, starts), 0);
  cr_expect_eq(mig_free_starts(h200, seven, 6, 19, starts), 1);
  cr_expect_eq(starts[0], 6);
  expect_valid("H200", (struct mig_placement[]){P(9, 4), P(5, 0)}, 2);
  expect_valid("A100-40GB", (struct mig_placement[]){P(5, 0), P(14, 4), P(15, 6)}, 3);
  expect_valid("H100-80GB", (struct mig_placement[]){P(0, 0)}, 1);
  expect_valid("A100-80GB", (struct mig_placement[]){P(20, 3), P(19, 0), P(9, 4)}, 3);
  expect_valid("H200", NULL, 0);
  cr_expect_eq(mig_used_memory_slices(h200, (struct mig_placement[]){P(9, 4)}, 1), 0xF0u);
  /* Free starts of 3g next to a 3g@0: only 4. */
  cr_expect_eq(mig_free_starts(h200, (struct mig_placement[]){P(9, 0)}, 1, 9, starts), 1);
  cr_expect_eq(starts[0], 4);
  cr_expect_eq(mig_free_starts(h200, NULL, 0, 77, starts), 0, "unknown profile fits nowhere");
}

Test(mig, rule_valid_start) {
  expect_invalid("H200", (struct mig_placement[]){P(9, 2)}, 1, "not a valid start",
                 "placement 0 (3g.71gb@2)");
  expect_invalid("H200", (struct mig_placement[]){P(9, 2)}, 1, "valid: 0,4", "3g.71gb");
  expect_invalid("H200", (struct mig_placement[]){P(19, 0), P(19, 7)}, 2, "not a valid start",
                 "placement 1 (1g.18gb@7)");
  expect_invalid("A100-40GB", (struct mig_placement[]){P(5, 4)}, 1, "not a valid start",
                 "4g.20gb@4");
  expect_invalid("H100-80GB", (struct mig_placement[]){P(14, 6)}, 1, "valid: 0,2,4", "2g.20gb@6");
  expect_invalid("A100-80GB", (struct mig_placement[]){P(15, 1)}, 1, "not a valid start",
                 "1g.20gb@1");
  expect_invalid("H200", (struct mig_placement[]){P(0, -1)}, 1, "not a valid start", "7g.141gb");
}

Test(mig, rule_no_overlap) {
  expect_invalid("H200", (struct mig_placement[]){P(9, 0), P(14, 2)}, 2, "overlap",
                 "placement 1 (2g.35gb@2)");
  expect_invalid("H200", (struct mig_placement[]){P(0, 0), P(19, 3)}, 2, "overlap placement 0",
                 "7g.141gb@0");
  expect_invalid("A100-40GB", (struct mig_placement[]){P(15, 4), P(19, 5)}, 2, "overlap",
                 "1g.5gb@5");
  expect_invalid("H200", (struct mig_placement[]){P(5, 0), P(5, 0)}, 2, "overlap", "4g.71gb@0");
  expect_invalid("H100-80GB", (struct mig_placement[]){P(19, 6), P(15, 6)}, 2, "overlap",
                 "1g.20gb@6");
}

Test(mig, rule_max_instances) {
  /* Only the +me profile can pass its max without overlapping: its starts outnumber its max. */
  expect_invalid("H200", (struct mig_placement[]){P(20, 0), P(20, 1)}, 2, "max instances (1)",
                 "placement 1 (1g.18gb+me@1)");
  expect_invalid("A100-40GB", (struct mig_placement[]){P(19, 0), P(20, 2), P(20, 4)}, 3,
                 "max instances", "1g.5gb+me");
}

Test(mig, rule_compute_slices_on_a_made_up_geometry) {
  /* No real geometry can break this rule alone (see above), so a model made for the test does. */
  static const struct catalog_mig_profile fat[] = {
      {1, "4g.test", 4, 2, 4, 1024, 8, false, 4, {0, 2, 4, 6}},
  };
  static const struct catalog_model test_model = {
      .key = "TEST", .n_mig_profiles = 1, .mig_profiles = fat};
  char why[256];
  struct mig_placement p[2] = {P(1, 0), P(1, 2)};
  cr_assert_not(mig_layout_valid(&test_model, p, 2, why, sizeof why));
  cr_expect(strstr(why, "compute slices would total 8") != NULL, "%s", why);
  cr_expect(strstr(why, "placement 1 (4g.test@2)") != NULL, "%s", why);
  int starts[8];
  cr_expect_eq(mig_free_starts(&test_model, p, 1, 1, starts), 0);
  cr_expect(mig_layout_valid(&test_model, p, 1, NULL, 0));
}

Test(mig, rule_unknown_profile_and_bad_arguments) {
  expect_invalid("H200", (struct mig_placement[]){P(19, 0), P(7, 0)}, 2, "unknown profile id 7",
                 "known: 19, 20, 15, 14, 9, 5, 0");
  char why[128];
  cr_expect_not(mig_layout_valid(NULL, NULL, 0, why, sizeof why));
  cr_expect_not(mig_layout_valid(catalog_find("H200"), NULL, 2, why, sizeof why));
  cr_expect_not(mig_layout_valid(catalog_find("H200"), NULL, -1, why, sizeof why));
  static const struct catalog_model no_mig = {.key = "NOMIG"};
  cr_expect_not(mig_layout_valid(&no_mig, (struct mig_placement[]){P(0, 0)}, 1, why, sizeof why));
  cr_expect(strstr(why, "does not support MIG") != NULL, "%s", why);
  /* A short buffer is truncated, never overrun. */
  char tiny[8];
  memset(tiny, 'x', sizeof tiny);
  cr_expect_not(mig_layout_valid(catalog_find("H200"), (struct mig_placement[]){P(9, 2)}, 1, tiny,
                                 sizeof tiny));
  cr_expect_eq(strlen(tiny), 7);
}

/* ---- 6. parse ---------------------------------------------------------------- */

static void expect_parse(const char *model, const char *text, int id, int start) {
  struct mig_placement p = {-1, -1};
  char why[256] = "";
  cr_assert_eq(mig_placement_parse(catalog_find(model), text, &p, why, sizeof why), 0, "%s: %s",
               text, why);
  cr_expect_eq(p.profile_id, id, "%s", text);
  cr_expect_eq(p.start, start, "%s", text);
}

static void expect_parse_error(const char *model, const char *text, const char *words) {
  struct mig_placement p = {-1, -1};
  char why[256] = "";
  cr_assert_eq(mig_placement_parse(catalog_find(model), text, &p, why, sizeof why), -1, "%s", text);
  cr_expect(strstr(why, words) != NULL, "'%s': reason '%s' should mention '%s'", text, why, words);
  cr_expect_eq(p.profile_id, -1, "output untouched on error");
}

Test(mig, parse_names_and_ids) {
  expect_parse("H200", "3g.71gb@4", 9, 4);
  expect_parse("H200", "9@4", 9, 4);
  expect_parse("H200", "1g.18gb+me@3", 20, 3);
  expect_parse("H200", "7G.141GB@0", 0, 0);
  expect_parse("H200", "0@0", 0, 0);
  expect_parse("H100-80GB", "1g.10gb@2", 19, 2);
  expect_parse("A100-40GB", "1g.10gb@2", 15, 2);
  expect_parse("A100-80GB", "4g.40gb@0", 5, 0);
  /* Parsing does not judge starts: the layout check does, with its reason. */
  expect_parse("H200", "3g.71gb@2", 9, 2);
}

Test(mig, parse_errors) {
  expect_parse_error("H200", "1g.10gb@0", "unknown profile '1g.10gb' for H200");
  expect_parse_error("H200", "1g.10gb@0", "known: 1g.18gb, 1g.18gb+me");
  expect_parse_error("H200", "23@0", "unknown profile id '23'");
  expect_parse_error("H200", "3g.71gb", "no '@START'");
  expect_parse_error("H200", "3g.71gb@", "not a memory slice");
  expect_parse_error("H200", "3g.71gb@8", "not a memory slice 0-7");
  expect_parse_error("H200", "3g.71gb@-1", "not a memory slice");
  expect_parse_error("H200", "3g.71gb@4x", "not a memory slice");
  expect_parse_error("H200", "@4", "unknown profile");
  expect_parse_error("H200", "", "no '@START'");
  expect_parse_error("H200",
                     "3g.71gb-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@0",
                     "too long");
  struct mig_placement p;
  cr_expect_eq(mig_placement_parse(NULL, "9@0", &p, NULL, 0), -1);
  cr_expect_eq(mig_placement_parse(catalog_find("H200"), NULL, &p, NULL, 0), -1);
}
