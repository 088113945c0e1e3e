#pragma once

// A YAML node together with its dotted field path and source position, with typed accessors that
// turn every type or range mistake into a ConfigError pointing at the offending line and column.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/model.h"

namespace podproxy::config {

// Thrown inside the loader only and caught at its entry points: the schema walk is deep and
// stops at the first error, which an exception expresses without threading a status through
// every reader. Never escapes the loader (and config loading is not on a data path).
struct ConfigException {
  ConfigError error;
};

class YamlNode {
 public:
  // The root of a document from source `file`.
  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file);

  const std::string& path() const { return path_; }
  const YAML::Node& raw() const { return node_; }

  // A ConfigError at this node (or at an explicit field path at this node's position).
  ConfigError error(std::string message) const;
  ConfigError errorAt(std::string field, std::string message) const;
  [[noreturn]] void fail(std::string message) const;

  // Mappings. allowOnly fails on the first key (in document order) that is not listed, and on a
  // key given twice, so that later reads can assume each known key at most once.
  void expectMap() const;
  // An empty mapping (`{}`), as Envoy's marker messages are written; fails with `why` otherwise.
  void expectEmptyMap(std::string_view why) const;
  void allowOnly(std::initializer_list<std::string_view> keys) const;
  std::optional<YamlNode> get(std::string_view key) const;
  YamlNode require(std::string_view key) const;  // fails "missing required field"
  // Fails unless exactly one (or, with allow_none, at most one) of `keys` is present.
  std::optional<std::string_view> oneOf(std::initializer_list<std::string_view> keys,
                                        bool allow_none = false) const;

  // Sequences.
  std::vector<YamlNode> items() const;  // fails when not a sequence
  std::vector<YamlNode> nonEmptyItems() const;

  // Scalars (plain or quoted; null, sequences and mappings are type errors).
  std::string asString() const;
  std::string asNonEmptyString() const;
  bool asBool() const;
  uint64_t asUnsigned(uint64_t min, uint64_t max) const;
  uint32_t asUint32(uint32_t min = 0) const;
  Duration asDuration() const;
  Duration asPositiveDuration() const;
  uint32_t asSize(uint32_t min = 0) const;
  std::vector<std::string> asStringList() const;

 private:
  YamlNode(YAML::Node node, std::string path, std::shared_ptr<const std::string> file,
           YAML::Mark fallback);
  YamlNode child(const YAML::Node& value, std::string path, const YAML::Mark& key_mark) const;
  std::string keyPath(std::string_view key) const;
  const std::string& scalarOrFail(std::string_view what) const;
  std::string typeName() const;

  YAML::Node node_;
  std::string path_;
  std::shared_ptr<const std::string> file_;
  // A null value ("key:" with nothing after it) is marked at the *next* token by yaml-cpp, so
  // errors about it point at the key instead.
  YAML::Mark fallback_;
};

}  // namespace podproxy::config
