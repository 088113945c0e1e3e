#pragma once

// A vector that keeps its first N elements inline and allocates only beyond them: a
// connection's callbacks and filters (one or two of each) cost no heap block.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace podproxy::network {

template <typename T, size_t N>
class InlineVector {
 public:
  InlineVector() = default;
  InlineVector(const InlineVector&) = delete;
  InlineVector& operator=(const InlineVector&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return i < N ? inline_[i] : (*more_)[i - N]; }
  const T& operator[](size_t i) const { return i < N ? inline_[i] : (*more_)[i - N]; }

  void push_back(T value) {
    if (size_ < N) {
      inline_[size_] = std::move(value);
    } else {
      if (more_ == nullptr) more_ = std::make_unique<std::vector<T>>();
      more_->push_back(std::move(value));
    }
    ++size_;
  }

  // Destroys the elements first-to-last.
  void clear() {
    for (size_t i = 0; i < N && i < size_; ++i) inline_[i] = T{};
    more_.reset();
    size_ = 0;
  }

 private:
  T inline_[N]{};
  std::unique_ptr<std::vector<T>> more_;
  uint32_t size_ = 0;
};

}  // namespace podproxy::network
