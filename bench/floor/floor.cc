// The benchmark's floor contestant: a one-thread epoll byte shuttle with no HTTP at all, so the
// side-by-side tables show how much of a proxy's cost is forwarding bytes and how much is the rest.
//
// Usage: podproxy_bench_floor --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
// Each accepted client gets ONE new upstream TCP connection; bytes flow both ways through a small
// per-direction buffer. Level-triggered epoll: a side is read only while its buffer is empty, and
// a partial write arms EPOLLOUT on the other side. EOF or an error on either side closes both.
// Out of file descriptors, the listener is left alone until a pair closes (or a second passes).
// SIGTERM/SIGINT end the loop and exit(0), so valgrind --tool=callgrind writes its output.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kBufferBytes = 16 * 1024;
constexpr int kMaxEvents = 256;
constexpr int kAcceptPauseMs = 1000;

struct Pair;

// One socket of a pair; `buf` holds bytes read from this socket not yet written to the peer.
struct Side {
  int fd = -1;
  Pair* pair = nullptr;
  Side* peer = nullptr;
  uint32_t interest = 0;
  bool connected = true;
  size_t start = 0;
  size_t end = 0;
  char buf[kBufferBytes];
};

struct Pair {
  Side client;
  Side upstream;
  bool closed = false;
};

int epfd = -1;
int listen_fd = -1;
bool accepting = true;
std::vector<Pair*> doomed;  // closed during this epoll batch; freed after it
// Tags for the two non-pair fds; pair events carry a Side pointer.
char listener_tag, signal_tag;

bool parseAddress(const char* text, sockaddr_in& out) {
  std::string s(text);
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof(out));
  out.sin_family = AF_INET;
  int port = std::atoi(s.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return false;
  out.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// The listener is level-triggered: while accept4 fails for want of fds it stays readable, and
// watching it would spin the loop at full CPU without accepting anything.
void setAccepting(bool on) {
  if (on == accepting) return;
  epoll_event ev{};
  ev.events = on ? uint32_t{EPOLLIN} : 0;
  ev.data.ptr = &listener_tag;
  epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev);
  accepting = on;
}

void closePair(Pair* p) {
  if (p->closed) return;
  p->closed = true;
  close(p->client.fd);  // closing also removes the fd from the epoll set
  close(p->upstream.fd);
  doomed.push_back(p);
  setAccepting(true);  // two fds just came free
}

// Interest follows state: read while our buffer is empty, write while the peer's holds bytes
// (or while a connect is in progress). epoll_ctl only when it changes, so the steady state of a
// keep-alive request costs epoll_wait + read + write per direction.
void updateInterest(Side& s) {
  uint32_t want = 0;
  if (s.connected && s.start == s.end) want |= EPOLLIN;
  if (!s.connected || s.peer->start != s.peer->end) want |= EPOLLOUT;
  if (want == s.interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = &s;
  epoll_ctl(epfd, EPOLL_CTL_MOD, s.fd, &ev);
  s.interest = want;
}

// Writes what `from` buffered to its peer; false on a fatal error.
bool flush(Side& from) {
  Side& to = *from.peer;
  if (!to.connected) return true;
  while (from.start < from.end) {
    ssize_t n = write(to.fd, from.buf + from.start, from.end - from.start);
    if (n > 0) {
      from.start += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return false;
  }
  if (from.start == from.end) from.start = from.end = 0;
  return true;
}

void onReadable(Side& s) {
  if (s.start != s.end) return;  // still flushing the previous read
  ssize_t n = read(s.fd, s.buf, kBufferBytes);
  if (n == 0) {
    closePair(s.pair);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) closePair(s.pair);
    return;
  }
  s.start = 0;
  s.end = static_cast<size_t>(n);
  if (!flush(s)) closePair(s.pair);
}

void onWritable(Side& s) {
  if (!s.connected) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      closePair(s.pair);
      return;
    }
    s.connected = true;
  }
  if (!flush(*s.peer)) closePair(s.pair);
}

void onEvent(Side& s, uint32_t events) {
  Pair* p = s.pair;
  if (p->closed) return;
  if (events & (EPOLLERR | EPOLLHUP)) {
    // Drain what is readable first: a peer that sent a response and closed shows up as HUP too.
    if ((events & EPOLLIN) && s.connected) onReadable(s);
    if (!p->closed) closePair(p);
    return;
  }
  if (events & EPOLLOUT) onWritable(s);
  if (!p->closed && (events & EPOLLIN)) onReadable(s);
  if (p->closed) return;
  updateInterest(p->client);
  updateInterest(p->upstream);
}

bool outOfFds(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void acceptAll(const sockaddr_in& upstream) {
  for (;;) {
    int cfd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (outOfFds(errno)) setAccepting(false);
      return;  // EAGAIN: try again on the next readiness
    }
    int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) {
      int err = errno;
      close(cfd);  // no upstream for this client
      if (outOfFds(err)) {
        setAccepting(false);
        return;
      }
      continue;
    }
    setNoDelay(cfd);
    setNoDelay(ufd);
    int rc = connect(ufd, reinterpret_cast<const sockaddr*>(&upstream), sizeof(upstream));
    if (rc != 0 && errno != EINPROGRESS) {
      close(cfd);
      close(ufd);
      continue;
    }
    auto* p = new Pair;
    p->client.fd = cfd;
    p->upstream.fd = ufd;
    p->client.pair = p->upstream.pair = p;
    p->client.peer = &p->upstream;
    p->upstream.peer = &p->client;
    p->upstream.connected = rc == 0;
    for (Side* s : {&p->client, &p->upstream}) {
      s->interest = 0;
      epoll_event ev{};
      ev.data.ptr = s;
      epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
      updateInterest(*s);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  sockaddr_in listen_addr{}, upstream_addr{};
  bool have_listen = false, have_upstream = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--listen") == 0) have_listen = parseAddress(argv[i + 1], listen_addr);
    if (std::strcmp(argv[i], "--upstream") == 0)
      have_upstream = parseAddress(argv[i + 1], upstream_addr);
  }
  if (!have_listen || !have_upstream) {
    std::fprintf(stderr, "usage: %s --listen IP:PORT --upstream IP:PORT\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int sigfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);

  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
      listen(listen_fd, 4096) != 0) {
    std::perror("listen");
    return 1;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listener_tag;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.ptr = &signal_tag;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);

  epoll_event events[kMaxEvents];
  bool running = true;
  while (running) {
    int n = epoll_wait(epfd, events, kMaxEvents, accepting ? -1 : kAcceptPauseMs);
    if (n == 0) setAccepting(true);  // paused a second with no pair closing: try again
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &listener_tag) {
        acceptAll(upstream_addr);
      } else if (tag == &signal_tag) {
        running = false;
      } else {
        onEvent(*static_cast<Side*>(tag), events[i].events);
      }
    }
    for (Pair* p : doomed) delete p;
    doomed.clear();
  }
  close(listen_fd);
  close(sigfd);
  close(epfd);
  return 0;  // open pairs are left to the kernel: the process is ending
}
