#include "proxy/server/worker.h"

#include <algorithm>
#include <list>

#include "filters/http/authz_filter.h"
#include "filters/http/router.h"
#include "filters/http/tracing_filter.h"
#include "filters/listener/sniffing_filter.h"
#include "filters/network/authz_filter.h"
#include "filters/network/tcp_proxy.h"
#include "filters/telemetry/cluster_index.h"
#include "filters/telemetry/listener_telemetry.h"
#include "proxy/common/logger.h"
#include "proxy/common/random.h"
#include "proxy/http/connection_manager.h"
#include "proxy/stats/loop_lag_probe.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/tls/server_name_matcher.h"
#include "proxy/tls/tls_socket_factory.h"
#include "proxy/upstream/thread_local_cluster.h"
#include "proxy/upstream/upstream_transport.h"

namespace podproxy::server {

// The objects a worker owns, built and destroyed on the worker thread.
class WorkerState {
 public:
  WorkerState(uint32_t index, event::Dispatcher& dispatcher, const ServerSnapshot& snapshot)
      : dispatcher_(dispatcher),
        snapshot_(snapshot),
        clusters_(dispatcher, random_),
        cluster_index_(snapshot.config->clusters),
        access_log_ring_(index < snapshot.access_log_rings.size() ? snapshot.access_log_rings[index]
                                                                  : nullptr),
        loop_lag_probe_(dispatcher, loop_lag_) {
    // TLS: this worker's socket factories (their contexts replaced on certificate reloads).
    for (size_t i = 0; i < snapshot.tls_contexts.size(); ++i) {
      tls_factories_.push_back(std::make_unique<tls::TlsSocketFactory>(snapshot.tls_contexts[i],
                                                                       *snapshot.tls_stats[i]));
    }
    for (const ClusterRuntime& c : snapshot.clusters) {
      clusters_.addCluster(*c.config, c.initial_hosts, c.resources);
      if (c.tls_context >= 0) {
        upstream::setTransportSocketFactory(c.config->name, tls_factories_[c.tls_context].get());
      }
    }
    // Before the listeners, which keep their hibernated connections in it.
    hibernation_ = std::make_unique<HibernationPoller>(dispatcher);
    for (const ListenerRuntime& l : snapshot.listeners) addListener(index, l);
  }

  ~WorkerState() {
    // Connections first (they hold upstream streams), then pools.
    listeners_.clear();
    clusters_.shutdown();
    upstream::clearTransportSocketFactories();
  }

  // A certificate reload: new connections use `context`; open ones keep theirs.
  void updateTlsContext(int id, std::shared_ptr<const tls::TlsContext> context) {
    if (id >= 0 && static_cast<size_t>(id) < tls_factories_.size()) {
      tls_factories_[id]->update(std::move(context));
    }
  }

  bool start() {
    bool ok = true;
    for (auto& l : listeners_) {
      const std::string err = l->start();
      if (!err.empty()) {
        LOG_ERROR("listener failed to start on worker", {"error", err});
        ok = false;
      }
    }
    return ok;
  }

  void drain(std::function<void()> on_drained) {
    for (auto& l : listeners_) l->drain();
    on_drained_ = std::move(on_drained);
    drain_timer_ = dispatcher_.createTimer([this] { checkDrained(); });
    drain_timer_->enableRepeating(std::chrono::milliseconds(20));
    checkDrained();
  }

  void closeAll() {
    drain_timer_.reset();
    for (auto& l : listeners_) {
      l->stopListening();
      l->closeAll();
    }
  }

  upstream::ThreadLocalClusterManager& clusters() { return clusters_; }

  // A copy of this worker's stats shard, for the main thread's scrape.
  stats::WorkerStatsSnapshot statsSnapshot(uint32_t index) const {
    stats::WorkerStatsSnapshot s;
    s.worker = index;
    for (const auto& l : listener_stats_) s.listeners.push_back(*l);
    for (const ClusterRuntime& c : snapshot_.clusters) {
      stats::ClusterStatsSnapshot& cs = s.clusters.emplace_back();
      const upstream::ThreadLocalCluster* cluster =
          const_cast<upstream::ThreadLocalClusterManager&>(clusters_).get(c.config->name);
      if (cluster == nullptr) continue;
      cs.pool = cluster->stats();
      cs.http2 = cluster->http2Stats();
      cs.hosts = cluster->hosts() ? cluster->hosts()->hosts.size() : 0;
      cluster->forEachPool([&](const upstream::ConnPool& pool) {
        cs.host_stats.push_back({pool.host().address().toString(), pool.stats().rq_active,
                                 pool.stats().pending_active, pool.connections(),
                                 pool.stats().rq_total});
      });
    }
    s.loop_lag_seconds = loop_lag_;
    return s;
  }

 private:
  struct HttpListenerState {
    std::unique_ptr<http::FilterChainFactory> factory;
    std::unique_ptr<http::ConnectionManagerContext> context;
  };

  // One HTTP connection manager setup (a listener's, or one of its SNI chains'): its context
  // lives as long as the worker.
  http::ConnectionManagerContext* addHttpChain(
      const config::HttpConnectionManagerConfig& http,
      const std::shared_ptr<const router::RouteTable>& routes, stats::ListenerStats& listener_stats,
      telemetry::ListenerTelemetry* observer, bool authz_filter,
      const std::shared_ptr<const authz::AuthzPolicy>& authz) {
    auto state = std::make_unique<HttpListenerState>();
    std::unique_ptr<http::FilterChainFactory> router =
        std::make_unique<router::RouterFilterFactory>(routes, clusters_, random_,
                                                      listener_stats.router,
                                                      http.options.max_request_body_buffer_bytes);
    if (authz_filter) {
      // Authorization and x-forwarded-client-cert, right before the router.
      router = std::make_unique<filters::HttpAuthzFilterChainFactory>(authz, std::move(router));
    }
    // The tracing filter runs before the router on every stream.
    state->factory = std::make_unique<tracing::TracingFilterChainFactory>(
        snapshot_.config->telemetry.tracing, random_, std::move(router));
    state->context =
        std::make_unique<http::ConnectionManagerContext>(http::ConnectionManagerContext{
            http, *state->factory, random_, listener_stats.http, observer});
    http::ConnectionManagerContext* context = state->context.get();
    http_states_.push_back(std::move(state));
    return context;
  }

  void addListener(uint32_t index, const ListenerRuntime& runtime) {
    const config::Listener& cfg = *runtime.config;
    // Telemetry: this listener's stats shard and its metrics/access-log observer.
    stats::ListenerStats& listener_stats =
        *listener_stats_.emplace_back(std::make_unique<stats::ListenerStats>());
    telemetry::ListenerTelemetry* observer =
        telemetry_
            .emplace_back(std::make_unique<telemetry::ListenerTelemetry>(
                dispatcher_, cfg, cluster_index_, listener_stats.istio, access_log_ring_))
            .get();
    // TLS termination (tls:) or mesh mTLS (mtls:), and authorization.
    tls::TlsSocketFactory* tls =
        runtime.tls_context >= 0 ? tls_factories_[runtime.tls_context].get() : nullptr;
    const std::shared_ptr<const authz::AuthzPolicy>& authz = runtime.authz;
    http::ConnectionManagerContext* context = nullptr;
    if (cfg.http) {
      context = addHttpChain(*cfg.http, runtime.routes, listener_stats, observer,
                             tls != nullptr || authz != nullptr, authz);
    }
    auto make_http = [context]() -> std::unique_ptr<network::ReadFilter> {
      return std::make_unique<http::ConnectionManager>(*context);
    };
    const config::TcpProxyConfig* tcp = cfg.tcp ? &*cfg.tcp : nullptr;
    filters::TcpProxyStats* tcp_stats = &listener_stats.tcp;
    const authz::AuthzPolicy* tcp_authz = authz.get();
    auto make_tcp = [this, tcp, tcp_stats, observer,
                     tcp_authz]() -> std::unique_ptr<network::ReadFilter> {
      auto proxy = std::make_unique<filters::TcpProxy>(*tcp, clusters_, tcp_stats, observer);
      if (tcp_authz == nullptr) return proxy;
      return std::make_unique<filters::NetworkAuthzFilter>(*tcp_authz, std::move(proxy));
    };
    // Mesh mTLS where a ClientHello must be told from plaintext first.
    const filters::MtlsSniffing* mtls = nullptr;
    if (tls != nullptr && cfg.mtls != config::MtlsMode::kDisabled &&
        (cfg.capture || cfg.mtls == config::MtlsMode::kPermissive)) {
      auto sniffing = std::make_unique<filters::MtlsSniffing>();
      sniffing->strict = cfg.mtls == config::MtlsMode::kStrict;
      sniffing->create_socket = [tls] { return tls->createServerSocket(); };
      mtls = mtls_sniffing_.emplace_back(std::move(sniffing)).get();
    }

    NetworkFilterChainFactory factory;
    if (cfg.capture) {
      // Captured traffic: declared TCP ports go straight to tcp_proxy; everything else is
      // sniffed first (HTTP/1 and h2c get the HTTP chain; TLS stays TCP until that lands).
      const config::CaptureOptions* capture = &*cfg.capture;
      filters::DetectionStats* detection = &listener_stats.detection;
      factory = [capture, detection, make_http, make_tcp, mtls](network::Connection& connection) {
        const network::CaptureInfo* info = connection.captureInfo();
        const uint16_t port = info != nullptr ? info->original_destination.port() : 0;
        // Under mTLS, declared TCP ports are sniffed too: the peer's sidecar speaks first (TLS).
        if (mtls == nullptr && std::find(capture->tcp_ports.begin(), capture->tcp_ports.end(),
                                         port) != capture->tcp_ports.end()) {
          ++detection->declared_tcp;
          connection.addReadFilter(make_tcp());
          return;
        }
        connection.addReadFilter(std::make_unique<filters::SniffingFilter>(
            capture->detection_timeout,
            [make_http, make_tcp](filters::DetectedProtocol protocol) {
              // h2c prior knowledge: the connection manager sees the preface and picks HTTP/2.
              return protocol == filters::DetectedProtocol::kHttp1 ||
                             protocol == filters::DetectedProtocol::kHttp2
                         ? make_http()
                         : make_tcp();
            },
            *detection, mtls));
      };
    } else if (mtls != nullptr) {
      // mtls: permissive on a plain listener: TLS or plaintext, then the listener's one chain.
      filters::DetectionStats* detection = &listener_stats.detection;
      const bool http = cfg.http.has_value();
      factory = [detection, make_http, make_tcp, mtls, http](network::Connection& connection) {
        connection.addReadFilter(std::make_unique<filters::SniffingFilter>(
            kPermissiveDetectionTimeout,
            [make_http, make_tcp, http](filters::DetectedProtocol) {
              return http ? make_http() : make_tcp();
            },
            *detection, mtls));
      };
    } else if (cfg.http) {
      factory = [make_http](network::Connection& connection) {
        connection.addReadFilter(make_http());
      };
    } else {
      factory = [make_tcp](network::Connection& connection) {
        connection.addReadFilter(make_tcp());
      };
    }
    // SNI chains (tls: listeners): the chain is chosen once the handshake told the server name.
    std::vector<std::function<void(network::Connection&)>> chains;
    std::vector<http::ConnectionManagerContext*> chain_contexts;
    for (size_t i = 0; i < cfg.filter_chains.size(); ++i) {
      const config::FilterChain& chain = cfg.filter_chains[i];
      if (chain.http) {
        http::ConnectionManagerContext* chain_context = addHttpChain(
            *chain.http, runtime.chain_routes[i], listener_stats, observer, true, authz);
        chain_contexts.push_back(chain_context);
        chains.push_back([chain_context](network::Connection& connection) {
          connection.addReadFilter(std::make_unique<http::ConnectionManager>(*chain_context));
        });
      } else {
        const config::TcpProxyConfig* chain_tcp = &*chain.tcp;
        chains.push_back(
            [this, chain_tcp, tcp_stats, observer, tcp_authz](network::Connection& connection) {
              std::unique_ptr<network::ReadFilter> proxy =
                  std::make_unique<filters::TcpProxy>(*chain_tcp, clusters_, tcp_stats, observer);
              if (tcp_authz != nullptr) {
                proxy = std::make_unique<filters::NetworkAuthzFilter>(*tcp_authz, std::move(proxy));
              }
              connection.addReadFilter(std::move(proxy));
            });
      }
    }
    if (tls != nullptr && mtls == nullptr && !chains.empty()) {
      std::vector<std::vector<std::string>> names;
      for (const config::FilterChain& chain : cfg.filter_chains) {
        names.push_back(chain.server_names);
      }
      struct SniChains {
        tls::ServerNameMatcher matcher;
        std::vector<std::function<void(network::Connection&)>> chains;
        NetworkFilterChainFactory default_chain;
      };
      auto sni = std::make_shared<const SniChains>(
          SniChains{tls::ServerNameMatcher(names), std::move(chains), std::move(factory)});
      factory = [tls, sni](network::Connection& connection) {
        auto socket = tls->createServerSocket();
        if (!socket) {
          connection.close(network::CloseType::kNoFlush);
          return;
        }
        // Runs before the filters start: the chosen chain's filter is the one they start.
        network::Connection* conn = &connection;
        connection.setTransportSocket(std::move(socket), [conn, sni] {
          const network::TlsInfo* info = conn->tls();
          const int chain = sni->matcher.match(info != nullptr ? info->sni : std::string_view());
          if (chain >= 0) {
            sni->chains[chain](*conn);
          } else {
            sni->default_chain(*conn);
          }
        });
      };
    } else if (tls != nullptr && mtls == nullptr) {
      // TLS on every connection (tls:, mtls: strict): filters start after the handshake.
      factory = [tls, inner = std::move(factory)](network::Connection& connection) {
        if (auto socket = tls->createServerSocket()) {
          connection.setTransportSocket(std::move(socket));
          inner(connection);
        } else {
          connection.close(network::CloseType::kNoFlush);
        }
      };
    }
    std::function<void()> drain;
    if (context != nullptr) chain_contexts.push_back(context);
    if (!chain_contexts.empty()) {
      drain = [chain_contexts] {
        for (http::ConnectionManagerContext* c : chain_contexts) {
          http::ConnectionManager::drainAll(*c);
        }
      };
    }
    listeners_.push_back(std::make_unique<ActiveListener>(dispatcher_, *runtime.shared,
                                                          runtime.fds[index], std::move(factory),
                                                          std::move(drain), hibernation_.get()));
  }

  void checkDrained() {
    size_t active = 0;
    for (auto& l : listeners_) active += l->connectionCount();
    if (active == 0 && on_drained_) {
      drain_timer_.reset();
      auto done = std::move(on_drained_);
      on_drained_ = nullptr;
      done();
    }
  }

  // Plaintext or TLS: how long a client on an mtls: permissive listener may stay silent before
  // it is taken for plaintext (server-first protocols).
  static constexpr std::chrono::milliseconds kPermissiveDetectionTimeout{100};

  event::Dispatcher& dispatcher_;
  const ServerSnapshot& snapshot_;
  // TLS socket factories by context id; before the listeners, which use them.
  std::vector<std::unique_ptr<tls::TlsSocketFactory>> tls_factories_;
  std::vector<std::unique_ptr<filters::MtlsSniffing>> mtls_sniffing_;
  Random random_;
  upstream::ThreadLocalClusterManager clusters_;
  // Telemetry shard: written only on this thread, copied out by statsSnapshot().
  const telemetry::ClusterIndex cluster_index_;
  access_log::AccessLogRing* access_log_ring_;                         // nullptr: no access logs
  std::vector<std::unique_ptr<stats::ListenerStats>> listener_stats_;  // config order
  std::vector<std::unique_ptr<telemetry::ListenerTelemetry>> telemetry_;
  stats::Histogram loop_lag_{stats::kLoopLagBucketsSeconds};
  stats::LoopLagProbe loop_lag_probe_;
  std::list<std::unique_ptr<HttpListenerState>> http_states_;
  // Idle plaintext HTTP/1 connections of every listener sleep here; outlives the listeners.
  std::unique_ptr<HibernationPoller> hibernation_;
  std::vector<std::unique_ptr<ActiveListener>> listeners_;
  std::unique_ptr<event::Timer> drain_timer_;
  std::function<void()> on_drained_;
};

Worker::Worker(uint32_t index, std::shared_ptr<const ServerSnapshot> snapshot)
    : index_(index),
      snapshot_(std::move(snapshot)),
      dispatcher_("worker_" + std::to_string(index)) {}

Worker::~Worker() {
  if (thread_.joinable()) {
    stop();
    join();
  }
}

void Worker::start(std::function<void(uint32_t, bool)> on_started) {
  thread_ =
      std::thread([this, cb = std::move(on_started)]() mutable { threadMain(std::move(cb)); });
}

void Worker::threadMain(std::function<void(uint32_t, bool)> on_started) {
  state_ = std::make_unique<WorkerState>(index_, dispatcher_, *snapshot_);
  const bool ok = state_->start();
  on_started(index_, ok);
  dispatcher_.run();
  state_.reset();
  closed_clean_ = dispatcher_.shutdown();
  if (!closed_clean_) LOG_ERROR("worker loop closed with handles open", {"worker", index_});
}

void Worker::drain(std::function<void(uint32_t)> on_drained) {
  post([this, cb = std::move(on_drained)]() {
    if (state_) state_->drain([this, cb] { cb(index_); });
  });
}

void Worker::stop() {
  post([this] {
    if (state_) state_->closeAll();
    dispatcher_.exit();
  });
}

void Worker::updateTlsContext(int id, std::shared_ptr<const tls::TlsContext> context) {
  post([this, id, context = std::move(context)]() mutable {
    if (state_) state_->updateTlsContext(id, std::move(context));
  });
}

void Worker::updateHosts(const std::string& cluster, upstream::HostSetConstSharedPtr hosts) {
  post([this, cluster, hosts = std::move(hosts)]() {
    if (state_) state_->clusters().onHostsUpdated(cluster, hosts);
  });
}

void Worker::collectStats(std::function<void(stats::WorkerStatsSnapshot)> done) {
  post([this, done = std::move(done)]() {
    done(state_ ? state_->statsSnapshot(index_) : stats::WorkerStatsSnapshot{index_});
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace podproxy::server
