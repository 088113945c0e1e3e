#pragma once

// The built-in configuration used when podproxy starts without a config file.

#include <string_view>

namespace podproxy::config {

inline constexpr std::string_view kEmbeddedDefaultSource = "<embedded default>";

// YAML text, loaded through the same loader as any file (see loader.h: loadEmbeddedDefault).
std::string_view embeddedDefaultYaml();

}  // namespace podproxy::config
