#pragma once

// A hash that lets string-keyed unordered maps be searched with a string_view, without building
// a key string: declare the map with StringViewHash and std::equal_to<>.

#include <cstddef>
#include <functional>
#include <string_view>

namespace podproxy {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace podproxy
