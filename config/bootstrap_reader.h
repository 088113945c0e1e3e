#pragma once

// Reads a whole Bootstrap (top level, admin, listeners, clusters) from a YAML document and checks
// the rules that span sections: unique names and addresses, and that every cluster used exists.

#include "config/model.h"
#include "config/yaml_reader.h"

namespace podproxy::config {

// Throws ConfigException on the first error. Leaves Bootstrap::source to the caller.
Bootstrap readBootstrap(const YamlNode& root);

}  // namespace podproxy::config
