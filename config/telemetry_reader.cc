#include "config/telemetry_reader.h"

#include <charconv>
#include <set>

#include "config/values.h"
#include "proxy/access_log/access_log_fields.h"

namespace podproxy::config {

namespace {

void setFromEnv(std::string& field, const EnvLookup& env,
                std::initializer_list<const char*> names) {
  if (field != "unknown") return;
  for (const char* name : names) {
    const char* value = env(name);
    if (value != nullptr && *value != '\0') {
      field = value;
      return;
    }
  }
}

// Label values end up in metrics: keep them printable and short.
std::string readLabelValue(const YamlNode& node) {
  std::string value = node.asNonEmptyString();
  if (value.size() > 253) node.fail("at most 253 characters");
  for (unsigned char c : value) {
    if (c < 0x21 || c == 0x7f) node.fail("may not contain spaces or control characters");
  }
  return value;
}

WorkloadIdentity readWorkload(const YamlNode& node) {
  node.allowOnly(
      {"name", "namespace", "service_account", "app", "version", "cluster_id", "service"});
  WorkloadIdentity w;
  if (auto v = node.get("name")) w.name = readLabelValue(*v);
  if (auto v = node.get("namespace")) w.namespace_name = readLabelValue(*v);
  if (auto v = node.get("service_account")) w.service_account = readLabelValue(*v);
  if (auto v = node.get("app")) w.app = readLabelValue(*v);
  if (auto v = node.get("version")) w.version = readLabelValue(*v);
  if (auto v = node.get("cluster_id")) w.cluster_id = readLabelValue(*v);
  if (auto v = node.get("service")) w.service = readLabelValue(*v);
  return w;
}

TracingConfig readTracing(const YamlNode& node) {
  node.allowOnly({"sampling"});
  TracingConfig t;
  if (auto v = node.get("sampling")) {
    const std::string text = v->asNonEmptyString();
    double value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() ||
        !(value >= 0.0 && value <= 100.0)) {
      v->fail("sampling must be a percentage between 0 and 100");
    }
    t.sampling = value;
  }
  return t;
}

}  // namespace

void applyWorkloadEnvironment(WorkloadIdentity& w, const EnvLookup& env) {
  setFromEnv(w.name, env, {"WORKLOAD_NAME", "POD_NAME"});
  setFromEnv(w.namespace_name, env, {"POD_NAMESPACE"});
  setFromEnv(w.service_account, env, {"SERVICE_ACCOUNT"});
  setFromEnv(w.app, env, {"APP"});
  setFromEnv(w.version, env, {"VERSION"});
  setFromEnv(w.cluster_id, env, {"CLUSTER_ID"});
  setFromEnv(w.service, env, {"SERVICE_NAME"});
}

Telemetry readTelemetry(const std::optional<YamlNode>& node, const EnvLookup& env) {
  Telemetry t;
  if (node) {
    node->allowOnly({"workload", "tracing"});
    if (auto v = node->get("workload")) t.workload = readWorkload(*v);
    if (auto v = node->get("tracing")) t.tracing = readTracing(*v);
  }
  applyWorkloadEnvironment(t.workload, env);
  return t;
}

AccessLogConfig readAccessLog(const YamlNode& node) {
  node.allowOnly({"enabled", "fields"});
  AccessLogConfig a;
  if (auto v = node.get("enabled")) a.enabled = v->asBool();
  if (auto v = node.get("fields")) {
    std::set<std::string> seen;
    for (const YamlNode& item : v->nonEmptyItems()) {
      const std::string name = item.asNonEmptyString();
      if (!access_log::accessLogFieldByName(name)) {
        std::string known;
        for (std::string_view f : access_log::kAccessLogFieldNames) {
          if (!known.empty()) known += ", ";
          known += f;
        }
        item.fail("unknown access log field '" + name + "' (known: " + known + ")");
      }
      if (!seen.insert(name).second) item.fail("field '" + name + "' is listed twice");
      a.fields.push_back(name);
    }
  }
  return a;
}

TrafficDirection readDirection(const YamlNode& node) {
  const std::string direction = node.asString();
  if (direction == "outbound") return TrafficDirection::kOutbound;
  if (direction == "inbound") return TrafficDirection::kInbound;
  node.fail("direction must be outbound or inbound");
}

SocketAddress readTelemetryAddress(const YamlNode& node) {
  auto address = parseSocketAddress(node.asNonEmptyString(), HostKind::kIpOnly,
                                    /*allow_port_zero=*/true);
  if (!address) node.fail(address.error());
  return *address;
}

}  // namespace podproxy::config
