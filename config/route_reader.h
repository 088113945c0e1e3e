#pragma once

// Reads an HTTP route_config (virtual hosts, routes, matchers, actions, header mutations) from
// YAML and validates everything that can be checked without knowing the clusters.

#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace podproxy::config {

// A use of a cluster by name, checked once every cluster has been read (clusters may be declared
// after the listeners that use them).
struct ClusterReference {
  std::string cluster;
  YamlNode node;  // where the name was written, for the error
};

struct ReadContext {
  std::vector<ClusterReference> cluster_references;
  // Where `original_destination: true` was written: valid on capture listeners only.
  std::vector<YamlNode> original_destination_uses;
};

// One header matcher (name + exact/prefix/regex/present + invert); also used by authorization.
HeaderMatcher readHeaderMatcher(const YamlNode& node);

// Throws ConfigException. default_name is used when route_config has no name.
RouteConfig readRouteConfig(const YamlNode& node, std::string_view default_name,
                            ReadContext& context);

}  // namespace podproxy::config
