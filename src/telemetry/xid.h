/*
 * xid.h — the XID catalog (what an XID the driver reports means, how bad it
 * is, and the action NVIDIA's Xid catalog and GPU debug guidelines give for
 * it) and a per-GPU history of the XIDs seen.
 *
 * Sections: the catalog; the history of one GPU.
 *
 * Threads: the catalog is constant. A history is plain data: the caller
 * serialises access (the exporter's event thread and sampler share one under
 * a mutex).
 */
#ifndef GPUOPS_TELEMETRY_XID_H
#define GPUOPS_TELEMETRY_XID_H

#include <stdint.h>

#include "telemetry/verdict.h"

/* ---- the catalog ---- */
struct xid_info {
  unsigned xid;
  const char *mnemonic;         /* NVIDIA's name ("GPU_HAS_FALLEN_OFF_THE_BUS") */
  const char *meaning;          /* one line */
  enum verdict_status severity; /* what seeing it recently makes the xid check: WARN or FAIL (PASS:
                                   informational) */
  enum verdict_action action;   /* the immediate action */
  const char *advice;           /* what to look at if it repeats */
};

/* The entry for xid, or NULL when the catalog does not have it. Static storage. */
const struct xid_info *xid_lookup(unsigned xid);
/* The whole catalog, ascending by XID; *n gets its length. Static storage. */
const struct xid_info *xid_catalog(int *n);

/* ---- the history of one GPU ---- */
#define XID_HISTORY_MAX 32 /* distinct XIDs remembered per GPU; the oldest is forgotten first */

struct xid_seen {
  unsigned xid;
  uint64_t count;   /* events since the history started */
  int64_t first_ns; /* CLOCK_REALTIME of the first and the latest event */
  int64_t last_ns;
};

struct xid_history {
  int n;
  struct xid_seen e[XID_HISTORY_MAX];
  unsigned last_xid; /* the most recent XID, 0 none */
  int64_t last_ns;
  uint64_t total; /* every event recorded */
};

void xid_history_init(struct xid_history *h);
/* Count one event of xid at t_ns (CLOCK_REALTIME). Never fails: a full history forgets its stalest
 * entry. */
void xid_history_record(struct xid_history *h, unsigned xid, int64_t t_ns);
/* The entry for xid, or NULL. */
const struct xid_seen *xid_history_find(const struct xid_history *h, unsigned xid);

#endif
