/*
 * profile.h — what `gpuops profile` knows about one profiled run: the CUDA
 * activity of every process (kernels, copies, synchronisations, API calls,
 * NVTX ranges, from the injection library's record files), the NVML samples
 * taken alongside, and the run itself (command, exit status, notes).
 *
 * Every time is CLOCK_REALTIME nanoseconds (the reader converts CUPTI's
 * clock with each process's header), so activity and NVML samples share one
 * axis. Names (kernels, APIs, ranges) are interned: records hold an index
 * into p->names, so 100 000 launches of one kernel keep one string.
 *
 * Sections: records; processes and samples; the profile; building it.
 * Threads: a profile is used by one thread at a time.
 */
#ifndef GPUOPS_PROFILE_PROFILE_H
#define GPUOPS_PROFILE_PROFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- records ---- */
enum prof_copy_kind { PROF_HTOD, PROF_DTOH, PROF_DTOD, PROF_HTOH, PROF_PTOP, PROF_COPY_OTHER, PROF_MEMSET,
                      PROF_COPY_KINDS };
/* "HtoD", "DtoH", "DtoD", "HtoH", "PtoP", "other", "memset". */
const char *prof_copy_kind_name(enum prof_copy_kind k);

struct prof_kernel {
  int name;                /* index into names (demangled) */
  int64_t s, e;            /* start, end (ns) */
  uint32_t dev, ctx, stream, corr;
  int proc;                /* index into procs */
  int32_t grid[3], block[3];
  int regs, ssmem, dsmem;  /* registers per thread, static and dynamic shared memory (bytes) */
};

struct prof_copy {
  enum prof_copy_kind kind;
  uint64_t bytes;
  bool pageable;           /* the host side is pageable memory (a staged, synchronous copy) */
  int64_t s, e;
  uint32_t dev, ctx, stream, corr;
  int proc;
};

struct prof_sync {
  int type;                /* name index: "stream", "context", "event", "stream_wait_event" */
  int64_t s, e;
  uint32_t ctx, stream, corr;
  int proc;
};

struct prof_api {
  int name;                /* "cudaLaunchKernel" */
  bool driver;             /* driver API (cu*), else runtime (cuda*) */
  int64_t s, e;
  uint32_t tid, corr;
  int proc;
};

struct prof_range {        /* an NVTX range (push/pop or start/end) or an instant mark (s == e) */
  int name;
  int64_t s, e;
  uint32_t tid;
  int proc;
  bool instant;
};

/* ---- processes and samples ---- */
struct prof_process {
  int pid, ppid;
  char exe[512];
  char file[1024];         /* the record file it came from */
  bool ended;              /* an "end" record was read (the process exited or flushed at a signal) */
  int signal;              /* the signal the end record names (0: normal exit) */
  uint64_t dropped;        /* records CUPTI reported dropped */
  int64_t last_ns;         /* latest time seen in its records */
};

enum prof_counter { PROF_C_UTIL, PROF_C_SM_ACTIVE, PROF_C_SM_CLOCK, PROF_C_MEM_CLOCK, PROF_C_POWER, PROF_C_FB_USED,
                    PROF_COUNTERS };
/* Counter track names: "GPU util %", "SM active %", "SM clock MHz", ... */
const char *prof_counter_name(enum prof_counter c);

struct prof_sample {
  int64_t t;
  int dev;                 /* NVML index */
  double v[PROF_COUNTERS];
  unsigned valid;          /* bit c: v[c] is a reading */
  uint64_t clock_reasons;  /* NVML clock-event reason bits, valid when have_reasons */
  bool have_reasons;
};

/* ---- the profile ---- */
struct profile {
  struct prof_kernel *kernels;  int n_kernels, cap_kernels;
  struct prof_copy *copies;     int n_copies, cap_copies;
  struct prof_sync *syncs;      int n_syncs, cap_syncs;
  struct prof_api *apis;        int n_apis, cap_apis;
  struct prof_range *ranges;    int n_ranges, cap_ranges;
  struct prof_sample *samples;  int n_samples, cap_samples;
  struct prof_process *procs;   int n_procs, cap_procs;
  char **names;                 int n_names, cap_names;
  json_t *name_index;           /* name -> index */
  int *api_order;               /* apis by (proc, corr), built by profile_sort */
  char **notes;                 int n_notes, cap_notes;
  char command[1024];           /* the command line, for people */
  char gpu_name[96];            /* first sampled GPU, "" if none */
  int64_t run_start, run_end;   /* wall ns around the command (0 when loaded from files only) */
  int exit_code;                /* the command's exit status, or -1 */
  int term_signal;              /* the signal that ended it, 0 if none */
  bool simulated_samples;       /* the NVML samples came from the simulated backend */
};

void profile_init(struct profile *p);
void profile_free(struct profile *p);

/* Intern a name; returns its index, or ERR_NOMEM. `demangle`: C++ names
 * (_Z...) are demangled first (through libstdc++'s __cxa_demangle when it
 * loads; kept as they are otherwise). */
int profile_name(struct profile *p, const char *name, bool demangle);
/* Add a record (copied). 0 or ERR_NOMEM. */
int profile_add_kernel(struct profile *p, const struct prof_kernel *k);
int profile_add_copy(struct profile *p, const struct prof_copy *c);
int profile_add_sync(struct profile *p, const struct prof_sync *s);
int profile_add_api(struct profile *p, const struct prof_api *a);
int profile_add_range(struct profile *p, const struct prof_range *r);
int profile_add_sample(struct profile *p, const struct prof_sample *s);
/* A new process slot (zeroed, pid set); returns its index or ERR_NOMEM. */
int profile_add_process(struct profile *p, int pid);
/* A note for people ("no CUDA activity: ..."). */
void profile_note(struct profile *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sort every record array by start time (the writers expect it). */
void profile_sort(struct profile *p);
/* Earliest and latest time of any record or sample; false when there is none. */
bool profile_span(const struct profile *p, int64_t *t0, int64_t *t1);
/* The API record with this correlation id in process proc, or NULL (binary search: call after profile_sort). */
const struct prof_api *profile_api_by_corr(const struct profile *p, int proc, uint32_t corr);

/* Demangle a C++ symbol into buf; returns buf, or name itself when it is not mangled or cannot be demangled. */
const char *profile_demangle(const char *name, char *buf, size_t len);

#endif
