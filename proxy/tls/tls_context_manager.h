#pragma once

// The main thread's registry of every TLS context the configuration needs (listener tls, mesh
// mTLS listeners, cluster tls and mutual clusters): builds them at start, rebuilds the ones
// whose files changed when the certificate watcher says so, and hands each new context to a
// publish callback (which posts it to the workers). A context that fails to build on reload is
// logged and the previous one stays in use.

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_transport_socket.h"

namespace podproxy::tls {

class TlsContextManager {
 public:
  using Publish = std::function<void(int id, std::shared_ptr<const TlsContext> context)>;

  // Derives the contexts from `config` (which must outlive the manager); nothing is read yet.
  explicit TlsContextManager(const config::Bootstrap& config);

  // Builds every context; the error names the context and the file.
  std::expected<void, std::string> initialize();
  // Rebuilds what changed on disk; publishes each replacement. Returns how many were replaced.
  size_t reload(const Publish& publish);

  // Context ids (-1: none) by configuration index.
  int listenerContext(size_t listener) const { return listener_ids_[listener]; }
  int clusterContext(size_t cluster) const { return cluster_ids_[cluster]; }

  size_t size() const { return slots_.size(); }
  const std::shared_ptr<const TlsContext>& context(int id) const { return slots_[id]->current; }
  TlsStats& stats(int id) const { return *slots_[id]->stats; }
  // Every file any context reads (for the watcher).
  std::vector<std::string> files() const;
  // Seconds until the workload certificate expires (negative once expired); nullopt when no
  // context uses it.
  std::optional<int64_t> workloadCertExpirySeconds() const;
  uint64_t reloads() const { return reloads_; }
  uint64_t reloadFailures() const { return reload_failures_; }

  // "tls.<context>.<counter>: N" lines for /stats, and the Prometheus families.
  std::string plainStats() const;
  std::string prometheusText() const;

 private:
  struct Slot {
    TlsContextConfig config;
    bool workload = false;  // uses the workload certificate
    std::shared_ptr<const TlsContext> current;
    std::unique_ptr<TlsStats> stats = std::make_unique<TlsStats>();
    std::string last_error;  // last reload failure, logged once per distinct error
  };
  int add(TlsContextConfig config, bool workload);

  const config::Bootstrap& config_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<int> listener_ids_;
  std::vector<int> cluster_ids_;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
};

}  // namespace podproxy::tls
