#pragma once

// A fixed-bucket histogram of plain integers, owned by one worker (no atomics): observe() on the
// hot path, merge() on the main thread when snapshots are folded for a scrape.

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace podproxy::stats {

// Istio's default buckets (istio_request_duration_milliseconds).
inline constexpr std::array<double, 19> kDurationBucketsMs = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
// Istio's default buckets for istio_request_bytes / istio_response_bytes (10^0 .. 10^9).
inline constexpr std::array<double, 10> kBytesBuckets = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
// Event-loop lag, seconds.
inline constexpr std::array<double, 8> kLoopLagBucketsSeconds = {0.001, 0.0025, 0.005, 0.01,
                                                                 0.025, 0.05,   0.1,   1};

inline constexpr size_t kMaxBuckets = 19;

class Histogram {
 public:
  Histogram() = default;
  explicit Histogram(std::span<const double> bounds) : bounds_(bounds) {}

  void observe(double value) {
    // Upper bounds are inclusive, as Prometheus' "le".
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
    ++buckets_[static_cast<size_t>(it - bounds_.begin())];
    sum_ += value;
    ++count_;
  }

  void merge(const Histogram& other) {
    if (bounds_.empty()) bounds_ = other.bounds_;
    for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] += other.buckets_[i];
    sum_ += other.sum_;
    count_ += other.count_;
  }

  std::span<const double> bounds() const { return bounds_; }
  // Non-cumulative count of bucket i; i == bounds().size() is the +Inf bucket.
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::span<const double> bounds_;
  std::array<uint64_t, kMaxBuckets + 1> buckets_{};
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace podproxy::stats
