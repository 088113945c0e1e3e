#pragma once

// Blocking writes of whole log lines to stdout, shared by the threads that exist to do them (the
// access-log writer and the process log sink): a chunk is at most PIPE_BUF bytes of whole lines,
// so on a pipe a line never interleaves with another thread's lines.

#include <cstddef>
#include <string_view>

namespace podproxy {

// Writes all of `bytes`, waiting on EAGAIN and retrying EINTR. False if the fd refused them.
bool writeFully(int fd, std::string_view bytes);

// Writes `lines` (each ending in '\n') in chunks of whole lines of at most `chunk` bytes (a line
// longer than that goes alone). Returns how many lines were in chunks the fd refused.
size_t writeLineChunks(int fd, std::string_view lines, size_t chunk);

}  // namespace podproxy
