#include "proxy/http/header_map.h"

#include <algorithm>

namespace podproxy::http {

namespace {
inline char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

namespace {

// Stored names are lower-case, so only the looked-up name needs folding; code asks with
// lower-case literals almost always, which makes this a plain compare.
bool storedNameEquals(std::string_view stored, std::string_view name) {
  if (stored.size() != name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (stored[i] != lowerAscii(name[i])) return false;
  }
  return true;
}

}  // namespace

void HeaderMap::add(std::string_view name, std::string_view value) {
  // A request or response carries about a dozen fields: one allocation up front instead of
  // growing 1, 2, 4, 8, 16 and moving every entry each time.
  if (entries_.capacity() == 0) entries_.reserve(kTypicalFieldCount);
  Entry& entry = entries_.emplace_back();
  entry.name.resize(name.size());
  std::transform(name.begin(), name.end(), entry.name.begin(), lowerAscii);
  entry.value.assign(value);
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (storedNameEquals(it->name, name)) {
      it->value.assign(value);
      // Drop later duplicates.
      auto rest = std::remove_if(it + 1, entries_.end(),
                                 [&](const Entry& e) { return storedNameEquals(e.name, name); });
      entries_.erase(rest, entries_.end());
      return;
    }
  }
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const Entry& e) { return storedNameEquals(e.name, name); });
  return before - entries_.size();
}

const std::string* HeaderMap::get(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (storedNameEquals(e.name, name)) return &e.value;
  }
  return nullptr;
}

std::optional<std::string> HeaderMap::getJoined(std::string_view name) const {
  std::optional<std::string> out;
  for (const Entry& e : entries_) {
    if (!storedNameEquals(e.name, name)) continue;
    if (out) {
      out->append(", ");
      out->append(e.value);
    } else {
      out = e.value;
    }
  }
  return out;
}

size_t HeaderMap::byteSize() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += e.name.size() + e.value.size() + 4;
  return n;
}

std::string_view reasonPhrase(uint16_t status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace podproxy::http
