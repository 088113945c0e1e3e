#include "config/values.h"

#include <charconv>
#include <limits>

#include "proxy/network/address.h"

namespace podproxy::config {
namespace {

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Splits "123unit" into its digits and suffix; fails when there are no leading digits.
bool splitNumber(std::string_view text, uint64_t& number, std::string_view& suffix) {
  size_t i = 0;
  while (i < text.size() && isDigit(text[i])) ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  suffix = text.substr(i);
  return true;
}

}  // namespace

std::expected<uint64_t, std::string> parseUnsigned(std::string_view text, uint64_t min,
                                                   uint64_t max) {
  uint64_t value = 0;
  std::string_view suffix;
  if (!splitNumber(text, value, suffix) || !suffix.empty()) {
    return std::unexpected("expected a non-negative integer");
  }
  if (value < min || value > max) {
    return std::unexpected("must be between " + std::to_string(min) + " and " +
                           std::to_string(max));
  }
  return value;
}

std::expected<Duration, std::string> parseDuration(std::string_view text) {
  static const std::string kExpected =
      "expected a duration like 250ms or 5s (units: ms, s, m, h; a plain integer is ms)";
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, number, unit)) return std::unexpected(kExpected);
  uint64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 60 * 60 * 1000;
  } else {
    return std::unexpected(kExpected);
  }
  // A year is far beyond any sensible timeout and keeps the arithmetic clear of overflow.
  constexpr uint64_t kMaxMs = 365ULL * 24 * 60 * 60 * 1000;
  if (number > kMaxMs / scale) return std::unexpected("duration is too long (at most 365 days)");
  return Duration(static_cast<int64_t>(number * scale));
}

std::expected<uint32_t, std::string> parseSize(std::string_view text) {
  static const std::string kExpected =
      "expected a size in bytes like 65536, 60KiB or 1MiB (units: KiB, MiB, GiB)";
  uint64_t number = 0;
  std::string_view unit;
  if (!splitNumber(text, number, unit)) return std::unexpected(kExpected);
  uint64_t scale = 0;
  if (unit.empty()) {
    scale = 1;
  } else if (unit == "KiB") {
    scale = 1ULL << 10;
  } else if (unit == "MiB") {
    scale = 1ULL << 20;
  } else if (unit == "GiB") {
    scale = 1ULL << 30;
  } else {
    return std::unexpected(kExpected);
  }
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  if (number > kMax / scale) return std::unexpected("size is too large (at most 4294967295 bytes)");
  return static_cast<uint32_t>(number * scale);
}

bool isValidDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.back() == '.') name.remove_suffix(1);  // a fully qualified name may end in '.'
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isAlpha(c) && !isDigit(c) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

std::expected<SocketAddress, std::string> parseSocketAddress(std::string_view text, HostKind kind,
                                                             bool allow_port_zero) {
  const std::string expected_form = kind == HostKind::kIpOnly
                                        ? "expected an IP address and port like 127.0.0.1:8080 "
                                          "or [::1]:8080"
                                        : "expected HOST:PORT like app.local:8080, "
                                          "127.0.0.1:8080 or [::1]:8080";
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::unexpected(expected_form);
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected(expected_form);
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    // An unbracketed IPv6 literal is ambiguous ("::1:80"): insist on brackets.
    if (host.find(':') != std::string_view::npos) return std::unexpected(expected_form);
  }
  if (host.empty()) return std::unexpected(expected_form);
  auto port = parseUnsigned(port_text, allow_port_zero ? 0 : 1, 65535);
  if (!port) {
    return std::unexpected(allow_port_zero ? "port must be between 0 and 65535"
                                           : "port must be between 1 and 65535");
  }
  const bool is_ip = network::Address::fromIp(host, 0).has_value();
  if (bracketed && (!is_ip || host.find(':') == std::string_view::npos)) {
    return std::unexpected("brackets are only for IPv6 addresses");
  }
  if (!is_ip) {
    if (kind == HostKind::kIpOnly) {
      return std::unexpected("'" + std::string(host) + "' is not an IP address (" + expected_form +
                             ")");
    }
    if (!isValidDnsName(host)) {
      return std::unexpected("'" + std::string(host) + "' is not a valid host name");
    }
  }
  return SocketAddress{std::string(host), static_cast<uint16_t>(*port)};
}

std::string formatSocketAddress(const SocketAddress& address) {
  if (address.host.find(':') != std::string::npos) {
    return "[" + address.host + "]:" + std::to_string(address.port);
  }
  return address.host + ":" + std::to_string(address.port);
}

bool isValidToken(std::string_view token) {
  if (token.empty()) return false;
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  for (char c : token) {
    if (!isAlpha(c) && !isDigit(c) && kSpecials.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool isValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool isValidLogLevel(std::string_view level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
         level == "error" || level == "off";
}

std::string toLowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::expected<void, std::string> validateDomain(std::string_view domain) {
  static const std::string kForms =
      "a domain must be \"*\", an exact host (api.local), \"*.suffix\" or \"prefix.*\"";
  if (domain == "*") return {};
  if (domain.empty()) return std::unexpected("a domain may not be empty");
  std::string_view name = domain;
  if (name.starts_with("*.")) {
    name.remove_prefix(2);
  } else if (name.ends_with(".*")) {
    name.remove_suffix(2);
  }
  if (name.find('*') != std::string_view::npos) return std::unexpected(kForms);
  if (name.empty()) return std::unexpected(kForms);
  if (name.front() == '[') {
    if (name.size() < 3 || name.back() != ']' || name.size() != domain.size() ||
        !network::Address::fromIp(name.substr(1, name.size() - 2), 0)) {
      return std::unexpected("'" + std::string(domain) + "' is not a valid IPv6 domain");
    }
    return {};
  }
  for (char c : name) {
    if (!isAlpha(c) && !isDigit(c) && c != '-' && c != '.' && c != '_') {
      if (c == ':') return std::unexpected("a domain is matched without its port: drop ':PORT'");
      return std::unexpected("'" + std::string(domain) + "' contains '" + std::string(1, c) +
                             "', which is not allowed in a domain");
    }
  }
  if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
    return std::unexpected("'" + std::string(domain) + "' has an empty label");
  }
  return {};
}

}  // namespace podproxy::config
