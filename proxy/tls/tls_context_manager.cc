#include "proxy/tls/tls_context_manager.h"

#include <algorithm>
#include <ctime>

#include "proxy/common/logger.h"

namespace podproxy::tls {

namespace {

TlsVersion version(config::TlsVersion v) {
  return v == config::TlsVersion::kTls12 ? TlsVersion::kTls12 : TlsVersion::kTls13;
}

void applyParameters(const config::TlsParameters& p, TlsContextConfig& c) {
  c.min_version = version(p.min_version);
  c.max_version = version(p.max_version);
  c.cipher_list = p.cipher_suites;
  c.cipher_suites = p.tls13_cipher_suites;
  c.session_tickets = p.session_tickets;
}

CertificateFiles workloadCertificate(const config::WorkloadCertificate& w) {
  return CertificateFiles{w.cert_file, w.key_file, {}};
}

int64_t now() {
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace

TlsContextManager::TlsContextManager(const config::Bootstrap& config) : config_(config) {
  const config::WorkloadCertificate& workload = config.workload_identity;
  int mesh_server = -1;  // every mtls listener shares one context: same files, same settings
  for (const config::Listener& l : config.listeners) {
    int id = -1;
    if (l.tls) {
      TlsContextConfig c;
      c.role = TlsContextConfig::Role::kServer;
      c.name = "listener:" + l.name;
      for (const auto& cert : l.tls->certificates) {
        c.certificates.push_back({cert.cert_file, cert.key_file, cert.server_names});
      }
      c.ca_file = l.tls->ca_file;
      c.require_peer_certificate = l.tls->require_client_certificate;
      c.alpn = l.tls->alpn;
      applyParameters(l.tls->parameters, c);
      id = add(std::move(c), false);
    } else if (l.mtls != config::MtlsMode::kDisabled) {
      if (mesh_server < 0) {
        TlsContextConfig c;
        c.role = TlsContextConfig::Role::kServer;
        c.name = "mesh_inbound";
        c.certificates = {workloadCertificate(workload)};
        c.ca_file = workload.ca_file;
        c.require_peer_certificate = true;
        mesh_server = add(std::move(c), true);
      }
      id = mesh_server;
    }
    listener_ids_.push_back(id);
  }
  for (const config::Cluster& cl : config.clusters) {
    int id = -1;
    if (cl.tls) {
      TlsContextConfig c;
      c.role = TlsContextConfig::Role::kClient;
      c.name = "cluster:" + cl.name;
      c.ca_file = cl.tls->ca_file;
      c.sni = cl.tls->sni;
      c.verify_subject_alt_names = cl.tls->verify_subject_alt_names;
      c.alpn = cl.tls->alpn;
      applyParameters(cl.tls->parameters, c);
      id = add(std::move(c), false);
    } else if (cl.mutual) {
      TlsContextConfig c;
      c.role = TlsContextConfig::Role::kClient;
      c.name = "cluster:" + cl.name;
      c.certificates = {workloadCertificate(workload)};
      c.ca_file = workload.ca_file;
      c.allowed_spiffe_ids = cl.peer_spiffe_ids;
      c.allowed_trust_domains = cl.peer_trust_domains;
      c.require_same_trust_domain = cl.peer_spiffe_ids.empty() && cl.peer_trust_domains.empty();
      c.alpn = config::defaultUpstreamAlpn(cl.protocol);
      id = add(std::move(c), true);
    }
    cluster_ids_.push_back(id);
  }
}

int TlsContextManager::add(TlsContextConfig config, bool workload) {
  auto slot = std::make_unique<Slot>();
  slot->config = std::move(config);
  slot->workload = workload;
  slots_.push_back(std::move(slot));
  return static_cast<int>(slots_.size() - 1);
}

std::expected<void, std::string> TlsContextManager::initialize() {
  for (auto& slot : slots_) {
    auto context = TlsContext::create(slot->config);
    if (!context) return std::unexpected(slot->config.name + ": " + context.error());
    slot->current = std::move(*context);
    if (slot->workload && slot->current->localUriSan().empty()) {
      return std::unexpected(slot->config.name + ": " + slot->config.certificates[0].cert_file +
                             ": the workload certificate has no URI SAN (SPIFFE ID)");
    }
    const int64_t expires = slot->current->certificateNotAfter();
    LOG_INFO("tls context loaded", {"context", slot->config.name},
             {"spiffe_id", slot->current->localUriSan()},
             {"expires_in_seconds", expires > 0 ? expires - now() : 0});
    if (expires > 0 && expires < now()) {
      LOG_WARN(
          "certificate has expired", {"context", slot->config.name},
          {"file", slot->config.certificates.empty() ? std::string()
                                                     : slot->config.certificates[0].cert_file});
    }
  }
  return {};
}

size_t TlsContextManager::reload(const Publish& publish) {
  size_t replaced = 0;
  for (size_t id = 0; id < slots_.size(); ++id) {
    Slot& slot = *slots_[id];
    auto context = TlsContext::create(slot.config);
    if (!context) {
      // A rotation writes several files; a half-written set fails until the last one lands.
      if (context.error() != slot.last_error) {
        ++reload_failures_;
        LOG_ERROR("certificate reload rejected; keeping the current certificate",
                  {"context", slot.config.name}, {"error", context.error()});
        slot.last_error = context.error();
      }
      continue;
    }
    slot.last_error.clear();
    if ((*context)->fingerprint() == slot.current->fingerprint()) continue;
    if (slot.workload && (*context)->localUriSan().empty()) {
      ++reload_failures_;
      LOG_ERROR("certificate reload rejected; keeping the current certificate",
                {"context", slot.config.name},
                {"error", slot.config.certificates[0].cert_file + ": no URI SAN (SPIFFE ID)"});
      continue;
    }
    slot.current = std::move(*context);
    ++replaced;
    ++reloads_;
    const int64_t expires = slot.current->certificateNotAfter();
    LOG_INFO("certificate reloaded", {"context", slot.config.name},
             {"spiffe_id", slot.current->localUriSan()},
             {"expires_in_seconds", expires > 0 ? expires - now() : 0});
    publish(static_cast<int>(id), slot.current);
  }
  return replaced;
}

std::vector<std::string> TlsContextManager::files() const {
  std::vector<std::string> out;
  auto add_file = [&](const std::string& f) {
    if (!f.empty() && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  };
  for (const auto& slot : slots_) {
    for (const auto& c : slot->config.certificates) {
      add_file(c.cert_file);
      add_file(c.key_file);
    }
    add_file(slot->config.ca_file);
  }
  return out;
}

std::optional<int64_t> TlsContextManager::workloadCertExpirySeconds() const {
  for (const auto& slot : slots_) {
    if (slot->workload && slot->current && slot->current->certificateNotAfter() > 0) {
      return slot->current->certificateNotAfter() - now();
    }
  }
  return std::nullopt;
}

std::string TlsContextManager::plainStats() const {
  std::string out;
  for (const auto& slot : slots_) {
    const std::string p = "tls." + slot->config.name + ".";
    const TlsStats& s = *slot->stats;
    out += p + "handshakes: " + std::to_string(s.handshakes.load()) + "\n";
    out += p + "handshake_failures: " + std::to_string(s.handshake_failures.load()) + "\n";
    out += p + "sessions_resumed: " + std::to_string(s.sessions_resumed.load()) + "\n";
    out += p + "peer_rejected: " + std::to_string(s.peer_rejected.load()) + "\n";
    out += p + "no_certificate: " + std::to_string(s.no_certificate.load()) + "\n";
    if (slot->current) {
      out += p + "cert_expiry_seconds: " +
             std::to_string(slot->current->certificateNotAfter() > 0
                                ? slot->current->certificateNotAfter() - now()
                                : 0) +
             "\n";
    }
  }
  out += "tls.reloads: " + std::to_string(reloads_) + "\n";
  out += "tls.reload_failures: " + std::to_string(reload_failures_) + "\n";
  if (auto expiry = workloadCertExpirySeconds()) {
    out += "tls.workload_cert_expiry_seconds: " + std::to_string(*expiry) + "\n";
  }
  return out;
}

std::string TlsContextManager::prometheusText() const {
  if (slots_.empty()) return {};
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
    for (const auto& slot : slots_) {
      out += std::string(name) + "{context=\"" + slot->config.name + "\"} " +
             std::to_string(value(*slot)) + "\n";
    }
  };
  family("podproxy_tls_handshakes_total", "counter", "Completed TLS handshakes.",
         [](const Slot& s) { return s.stats->handshakes.load(); });
  family("podproxy_tls_handshake_failures_total", "counter", "Failed TLS handshakes.",
         [](const Slot& s) { return s.stats->handshake_failures.load(); });
  family("podproxy_tls_sessions_resumed_total", "counter", "TLS handshakes done by resumption.",
         [](const Slot& s) { return s.stats->sessions_resumed.load(); });
  family("podproxy_tls_peer_rejected_total", "counter",
         "Verified peers refused for their SAN or SPIFFE ID.",
         [](const Slot& s) { return s.stats->peer_rejected.load(); });
  out +=
      "# HELP podproxy_tls_certificate_reloads_total Certificates replaced after a change on "
      "disk.\n"
      "# TYPE podproxy_tls_certificate_reloads_total counter\n"
      "podproxy_tls_certificate_reloads_total " +
      std::to_string(reloads_) + "\n";
  out +=
      "# HELP podproxy_tls_certificate_reload_failures_total Reloads rejected (the old certificate "
      "stays).\n"
      "# TYPE podproxy_tls_certificate_reload_failures_total counter\n"
      "podproxy_tls_certificate_reload_failures_total " +
      std::to_string(reload_failures_) + "\n";
  if (auto expiry = workloadCertExpirySeconds()) {
    out +=
        "# HELP podproxy_workload_cert_expiry_seconds Seconds until the workload certificate "
        "expires.\n"
        "# TYPE podproxy_workload_cert_expiry_seconds gauge\n"
        "podproxy_workload_cert_expiry_seconds " +
        std::to_string(*expiry) + "\n";
  }
  return out;
}

}  // namespace podproxy::tls
