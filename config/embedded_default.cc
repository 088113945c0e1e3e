#include "config/embedded_default.h"

#include <string>

namespace podproxy::config {

namespace {

// Kept as YAML rather than built in code so `podproxy --print-default` shows exactly what runs
// and the default passes the same validation as a user's file.
constexpr std::string_view kDefaultYaml = R"yaml(# podproxy embedded default configuration.
# Plain HTTP on 127.0.0.1:10000 forwarded to an app on 127.0.0.1:8080.
# Override with --listen, --upstream, --admin, --concurrency, --log-level,
# or pass a file with --config (see docs/config.md).
concurrency: 0          # 0: one worker per CPU the process may use
drain_timeout: 15s
log_level: info

admin:
  address: 127.0.0.1:15000
  enabled: true

listeners:
  - name: ingress
    address: 127.0.0.1:10000
    http:
      stat_prefix: ingress
      route_config:
        name: local
        virtual_hosts:
          - name: local
            domains: ["*"]
            routes:
              - name: default
                match:
                  prefix: /
                route:
                  cluster: local_app

clusters:
  - name: local_app
    type: static
    lb_policy: round_robin
    endpoints: ["127.0.0.1:8080"]
)yaml";

// Kept in step with config/examples/sidecar.yaml (a unit test compares them).
constexpr std::string_view kSidecarYaml =
    R"yaml(# podproxy embedded sidecar configuration (podproxy sidecar).
# The init step (docker/podproxy-init) redirects the Pod's traffic here with iptables:
# the app's outbound connections to 15001, connections into the Pod to 15006.
concurrency: 0
drain_timeout: 15s
log_level: info

admin:
  address: 127.0.0.1:15000
  stats_address: 0.0.0.0:15090    # GET /stats/prometheus (scraped by Prometheus)
  health_address: 0.0.0.0:15021   # GET /healthz/ready (kubelet probes)

listeners:
  # The app's outbound connections. The original destination picks the cluster: one whose
  # service_addresses list it, else "passthrough" to the original destination itself.
  - name: outbound
    address: 0.0.0.0:15001
    capture:
      direction: outbound
      detection_timeout: 100ms   # client-first sniff window; silence means server-first TCP
      tcp_ports: []              # destination ports proxied as TCP without sniffing
  # Connections into the Pod, forwarded to the app on the port they were sent to.
  - name: inbound
    address: 0.0.0.0:15006
    capture:
      direction: inbound
      detection_timeout: 100ms
      inbound_target: loopback   # loopback: 127.0.0.1:<port>; original: <pod ip>:<port>
%IPV6%
# Add clusters with service_addresses to route a Service's cluster IP; everything else passes
# through to where the app was connecting.
clusters:
  - name: passthrough
    type: original_dst
)yaml";

constexpr std::string_view kSidecarIpv6Listeners = R"yaml(  - name: outbound_ipv6
    address: "[::]:15001"
    capture:
      direction: outbound
      detection_timeout: 100ms
      tcp_ports: []
  - name: inbound_ipv6
    address: "[::]:15006"
    capture:
      direction: inbound
      detection_timeout: 100ms
      inbound_target: loopback
)yaml";

}  // namespace

std::string_view embeddedDefaultYaml() {
  return kDefaultYaml;
}

std::string embeddedSidecarYaml(bool ipv6) {
  std::string yaml(kSidecarYaml);
  const size_t at = yaml.find("%IPV6%\n");
  yaml.replace(at, 7, ipv6 ? std::string(kSidecarIpv6Listeners) : std::string());
  return yaml;
}

}  // namespace podproxy::config
