#include "proxy/server/server.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "config/json_dump.h"
#include "proxy/common/log_sink.h"
#include "proxy/common/logger.h"
#include "proxy/network/listen_socket.h"

namespace podproxy::server {

namespace {
// Per worker: at 100k lines/s of ~400 bytes, 2 MiB covers 50 ms of a stalled stdout.
constexpr size_t kAccessLogRingBytes = 2 * 1024 * 1024;
// Process log lines waiting for a stalled stdout: about 1,500 lines of debug output.
constexpr size_t kLogSinkBytes = 256 * 1024;
// How long an exit on a second signal waits for the access-log writer and the sink to write their
// last lines: long enough for any stdout that is being read, short enough to still be "at once".
constexpr std::chrono::milliseconds kExitLogFlush{300};

// Routes every thread's log lines through `sink` for the life of this object, then writes what
// the sink still holds and goes back to direct writes, however Server::run() returns.
class InstalledLogSink {
 public:
  explicit InstalledLogSink(LogSink& sink) : sink_(sink) {
    sink_.start();
    Logger::setSink(&sink_);
  }
  ~InstalledLogSink() {
    Logger::setSink(nullptr);
    sink_.stop();
  }
  InstalledLogSink(const InstalledLogSink&) = delete;
  InstalledLogSink& operator=(const InstalledLogSink&) = delete;

 private:
  LogSink& sink_;
};
}  // namespace

uint32_t defaultConcurrency() {
  cpu_set_t set;
  CPU_ZERO(&set);
  uint32_t cpus = 1;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  // cgroup v2: "max 100000" (no quota) or "150000 100000" (1.5 CPUs) -> round up.
  std::ifstream cpu_max("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (cpu_max >> quota >> period && quota != "max" && period > 0) {
    const long q = std::strtol(quota.c_str(), nullptr, 10);
    if (q > 0) {
      const auto limit = static_cast<uint32_t>(std::ceil(static_cast<double>(q) / period));
      cpus = std::max<uint32_t>(1, std::min(cpus, limit));
    }
  }
  return cpus;
}

Server::Server(std::shared_ptr<const config::Bootstrap> config)
    : config_(std::move(config)), main_("main"), log_sink_(STDOUT_FILENO, kLogSinkBytes) {}

Server::~Server() = default;

bool Server::buildSnapshot(uint32_t concurrency) {
  snapshot_ = std::make_shared<ServerSnapshot>();
  snapshot_->config = config_;
  // TLS contexts: every certificate is read (and checked) before anything listens.
  tls_ = std::make_unique<tls::TlsContextManager>(*config_);
  if (auto loaded = tls_->initialize(); !loaded) {
    LOG_ERROR("cannot load TLS certificates", {"error", loaded.error()});
    return false;
  }
  for (size_t i = 0; i < tls_->size(); ++i) {
    snapshot_->tls_contexts.push_back(tls_->context(static_cast<int>(i)));
    snapshot_->tls_stats.push_back(&tls_->stats(static_cast<int>(i)));
  }
  for (const config::Cluster& c : config_->clusters) {
    snapshot_->clusters.push_back(
        ClusterRuntime{&c, clusters_->hosts(c.name), clusters_->resources(c.name)});
    snapshot_->clusters.back().tls_context = tls_->clusterContext(snapshot_->clusters.size() - 1);
  }
  for (const config::Cluster& c : config_->clusters) {
    for (const config::SocketAddress& a : c.service_addresses) {
      if (auto address = network::Address::fromIp(a.host, a.port)) {
        snapshot_->service_clusters.emplace(address->toString(), c.name);
      }
    }
  }
  std::set<uint16_t> bound_ports;
  for (const config::Listener& l : config_->listeners) {
    ListenerRuntime runtime;
    runtime.config = &l;
    runtime.tls_context = tls_->listenerContext(snapshot_->listeners.size());
    if (l.authorization) {
      runtime.authz = std::make_shared<const authz::AuthzPolicy>(*l.authorization, l.name);
    }
    if (l.http) {
      auto routes = router::RouteTable::create(l.http->route_config);
      if (!routes) {
        LOG_ERROR("invalid route configuration", {"listener", l.name}, {"error", routes.error()});
        return false;
      }
      runtime.routes = std::shared_ptr<const router::RouteTable>(std::move(*routes));
    }
    for (const config::FilterChain& chain : l.filter_chains) {
      std::shared_ptr<const router::RouteTable> chain_routes;
      if (chain.http) {
        auto routes = router::RouteTable::create(chain.http->route_config);
        if (!routes) {
          LOG_ERROR("invalid route configuration", {"listener", l.name},
                    {"server_names", chain.server_names.front()}, {"error", routes.error()});
          return false;
        }
        chain_routes = std::shared_ptr<const router::RouteTable>(std::move(*routes));
      }
      runtime.chain_routes.push_back(std::move(chain_routes));
    }
    auto address = network::Address::fromIp(l.address.host, l.address.port);
    if (!address) {
      LOG_ERROR("invalid listener address", {"listener", l.name}, {"host", l.address.host});
      return false;
    }
    auto sockets = network::createListenSockets(*address, static_cast<int>(concurrency));
    if (!sockets) {
      LOG_ERROR("cannot listen", {"listener", l.name}, {"error", sockets.error()});
      return false;
    }
    runtime.fds = std::move(sockets->fds);
    runtime.shared = std::make_unique<ListenerShared>();
    runtime.shared->name = l.name;
    runtime.shared->max_connections = l.max_connections;
    runtime.shared->buffer_limit = l.per_connection_buffer_limit_bytes;
    if (l.capture) {
      runtime.shared->capture = &*l.capture;
      runtime.shared->service_clusters = &snapshot_->service_clusters;
    }
    LOG_INFO("listening", {"listener", l.name}, {"address", sockets->bound.toString()},
             {"protocol", l.capture ? "capture" : (l.http ? "http" : "tcp")});
    bound_addresses_.emplace_back(l.name, sockets->bound.toString());
    bound_ports.insert(sockets->bound.port());
    snapshot_->listeners.push_back(std::move(runtime));
  }
  // The loop guard knows every port this process listens on (admin and telemetry ports are
  // never captured by the init script, but a misconfigured one must not loop either).
  bound_ports.insert(config_->admin.address.port);
  for (ListenerRuntime& runtime : snapshot_->listeners) runtime.shared->own_ports = bound_ports;
  return true;
}

bool Server::startAdmin() {
  const config::Admin& admin = config_->admin;
  if (admin.enabled && !startMainListener("admin", admin.address, admin::AdminMode::kAdmin)) {
    return false;
  }
  // Istio's pod-reachable ports: scraping (15090) and the readiness probe (15021).
  if (admin.stats_address &&
      !startMainListener("stats", *admin.stats_address, admin::AdminMode::kStats)) {
    return false;
  }
  if (admin.health_address &&
      !startMainListener("health", *admin.health_address, admin::AdminMode::kHealth)) {
    return false;
  }
  return true;
}

bool Server::startMainListener(std::string_view name, const config::SocketAddress& at,
                               admin::AdminMode mode) {
  auto address = network::Address::fromIp(at.host, at.port);
  if (!address) {
    LOG_ERROR("invalid address", {"listener", name}, {"host", at.host});
    return false;
  }
  auto sockets = network::createListenSockets(*address, 1);
  if (!sockets) {
    LOG_ERROR("cannot listen", {"listener", name}, {"error", sockets.error()});
    return false;
  }
  auto l = std::make_unique<MainListener>();
  l->http_config.stat_prefix = std::string(name);
  l->factory = std::make_unique<admin::AdminFilterFactory>(*this, mode);
  l->context = std::make_unique<http::ConnectionManagerContext>(
      http::ConnectionManagerContext{l->http_config, *l->factory, admin_random_, l->stats});
  l->shared.name = std::string(name);
  l->shared.max_connections = 1024;
  l->shared.buffer_limit = 1024 * 1024;
  http::ConnectionManagerContext* context = l->context.get();
  l->listener = std::make_unique<ActiveListener>(
      main_, l->shared, sockets->fds[0],
      [context](network::Connection& connection) {
        connection.addReadFilter(std::make_unique<http::ConnectionManager>(*context));
      },
      [context] { http::ConnectionManager::drainAll(*context); });
  const std::string err = l->listener->start();
  main_listeners_.push_back(std::move(l));
  if (!err.empty()) {
    LOG_ERROR("cannot start listener", {"listener", name}, {"error", err});
    return false;
  }
  LOG_INFO("listening", {"listener", name}, {"address", sockets->bound.toString()},
           {"protocol", "http"});
  bound_addresses_.emplace_back(std::string(name), sockets->bound.toString());
  return true;
}

void Server::stopMainListeners() {
  for (auto& l : main_listeners_) {
    l->listener->stopListening();
    l->listener->closeAll();
  }
}

void Server::startSignals() {
  std::signal(SIGPIPE, SIG_IGN);
  auto on_signal = [](uv_signal_t* handle, int signum) {
    auto* self = static_cast<Server*>(handle->data);
    if (self->draining_) {
      // A second signal: the operator does not want to wait.
      LOG_WARN("second signal, exiting now", {"signal", signum});
      // First the access-log lines of the requests that just finished, then the process log
      // (this line included), both within the one bound.
      const auto deadline = std::chrono::steady_clock::now() + kExitLogFlush;
      if (self->access_log_ != nullptr) self->access_log_->flushUntil(deadline);
      self->log_sink_.flushUntil(deadline);
      std::_Exit(1);
    }
    self->beginDrain(signum == SIGTERM ? "SIGTERM" : "SIGINT");
  };
  sigterm_ = new uv_signal_t;
  uv_signal_init(main_.loop(), sigterm_);
  sigterm_->data = this;
  uv_signal_start(sigterm_, on_signal, SIGTERM);
  sigint_ = new uv_signal_t;
  uv_signal_init(main_.loop(), sigint_);
  sigint_->data = this;
  uv_signal_start(sigint_, on_signal, SIGINT);
}

int Server::run() {
  const InstalledLogSink installed(log_sink_);
  const uint32_t concurrency =
      config_->concurrency > 0 ? config_->concurrency : defaultConcurrency();
  concurrency_ = concurrency;
  start_time_seconds_ = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  LOG_INFO("starting podproxy", {"version", PODPROXY_VERSION}, {"config", config_->source},
           {"concurrency", concurrency});

  clusters_ = std::make_unique<upstream::ClusterManager>(
      main_, config_->clusters,
      [this](const std::string& cluster, upstream::HostSetConstSharedPtr hosts) {
        for (auto& w : workers_) w->updateHosts(cluster, hosts);
      });
  if (!buildSnapshot(concurrency) || !startAdmin()) {
    for (auto& l : snapshot_->listeners) network::closeSockets(l.fds);
    clusters_->stop();
    main_listeners_.clear();
    clusters_.reset();
    main_.shutdown();
    return 1;
  }
  clusters_->start();
  startSignals();
  startCertificateWatcher();
  // Access logs: one ring per worker, one writer thread doing the blocking writes.
  const bool any_access_log =
      std::any_of(config_->listeners.begin(), config_->listeners.end(),
                  [](const config::Listener& l) { return l.access_log.enabled; });
  if (any_access_log) {
    access_log_ = std::make_unique<access_log::AccessLogWriter>(STDOUT_FILENO);
    for (uint32_t i = 0; i < concurrency; ++i) {
      snapshot_->access_log_rings.push_back(&access_log_->addRing(kAccessLogRingBytes));
    }
    access_log_->start();
  }
  for (uint32_t i = 0; i < concurrency; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, snapshot_));
  }
  for (auto& w : workers_) {
    w->start([this](uint32_t index, bool ok) {
      main_.post([this, index, ok] { onWorkerStarted(index, ok); });
    });
  }
  main_.run();

  for (auto& w : workers_) w->join();
  if (access_log_) access_log_->stop();  // the workers are gone: write what they left
  bool clean = true;
  for (auto& w : workers_) clean = clean && w->closedClean();
  workers_.clear();
  main_listeners_.clear();
  clusters_.reset();
  if (!main_.shutdown()) clean = false;
  if (!clean) LOG_WARN("event loops closed with handles still open");
  LOG_INFO("exited", {"code", exit_code_});
  return exit_code_;
}

void Server::onWorkerStarted(uint32_t index, bool ok) {
  if (!ok) {
    LOG_ERROR("worker failed to start", {"worker", index});
    exit_code_ = 1;
    finish();
    return;
  }
  if (++workers_started_ == workers_.size() && !draining_) {
    ready_.store(true, std::memory_order_relaxed);
    LOG_INFO("ready", {"workers", workers_started_});
  }
}

void Server::requestShutdown() {
  main_.post([this] { beginDrain("admin /quitquitquit"); });
}

void Server::beginDrain(std::string_view reason) {
  if (draining_ || finished_) return;
  draining_ = true;
  ready_.store(false, std::memory_order_relaxed);
  LOG_INFO("draining", {"reason", reason},
           {"drain_timeout_ms", static_cast<int64_t>(config_->drain_timeout.count())});
  drain_timer_ = main_.createTimer([this] {
    LOG_WARN("drain timeout reached, closing remaining connections");
    finish();
  });
  drain_timer_->enable(config_->drain_timeout);
  if (workers_.empty()) {
    finish();
    return;
  }
  for (auto& w : workers_) {
    w->drain([this](uint32_t index) { main_.post([this, index] { onWorkerDrained(index); }); });
  }
}

void Server::onWorkerDrained(uint32_t) {
  if (++workers_drained_ == workers_.size()) {
    LOG_INFO("drained");
    finish();
  }
}

void Server::startCertificateWatcher() {
  if (tls_ == nullptr || tls_->size() == 0) return;
  // Rotated certificates reach the workers as new contexts; open connections keep theirs.
  cert_watcher_ = std::make_unique<tls::CertificateWatcher>(main_, tls_->files(), [this] {
    tls_->reload([this](int id, std::shared_ptr<const tls::TlsContext> context) {
      for (auto& w : workers_) w->updateTlsContext(id, context);
    });
  });
  cert_watcher_->start();
}

void Server::finish() {
  if (finished_) return;
  finished_ = true;
  drain_timer_.reset();
  cert_watcher_.reset();
  for (auto& w : workers_) w->stop();
  stopMainListeners();
  for (auto& c : collections_) {
    c->done = nullptr;
    c->timeout.reset();
  }
  collections_.clear();
  if (clusters_) clusters_->stop();
  for (uv_signal_t* s : {sigterm_, sigint_}) {
    if (s != nullptr) {
      uv_signal_stop(s);
      event::closeAndDelete(s);
    }
  }
  sigterm_ = sigint_ = nullptr;
  main_.exit();
}

std::string Server::configDumpJson() const {
  return config::toJson(*config_);
}

stats::ServerStats Server::serverStats() const {
  stats::ServerStats s;
  s.ready = ready();
  s.draining = draining_ || listeners_drained_;
  s.concurrency = concurrency_;
  s.start_time_seconds = start_time_seconds_;
  s.log_dropped = log_sink_.dropped();
  if (access_log_) {
    s.access_log_lines = access_log_->pushed();
    s.access_log_dropped = access_log_->dropped() + access_log_->writeErrors();
  }
  for (const auto& l : snapshot_->listeners) {
    s.listeners.push_back({l.shared->name, l.shared->connections.load(std::memory_order_relaxed),
                           l.shared->overflows.load(std::memory_order_relaxed)});
  }
  for (const auto& c : snapshot_->clusters) {
    const auto& r = *c.resources;
    s.clusters.push_back(
        {c.config->name, r.connectionOverflows(), r.pendingOverflows(), r.requestOverflows()});
  }
  return s;
}

void Server::collectWorkerStats(std::function<void(std::vector<stats::WorkerStatsSnapshot>)> done) {
  if (workers_.empty() || finished_) {
    done({});
    return;
  }
  auto collection = std::make_shared<StatsCollection>();
  collection->remaining = workers_.size();
  collection->done = std::move(done);
  // A worker that does not answer (stopping, or stuck) must not hold the scrape forever.
  std::weak_ptr<StatsCollection> weak = collection;
  collection->timeout = main_.createTimer([this, weak] {
    if (auto c = weak.lock()) completeCollection(c);
  });
  collection->timeout->enable(std::chrono::seconds(1));
  collections_.push_back(collection);
  for (auto& w : workers_) {
    w->collectStats([this, collection](stats::WorkerStatsSnapshot snapshot) {
      // On the worker: hand the copy to the main thread.
      main_.post([this, collection, snapshot = std::move(snapshot)]() mutable {
        if (!collection->done) return;
        collection->snapshots.push_back(std::move(snapshot));
        if (--collection->remaining == 0) completeCollection(collection);
      });
    });
  }
}

void Server::completeCollection(const std::shared_ptr<StatsCollection>& collection) {
  if (!collection->done) return;
  auto done = std::move(collection->done);
  collection->done = nullptr;
  auto snapshots = std::move(collection->snapshots);
  std::erase(collections_, collection);
  collection->timeout.reset();  // may be running this very callback: touch nothing after
  std::sort(snapshots.begin(), snapshots.end(),
            [](const auto& a, const auto& b) { return a.worker < b.worker; });
  done(std::move(snapshots));
}

void Server::statsText(admin::AdminCallback done) {
  collectWorkerStats([this, done = std::move(done)](auto snapshots) {
    std::ostringstream out;
    out << stats::renderPlainStats(*config_, snapshots, serverStats());
    for (const auto& c : snapshot_->clusters) {
      const auto& r = *c.resources;
      const std::string prefix = "cluster." + c.config->name + ".";
      out << prefix << "upstream_cx_active: " << r.connections() << '\n';
      out << prefix << "upstream_rq_active: " << r.requests() << '\n';
      out << prefix << "upstream_rq_pending_active: " << r.pendingRequests() << '\n';
      out << prefix << "upstream_cx_overflow: " << r.connectionOverflows() << '\n';
      out << prefix << "upstream_rq_pending_overflow: " << r.pendingOverflows() << '\n';
      out << prefix << "upstream_rq_overflow: " << r.requestOverflows() << '\n';
    }
    out << tlsPlainStats();
    out << "server.ready: " << (ready() ? 1 : 0) << '\n';
    done({200, "text/plain", out.str()});
  });
}

void Server::statsPrometheus(admin::AdminCallback done) {
  collectWorkerStats([this, done = std::move(done)](auto snapshots) {
    done({200, "text/plain; version=0.0.4; charset=utf-8",
          stats::renderPrometheus(*config_, snapshots, serverStats()) +
              (tls_ ? tls_->prometheusText() : std::string())});
  });
}

void Server::clusters(bool json, admin::AdminCallback done) {
  collectWorkerStats([this, json, done = std::move(done)](auto snapshots) {
    const stats::FoldedStats folded =
        stats::fold(snapshots, config_->listeners.size(), config_->clusters.size());
    std::string text;
    std::string js = "{\"clusters\":[";
    for (size_t i = 0; i < config_->clusters.size(); ++i) {
      const config::Cluster& c = config_->clusters[i];
      // Every host the cluster has now (no health checks yet: all healthy), plus any host a
      // worker still holds a pool for (draining after a DNS change, original_dst targets).
      std::vector<stats::HostStatsSnapshot> hosts;
      if (auto set = clusters_->hosts(c.name)) {
        for (const auto& h : set->hosts) hosts.push_back({h->address().toString()});
      }
      for (const auto& h : folded.clusters[i].host_stats) {
        auto it = std::find_if(hosts.begin(), hosts.end(),
                               [&](const auto& x) { return x.address == h.address; });
        if (it == hosts.end()) {
          hosts.push_back(h);
        } else {
          *it = h;
        }
      }
      if (i > 0) js += ',';
      js += "{\"name\":\"";
      Logger::appendJsonEscaped(js, c.name);
      js += "\",\"hosts\":[";
      for (size_t j = 0; j < hosts.size(); ++j) {
        const auto& h = hosts[j];
        const std::string p = c.name + "::" + h.address + "::";
        text += p + "cx_active::" + std::to_string(h.cx_active) + "\n";
        text += p + "rq_active::" + std::to_string(h.rq_active) + "\n";
        text += p + "rq_pending_active::" + std::to_string(h.pending_active) + "\n";
        text += p + "rq_total::" + std::to_string(h.rq_total) + "\n";
        text += p + "health_flags::healthy\n";
        if (j > 0) js += ',';
        js += "{\"address\":\"" + h.address +
              "\",\"health\":\"healthy\",\"cx_active\":" + std::to_string(h.cx_active) +
              ",\"rq_active\":" + std::to_string(h.rq_active) +
              ",\"rq_pending_active\":" + std::to_string(h.pending_active) +
              ",\"rq_total\":" + std::to_string(h.rq_total) + "}";
      }
      js += "]}";
    }
    js += "]}";
    if (json) {
      done({200, "application/json", js});
    } else {
      done({200, "text/plain", text});
    }
  });
}

std::string Server::listeners(bool json) const {
  std::string out = json ? "{\"listeners\":[" : "";
  for (size_t i = 0; i < bound_addresses_.size(); ++i) {
    const auto& [name, address] = bound_addresses_[i];
    if (json) {
      if (i > 0) out += ',';
      out += "{\"name\":\"";
      Logger::appendJsonEscaped(out, name);
      out += "\",\"address\":\"" + address + "\"}";
    } else {
      out += name + "::" + address + "\n";
    }
  }
  if (json) out += "]}";
  return out;
}

void Server::drainListeners() {
  if (draining_ || listeners_drained_) return;
  listeners_drained_ = true;
  ready_.store(false, std::memory_order_relaxed);
  LOG_INFO("draining listeners", {"reason", "admin /drain_listeners"});
  // Workers stop accepting and finish their connections gracefully; the process keeps running.
  for (auto& w : workers_) w->drain([](uint32_t) {});
}

std::string Server::tlsPlainStats() const {
  std::string out = tls_ ? tls_->plainStats() : std::string();
  for (const ListenerRuntime& l : snapshot_->listeners) {
    if (!l.authz) continue;
    const std::string p = "listener." + l.config->name + ".authz.";
    out += p + "allowed: " + std::to_string(l.authz->stats().allowed.load()) + "\n";
    out += p + "denied: " + std::to_string(l.authz->stats().denied.load()) + "\n";
  }
  return out;
}

}  // namespace podproxy::server
