/*
 * test_xid.c — the XID catalog (telemetry/xid.h): every XID the issue lists
 * is there with a meaning, an action and advice, graded as NVIDIA's catalog
 * grades it; and per-GPU XID histories (counting, the latest XID, forgetting
 * the stalest when full).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "telemetry/xid.h"

/* ---- the catalog ---- */

Test(xid, catalog_has_every_required_xid_with_meaning_and_action) {
  static const unsigned required[] = {13, 31, 32, 43, 45, 48, 61,  62,  63,  64,  68,
                                      69, 74, 79, 92, 94, 95, 119, 120, 140, 143, 154};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    const struct xid_info *x = xid_lookup(required[i]);
    cr_assert_not_null(x, "XID %u missing from the catalog", required[i]);
    cr_assert_eq(x->xid, required[i]);
    cr_assert(x->mnemonic && *x->mnemonic, "XID %u has no mnemonic", x->xid);
    cr_assert(x->meaning && strlen(x->meaning) > 10, "XID %u has no meaning", x->xid);
    cr_assert(x->advice && *x->advice, "XID %u has no advice", x->xid);
    cr_assert(x->action < VERDICT_ACTION_COUNT);
    cr_assert(x->severity == VERDICT_PASS || x->severity == VERDICT_WARN ||
              x->severity == VERDICT_FAIL);
  }
}

Test(xid, catalog_is_ascending_and_unique) {
  int n = 0;
  const struct xid_info *c = xid_catalog(&n);
  cr_assert_gt(n, 20);
  for (int i = 1; i < n; i++)
    cr_assert_lt(c[i - 1].xid, c[i].xid, "catalog out of order at %u", c[i].xid);
}

Test(xid, grades_follow_nvidia_guidance) {
  struct {
    unsigned xid;
    enum verdict_status s;
    enum verdict_action a;
  } want[] = {
      {79, VERDICT_FAIL, VERDICT_ACTION_REBOOT_NODE},
      {48, VERDICT_FAIL, VERDICT_ACTION_RESET_GPU},
      {95, VERDICT_FAIL, VERDICT_ACTION_RESET_GPU},
      {119, VERDICT_FAIL, VERDICT_ACTION_RESET_GPU},
      {74, VERDICT_FAIL, VERDICT_ACTION_RESET_GPU},
      {13, VERDICT_WARN, VERDICT_ACTION_RESTART_APP},
      {31, VERDICT_WARN, VERDICT_ACTION_RESTART_APP},
      {43, VERDICT_WARN, VERDICT_ACTION_RESTART_APP},
      {94, VERDICT_WARN, VERDICT_ACTION_RESTART_APP},
      {63, VERDICT_WARN, VERDICT_ACTION_RESET_GPU},
      {45, VERDICT_PASS, VERDICT_ACTION_NONE},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const struct xid_info *x = xid_lookup(want[i].xid);
    cr_assert_eq(x->severity, want[i].s, "XID %u severity", want[i].xid);
    cr_assert_eq(x->action, want[i].a, "XID %u action %s", want[i].xid,
                 verdict_action_name(x->action));
  }
}

Test(xid, unknown_xid_is_not_in_the_catalog) {
  cr_assert_null(xid_lookup(0));
  cr_assert_null(xid_lookup(9999));
}

Test(xid, actions_are_ordered_by_severity) {
  cr_assert_lt(VERDICT_ACTION_NONE, VERDICT_ACTION_RESTART_APP);
  cr_assert_lt(VERDICT_ACTION_RESTART_APP, VERDICT_ACTION_RESET_GPU);
  cr_assert_lt(VERDICT_ACTION_RESET_GPU, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_lt(VERDICT_ACTION_REBOOT_NODE, VERDICT_ACTION_DRAIN_AND_REPAIR);
  cr_assert_str_eq(verdict_action_name(VERDICT_ACTION_REBOOT_NODE), "reboot_node");
  enum verdict_action a;
  cr_assert_eq(verdict_action_parse("drain_and_repair", &a), 0);
  cr_assert_eq(a, VERDICT_ACTION_DRAIN_AND_REPAIR);
  cr_assert_lt(verdict_action_parse("format_disk", &a), 0);
}

Test(xid, recovery_action_maps_to_actions) {
  int known;
  cr_assert_eq(verdict_action_from_recovery(0, &known), VERDICT_ACTION_NONE);
  cr_assert_eq(verdict_action_from_recovery(1, &known), VERDICT_ACTION_RESET_GPU);
  cr_assert_eq(verdict_action_from_recovery(2, &known), VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(verdict_action_from_recovery(3, &known), VERDICT_ACTION_DRAIN_P2P);
  cr_assert_eq(verdict_action_from_recovery(4, &known), VERDICT_ACTION_DRAIN_AND_RESET);
  cr_assert_eq(known, 1);
  cr_assert_eq(verdict_action_from_recovery(7, &known), VERDICT_ACTION_REBOOT_NODE,
               "unknown: the safe choice");
  cr_assert_eq(known, 0);
}

/* ---- histories ---- */

Test(xid, history_counts_and_keeps_the_latest) {
  struct xid_history h;
  xid_history_init(&h);
  xid_history_record(&h, 13, 100);
  xid_history_record(&h, 79, 300);
  xid_history_record(&h, 13, 200);
  cr_assert_eq(h.n, 2);
  cr_assert_eq(h.total, 3);
  cr_assert_eq(h.last_xid, 79, "the most recent by time, not by arrival");
  const struct xid_seen *s = xid_history_find(&h, 13);
  cr_assert_not_null(s);
  cr_assert_eq(s->count, 2);
  cr_assert_eq(s->first_ns, 100);
  cr_assert_eq(s->last_ns, 200);
  cr_assert_null(xid_history_find(&h, 48));
}

Test(xid, full_history_forgets_the_stalest) {
  struct xid_history h;
  xid_history_init(&h);
  for (unsigned i = 0; i < XID_HISTORY_MAX; i++) xid_history_record(&h, 1000 + i, 10 + i);
  cr_assert_eq(h.n, XID_HISTORY_MAX);
  xid_history_record(&h, 79, 999);
  cr_assert_eq(h.n, XID_HISTORY_MAX);
  cr_assert_null(xid_history_find(&h, 1000), "the stalest entry goes");
  cr_assert_not_null(xid_history_find(&h, 1001));
  cr_assert_eq(xid_history_find(&h, 79)->count, 1);
}
