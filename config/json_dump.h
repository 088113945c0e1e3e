#pragma once

// The effective configuration as JSON (admin /config_dump): every field, defaults included,
// so an operator sees exactly what the proxy runs with.

#include <string>

#include "config/model.h"

namespace podproxy::config {

std::string toJson(const Bootstrap& bootstrap);

}  // namespace podproxy::config
