#pragma once

// One upstream endpoint of a cluster, and the immutable host snapshot the main thread publishes
// to workers after a (re)resolution.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/network/address.h"

namespace podproxy::upstream {

class Host {
 public:
  Host(std::string cluster_name, network::Address address, std::string hostname,
       std::optional<network::Address> source_address = std::nullopt)
      : cluster_name_(std::move(cluster_name)),
        address_(address),
        hostname_(std::move(hostname)),
        source_address_(source_address),
        address_string_(address_.toString()) {}

  const network::Address& address() const { return address_; }
  // "ip:port", formatted once: pools are keyed by it and logs show it on every request.
  const std::string& addressString() const { return address_string_; }
  // The DNS name or IP literal as configured (used for SNI / Host defaults and logs).
  const std::string& hostname() const { return hostname_; }
  const std::string& clusterName() const { return cluster_name_; }
  // Local address to bind before connecting (inbound capture to the Pod's own IP connects from
  // 127.0.0.6 so the init step's rules recognise it and do not capture it again).
  const network::Address* sourceAddress() const {
    return source_address_ ? &*source_address_ : nullptr;
  }

 private:
  const std::string cluster_name_;
  const network::Address address_;
  const std::string hostname_;
  const std::optional<network::Address> source_address_;
  const std::string address_string_;
};

using HostConstSharedPtr = std::shared_ptr<const Host>;

struct HostSet {
  std::vector<HostConstSharedPtr> hosts;
};

using HostSetConstSharedPtr = std::shared_ptr<const HostSet>;

}  // namespace podproxy::upstream
