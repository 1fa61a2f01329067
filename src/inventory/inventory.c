/*
 * inventory.c — the fleet model's life cycle, the built-in fleet, lookups.
 *
 * Sections:
 *   1. init / free and the node helpers spec.c shares (spec.h);
 *   2. the built-in fleet (inventory_default);
 *   3. loading a YAML spec from a file or a buffer (the parser is spec.c);
 *   4. lookups.
 */
#include "inventory/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "inventory/spec.h"

#define SPEC_MAX_FILE_BYTES (16u << 20) /* a fleet spec larger than this is a mistake */

/* ---- 1. life cycle -------------------------------------------------------- */

void inventory_init(struct inventory *inv) { memset(inv, 0, sizeof *inv); }

void inventory_node_clear(struct inv_node *n) {
  for (int i = 0; i < n->n_labels; i++) {
    free(n->labels[i].key);
    free(n->labels[i].value);
  }
  free(n->labels);
  free(n->gpus);
  memset(n, 0, sizeof *n);
}

void inventory_free(struct inventory *inv) {
  if (!inv) return;
  for (int i = 0; i < inv->n_nodes; i++) inventory_node_clear(&inv->nodes[i]);
  free(inv->nodes);
  inventory_init(inv);
}

int inventory_node_set_label(struct inv_node *n, const char *key, const char *value) {
  char *v = strdup(value);
  if (!v) return err_set(ERR_NOMEM, "out of memory setting label '%s'", key);
  for (int i = 0; i < n->n_labels; i++) {
    if (strcmp(n->labels[i].key, key) == 0) {
      free(n->labels[i].value);
      n->labels[i].value = v;
      return 0;
    }
  }
  char *k = strdup(key);
  struct inv_label *grown =
      k ? realloc(n->labels, (size_t)(n->n_labels + 1) * sizeof *grown) : NULL;
  if (!grown) {
    free(k);
    free(v);
    return err_set(ERR_NOMEM, "out of memory setting label '%s'", key);
  }
  n->labels = grown;
  n->labels[n->n_labels++] = (struct inv_label){.key = k, .value = v};
  return 0;
}

int inventory_node_copy(struct inv_node *dst, const struct inv_node *src) {
  *dst = *src;
  dst->n_labels = 0;
  dst->labels = NULL;
  dst->gpus = NULL;
  if (src->n_gpus > 0) {
    dst->gpus = malloc((size_t)src->n_gpus * sizeof *dst->gpus);
    if (!dst->gpus) goto nomem;
    memcpy(dst->gpus, src->gpus, (size_t)src->n_gpus * sizeof *dst->gpus);
  }
  for (int i = 0; i < src->n_labels; i++) {
    if (inventory_node_set_label(dst, src->labels[i].key, src->labels[i].value) < 0) goto nomem;
  }
  return 0;
nomem:
  inventory_node_clear(dst);
  return err_set(ERR_NOMEM, "out of memory copying node '%s'", src->name);
}

/* ---- 2. the built-in fleet ------------------------------------------------ */

int inventory_default(struct inventory *inv) {
  inventory_init(inv);
  snprintf(inv->name, sizeof inv->name, "default");
  snprintf(inv->source, sizeof inv->source, "built-in");
  inv->seed = 1;
  struct inv_node *n = calloc(1, sizeof *n);
  struct inv_gpu *g = calloc(8, sizeof *g);
  if (!n || !g) {
    free(n);
    free(g);
    return err_set(ERR_NOMEM, "out of memory building the built-in fleet");
  }
  snprintf(n->name, sizeof n->name, "sim-node-0");
  n->cpu_milli = 112000;   /* 2 sockets x 56 cores, an HGX H200 host */
  n->memory_mib = 2097152; /* 2 TiB */
  snprintf(n->driver_version, sizeof n->driver_version, "580.159.04");
  snprintf(n->firmware_version, sizeof n->firmware_version, "96.00.A5.00.1A");
  snprintf(n->state, sizeof n->state, "up");
  for (int i = 0; i < 8; i++) {
    g[i].index = i;
    g[i].model = catalog_find("H200");
  }
  n->n_gpus = 8;
  n->gpus = g;
  inv->nodes = n;
  inv->n_nodes = 1;
  return 0;
}

/* ---- 3. loading ----------------------------------------------------------- */

/* Read a whole file (or pipe) into a malloc'd buffer; *len gets its size. */
static int read_file(const char *path, char **out, size_t *len) {
  int rc = 0;
  size_t cap = 64 << 10, used = 0;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(ERR_IO, "cannot open fleet spec '%s': %s", path, strerror(errno));
  for (;;) {
    char *grown = realloc(buf, cap);
    if (!grown) {
      rc = err_set(ERR_NOMEM, "out of memory reading fleet spec '%s'", path);
      goto out;
    }
    buf = grown;
    used += fread(buf + used, 1, cap - used, f);
    if (ferror(f)) {
      rc = err_set(ERR_IO, "cannot read fleet spec '%s': %s", path, strerror(errno));
      goto out;
    }
    if (used < cap) break; /* end of file */
    if (cap > SPEC_MAX_FILE_BYTES) {
      rc = err_set(ERR_INVALID, "%s: fleet spec is larger than %u MiB; is this the right file?",
                   path, SPEC_MAX_FILE_BYTES >> 20);
      goto out;
    }
    cap *= 2;
  }
  *out = buf;
  *len = used;
  buf = NULL;
out:
  free(buf);
  fclose(f);
  return rc;
}

int inventory_load_yaml(struct inventory *inv, const char *path) {
  inventory_init(inv);
  if (!path || !path[0]) return err_set(ERR_INVALID, "no fleet spec path given");
  char *buf = NULL;
  size_t len = 0;
  int rc = read_file(path, &buf, &len);
  if (rc == 0) rc = spec_parse(inv, buf, len, path);
  free(buf);
  return rc;
}

int inventory_load_yaml_buf(struct inventory *inv, const char *buf, size_t len, const char *name) {
  inventory_init(inv);
  if (!buf && len > 0) return err_set(ERR_INVALID, "no buffer given for fleet spec");
  return spec_parse(inv, buf ? buf : "", len, name && name[0] ? name : "<buffer>");
}

/* ---- 4. lookups ----------------------------------------------------------- */

const struct inv_node *inventory_node(const struct inventory *inv, const char *name) {
  if (!inv || !name) return NULL;
  for (int i = 0; i < inv->n_nodes; i++) {
    if (strcmp(inv->nodes[i].name, name) == 0) return &inv->nodes[i];
  }
  return NULL;
}

const char *inventory_label(const struct inv_node *node, const char *key) {
  if (!node || !key) return NULL;
  for (int i = 0; i < node->n_labels; i++) {
    if (strcmp(node->labels[i].key, key) == 0) return node->labels[i].value;
  }
  return NULL;
}

int inventory_gpu_count(const struct inventory *inv) {
  int n = 0;
  for (int i = 0; inv && i < inv->n_nodes; i++) n += inv->nodes[i].n_gpus;
  return n;
}
