#pragma once

// Helpers for config loader tests: load YAML text and assert the exact position and field of the
// error it produces. Snippet helpers embed a fragment at a known line and column so expected
// positions can be read off the fragment itself.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace podproxy::config::testing {

inline constexpr std::string_view kTestFile = "test.yaml";

// Prefixes every line of `snippet` with `indent` spaces.
inline std::string indent(std::string_view snippet, int indent) {
  std::istringstream in{std::string(snippet)};
  std::string out;
  for (std::string line; std::getline(in, line);) out += std::string(indent, ' ') + line + "\n";
  return out;
}

inline constexpr std::string_view kTwoClusters =
    "clusters:\n"
    "  - name: app\n"
    "    endpoints: [\"127.0.0.1:8080\"]\n"
    "  - name: other\n"
    "    endpoints: [\"127.0.0.1:8081\"]\n";

// A fragment placed under `routes:` of virtual host "local": its line 1 is file line 10 and its
// column 1 is file column 15 (offsets 9 and 14).
inline constexpr int kRouteLine = 9;
inline constexpr int kRouteColumn = 14;
inline const std::string kRoutesField = "listeners[0].http.route_config.virtual_hosts[0].routes";
inline std::string withRoutes(std::string_view routes) {
  return std::string(
             "listeners:\n"
             "  - name: ingress\n"
             "    address: 127.0.0.1:10000\n"
             "    http:\n"
             "      route_config:\n"
             "        virtual_hosts:\n"
             "          - name: local\n"
             "            domains: [\"*\"]\n"
             "            routes:\n") +
         indent(routes, kRouteColumn) + std::string(kTwoClusters);
}

// A fragment placed under `virtual_hosts:`: offsets 6 lines and 10 columns.
inline constexpr int kHostLine = 6;
inline constexpr int kHostColumn = 10;
inline const std::string kHostsField = "listeners[0].http.route_config.virtual_hosts";
inline std::string withVirtualHosts(std::string_view hosts) {
  return std::string(
             "listeners:\n"
             "  - name: ingress\n"
             "    address: 127.0.0.1:10000\n"
             "    http:\n"
             "      route_config:\n"
             "        virtual_hosts:\n") +
         indent(hosts, kHostColumn) + std::string(kTwoClusters);
}

// A fragment placed under `listeners:` (offsets 1 line, 2 columns), followed by the clusters.
inline constexpr int kListenerLine = 1;
inline constexpr int kListenerColumn = 2;
inline std::string withListeners(std::string_view listeners) {
  return "listeners:\n" + indent(listeners, kListenerColumn) + std::string(kTwoClusters);
}

// A fragment placed under `clusters:` (offsets 1 line, 2 columns).
inline constexpr int kClusterLine = 1;
inline constexpr int kClusterColumn = 2;
inline std::string withClusters(std::string_view clusters) {
  return "clusters:\n" + indent(clusters, kClusterColumn);
}

inline BootstrapPtr loadOk(const std::string& yaml) {
  auto loaded = loadString(yaml, kTestFile);
  EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : loaded.error().toString()) << "\n" << yaml;
  return loaded ? *loaded : nullptr;
}

inline ConfigError loadError(const std::string& yaml) {
  auto loaded = loadString(yaml, kTestFile);
  EXPECT_FALSE(loaded.has_value()) << "loaded without error:\n" << yaml;
  return loaded ? ConfigError{} : loaded.error();
}

}  // namespace podproxy::config::testing

// Asserts file, 1-based line and column, dotted field, and a substring of the message.
#define EXPECT_CONFIG_ERROR(yaml, expected_line, expected_column, expected_field, message_part)  \
  do {                                                                                           \
    const ::podproxy::config::ConfigError error_ = ::podproxy::config::testing::loadError(yaml); \
    EXPECT_EQ(error_.file, "test.yaml");                                                         \
    EXPECT_EQ(error_.line, (expected_line)) << error_.toString();                                \
    EXPECT_EQ(error_.column, (expected_column)) << error_.toString();                            \
    EXPECT_EQ(error_.field, (expected_field)) << error_.toString();                              \
    EXPECT_THAT(error_.message, ::testing::HasSubstr(message_part)) << error_.toString();        \
  } while (0)
