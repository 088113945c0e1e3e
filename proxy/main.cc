// podproxy command line: run the proxy (from a file or the embedded default) or validate a file.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "config/embedded_default.h"
#include "config/loader.h"
#include "proxy/common/logger.h"
#include "proxy/server/server.h"
#include "proxy/tls/certs_command.h"

namespace {

constexpr std::string_view kUsage = R"(podproxy - a service-mesh sidecar proxy

Usage:
  podproxy [run] [-c FILE] [options]   run the proxy (embedded default config without -c)
  podproxy sidecar [-c FILE] [options] run as a Pod's sidecar (embedded sidecar config without -c:
                                       capture on 15001/15006, admin 15000, health 15021,
                                       metrics 15090; see docker/podproxy-init)
  podproxy validate -c FILE            check a config file and exit (0: valid, 1: invalid)
  podproxy print-default [--sidecar]   print an embedded config (YAML)
  podproxy certs --out DIR [options]   write a development CA and a workload certificate with a
                                       SPIFFE ID (podproxy certs --help)

Options:
  -c, --config FILE        YAML config file
      --listen HOST:PORT   address of listener "ingress" (default 127.0.0.1:10000)
      --upstream HOST:PORT endpoint of cluster "local_app" (default 127.0.0.1:8080)
      --admin HOST:PORT    admin address (default 127.0.0.1:15000)
      --concurrency N      worker threads (default: CPUs this process may use)
      --log-level LEVEL    trace, debug, info, warn, error, off (default info)
      --inbound-target T   sidecar: reach the app on loopback (127.0.0.1:<port>, default)
                           or on the original destination address (original)
  -h, --help               this help
  -v, --version            print the version
)";

struct Args {
  std::string command = "run";
  std::optional<std::string> config_path;
  bool sidecar = false;  // print-default --sidecar
  podproxy::config::CliOverrides overrides;
};

// Returns an error message, or nothing when the arguments parsed.
std::optional<std::string> parseArgs(int argc, char** argv, Args& args) {
  int i = 1;
  if (i < argc && argv[i][0] != '-') args.command = argv[i++];
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      (void)name;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (arg == "-c" || arg == "--config") {
      if (!(v = value(arg))) return "missing value for " + std::string(arg);
      args.config_path = *v;
    } else if (arg == "--listen") {
      if (!(v = value(arg))) return "missing value for --listen";
      args.overrides.listen = *v;
    } else if (arg == "--upstream") {
      if (!(v = value(arg))) return "missing value for --upstream";
      args.overrides.upstream = *v;
    } else if (arg == "--admin") {
      if (!(v = value(arg))) return "missing value for --admin";
      args.overrides.admin = *v;
    } else if (arg == "--concurrency") {
      if (!(v = value(arg))) return "missing value for --concurrency";
      char* end = nullptr;
      const long n = std::strtol(v->c_str(), &end, 10);
      if (end == v->c_str() || *end != '\0' || n < 0 || n > 256) {
        return "--concurrency must be a number from 0 to 256";
      }
      args.overrides.concurrency = static_cast<uint32_t>(n);
    } else if (arg == "--log-level") {
      if (!(v = value(arg))) return "missing value for --log-level";
      if (!podproxy::parseLogLevel(*v)) return "unknown log level: " + *v;
      args.overrides.log_level = *v;
    } else if (arg == "--inbound-target") {
      if (!(v = value(arg))) return "missing value for --inbound-target";
      args.overrides.inbound_target = *v;
    } else if (arg == "--sidecar") {
      args.sidecar = true;
    } else if (arg == "-h" || arg == "--help") {
      args.command = "help";
    } else if (arg == "-v" || arg == "--version") {
      args.command = "version";
    } else {
      return "unknown argument: " + std::string(arg);
    }
  }
  return std::nullopt;
}

// Whether this network namespace can use IPv6 (the sidecar then captures it too).
bool hostHasIpv6() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "certs") {
    return podproxy::tls::runCertsCommand(argc - 2, argv + 2);
  }
  Args args;
  if (auto err = parseArgs(argc, argv, args)) {
    std::fprintf(stderr, "podproxy: %s\n\n%s", err->c_str(), kUsage.data());
    return 2;
  }
  if (args.command == "help") {
    std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
    return 0;
  }
  if (args.command == "version") {
    std::printf("podproxy %s\n", PODPROXY_VERSION);
    return 0;
  }
  if (args.command == "print-default") {
    const std::string yaml = args.sidecar ? podproxy::config::embeddedSidecarYaml(hostHasIpv6())
                                          : std::string(podproxy::config::embeddedDefaultYaml());
    std::fwrite(yaml.data(), 1, yaml.size(), stdout);
    return 0;
  }
  if (args.command != "run" && args.command != "validate" && args.command != "sidecar") {
    std::fprintf(stderr, "podproxy: unknown command '%s'\n\n%s", args.command.c_str(),
                 kUsage.data());
    return 2;
  }

  auto loaded =
      [&]() -> std::expected<podproxy::config::BootstrapPtr, podproxy::config::ConfigError> {
    if (!args.config_path) {
      if (args.command == "sidecar") {
        return podproxy::config::loadEmbeddedSidecar(args.overrides, hostHasIpv6());
      }
      return podproxy::config::loadEmbeddedDefault(args.overrides);
    }
    auto file = podproxy::config::loadFile(*args.config_path);
    if (!file) return file;
    return podproxy::config::applyOverrides(**file, args.overrides);
  }();

  if (args.command == "validate") {
    if (!args.config_path) {
      std::fprintf(stderr, "podproxy validate: -c FILE is required\n");
      return 2;
    }
    if (!loaded) {
      std::fprintf(stderr, "%s\n", loaded.error().toString().c_str());
      return 1;
    }
    std::printf("%s: valid\n", args.config_path->c_str());
    return 0;
  }

  if (!loaded) {
    LOG_ERROR("invalid configuration", {"error", loaded.error().toString()},
              {"file", loaded.error().file}, {"line", loaded.error().line},
              {"column", loaded.error().column}, {"field", loaded.error().field});
    return 1;
  }
  const podproxy::config::BootstrapPtr& config = *loaded;
  if (auto level = podproxy::parseLogLevel(config->log_level)) podproxy::Logger::setLevel(*level);
  podproxy::server::Server server(config);
  return server.run();
}
