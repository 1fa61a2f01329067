/*
 * listener.c — a listening socket from HOST:PORT (listener.h).
 */
#include "base/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"


/* Split "host:port" / "[v6]:port" / ":port" into host (NULL: any) and port. */
static int split_listen(const char *listen, char *host, size_t hlen, char *port, size_t plen) {
  const char *colon = strrchr(listen, ':');
  if (!colon || !colon[1])
    return err_set(ERR_INVALID, "--listen '%s': expected HOST:PORT, e.g. 127.0.0.1:9400", listen);
  const char *h = listen, *hend = colon;
  if (*h == '[') {
    h++;
    if (hend == h || hend[-1] != ']')
      return err_set(ERR_INVALID, "--listen '%s': an IPv6 address goes in brackets: [::1]:9400",
                     listen);
    hend--;
  }
  if ((size_t)(hend - h) >= hlen || strlen(colon + 1) >= plen)
    return err_set(ERR_INVALID, "--listen '%s' is too long", listen);
  memcpy(host, h, (size_t)(hend - h));
  host[hend - h] = '\0';
  snprintf(port, plen, "%s", colon + 1);
  return 0;
}

static int bind_one(const struct addrinfo *ai, int *fd_out) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  *fd_out = fd;
  return 0;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -1;
}

int listener_open(const char *listen, struct listener *out) {
  int *fd_out = &out->fd;
  char host[128], port[16];
  int rc = split_listen(listen, host, sizeof host, port, sizeof port);
  if (rc < 0) return rc;
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (gai != 0)
    return err_set(ERR_INVALID, "--listen %s: cannot resolve: %s", listen, gai_strerror(gai));
  int err = EADDRNOTAVAIL;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int b = bind_one(ai, fd_out);
    if (b == 0) {
      err = 0;
      break;
    }
    err = -b;
  }
  freeaddrinfo(res);
  if (err)
    return err_set(
        ERR_IO, "cannot listen on %s: %s%s", listen, strerror(err),
        err == EADDRINUSE ? " (in use: pick a free port with --listen HOST:PORT, or port 0 for any)"
                          : "");
  out->port = bound_port(*fd_out);
  bool v6 = strchr(host, ':') != NULL;
  snprintf(out->url, sizeof out->url, "http://%s%s%s:%d", v6 ? "[" : "", host[0] ? host : "0.0.0.0",
           v6 ? "]" : "", out->port);
  return 0;
}
