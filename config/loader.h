#pragma once

// Loads a Bootstrap from YAML (a file, a string or the embedded default), validates it and applies
// command-line overrides; every failure is one ConfigError naming file, line, column and field.

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"

namespace podproxy::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string field;    // dotted path, e.g. "listeners[0].http.route_config.virtual_hosts[1].name"
  std::string message;  // e.g. "unknown field", "cluster 'x' is not defined"

  // "FILE:LINE:COL: FIELD: MESSAGE"; parts that are unknown (empty, or line 0) are left out.
  std::string toString() const;
};

using BootstrapPtr = std::shared_ptr<const Bootstrap>;

std::expected<BootstrapPtr, ConfigError> loadFile(const std::string& path);
std::expected<BootstrapPtr, ConfigError> loadString(std::string_view yaml,
                                                    std::string_view source_name);

// The YAML used when podproxy runs without a config file (shown by --print-default).
std::string_view embeddedDefaultYaml();

// The explicit initializers let callers write designated initializers ({.listen = "..."})
// without -Wmissing-field-initializers.
struct CliOverrides {
  std::optional<std::string> listen = std::nullopt;    // HOST:PORT for listener "ingress"
  std::optional<std::string> upstream = std::nullopt;  // HOST:PORT, sole endpoint of "local_app"
  std::optional<std::string> admin = std::nullopt;     // HOST:PORT of the admin server
  std::optional<uint32_t> concurrency = std::nullopt;
  std::optional<std::string> log_level = std::nullopt;
  // "loopback" or "original": inbound_target of every inbound capture listener.
  std::optional<std::string> inbound_target = std::nullopt;
};

// Loads the embedded default and applies overrides: --listen HOST:PORT replaces listener
// "ingress"'s address, --upstream HOST:PORT replaces cluster "local_app"'s endpoints, --admin
// HOST:PORT the admin address.
std::expected<BootstrapPtr, ConfigError> loadEmbeddedDefault(const CliOverrides& overrides);

// The embedded sidecar configuration (`podproxy sidecar`) with overrides; IPv6 capture
// listeners are included when `ipv6` (the host has IPv6).
std::expected<BootstrapPtr, ConfigError> loadEmbeddedSidecar(const CliOverrides& overrides,
                                                             bool ipv6);

// Applies the same overrides to any loaded Bootstrap and returns a new snapshot. Errors name the
// option ("--listen") as the field, e.g. for a bad HOST:PORT or a missing "ingress" listener.
std::expected<BootstrapPtr, ConfigError> applyOverrides(const Bootstrap& base,
                                                        const CliOverrides& overrides);

}  // namespace podproxy::config
