#include "proxy/network/listen_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace podproxy::network {

namespace {
std::expected<int, std::string> bindOne(const Address& address, int backlog) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return std::unexpected("SO_REUSEPORT: " + err);
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(fd, address.sockAddr(), address.sockLen()) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return std::unexpected("bind " + address.toString() + ": " + err);
  }
  if (::listen(fd, backlog) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return std::unexpected("listen " + address.toString() + ": " + err);
  }
  return fd;
}
}  // namespace

std::expected<ListenSockets, std::string> createListenSockets(const Address& address, int count,
                                                              int backlog) {
  ListenSockets out;
  out.bound = address;
  for (int i = 0; i < count; ++i) {
    auto fd = bindOne(out.bound, backlog);
    if (!fd) {
      closeSockets(out.fds);
      return std::unexpected(fd.error());
    }
    out.fds.push_back(*fd);
    if (i == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len);
      out.bound = Address(reinterpret_cast<sockaddr*>(&ss));
    }
  }
  return out;
}

void closeSockets(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

}  // namespace podproxy::network
