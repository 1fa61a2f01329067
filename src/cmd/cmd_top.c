/*
 * cmd_top.c — `gpuops top`: a live terminal view (ncurses) of every GPU:
 * utilisation, SM/tensor/DRAM activity, memory, power against its limit,
 * temperatures, clocks, clock-event reasons and health flags, refreshed every
 * --interval seconds. `--once` prints one frame as plain text for scripts.
 *
 * Sections: waiting (XID events between refreshes); the plain frame; the
 * terminal view (drawing, keys, signals); the command.
 *
 * The model and the frame are telemetry/top.h; this file only draws.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "telemetry/top.h"

/* After err.h: curses defines OK and ERR as macros, which would break err.h's enum. */
#include <curses.h>

struct top_args {
  double interval_s; /* between refreshes */
  bool once;         /* one plain-text frame, no ncurses */
  int width;         /* --once: cut lines at this many columns (0: no limit) */
  const char *thresholds;
};

/* ---- waiting ---- */

/* Spend ms milliseconds taking XID events (or sleeping when the backend has none). */
static void wait_watching(struct top *t, int64_t ms) {
  int64_t deadline = time_mono_ns() + ms * 1000000LL;
  for (;;) {
    int64_t left_ms = (deadline - time_mono_ns()) / 1000000LL;
    if (left_ms <= 0) return;
    if (t->watch_unsupported) {
      time_sleep_ns(left_ms * 1000000LL);
      return;
    }
    top_watch(t, (int)left_ms);
  }
}

/* ---- the plain frame ---- */

static int print_once(struct top *t, const struct top_args *a, const struct cli_common *c) {
  top_refresh(t); /* the first sample: GPM and rates need a second one */
  wait_watching(t, (int64_t)(a->interval_s * 1000.0));
  top_refresh(t);
  struct top_frame f;
  int rc = top_render(t, a->width, &f);
  if (rc < 0) return rc;
  bool close_it = false;
  FILE *out = cli_output_open("top", c, &close_it);
  if (!out)
    rc = err_set(ERR_IO, "cannot open the output");
  else
    rc = top_frame_write(&f, out);
  if (out) {
    int crc = cli_output_close(out, close_it);
    if (rc == 0) rc = crc;
  }
  top_frame_free(&f);
  return rc;
}

/* ---- the terminal view ---- */

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

enum { PAIR_WARN = 1, PAIR_FAIL = 2 };

static attr_t line_attr(enum top_level level) {
  switch (level) {
    case TOP_LINE_TITLE: return A_REVERSE | A_BOLD;
    case TOP_LINE_HEAD: return A_BOLD;
    case TOP_LINE_WARN: return has_colors() ? COLOR_PAIR(PAIR_WARN) : A_NORMAL;
    case TOP_LINE_FAIL: return A_BOLD | (has_colors() ? COLOR_PAIR(PAIR_FAIL) : A_NORMAL);
    case TOP_LINE_OK: break;
  }
  return A_NORMAL;
}

/* Draw the frame at the current size: title and column heads pinned, the rest from *scroll on, a
 * footer. */
static void draw(const struct top *t, const struct top_args *a, int *scroll) {
  struct top_frame f;
  erase();
  int rows = LINES, width = COLS;
  if (rows < 1 || width < 1) return;
  if (top_render(t, width, &f) < 0) {
    mvaddnstr(0, 0, err_msg(), width);
    refresh();
    return;
  }
  /* The last row is the footer; body rows show the scrolled part. */
  int pinned = f.n < 2 ? f.n : 2, body = rows - 1 - pinned > 0 ? rows - 1 - pinned : 0;
  int max_scroll = f.n - pinned > body ? f.n - pinned - body : 0;
  if (*scroll > max_scroll) *scroll = max_scroll;
  if (*scroll < 0) *scroll = 0;
  int y = 0;
  for (int i = 0; i < pinned && y < rows - 1; i++, y++) {
    attrset(line_attr(f.lines[i].level));
    mvaddnstr(y, 0, f.lines[i].text, width);
    if (f.lines[i].level == TOP_LINE_TITLE) chgat(-1, line_attr(TOP_LINE_TITLE), 0, NULL);
  }
  for (int i = pinned + *scroll; i < f.n && y < rows - 1; i++, y++) {
    attrset(line_attr(f.lines[i].level));
    mvaddnstr(y, 0, f.lines[i].text, width);
  }
  attrset(A_DIM);
  int hidden = f.n - pinned - *scroll - body;
  char footer[160];
  snprintf(footer, sizeof footer, "q quit  r refresh  up/down scroll  every %.1f s  XIDs %s%s",
           a->interval_s, t->watch_unsupported ? "not available" : "watched",
           hidden > 0 ? "  (more below)" : "");
  mvaddnstr(rows - 1, 0, footer, width);
  attrset(A_NORMAL);
  refresh();
  top_frame_free(&f);
}

/* React to one key; returns false to quit. *redraw / *refresh_now say what the key asks for. */
static bool key(int ch, int *scroll, bool *redraw, bool *refresh_now) {
  switch (ch) {
    case 'q':
    case 'Q':
    case 27: return false; /* 27: Escape */
    case 'r':
    case 'R':
    case ' ': *refresh_now = true; break;
    case KEY_RESIZE: *redraw = true; break;
    case KEY_UP:
    case 'k': --*scroll, *redraw = true; break;
    case KEY_DOWN:
    case 'j': ++*scroll, *redraw = true; break;
    case KEY_PPAGE: *scroll -= LINES / 2, *redraw = true; break;
    case KEY_NPAGE: *scroll += LINES / 2, *redraw = true; break;
    case KEY_HOME: *scroll = 0, *redraw = true; break;
    default: break;
  }
  return true;
}

static int live(struct top *t, const struct top_args *a) {
  if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
    return err_set(ERR_INVALID,
                   "the live view needs a terminal; use --once for a plain-text frame");
  SCREEN *scr = newterm(NULL, stdout, stdin);
  if (!scr) {
    const char *term = getenv("TERM");
    return err_set(ERR_UNSUPPORTED, "cannot start the terminal view (TERM=%s); use --once",
                   term ? term : "unset");
  }
  struct sigaction sa = {.sa_handler = on_stop}, old_int, old_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  timeout(100); /* getch waits at most 100 ms, so XIDs, signals and the clock are checked often */
  if (has_colors()) {
    start_color();
    use_default_colors();
    init_pair(PAIR_WARN, COLOR_YELLOW, -1);
    init_pair(PAIR_FAIL, COLOR_RED, -1);
  }
  int64_t period_ns = (int64_t)(a->interval_s * 1e9), next = 0;
  int scroll = 0;
  bool running = true;
  while (running && !stop_requested) {
    bool redraw = false, refresh_now = false;
    if (time_mono_ns() >= next) {
      top_refresh(t);
      next = time_mono_ns() + period_ns;
      redraw = true;
    }
    if (redraw) draw(t, a, &scroll);
    int ch = getch();
    redraw = false;
    if (ch != ERR) running = key(ch, &scroll, &redraw, &refresh_now);
    if (refresh_now)
      next = 0;
    else if (redraw)
      draw(t, a, &scroll);
    top_watch(t, 0); /* take queued XID events without waiting */
  }
  endwin();
  delscreen(scr);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  return 0;
}

/* ---- the command ---- */

int cmd_top(int argc, char **argv) {
  struct top_args a = {.interval_s = 1.0};
  const struct cli_option opts[] = {
      {"interval", 0, CLI_ARG_DOUBLE, &a.interval_s, "SECONDS",
       "refresh every SECONDS (default 1; 0.1..3600); --once samples twice this far apart"},
      {"once", 0, CLI_ARG_FLAG, &a.once, NULL,
       "print one frame as plain text (no terminal needed) and exit"},
      {"width", 0, CLI_ARG_INT, &a.width, "COLUMNS",
       "--once: fit the frame to COLUMNS, dropping the least important columns first (default: no "
       "limit)"},
      {"thresholds", 0, CLI_ARG_STRING, &a.thresholds, "FILE",
       "health thresholds (YAML, see docs/telemetry.md)"},
      {0}};
  const struct cli_spec spec = {"top",
                                "[--once] [--interval SECONDS] [options]",
                                "A live view of every GPU: utilisation, SM/tensor/DRAM activity, "
                                "memory, power against its limit,\n"
                                "temperatures, clocks, clock-event reasons and health flags (the "
                                "checks of gpuops health) with the\n"
                                "action they call for. Keys: q quit, r refresh now, up/down "
                                "scroll. Without a usable GPU, auto falls\n"
                                "back to simulated GPUs and the title line says so.",
                                CLI_BACKEND | CLI_SPEC | CLI_NODE | CLI_OUTPUT,
                                opts,
                                0,
                                0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (!(a.interval_s >= 0.1 && a.interval_s <= 3600))
    return cli_usage_error("top", "--interval must be 0.1..3600 seconds, got %g", a.interval_s);
  if (a.width < 0 || a.width > 100000)
    return cli_usage_error("top", "--width must be 0..100000, got %d", a.width);

  struct inventory inv;
  struct gpu_options go;
  struct gpu_backend *b = NULL;
  struct thresholds th;
  struct top t;
  bool have_top = false;
  thresholds_default(&th);
  rc = cli_gpu_options(&c, &inv, &go);
  if (rc < 0) goto out;
  if (a.thresholds && (rc = thresholds_load(&th, a.thresholds)) < 0) goto out;
  go.allow_sim_fallback = true;
  if ((rc = gpu_open(&go, &b)) < 0) goto out;
  if (b->simulated && b->note[0]) fprintf(stderr, "gpuops top: SIMULATED GPUs: %s\n", b->note);
  have_top = true;
  if ((rc = top_init(&t, b, &th, NULL)) < 0) goto out;
  rc = a.once ? print_once(&t, &a, &c) : live(&t, &a);
out:
  if (have_top) top_free(&t);
  gpu_close(b);
  inventory_free(&inv);
  return rc < 0 ? cli_fail("top", rc) : 0;
}
