#pragma once

// A byte queue made of slices from the thread's SlicePool. Moving data between buffers moves
// whole slices (no copy); reading from a socket writes straight into reserved tail space.
// A Buffer belongs to one thread, like the connection that owns it.

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/buffer/slice_pool.h"

namespace podproxy::buffer {

class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;

  size_t length() const { return length_; }
  bool empty() const { return length_ == 0; }

  void add(const void* data, size_t size);
  void add(std::string_view s) { add(s.data(), s.size()); }
  // Copies without draining `other`.
  void add(const Buffer& other);

  // Moves all of `other` to the end of this buffer; whole slices change hands.
  void move(Buffer& other);
  // Moves the first `size` bytes of `other`; only a split slice at the boundary is copied.
  void move(Buffer& other, size_t size);

  void drain(size_t size);
  void clear() { drain(length_); }

  // Read path: reserve writable space at the tail (at least `min` bytes, one slice at most),
  // let the socket fill it, then commit what was written. Uncommitted space stays reserved.
  std::span<uint8_t> reserve(size_t min = 4096);
  void commit(size_t size);

  // Fills up to `max` iovecs with the first bytes of the buffer; returns how many were filled.
  size_t peekIovecs(struct iovec* out, size_t max) const;
  // Visits every contiguous region in order; stop early by returning false.
  template <typename F>
  void forEachSlice(F&& f) const {
    for (size_t i = head_; i < size_; ++i) {
      const Part& p = parts_[i];
      if (p.end > p.begin &&
          !f(std::string_view(reinterpret_cast<const char*>(p.slice->data) + p.begin,
                              p.end - p.begin))) {
        return;
      }
    }
  }

  // The first contiguous region (may be shorter than length()).
  std::string_view frontSlice() const;
  // Copies `size` bytes starting at `offset` into `out`; returns bytes copied.
  size_t copyOut(size_t offset, size_t size, void* out) const;

  std::string toString() const;
  // Number of slices held, reserved space included (memory accounting and tests).
  size_t sliceCount() const { return size_ - head_; }

 private:
  struct Part {
    Slice* slice;
    uint32_t begin;  // first readable byte
    uint32_t end;    // one past the last readable byte; [end, kSliceSize) is free
  };

  void releaseFront();
  Part& front() { return parts_[head_]; }
  Part& back() { return parts_[size_ - 1]; }
  void pushBack(const Part& part);
  void popBack();
  // The buffer became empty: its part array goes back to the thread's cache.
  void releaseParts();
  void freeAll();

  // A part array from a thread-local cache (small arrays) rather than a std::vector: an empty
  // buffer holds no array at all, so an idle keep-alive connection pays for none, and taking
  // one back is a pointer pop, not a malloc.
  Part* parts_ = nullptr;
  uint32_t head_ = 0;  // first live part
  uint32_t size_ = 0;  // one past the last live part
  uint32_t cap_ = 0;
  size_t length_ = 0;
};

}  // namespace podproxy::buffer
