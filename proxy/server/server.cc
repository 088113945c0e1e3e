#include "proxy/server/server.h"

#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/json_dump.h"
#include "proxy/common/logger.h"
#include "proxy/network/listen_socket.h"

namespace podproxy::server {

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
    : config_(std::move(config)), main_("main") {}

Server::~Server() = default;

bool Server::buildSnapshot(uint32_t concurrency) {
  snapshot_ = std::make_shared<ServerSnapshot>();
  snapshot_->config = config_;
  for (const config::Cluster& c : config_->clusters) {
    snapshot_->clusters.push_back(
        ClusterRuntime{&c, clusters_->hosts(c.name), clusters_->resources(c.name)});
  }
  for (const config::Listener& l : config_->listeners) {
    ListenerRuntime runtime;
    runtime.config = &l;
    if (l.http) {
      auto routes = router::RouteTable::create(l.http->route_config);
      if (!routes) {
        LOG_ERROR("invalid route configuration", {"listener", l.name}, {"error", routes.error()});
        return false;
      }
      runtime.routes = std::shared_ptr<const router::RouteTable>(std::move(*routes));
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
    LOG_INFO("listening", {"listener", l.name}, {"address", sockets->bound.toString()},
             {"protocol", l.http ? "http" : "tcp"});
    snapshot_->listeners.push_back(std::move(runtime));
  }
  return true;
}

bool Server::startAdmin() {
  if (!config_->admin.enabled) return true;
  auto address = network::Address::fromIp(config_->admin.address.host, config_->admin.address.port);
  if (!address) {
    LOG_ERROR("invalid admin address", {"host", config_->admin.address.host});
    return false;
  }
  auto sockets = network::createListenSockets(*address, 1);
  if (!sockets) {
    LOG_ERROR("cannot listen", {"listener", "admin"}, {"error", sockets.error()});
    return false;
  }
  admin_http_config_.stat_prefix = "admin";
  admin_factory_ = std::make_unique<admin::AdminFilterFactory>(*this);
  admin_context_ = std::make_unique<http::ConnectionManagerContext>(http::ConnectionManagerContext{
      admin_http_config_, *admin_factory_, admin_random_, admin_stats_});
  admin_shared_.name = "admin";
  admin_shared_.max_connections = 1024;
  admin_shared_.buffer_limit = 1024 * 1024;
  http::ConnectionManagerContext* context = admin_context_.get();
  admin_listener_ = std::make_unique<ActiveListener>(
      main_, admin_shared_, sockets->fds[0],
      [context](network::Connection& connection) -> http::ConnectionManager* {
        auto manager = std::make_unique<http::ConnectionManager>(*context);
        http::ConnectionManager* raw = manager.get();
        connection.addReadFilter(std::move(manager));
        return raw;
      });
  const std::string err = admin_listener_->start();
  if (!err.empty()) {
    LOG_ERROR("cannot start admin listener", {"error", err});
    return false;
  }
  LOG_INFO("listening", {"listener", "admin"}, {"address", sockets->bound.toString()},
           {"protocol", "http"});
  return true;
}

void Server::startSignals() {
  std::signal(SIGPIPE, SIG_IGN);
  auto on_signal = [](uv_signal_t* handle, int signum) {
    auto* self = static_cast<Server*>(handle->data);
    if (self->draining_) {
      // A second signal: the operator does not want to wait.
      LOG_WARN("second signal, exiting now", {"signal", signum});
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
  const uint32_t concurrency =
      config_->concurrency > 0 ? config_->concurrency : defaultConcurrency();
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
    admin_listener_.reset();
    clusters_.reset();
    main_.shutdown();
    return 1;
  }
  clusters_->start();
  startSignals();
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
  bool clean = true;
  for (auto& w : workers_) clean = clean && w->closedClean();
  workers_.clear();
  admin_listener_.reset();
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

void Server::finish() {
  if (finished_) return;
  finished_ = true;
  drain_timer_.reset();
  for (auto& w : workers_) w->stop();
  if (admin_listener_) admin_listener_->stopListening();
  if (admin_listener_) admin_listener_->closeAll();
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

std::string Server::configDumpJson() const { return config::toJson(*config_); }

std::string Server::statsText() const {
  std::ostringstream out;
  for (const auto& l : snapshot_->listeners) {
    out << "listener." << l.shared->name << ".downstream_cx_active: "
        << l.shared->connections.load(std::memory_order_relaxed) << '\n';
    out << "listener." << l.shared->name << ".downstream_cx_overflow: "
        << l.shared->overflows.load(std::memory_order_relaxed) << '\n';
  }
  for (const auto& c : snapshot_->clusters) {
    const auto& r = *c.resources;
    out << "cluster." << c.config->name << ".upstream_cx_active: " << r.connections() << '\n';
    out << "cluster." << c.config->name << ".upstream_rq_active: " << r.requests() << '\n';
    out << "cluster." << c.config->name << ".upstream_rq_pending_active: " << r.pendingRequests()
        << '\n';
    out << "cluster." << c.config->name << ".upstream_cx_overflow: " << r.connectionOverflows()
        << '\n';
    out << "cluster." << c.config->name << ".upstream_rq_pending_overflow: "
        << r.pendingOverflows() << '\n';
    out << "cluster." << c.config->name << ".upstream_rq_overflow: " << r.requestOverflows()
        << '\n';
  }
  out << "server.ready: " << (ready() ? 1 : 0) << '\n';
  return out.str();
}

}  // namespace podproxy::server
