#include "config/embedded_default.h"

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

}  // namespace

std::string_view embeddedDefaultYaml() {
  return kDefaultYaml;
}

}  // namespace podproxy::config
