#include "proxy/buffer/buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace podproxy::buffer {

Buffer::~Buffer() {
  for (size_t i = head_; i < parts_.size(); ++i) SlicePool::local().give(parts_[i].slice);
}

Buffer::Buffer(Buffer&& other) noexcept
    : parts_(std::move(other.parts_)), head_(other.head_), length_(other.length_) {
  other.parts_.clear();
  other.head_ = 0;
  other.length_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    clear();
    for (size_t i = head_; i < parts_.size(); ++i) SlicePool::local().give(parts_[i].slice);
    parts_ = std::move(other.parts_);
    head_ = other.head_;
    length_ = other.length_;
    other.parts_.clear();
    other.head_ = 0;
    other.length_ = 0;
  }
  return *this;
}

void Buffer::add(const void* data, size_t size) {
  const auto* src = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (parts_.size() == head_ || parts_.back().end == kSliceSize) {
      parts_.push_back(Part{SlicePool::local().take(), 0, 0});
    }
    Part& tail = parts_.back();
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
  // Small remainders are copied into our tail rather than wasting a whole slice each.
  for (size_t i = other.head_; i < other.parts_.size(); ++i) {
    Part& p = other.parts_[i];
    const size_t n = p.end - p.begin;
    if (n == 0) {
      SlicePool::local().give(p.slice);
      continue;
    }
    if (parts_.size() > head_ && kSliceSize - parts_.back().end >= n && n <= 1024) {
      Part& tail = parts_.back();
      std::memcpy(tail.slice->data + tail.end, p.slice->data + p.begin, n);
      tail.end += n;
      SlicePool::local().give(p.slice);
    } else {
      parts_.push_back(p);
    }
    length_ += n;
  }
  other.parts_.clear();
  other.head_ = 0;
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
      parts_.push_back(p);
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
  if (other.head_ == other.parts_.size()) {
    other.parts_.clear();
    other.head_ = 0;
  }
}

void Buffer::releaseFront() {
  SlicePool::local().give(parts_[head_].slice);
  ++head_;
  if (head_ == parts_.size()) {
    parts_.clear();
    head_ = 0;
  } else if (head_ > 16 && head_ * 2 > parts_.size()) {
    parts_.erase(parts_.begin(), parts_.begin() + head_);
    head_ = 0;
  }
}

void Buffer::drain(size_t size) {
  assert(size <= length_);
  size = std::min(size, length_);
  length_ -= size;
  while (head_ < parts_.size()) {
    Part& p = front();
    const size_t n = p.end - p.begin;
    if (size < n) {
      p.begin += size;
      return;
    }
    size -= n;
    // Keep a tail slice with reserved-but-uncommitted room only if it is the last one and
    // empty: the read path will reuse it. Otherwise give it back.
    if (head_ + 1 == parts_.size() && length_ == 0 && size == 0) {
      releaseFront();
      return;
    }
    releaseFront();
  }
}

std::span<uint8_t> Buffer::reserve(size_t min) {
  min = std::min(min, kSliceSize);
  if (parts_.size() == head_ || kSliceSize - parts_.back().end < min) {
    parts_.push_back(Part{SlicePool::local().take(), 0, 0});
  }
  Part& tail = parts_.back();
  return {tail.slice->data + tail.end, kSliceSize - tail.end};
}

void Buffer::commit(size_t size) {
  assert(parts_.size() > head_);
  Part& tail = parts_.back();
  assert(tail.end + size <= kSliceSize);
  tail.end += size;
  length_ += size;
  if (tail.begin == tail.end) {
    // Nothing arrived: do not pin an empty slice to an idle connection.
    SlicePool::local().give(tail.slice);
    parts_.pop_back();
    if (parts_.size() == head_) {
      parts_.clear();
      head_ = 0;
    }
  }
}

size_t Buffer::peekIovecs(struct iovec* out, size_t max) const {
  size_t n = 0;
  for (size_t i = head_; i < parts_.size() && n < max; ++i) {
    const Part& p = parts_[i];
    if (p.end == p.begin) continue;
    out[n].iov_base = p.slice->data + p.begin;
    out[n].iov_len = p.end - p.begin;
    ++n;
  }
  return n;
}

std::string_view Buffer::frontSlice() const {
  for (size_t i = head_; i < parts_.size(); ++i) {
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
  for (size_t i = head_; i < parts_.size() && copied < size; ++i) {
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
