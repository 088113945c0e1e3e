#include "proxy/buffer/buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "proxy/common/block_cache.h"

namespace podproxy::buffer {

namespace {

// Part arrays of the smallest capacity come from the thread's block cache; larger ones (a buffer
// holding more than kSmallParts slices, i.e. over 64 KiB) from the allocator.
constexpr uint32_t kSmallParts = 4;
constexpr size_t kPartBytes = sizeof(void*) + 2 * sizeof(uint32_t);  // Buffer::Part
using SmallArrayCache = BlockCache<kSmallParts * kPartBytes, 1024>;

void* takeArray(uint32_t cap) {
  if (cap == kSmallParts) return SmallArrayCache::local().take();
  return ::operator new(cap* kPartBytes);
}

void giveArray(void* p, uint32_t cap) {
  if (cap == kSmallParts) {
    SmallArrayCache::local().give(p);
  } else {
    ::operator delete(p, cap* kPartBytes);
  }
}

}  // namespace

Buffer::~Buffer() {
  freeAll();
}

void Buffer::freeAll() {
  for (size_t i = head_; i < size_; ++i) SlicePool::local().give(parts_[i].slice);
  if (parts_ != nullptr) giveArray(parts_, cap_);
  parts_ = nullptr;
  head_ = size_ = cap_ = 0;
  length_ = 0;
}

Buffer::Buffer(Buffer&& other) noexcept
    : parts_(other.parts_),
      head_(other.head_),
      size_(other.size_),
      cap_(other.cap_),
      length_(other.length_) {
  other.parts_ = nullptr;
  other.head_ = other.size_ = other.cap_ = 0;
  other.length_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    freeAll();
    parts_ = other.parts_;
    head_ = other.head_;
    size_ = other.size_;
    cap_ = other.cap_;
    length_ = other.length_;
    other.parts_ = nullptr;
    other.head_ = other.size_ = other.cap_ = 0;
    other.length_ = 0;
  }
  return *this;
}

void Buffer::pushBack(const Part& part) {
  static_assert(sizeof(Part) == kPartBytes);
  if (size_ == cap_) {
    if (head_ > 0 && head_ * 2 >= size_) {
      // Mostly drained from the front: slide the live parts down instead of growing.
      std::memmove(parts_, parts_ + head_, (size_ - head_) * sizeof(Part));
      size_ -= head_;
      head_ = 0;
    } else {
      const uint32_t cap = cap_ == 0 ? kSmallParts : cap_ * 2;
      auto* grown = static_cast<Part*>(takeArray(cap));
      if (parts_ != nullptr) {
        std::memcpy(grown, parts_ + head_, (size_ - head_) * sizeof(Part));
        giveArray(parts_, cap_);
      }
      size_ -= head_;
      head_ = 0;
      parts_ = grown;
      cap_ = cap;
    }
  }
  parts_[size_++] = part;
}

void Buffer::popBack() {
  --size_;
  if (size_ == head_) releaseParts();
}

void Buffer::releaseParts() {
  if (parts_ != nullptr) giveArray(parts_, cap_);
  parts_ = nullptr;
  head_ = size_ = cap_ = 0;
}

void Buffer::add(const void* data, size_t size) {
  const auto* src = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (size_ == head_ || back().end == kSliceSize) {
      pushBack(Part{SlicePool::local().take(), 0, 0});
    }
    Part& tail = back();
    const size_t n = std::min<size_t>(size, kSliceSize - tail.end);
    std::memcpy(tail.slice->data + tail.end, src, n);
    tail.end += n;
    length_ += n;
    src += n;
    size -= n;
  }
}

void Buffer::add(const Buffer& other) {
  other.forEachSlice([this](std::string_view s) {
    add(s);
    return true;
  });
}

void Buffer::move(Buffer& other) {
  if (&other == this || other.empty()) return;
  if (size_ == head_ && other.head_ == 0) {
    // Empty here: take the other buffer's whole part array.
    const size_t length = other.length_;
    freeAll();
    *this = std::move(other);
    // Reserved-but-empty parts were kept by `other`; drop them like the loop below does.
    for (uint32_t i = head_; i < size_;) {
      if (parts_[i].end == parts_[i].begin) {
        SlicePool::local().give(parts_[i].slice);
        std::memmove(parts_ + i, parts_ + i + 1, (size_ - i - 1) * sizeof(Part));
        --size_;
      } else {
        ++i;
      }
    }
    if (size_ == head_) releaseParts();
    length_ = length;
    return;
  }
  // Small remainders are copied into our tail rather than wasting a whole slice each.
  for (size_t i = other.head_; i < other.size_; ++i) {
    Part& p = other.parts_[i];
    const size_t n = p.end - p.begin;
    if (n == 0) {
      SlicePool::local().give(p.slice);
      continue;
    }
    if (size_ > head_ && kSliceSize - back().end >= n && n <= 1024) {
      Part& tail = back();
      std::memcpy(tail.slice->data + tail.end, p.slice->data + p.begin, n);
      tail.end += n;
      SlicePool::local().give(p.slice);
    } else {
      pushBack(p);
    }
    length_ += n;
  }
  other.size_ = other.head_;  // every slice changed hands or went back to the pool
  other.releaseParts();
  other.length_ = 0;
}

void Buffer::move(Buffer& other, size_t size) {
  if (size >= other.length_) {
    move(other);
    return;
  }
  while (size > 0) {
    Part& p = other.front();
    const size_t n = p.end - p.begin;
    if (n <= size) {
      // Hand the whole slice over.
      pushBack(p);
      length_ += n;
      other.head_++;
      other.length_ -= n;
      size -= n;
    } else {
      add(p.slice->data + p.begin, size);
      p.begin += size;
      other.length_ -= size;
      size = 0;
    }
  }
  if (other.head_ == other.size_) other.releaseParts();
}

void Buffer::releaseFront() {
  SlicePool::local().give(parts_[head_].slice);
  ++head_;
  if (head_ == size_) releaseParts();
}

void Buffer::drain(size_t size) {
  assert(size <= length_);
  size = std::min(size, length_);
  length_ -= size;
  while (head_ < size_) {
    Part& p = front();
    const size_t n = p.end - p.begin;
    if (size < n) {
      p.begin += size;
      return;
    }
    size -= n;
    // Keep a tail slice with reserved-but-uncommitted room only if it is the last one and
    // empty: the read path will reuse it. Otherwise give it back.
    if (head_ + 1 == size_ && length_ == 0 && size == 0) {
      releaseFront();
      return;
    }
    releaseFront();
  }
}

std::span<uint8_t> Buffer::reserve(size_t min) {
  min = std::min(min, kSliceSize);
  if (size_ == head_ || kSliceSize - back().end < min) {
    pushBack(Part{SlicePool::local().take(), 0, 0});
  }
  Part& tail = back();
  return {tail.slice->data + tail.end, kSliceSize - tail.end};
}

void Buffer::commit(size_t size) {
  assert(size_ > head_);
  Part& tail = back();
  assert(tail.end + size <= kSliceSize);
  tail.end += size;
  length_ += size;
  if (tail.begin == tail.end) {
    // Nothing arrived: do not pin an empty slice to an idle connection.
    SlicePool::local().give(tail.slice);
    popBack();
  }
}

size_t Buffer::peekIovecs(struct iovec* out, size_t max) const {
  size_t n = 0;
  for (size_t i = head_; i < size_ && n < max; ++i) {
    const Part& p = parts_[i];
    if (p.end == p.begin) continue;
    out[n].iov_base = p.slice->data + p.begin;
    out[n].iov_len = p.end - p.begin;
    ++n;
  }
  return n;
}

std::string_view Buffer::frontSlice() const {
  for (size_t i = head_; i < size_; ++i) {
    const Part& p = parts_[i];
    if (p.end > p.begin) {
      return {reinterpret_cast<const char*>(p.slice->data) + p.begin, size_t(p.end - p.begin)};
    }
  }
  return {};
}

size_t Buffer::copyOut(size_t offset, size_t size, void* out) const {
  auto* dst = static_cast<uint8_t*>(out);
  size_t copied = 0;
  for (size_t i = head_; i < size_ && copied < size; ++i) {
    const Part& p = parts_[i];
    size_t n = p.end - p.begin;
    if (offset >= n) {
      offset -= n;
      continue;
    }
    const size_t take = std::min(n - offset, size - copied);
    std::memcpy(dst + copied, p.slice->data + p.begin + offset, take);
    copied += take;
    offset = 0;
  }
  return copied;
}

std::string Buffer::toString() const {
  std::string out;
  out.reserve(length_);
  forEachSlice([&out](std::string_view s) {
    out.append(s);
    return true;
  });
  return out;
}

}  // namespace podproxy::buffer
