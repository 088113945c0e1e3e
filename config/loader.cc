#include "config/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "config/bootstrap_reader.h"
#include "config/embedded_default.h"
#include "config/values.h"
#include "config/yaml_reader.h"
#include "proxy/network/address.h"

namespace podproxy::config {
namespace {

constexpr std::string_view kCommandLine = "<command line>";
constexpr uint32_t kMaxConcurrency = 256;

ConfigError commandLineError(std::string_view option, std::string message) {
  return ConfigError{std::string(kCommandLine), 0, 0, std::string(option), std::move(message)};
}

ConfigError markedError(std::string_view file, const YAML::Mark& mark, std::string message) {
  ConfigError error;
  error.file = std::string(file);
  if (!mark.is_null()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.message = std::move(message);
  return error;
}

bool sameBoundAddress(const SocketAddress& a, const SocketAddress& b) {
  if (a.port == 0 || b.port == 0) return false;  // ephemeral ports never clash
  auto pa = network::Address::fromIp(a.host, a.port);
  auto pb = network::Address::fromIp(b.host, b.port);
  return pa && pb && *pa == *pb;
}

}  // namespace

std::string ConfigError::toString() const {
  // Appends only: GCC 12 warns (-Wrestrict, a false positive) on `":" + std::to_string(...)`.
  std::string out = file;
  if (line > 0) {
    out.append(":").append(std::to_string(line)).append(":").append(std::to_string(column));
  }
  if (!field.empty()) {
    if (!out.empty()) out.append(": ");
    out.append(field);
  }
  if (!out.empty()) out.append(": ");
  out.append(message);
  return out;
}

std::expected<BootstrapPtr, ConfigError> loadString(std::string_view yaml,
                                                    std::string_view source_name) {
  auto file = std::make_shared<const std::string>(source_name);
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.empty()) {
      return std::unexpected(ConfigError{*file, 0, 0, "", "the configuration is empty"});
    }
    if (documents.size() > 1) {
      return std::unexpected(
          markedError(*file, documents[1].Mark(), "expected one YAML document, found several"));
    }
    Bootstrap bootstrap = readBootstrap(YamlNode(documents[0], file));
    bootstrap.source = std::string(source_name);
    return std::make_shared<const Bootstrap>(std::move(bootstrap));
  } catch (const ConfigException& e) {
    return std::unexpected(e.error);
  } catch (const YAML::Exception& e) {
    // Syntax errors (YAML::ParserException) and anything else yaml-cpp rejects.
    return std::unexpected(markedError(*file, e.mark, "invalid YAML: " + e.msg));
  }
}

std::expected<BootstrapPtr, ConfigError> loadFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    return std::unexpected(
        ConfigError{path, 0, 0, "", "cannot open: " + std::string(std::strerror(errno))});
  }
  std::string content;
  char chunk[16384];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f.get())) > 0) content.append(chunk, n);
  if (std::ferror(f.get())) {
    // Reading a directory opens fine and fails here with EISDIR.
    return std::unexpected(
        ConfigError{path, 0, 0, "", "cannot read: " + std::string(std::strerror(errno))});
  }
  return loadString(content, path);
}

std::expected<BootstrapPtr, ConfigError> loadEmbeddedDefault(const CliOverrides& overrides) {
  auto base = loadString(embeddedDefaultYaml(), kEmbeddedDefaultSource);
  if (!base) return base;
  return applyOverrides(**base, overrides);
}

std::expected<BootstrapPtr, ConfigError> loadEmbeddedSidecar(const CliOverrides& overrides,
                                                             bool ipv6) {
  auto base = loadString(embeddedSidecarYaml(ipv6), kEmbeddedSidecarSource);
  if (!base) return base;
  return applyOverrides(**base, overrides);
}

std::expected<BootstrapPtr, ConfigError> applyOverrides(const Bootstrap& base,
                                                        const CliOverrides& overrides) {
  Bootstrap out = base;
  if (overrides.inbound_target) {
    CaptureOptions::InboundTarget target;
    if (*overrides.inbound_target == "loopback") {
      target = CaptureOptions::InboundTarget::kLoopback;
    } else if (*overrides.inbound_target == "original") {
      target = CaptureOptions::InboundTarget::kOriginal;
    } else {
      return std::unexpected(commandLineError("--inbound-target", "must be loopback or original"));
    }
    bool any = false;
    for (Listener& l : out.listeners) {
      if (l.capture && l.capture->direction == CaptureOptions::Direction::kInbound) {
        l.capture->inbound_target = target;
        any = true;
      }
    }
    if (!any) {
      return std::unexpected(
          commandLineError("--inbound-target", "there is no inbound capture listener to change"));
    }
  }
  if (overrides.listen) {
    auto address = parseSocketAddress(*overrides.listen, HostKind::kIpOnly, true);
    if (!address) return std::unexpected(commandLineError("--listen", address.error()));
    auto it = std::find_if(out.listeners.begin(), out.listeners.end(),
                           [](const Listener& l) { return l.name == "ingress"; });
    if (it == out.listeners.end()) {
      return std::unexpected(
          commandLineError("--listen", "there is no listener named 'ingress' to change"));
    }
    for (const Listener& other : out.listeners) {
      if (other.name != "ingress" && sameBoundAddress(other.address, *address)) {
        return std::unexpected(commandLineError(
            "--listen",
            "address " + *overrides.listen + " is already used by listener '" + other.name + "'"));
      }
    }
    it->address = *address;
  }
  if (overrides.upstream) {
    auto address = parseSocketAddress(*overrides.upstream, HostKind::kIpOrDnsName, false);
    if (!address) return std::unexpected(commandLineError("--upstream", address.error()));
    auto it = std::find_if(out.clusters.begin(), out.clusters.end(),
                           [](const Cluster& c) { return c.name == "local_app"; });
    if (it == out.clusters.end()) {
      return std::unexpected(
          commandLineError("--upstream", "there is no cluster named 'local_app' to change"));
    }
    it->endpoints = {*address};
    // "--upstream app:8080" (e.g. a compose service name) must be resolved, not parsed as an IP.
    if (!network::Address::fromIp(address->host, address->port)) {
      it->type = Cluster::Type::kStrictDns;
    }
  }
  if (overrides.admin) {
    auto address = parseSocketAddress(*overrides.admin, HostKind::kIpOnly, true);
    if (!address) return std::unexpected(commandLineError("--admin", address.error()));
    out.admin.address = *address;
  }
  if (overrides.concurrency) {
    if (*overrides.concurrency > kMaxConcurrency) {
      return std::unexpected(commandLineError("--concurrency", "must be between 0 and 256"));
    }
    out.concurrency = *overrides.concurrency;
  }
  if (overrides.log_level) {
    if (!isValidLogLevel(*overrides.log_level)) {
      return std::unexpected(
          commandLineError("--log-level", "must be one of trace, debug, info, warn, error, off"));
    }
    out.log_level = *overrides.log_level;
  }
  if (out.admin.enabled && (overrides.listen || overrides.admin)) {
    for (const Listener& listener : out.listeners) {
      if (sameBoundAddress(listener.address, out.admin.address)) {
        return std::unexpected(
            commandLineError(overrides.admin ? "--admin" : "--listen",
                             "admin address " + formatSocketAddress(out.admin.address) +
                                 " is already used by listener '" + listener.name + "'"));
      }
    }
  }
  return std::make_shared<const Bootstrap>(std::move(out));
}

}  // namespace podproxy::config
