/*
 * folded.c — folded stacks and the flamegraph (folded.h).
 * Sections: stacks; folded lines; the frame tree; drawing.
 */
#include "profile/folded.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/svg.h"

/* ---- stacks ---- */
static void append(char *buf, size_t len, const char *frame) {
  size_t n = strlen(buf);
  if (n && n + 1 < len) buf[n++] = ';', buf[n] = '\0';
  for (; *frame && n + 1 < len; frame++) buf[n++] = *frame == ';' ? ':' : *frame;
  buf[n] = '\0';
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static bool open_at(const struct prof_range *r, int proc, int64_t t) {
  return !r->instant && r->proc == proc && r->s <= t && r->e > t;
}

/* Append the ranges of process proc open at t on thread tid, outermost first
 * (ranges are sorted by start, the longer first at a tie). With any_thread,
 * the thread is the one whose outermost range opened first. Returns how many. */
static int open_ranges(const struct profile *p, int proc, uint32_t tid, bool any_thread, int64_t t, char *buf,
                       size_t len) {
  int n = 0;
  for (int i = 0; i < p->n_ranges && p->ranges[i].s <= t; i++) {
    const struct prof_range *r = &p->ranges[i];
    if (!open_at(r, proc, t)) continue;
    if (any_thread) tid = r->tid, any_thread = false;
    if (r->tid != tid) continue;
    append(buf, len, p->names[r->name]);
    n++;
  }
  return n;
}

json_t *folded_stacks(const struct profile *p) {
  json_t *stacks = json_object();
  if (!stacks) return NULL;
  for (int i = 0; i < p->n_kernels; i++) {
    const struct prof_kernel *k = &p->kernels[i];
    char stack[4096] = "", root[600];
    const struct prof_process *pr = &p->procs[k->proc];
    snprintf(root, sizeof root, "%s [%d]", pr->exe[0] ? base_name(pr->exe) : "process", pr->pid);
    append(stack, sizeof stack, root);
    const struct prof_api *a = profile_api_by_corr(p, k->proc, k->corr);
    /* A launch from a thread with no open range (PyTorch's autograd threads
     * run backward for a main thread that waits inside its "backward" range)
     * takes the ranges open on the process's other thread at that time. */
    if (!a || open_ranges(p, k->proc, a->tid, false, a->s, stack, sizeof stack) == 0)
      open_ranges(p, k->proc, 0, true, a ? a->s : k->s, stack, sizeof stack);
    append(stack, sizeof stack, p->names[k->name]);
    json_t *w = json_object_get(stacks, stack);
    json_int_t add = k->e - k->s;
    if (w) json_integer_set(w, json_integer_value(w) + add);
    else json_object_set_new(stacks, stack, json_integer(add));
  }
  return stacks;
}

/* ---- folded lines ---- */
static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The keys of stacks in byte order (array owned by the caller, strings by stacks). */
static const char **sorted_keys(const json_t *stacks, size_t *n) {
  *n = json_object_size(stacks);
  const char **keys = malloc((*n ? *n : 1) * sizeof *keys);
  if (!keys) return NULL;
  size_t i = 0;
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)stacks, k, v) keys[i++] = k;
  qsort(keys, *n, sizeof *keys, cmp_str);
  return keys;
}

int folded_write(FILE *out, const json_t *stacks) {
  size_t n;
  const char **keys = sorted_keys(stacks, &n);
  if (!keys) return err_set(ERR_NOMEM, "folded: out of memory");
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s %lld\n", keys[i], (long long)json_integer_value(json_object_get(stacks, keys[i])));
  free(keys);
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}

/* ---- the frame tree ---- */
struct frame {
  char *name;
  int64_t weight;
  struct frame *child, *next; /* first child; next sibling (in insertion order) */
  int depth;
};

static struct frame *frame_new(const char *name, size_t len, int depth) {
  struct frame *f = calloc(1, sizeof *f);
  if (!f || !(f->name = strndup(name, len))) {
    free(f);
    return NULL;
  }
  f->depth = depth;
  return f;
}

static void frame_free(struct frame *f) {
  while (f) {
    struct frame *next = f->next;
    frame_free(f->child);
    free(f->name);
    free(f);
    f = next;
  }
}

/* The child of parent named name[0..len), created at the end of the list when missing. */
static struct frame *child_of(struct frame *parent, const char *name, size_t len) {
  struct frame **link = &parent->child;
  for (; *link; link = &(*link)->next)
    if (strlen((*link)->name) == len && !strncmp((*link)->name, name, len)) return *link;
  return *link = frame_new(name, len, parent->depth + 1);
}

static int tree_add(struct frame *root, const char *stack, int64_t w, int *max_depth) {
  struct frame *f = root;
  root->weight += w;
  for (const char *p = stack; *p;) {
    size_t len = strcspn(p, ";");
    if (!(f = child_of(f, p, len))) return err_set(ERR_NOMEM, "flamegraph: out of memory");
    f->weight += w;
    if (f->depth > *max_depth) *max_depth = f->depth;
    p += len;
    if (*p == ';') p++;
  }
  return 0;
}

/* ---- drawing ---- */
#define FG_WIDTH 1200.0
#define FG_ROW 17.0
#define FG_MARGIN 10.0
#define FG_TOP 40.0

struct drawing {
  struct svg svg;
  double height;
  int64_t total;
};

static const char *frame_color(const struct frame *f) {
  static const char *warm[] = {"#e8743b", "#f2a33a", "#e35d3e", "#f0b45a", "#d9823b", "#ee8f4b"};
  static const char *cool[] = {"#6fa8dc", "#7fb3d5", "#5b9bd5", "#8fc1e3"};
  unsigned h = 5381;
  for (const char *p = f->name; *p; p++) h = h * 33u + (unsigned char)*p;
  if (f->depth == 0) return "#b0b0b0";
  return f->child ? cool[h % 4] : warm[h % 6]; /* ranges and processes blue, kernels (leaves) warm */
}

static void draw(struct drawing *d, const struct frame *f, double x) {
  double w = d->total ? (FG_WIDTH - 2 * FG_MARGIN) * (double)f->weight / (double)d->total : 0;
  if (w < 0.3) return; /* too narrow to see; its time is in its parent's width */
  double y = d->height - FG_MARGIN - (f->depth + 1) * FG_ROW;
  svg_group_begin(&d->svg, "%s — %.3f ms (%.2f%%)", f->name, f->weight / 1e6, 100.0 * f->weight / d->total);
  svg_rect(&d->svg, x, y, w, FG_ROW - 1, frame_color(f), "#ffffff");
  int fit = (int)((w - 6) / 6.5); /* characters that fit at 11 px */
  if (fit >= 3) {
    int len = (int)strlen(f->name);
    if (len <= fit) svg_text(&d->svg, x + 3, y + 12, "start", 11, 0, "#1d2330", "%s", f->name);
    else svg_text(&d->svg, x + 3, y + 12, "start", 11, 0, "#1d2330", "%.*s..", fit - 2, f->name);
  }
  svg_group_end(&d->svg);
  for (const struct frame *c = f->child; c; c = c->next) {
    draw(d, c, x);
    x += d->total ? (FG_WIDTH - 2 * FG_MARGIN) * (double)c->weight / (double)d->total : 0;
  }
}

int folded_flamegraph(FILE *out, const json_t *stacks, const char *title) {
  struct frame *root = frame_new("all", 3, 0);
  if (!root) return err_set(ERR_NOMEM, "flamegraph: out of memory");
  int max_depth = 0, rc = 0;
  size_t n;
  const char **keys = sorted_keys(stacks, &n);
  if (!keys) rc = err_set(ERR_NOMEM, "flamegraph: out of memory");
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = tree_add(root, keys[i], json_integer_value(json_object_get(stacks, keys[i])), &max_depth);
  free(keys);
  if (rc) goto out;
  struct drawing d = {.total = root->weight, .height = FG_TOP + (max_depth + 1) * FG_ROW + 2 * FG_MARGIN};
  if ((rc = svg_begin(&d.svg, out, FG_WIDTH, d.height)) < 0) goto out;
  svg_text(&d.svg, FG_WIDTH / 2, 22, "middle", 15, 0, "#1d2330", "%s", title ? title : "GPU time by NVTX range");
  if (root->weight == 0)
    svg_text(&d.svg, FG_WIDTH / 2, FG_TOP, "middle", 12, 0, "#5a6375", "no kernel ran: nothing to draw");
  else draw(&d, root, FG_MARGIN);
  rc = svg_end(&d.svg);
out:
  frame_free(root);
  return rc;
}
