#pragma once

// The built-in configuration used when podproxy starts without a config file.

#include <string_view>

namespace podproxy::config {

inline constexpr std::string_view kEmbeddedDefaultSource = "<embedded default>";

// YAML text, loaded through the same loader as any file (see loader.h: loadEmbeddedDefault).
std::string_view embeddedDefaultYaml();

inline constexpr std::string_view kEmbeddedSidecarSource = "<embedded sidecar>";

// The sidecar configuration (`podproxy sidecar`): Istio's ports, transparent capture of the
// Pod's inbound and outbound traffic. With `ipv6`, capture listeners on [::] as well.
std::string embeddedSidecarYaml(bool ipv6);

}  // namespace podproxy::config
