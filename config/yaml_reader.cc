#include "config/yaml_reader.h"

#include <limits>
#include <set>

#include "config/values.h"

namespace podproxy::config {
namespace {

std::string joinKeys(std::initializer_list<std::string_view> keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

}  // namespace

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file)
    : YamlNode(std::move(node), "", std::move(file), YAML::Mark()) {}

YamlNode::YamlNode(YAML::Node node, std::string path, std::shared_ptr<const std::string> file,
                   YAML::Mark fallback)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), fallback_(fallback) {}

YamlNode YamlNode::child(const YAML::Node& value, std::string path,
                         const YAML::Mark& key_mark) const {
  return YamlNode(value, std::move(path), file_, key_mark);
}

std::string YamlNode::keyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

ConfigError YamlNode::errorAt(std::string field, std::string message) const {
  YAML::Mark mark = node_.Mark();
  if (node_.IsNull() || mark.is_null()) mark = fallback_;
  ConfigError error;
  error.file = *file_;
  if (!mark.is_null()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.field = std::move(field);
  error.message = std::move(message);
  return error;
}

ConfigError YamlNode::error(std::string message) const {
  return errorAt(path_, std::move(message));
}

void YamlNode::fail(std::string message) const {
  throw ConfigException{error(std::move(message))};
}

std::string YamlNode::typeName() const {
  switch (node_.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + node_.Scalar() + "'";
    default:
      return "nothing";
  }
}

void YamlNode::expectMap() const {
  if (!node_.IsMap()) fail("expected a mapping (key: value), got " + typeName());
}

void YamlNode::expectEmptyMap(std::string_view why) const {
  expectMap();
  if (node_.size() != 0) fail(std::string(why));
}

void YamlNode::allowOnly(std::initializer_list<std::string_view> keys) const {
  expectMap();
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    // A copy: the iterator yields a temporary pair, so a reference into it would dangle.
    const YAML::Node key = it->first;
    const YamlNode key_node(key, path_, file_, key.Mark());
    if (!key.IsScalar()) key_node.fail("a field name must be a plain string");
    const std::string& name = key.Scalar();
    const std::string field = keyPath(name);
    bool known = false;
    for (std::string_view allowed : keys) known = known || allowed == name;
    if (!known) {
      throw ConfigException{
          key_node.errorAt(field, "unknown field (expected one of: " + joinKeys(keys) + ")")};
    }
    if (!seen.insert(name).second) {
      throw ConfigException{key_node.errorAt(field, "field given twice")};
    }
  }
}

std::optional<YamlNode> YamlNode::get(std::string_view key) const {
  expectMap();
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      return child(it->second, keyPath(key), it->first.Mark());
    }
  }
  return std::nullopt;
}

YamlNode YamlNode::require(std::string_view key) const {
  auto value = get(key);
  if (!value) throw ConfigException{errorAt(keyPath(key), "missing required field")};
  return *value;
}

std::optional<std::string_view> YamlNode::oneOf(std::initializer_list<std::string_view> keys,
                                                bool allow_none) const {
  expectMap();
  std::optional<std::string_view> found;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    for (std::string_view key : keys) {
      if (it->first.Scalar() != key) continue;
      if (found) {
        const YamlNode key_node(it->first, path_, file_, it->first.Mark());
        throw ConfigException{key_node.errorAt(keyPath(key), "only one of " + joinKeys(keys) +
                                                                 " may be set (already have " +
                                                                 std::string(*found) + ")")};
      }
      found = key;
    }
  }
  if (!found && !allow_none) {
    const std::string_view lead = keys.size() == 2 ? "one of " : "exactly one of ";
    fail(std::string(lead) + joinKeys(keys) + " is required");
  }
  return found;
}

std::vector<YamlNode> YamlNode::items() const {
  if (!node_.IsSequence()) fail("expected a list, got " + typeName());
  std::vector<YamlNode> out;
  out.reserve(node_.size());
  size_t i = 0;
  for (const YAML::Node& item : node_) {
    out.push_back(child(item, path_ + "[" + std::to_string(i++) + "]", node_.Mark()));
  }
  return out;
}

std::vector<YamlNode> YamlNode::nonEmptyItems() const {
  auto out = items();
  if (out.empty()) fail("must not be empty");
  return out;
}

const std::string& YamlNode::scalarOrFail(std::string_view what) const {
  if (!node_.IsScalar()) fail("expected " + std::string(what) + ", got " + typeName());
  return node_.Scalar();
}

std::string YamlNode::asString() const {
  return scalarOrFail("a string");
}

std::string YamlNode::asNonEmptyString() const {
  std::string value = asString();
  if (value.empty()) fail("must not be empty");
  return value;
}

bool YamlNode::asBool() const {
  const std::string& value = scalarOrFail("true or false");
  if (value == "true" || value == "True" || value == "TRUE") return true;
  if (value == "false" || value == "False" || value == "FALSE") return false;
  fail("expected true or false, got '" + value + "'");
}

uint64_t YamlNode::asUnsigned(uint64_t min, uint64_t max) const {
  auto value = parseUnsigned(scalarOrFail("an integer"), min, max);
  if (!value) fail(value.error());
  return *value;
}

uint32_t YamlNode::asUint32(uint32_t min) const {
  return static_cast<uint32_t>(asUnsigned(min, std::numeric_limits<uint32_t>::max()));
}

Duration YamlNode::asDuration() const {
  auto value = parseDuration(scalarOrFail("a duration like 250ms or 5s"));
  if (!value) fail(value.error());
  return *value;
}

Duration YamlNode::asPositiveDuration() const {
  Duration value = asDuration();
  if (value.count() == 0) fail("must be greater than 0");
  return value;
}

uint32_t YamlNode::asSize(uint32_t min) const {
  auto value = parseSize(scalarOrFail("a size like 65536 or 60KiB"));
  if (!value) fail(value.error());
  if (*value < min) fail("must be at least " + std::to_string(min) + " bytes");
  return *value;
}

std::vector<std::string> YamlNode::asStringList() const {
  std::vector<std::string> out;
  for (const YamlNode& item : items()) out.push_back(item.asString());
  return out;
}

}  // namespace podproxy::config
