/*
 * listener.h — a listening TCP socket from a --listen HOST:PORT string, for
 * the project's HTTP servers (the exporter, the inference server).
 *
 * Accepted forms: "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:8000" (every
 * interface), ":8000" (every interface); port 0 takes any free port, and the
 * bound one is reported (tests use it to avoid collisions).
 */
#ifndef GPUOPS_BASE_LISTENER_H
#define GPUOPS_BASE_LISTENER_H

struct listener {
  int fd;        /* non-blocking, close-on-exec, listening; the caller owns it */
  int port;      /* the bound port */
  char url[96];  /* "http://127.0.0.1:8000" */
};

/*
 * Resolve, bind and listen. Returns 0, ERR_INVALID (malformed or
 * unresolvable address: the message shows the expected form) or ERR_IO
 * (bind/listen failed: the message says why, e.g. the port is in use).
 */
int listener_open(const char *listen, struct listener *out);

#endif
