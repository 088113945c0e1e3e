#include "proxy/http/http1/header_rules.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace podproxy::http::http1 {

namespace {

constexpr std::array<bool, 256> makeTokenTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTokenChars = makeTokenTable();

// Calls `f` with every comma-separated element of `value`, OWS trimmed, empty ones skipped.
template <typename F>
void forEachListElement(std::string_view value, F&& f) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view element = trimOws(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return kTokenChars[static_cast<unsigned char>(c)]; });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isSafeFieldValue(std::string_view value) {
  // One pass; find_first_of with a 3-byte set runs memchr once per character of the value.
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

ConnectionOptions parseConnection(const HeaderMap& headers) {
  ConnectionOptions out;
  for (const HeaderMap::Entry& e : headers.entries()) {
    if (e.name != "connection") continue;
    forEachListElement(e.value, [&](std::string_view option) {
      if (equalsIgnoreCase(option, "close")) {
        out.close = true;
      } else if (equalsIgnoreCase(option, "keep-alive")) {
        out.keep_alive = true;
      } else {
        out.nominated.push_back(toLower(option));
      }
    });
  }
  return out;
}

bool isHopByHop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "te" || name == "upgrade";
}

bool isNominated(const ConnectionOptions& options, std::string_view name) {
  return std::find(options.nominated.begin(), options.nominated.end(), name) !=
         options.nominated.end();
}

bool teOffersTrailers(std::string_view te_value) {
  bool found = false;
  forEachListElement(te_value, [&](std::string_view element) {
    // "trailers" takes no parameters, but tolerate "trailers;q=1" style input.
    const std::string_view name = trimOws(element.substr(0, element.find(';')));
    if (equalsIgnoreCase(name, "trailers")) found = true;
  });
  return found;
}

void stripHopByHop(HeaderMap& headers, const ConnectionOptions& options, bool keep_te_trailers) {
  bool te_trailers = false;
  if (keep_te_trailers) {
    if (std::optional<std::string> te = headers.getJoined("te"))
      te_trailers = teOffersTrailers(*te);
  }
  // Most messages carry none of these: look once before paying for removals.
  bool any = false;
  for (const HeaderMap::Entry& e : headers.entries()) {
    if (isHopByHop(e.name) || isNominated(options, e.name)) {
      any = true;
      break;
    }
  }
  if (any) {
    for (std::string_view name :
         {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}) {
      headers.remove(name);
    }
    for (const std::string& name : options.nominated) headers.remove(name);
  }
  if (te_trailers) headers.add("te", "trailers");
}

bool appendField(std::string& out, std::string_view name, std::string_view value) {
  if (!isToken(name) || !isSafeFieldValue(value)) return false;
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
  return true;
}

void appendChunk(buffer::Buffer& out, buffer::Buffer& data, bool last) {
  if (!data.empty()) {
    char size[24];
    auto [end, ec] = std::to_chars(size, size + sizeof(size) - 2, data.length(), 16);
    *end++ = '\r';
    *end++ = '\n';
    out.add(size, static_cast<size_t>(end - size));
    out.move(data);
    out.add("\r\n");
  }
  if (last) out.add("0\r\n\r\n");
}

void appendLastChunk(buffer::Buffer& out, const HeaderMap& trailers) {
  std::string s = "0\r\n";
  for (const HeaderMap::Entry& e : trailers.entries()) {
    if (isHopByHop(e.name) || e.name == "content-length" || e.name == "host") continue;
    appendField(s, e.name, e.value);
  }
  s.append("\r\n");
  out.add(s);
}

}  // namespace podproxy::http::http1
