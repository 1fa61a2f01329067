/*
 * inject.c — libgpuops_inject.so, the CUDA injection library of
 * `gpuops profile` (docs/profile.md).
 *
 * The CUDA driver loads the library named in CUDA_INJECTION64_PATH into an
 * unmodified program at its first CUDA call and calls InitializeInjection().
 * From there the library turns on CUPTI activity records (kernels, memcpy,
 * memset, synchronisation; runtime/driver API and NVTX markers on request)
 * and writes them, as JSON lines (the record format, profile/record.h), to a
 * file the parent named:
 *
 *   GPUOPS_PROFILE_OUT    path prefix; each process writes PREFIX.<pid>.jsonl
 *                         (a forked child that uses CUDA gets its own file)
 *   GPUOPS_PROFILE_CUPTI  libcupti.so to dlopen (else "libcupti.so.13", then
 *                         "libcupti.so" through the loader's search path)
 *   GPUOPS_PROFILE_FLAGS  comma list: "api" (runtime + driver API records),
 *                         "runtime" (runtime API only), "nvtx" (markers)
 *
 * Records are formatted and written in CUPTI's buffer-completed callback,
 * which runs on CUPTI's own worker thread: the program's threads only fill
 * CUPTI's buffers. At exit (atexit) and on SIGSEGV/SIGBUS/SIGFPE/SIGABRT/
 * SIGTERM (when the program has no handler of its own) everything CUPTI holds
 * is flushed and an "end" record written. The signal path calls CUPTI, which
 * is not async-signal-safe: it is best effort (a crash inside CUPTI or malloc
 * can lose the last buffer); a SIGKILL loses whatever CUPTI had not yet
 * handed over (at most one buffer per context, BUF_BYTES).
 *
 * libcupti is dlopen()ed, not linked: the library builds from the CUPTI
 * headers alone, and a node whose CUPTI lives outside the loader's path still
 * works when the parent names it.
 *
 * Sections: CUPTI entry points; output file; JSON formatting; records;
 * buffers; exit and signals; InitializeInjection.
 */
#define _GNU_SOURCE
#include <cupti.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (8u << 20) /* one CUPTI activity buffer */
#define OUT_CHUNK (1u << 16) /* formatted bytes written per write() */
#define RECORD_VERSION 1

/* ---- CUPTI entry points (dlopen) ---- */
static struct {
  CUptiResult (*enable)(CUpti_ActivityKind);
  CUptiResult (*register_callbacks)(CUpti_BuffersCallbackRequestFunc, CUpti_BuffersCallbackCompleteFunc);
  CUptiResult (*next_record)(uint8_t *, size_t, CUpti_Activity **);
  CUptiResult (*dropped)(CUcontext, uint32_t, size_t *);
  CUptiResult (*flush_all)(uint32_t);
  CUptiResult (*timestamp)(uint64_t *);
  CUptiResult (*callback_name)(CUpti_CallbackDomain, uint32_t, const char **);
} cupti;

static int load_cupti(void) {
  const char *path = getenv("GPUOPS_PROFILE_CUPTI");
  void *h = path && *path ? dlopen(path, RTLD_NOW | RTLD_GLOBAL) : NULL;
  if (!h) h = dlopen("libcupti.so.13", RTLD_NOW | RTLD_GLOBAL);
  if (!h) h = dlopen("libcupti.so", RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    fprintf(stderr, "gpuops inject: cannot load CUPTI (%s): set GPUOPS_PROFILE_CUPTI to libcupti.so\n", dlerror());
    return -1;
  }
  *(void **)&cupti.enable = dlsym(h, "cuptiActivityEnable");
  *(void **)&cupti.register_callbacks = dlsym(h, "cuptiActivityRegisterCallbacks");
  *(void **)&cupti.next_record = dlsym(h, "cuptiActivityGetNextRecord");
  *(void **)&cupti.dropped = dlsym(h, "cuptiActivityGetNumDroppedRecords");
  *(void **)&cupti.flush_all = dlsym(h, "cuptiActivityFlushAll");
  *(void **)&cupti.timestamp = dlsym(h, "cuptiGetTimestamp");
  *(void **)&cupti.callback_name = dlsym(h, "cuptiGetCallbackName");
  if (!cupti.enable || !cupti.register_callbacks || !cupti.next_record || !cupti.flush_all || !cupti.timestamp) {
    fprintf(stderr, "gpuops inject: CUPTI lacks the activity API entry points\n");
    return -1;
  }
  return 0;
}

/* ---- output file: one per process ---- */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int out_fd = -1;
static pid_t out_pid; /* the process out_fd belongs to */
static char flags_env[128];
static unsigned long long dropped_total;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* nothing sensible to do from inside the program */
    p += w;
    n -= (size_t)w;
  }
}

static void exe_name(char *buf, size_t len) {
  buf[0] = '\0';
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  buf[n > 0 ? n : 0] = '\0';
}

static void json_str(char *dst, size_t cap, const char *s);

/* Open this process's file (again after a fork) and write its header line. Call with out_lock held. */
static int out_ensure(void) {
  pid_t pid = getpid();
  if (out_fd >= 0 && out_pid == pid) return out_fd;
  if (out_fd >= 0) close(out_fd); /* inherited from the parent: not ours */
  const char *prefix = getenv("GPUOPS_PROFILE_OUT");
  if (!prefix || !*prefix) return out_fd = -1;
  char path[4096], exe[1024], exe_json[2100], line[4096];
  snprintf(path, sizeof path, "%s.%d.jsonl", prefix, (int)pid);
  out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  out_pid = pid;
  if (out_fd < 0) {
    fprintf(stderr, "gpuops inject: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  uint64_t ts = 0;
  struct timespec now;
  cupti.timestamp(&ts);
  clock_gettime(CLOCK_REALTIME, &now);
  exe_name(exe, sizeof exe);
  json_str(exe_json, sizeof exe_json, exe);
  int n = snprintf(line, sizeof line,
                   "{\"gpuops_profile\":%d,\"pid\":%d,\"ppid\":%d,\"exe\":%s,\"flags\":\"%s\",\"cupti_ns\":%llu,"
                   "\"wall_ns\":%lld}\n",
                   RECORD_VERSION, (int)pid, (int)getppid(), exe_json, flags_env, (unsigned long long)ts,
                   (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  write_all(out_fd, line, (size_t)n);
  return out_fd;
}

static void out_write(const char *p, size_t n) {
  pthread_mutex_lock(&out_lock);
  int fd = out_ensure();
  if (fd >= 0) write_all(fd, p, n);
  pthread_mutex_unlock(&out_lock);
}

/* ---- JSON formatting ---- */
/* s as a JSON string literal, quotes included; cut (still valid) when cap is short. */
static void json_str(char *dst, size_t cap, const char *s) {
  size_t o = 0;
  dst[o++] = '"';
  for (; s && *s && o + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      dst[o++] = '\\';
      dst[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
    } else {
      dst[o++] = (char)c;
    }
  }
  dst[o++] = '"';
  dst[o] = '\0';
}

/* A buffer of formatted lines, written out in OUT_CHUNK pieces. */
struct lines {
  char buf[OUT_CHUNK + 8192];
  size_t len;
};

static void lines_flush(struct lines *l) {
  if (l->len) out_write(l->buf, l->len);
  l->len = 0;
}

static void lines_add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lines_add(struct lines *l, const char *fmt, ...) {
  if (l->len > OUT_CHUNK) lines_flush(l);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
  va_end(ap);
  if (n > 0 && (size_t)n < sizeof l->buf - l->len) l->len += (size_t)n;
}

/* ---- records ---- */
static const char *memcpy_kind(uint8_t k) {
  static const char *names[] = {"unknown", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA",
                                "AtoD",    "DtoA", "DtoD", "HtoH", "PtoP"};
  return k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static const char *memory_kind(unsigned k) {
  static const char *names[] = {"unknown", "pageable", "pinned", "device", "array", "managed", "device", "managed"};
  return k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static void rec_kernel(struct lines *l, const CUpti_ActivityKernel10 *k) {
  static char name[8192];
  json_str(name, sizeof name, k->name ? k->name : "?");
  lines_add(l,
            "{\"k\":\"kernel\",\"name\":%s,\"s\":%llu,\"e\":%llu,\"dev\":%u,\"ctx\":%u,\"str\":%u,\"corr\":%u,"
            "\"grid\":[%d,%d,%d],\"block\":[%d,%d,%d],\"regs\":%u,\"ssmem\":%d,\"dsmem\":%d,\"lmem\":%u}\n",
            name, (unsigned long long)k->start, (unsigned long long)k->end, k->deviceId, k->contextId, k->streamId,
            k->correlationId, k->gridX, k->gridY, k->gridZ, k->blockX, k->blockY, k->blockZ, k->registersPerThread,
            k->staticSharedMemory, k->dynamicSharedMemory, k->localMemoryPerThread);
}

static void rec_memcpy(struct lines *l, const CUpti_ActivityMemcpy6 *m) {
  lines_add(l,
            "{\"k\":\"memcpy\",\"kind\":\"%s\",\"bytes\":%llu,\"src\":\"%s\",\"dst\":\"%s\",\"s\":%llu,\"e\":%llu,"
            "\"dev\":%u,\"ctx\":%u,\"str\":%u,\"corr\":%u}\n",
            memcpy_kind(m->copyKind), (unsigned long long)m->bytes, memory_kind(m->srcKind), memory_kind(m->dstKind),
            (unsigned long long)m->start, (unsigned long long)m->end, m->deviceId, m->contextId, m->streamId,
            m->correlationId);
}

static void rec_memset(struct lines *l, const CUpti_ActivityMemset4 *m) {
  lines_add(l,
            "{\"k\":\"memset\",\"bytes\":%llu,\"dst\":\"%s\",\"s\":%llu,\"e\":%llu,\"dev\":%u,\"ctx\":%u,\"str\":%u,"
            "\"corr\":%u}\n",
            (unsigned long long)m->bytes, memory_kind(m->memoryKind), (unsigned long long)m->start,
            (unsigned long long)m->end, m->deviceId, m->contextId, m->streamId, m->correlationId);
}

static void rec_sync(struct lines *l, const CUpti_ActivitySynchronization2 *s) {
  static const char *types[] = {"unknown", "event", "stream_wait_event", "stream", "context"};
  lines_add(l, "{\"k\":\"sync\",\"type\":\"%s\",\"s\":%llu,\"e\":%llu,\"ctx\":%u,\"str\":%u,\"corr\":%u}\n",
            s->type < 5 ? types[s->type] : "unknown", (unsigned long long)s->start, (unsigned long long)s->end,
            s->contextId, s->streamId == (uint32_t)-1 ? 0u : s->streamId, s->correlationId);
}

static void rec_api(struct lines *l, const CUpti_ActivityAPI *a, int runtime) {
  const char *name = NULL;
  if (cupti.callback_name)
    cupti.callback_name(runtime ? CUPTI_CB_DOMAIN_RUNTIME_API : CUPTI_CB_DOMAIN_DRIVER_API, a->cbid, &name);
  char bare[200], nm[256];
  snprintf(bare, sizeof bare, "%s", name ? name : "?");
  char *v = strstr(bare, "_v"); /* "cudaLaunchKernel_v7000": the version suffix is noise here */
  if (v && v[2] >= '0' && v[2] <= '9' && strspn(v + 2, "0123456789") == strlen(v + 2)) *v = '\0';
  json_str(nm, sizeof nm, bare);
  lines_add(l, "{\"k\":\"api\",\"dom\":\"%s\",\"name\":%s,\"s\":%llu,\"e\":%llu,\"pid\":%u,\"tid\":%u,\"corr\":%u}\n",
            runtime ? "runtime" : "driver", nm, (unsigned long long)a->start, (unsigned long long)a->end,
            a->processId, a->threadId, a->correlationId);
}

static void rec_marker(struct lines *l, const CUpti_ActivityMarker2 *m) {
  char nm[1024], dom[256];
  const char *what = (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_START)   ? "start"
                     : (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_END)   ? "end"
                     : (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_INSTANTANEOUS) ? "instant"
                                                                     : NULL;
  if (!what) return; /* sync-object markers: not ranges */
  json_str(nm, sizeof nm, m->name ? m->name : "");
  json_str(dom, sizeof dom, m->domain ? m->domain : "");
  unsigned pid = m->objectKind == CUPTI_ACTIVITY_OBJECT_THREAD || m->objectKind == CUPTI_ACTIVITY_OBJECT_PROCESS
                     ? m->objectId.pt.processId : 0;
  unsigned tid = m->objectKind == CUPTI_ACTIVITY_OBJECT_THREAD ? m->objectId.pt.threadId : 0;
  lines_add(l, "{\"k\":\"marker\",\"what\":\"%s\",\"id\":%u,\"t\":%llu,\"pid\":%u,\"tid\":%u,\"name\":%s,\"dom\":%s}\n",
            what, m->id, (unsigned long long)m->timestamp, pid, tid, nm, dom);
}

static void rec_one(struct lines *l, const CUpti_Activity *r) {
  switch (r->kind) {
  case CUPTI_ACTIVITY_KIND_KERNEL:
  case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: rec_kernel(l, (const CUpti_ActivityKernel10 *)r); break;
  case CUPTI_ACTIVITY_KIND_MEMCPY: rec_memcpy(l, (const CUpti_ActivityMemcpy6 *)r); break;
  case CUPTI_ACTIVITY_KIND_MEMSET: rec_memset(l, (const CUpti_ActivityMemset4 *)r); break;
  case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: rec_sync(l, (const CUpti_ActivitySynchronization2 *)r); break;
  case CUPTI_ACTIVITY_KIND_RUNTIME: rec_api(l, (const CUpti_ActivityAPI *)r, 1); break;
  case CUPTI_ACTIVITY_KIND_DRIVER: rec_api(l, (const CUpti_ActivityAPI *)r, 0); break;
  case CUPTI_ACTIVITY_KIND_MARKER: rec_marker(l, (const CUpti_ActivityMarker2 *)r); break;
  default: break;
  }
}

/* ---- buffers (CUPTI's worker thread) ---- */
static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
  void *p = NULL;
  if (posix_memalign(&p, 8, BUF_BYTES) != 0) p = NULL;
  *buffer = p;
  *size = p ? BUF_BYTES : 0;
  *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid) {
  static pthread_mutex_t fmt_lock = PTHREAD_MUTEX_INITIALIZER;
  static struct lines l; /* big: not on CUPTI's stack */
  CUpti_Activity *r = NULL;
  pthread_mutex_lock(&fmt_lock);
  while (valid > 0 && cupti.next_record(buffer, valid, &r) == CUPTI_SUCCESS) rec_one(&l, r);
  size_t dropped = 0;
  if (cupti.dropped && cupti.dropped(ctx, stream, &dropped) == CUPTI_SUCCESS && dropped > 0) {
    dropped_total += dropped;
    lines_add(&l, "{\"k\":\"dropped\",\"n\":%zu}\n", dropped);
  }
  lines_flush(&l);
  pthread_mutex_unlock(&fmt_lock);
  (void)size;
  free(buffer);
}

/* ---- exit and signals ---- */
static volatile sig_atomic_t finishing;

static void finish(int sig) {
  if (finishing) return;
  finishing = 1;
  cupti.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  uint64_t ts = 0;
  cupti.timestamp(&ts);
  char line[160];
  int n = snprintf(line, sizeof line, "{\"k\":\"end\",\"t\":%llu,\"signal\":%d,\"dropped\":%llu}\n",
                   (unsigned long long)ts, sig, dropped_total);
  out_write(line, (size_t)n);
}

static void at_exit(void) { finish(0); }

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGTERM};
static struct sigaction old_actions[sizeof crash_signals / sizeof crash_signals[0]];

static void on_signal(int sig) {
  finish(sig);
  for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
    if (crash_signals[i] == sig) sigaction(sig, &old_actions[i], NULL);
  raise(sig); /* the default action, as if we had not been here */
}

/* Take over only signals the program leaves at their default action. */
static void install_signals(void) {
  for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) {
    struct sigaction sa, old;
    if (sigaction(crash_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    old_actions[i] = old;
    sigaction(crash_signals[i], &sa, NULL);
  }
}

static void after_fork_child(void) {
  /* The child's records go to its own file (opened on first write), and the
   * parent's buffers it inherited are not its to flush twice. */
  out_fd = -1;
  dropped_total = 0;
}

/* ---- the entry point ---- */
static int has_flag(const char *flags, const char *name) {
  size_t n = strlen(name);
  for (const char *p = flags; p && *p;) {
    if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0')) return 1;
    p = strchr(p, ',');
    if (p) p++;
  }
  return 0;
}

static int enable(CUpti_ActivityKind kind, const char *what) {
  CUptiResult r = cupti.enable(kind);
  if (r != CUPTI_SUCCESS) fprintf(stderr, "gpuops inject: cannot enable %s records (CUPTI error %d)\n", what, (int)r);
  return r == CUPTI_SUCCESS ? 0 : -1;
}

__attribute__((visibility("default"))) int InitializeInjection(void) {
  static int done;
  if (done++) return 1;
  if (load_cupti() != 0) return 0;
  const char *flags = getenv("GPUOPS_PROFILE_FLAGS");
  snprintf(flags_env, sizeof flags_env, "%s", flags ? flags : "");
  if (cupti.register_callbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS) {
    fprintf(stderr, "gpuops inject: cuptiActivityRegisterCallbacks failed\n");
    return 0;
  }
  enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "kernel");
  enable(CUPTI_ACTIVITY_KIND_MEMCPY, "memcpy");
  enable(CUPTI_ACTIVITY_KIND_MEMSET, "memset");
  enable(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, "synchronization");
  if (has_flag(flags, "api") || has_flag(flags, "runtime")) enable(CUPTI_ACTIVITY_KIND_RUNTIME, "runtime API");
  if (has_flag(flags, "api")) enable(CUPTI_ACTIVITY_KIND_DRIVER, "driver API");
  if (has_flag(flags, "nvtx")) enable(CUPTI_ACTIVITY_KIND_MARKER, "NVTX marker");
  pthread_mutex_lock(&out_lock);
  out_ensure(); /* the header now: a program that dies early still leaves its file */
  pthread_mutex_unlock(&out_lock);
  pthread_atfork(NULL, NULL, after_fork_child);
  atexit(at_exit);
  install_signals();
  return 1;
}
