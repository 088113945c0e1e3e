#pragma once

// Reads the telemetry parts of a config: the top-level telemetry: block (workload identity with
// downward-API environment defaults, tracing), listener access_log: and direction:, and the
// admin stats/health addresses.

#include <functional>
#include <optional>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace podproxy::config {

using EnvLookup = std::function<const char*(const char*)>;

// `node` may be absent; environment defaults apply either way (fields given in YAML win).
Telemetry readTelemetry(const std::optional<YamlNode>& node, const EnvLookup& env);
AccessLogConfig readAccessLog(const YamlNode& node);
TrafficDirection readDirection(const YamlNode& node);
// An admin-side address (stats, health): IP literal, port 0 allowed.
SocketAddress readTelemetryAddress(const YamlNode& node);

// Fills fields still "unknown" from the Kubernetes downward-API environment: WORKLOAD_NAME (else
// POD_NAME), POD_NAMESPACE, SERVICE_ACCOUNT, APP, VERSION, CLUSTER_ID, SERVICE_NAME.
void applyWorkloadEnvironment(WorkloadIdentity& workload, const EnvLookup& env);

}  // namespace podproxy::config
