/*
 * record.h — the record format of gpuops profile, version 1, and its reader.
 *
 * One file per process, PREFIX.<pid>.jsonl, written by libgpuops_inject.so:
 * JSON lines, each a complete object ending in '\n'.
 *   line 1: {"gpuops_profile":1, "pid", "ppid", "exe", "flags",
 *            "cupti_ns", "wall_ns"}       (CUPTI's clock and CLOCK_REALTIME
 *                                          read together: the time origin)
 *   then, any order, "k" naming the kind; times s/e/t on CUPTI's clock (ns):
 *   {"k":"kernel","name","s","e","dev","ctx","str","corr","grid":[3],"block":[3],"regs","ssmem","dsmem","lmem"}
 *   {"k":"memcpy","kind":"HtoD|DtoH|DtoD|HtoH|PtoP|...","bytes","src","dst","s","e","dev","ctx","str","corr"}
 *      src/dst: "pageable"|"pinned"|"device"|"array"|"managed"|"unknown"
 *   {"k":"memset","bytes","dst","s","e","dev","ctx","str","corr"}
 *   {"k":"sync","type":"stream|context|event|stream_wait_event|unknown","s","e","ctx","str","corr"}
 *   {"k":"api","dom":"runtime|driver","name","s","e","pid","tid","corr"}
 *   {"k":"marker","what":"start|end|instant","id","t","pid","tid","name","dom"}
 *   {"k":"dropped","n"}                   (CUPTI dropped n records)
 *   {"k":"end","t","signal","dropped"}    (flushed at exit, or at a signal)
 *
 * The reader rejects what it cannot trust, naming the file, line and byte
 * offset: a line that is not JSON, a missing header or another version, a
 * missing or mistyped field, an unknown kind, a last line without its
 * newline (the writer was killed mid-write). A file with no "end" record is
 * read (a process killed outright) and noted.
 */
#ifndef GPUOPS_PROFILE_RECORD_H
#define GPUOPS_PROFILE_RECORD_H

#include <stddef.h>

#include "profile/profile.h"

#define RECORD_VERSION 1

/* Read one record file into p (a new process). 0, or ERR_IO / ERR_PARSE with
 * "FILE:LINE (byte OFFSET): what" in err_msg(); p keeps what came before. */
int record_load_file(struct profile *p, const char *path);
/* The same on bytes in memory; name stands for the file in messages. */
int record_load_buf(struct profile *p, const char *buf, size_t len, const char *name);
/* Read every *.jsonl file of dir, in name order. Returns the number of files
 * read (0: none), or the first file's error. */
int record_load_dir(struct profile *p, const char *dir);

/*
 * The NVML samples of a run, saved beside the record files so `--records`
 * renders the counter tracks again: DIR/nvml-samples.json,
 * {"gpuops_nvml_samples":1, "gpu", "simulated", "counters": [names],
 *  "samples": [[t_ns, dev, clock_reasons|null, value|null per counter], ...]}.
 * record_save_samples: 0 or ERR_IO. record_load_samples: 0 (also when the
 * file is absent: nothing to add), or ERR_PARSE / ERR_IO naming the file.
 */
int record_save_samples(const struct profile *p, const char *path);
int record_load_samples(struct profile *p, const char *path);

#endif
