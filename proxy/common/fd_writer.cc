#include "proxy/common/fd_writer.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace podproxy {

bool writeFully(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Someone made the fd non-blocking; this thread exists to wait, so wait here.
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    return false;
  }
  return true;
}

size_t writeLineChunks(int fd, std::string_view lines, size_t chunk) {
  size_t lost = 0;
  while (!lines.empty()) {
    // The longest prefix of whole lines within `chunk`, or the first line alone.
    size_t end = lines.find('\n');
    end = end == std::string_view::npos ? lines.size() : end + 1;
    while (end < lines.size()) {
      const size_t next = lines.find('\n', end);
      const size_t next_end = next == std::string_view::npos ? lines.size() : next + 1;
      if (next_end > chunk) break;
      end = next_end;
    }
    const std::string_view piece = lines.substr(0, end);
    if (!writeFully(fd, piece)) lost += std::max<size_t>(1, std::ranges::count(piece, '\n'));
    lines.remove_prefix(end);
  }
  return lost;
}

}  // namespace podproxy
