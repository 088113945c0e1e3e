#include "proxy/http/header_map.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "proxy/common/block_cache.h"

namespace podproxy::http {

namespace {
inline char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// lowerAscii on 8 bytes at once. Bytes of 0x80 and above are left alone. No byte's sum carries
// into the next: every addend stays below 0x100.
inline uint64_t lowerAscii8(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const uint64_t low7 = w & (0x7F * kOnes);
  const uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;  // top bit: byte >= 'A'
  const uint64_t past_z = low7 + (0x7F - 'Z') * kOnes;      // top bit: byte > 'Z'
  const uint64_t upper = at_least_a & ~past_z & ~w & (0x80 * kOnes);
  return w | (upper >> 2);  // 0x80 >> 2 is the 0x20 case bit
}

// Copies n bytes, lower-cased, a word at a time: every header name a codec parses comes through
// here.
void copyLowerAscii(char* to, const char* from, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) to[i] = lowerAscii(from[i]);
    return;
  }
  uint64_t w;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    std::memcpy(&w, from + i, 8);
    w = lowerAscii8(w);
    std::memcpy(to + i, &w, 8);
  }
  // The last word overlaps bytes already copied; lower-casing them again changes nothing.
  std::memcpy(&w, from + n - 8, 8);
  w = lowerAscii8(w);
  std::memcpy(to + n - 8, &w, 8);
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

namespace {

// One block: kBlockEntries entries, then the first bytes of names and values. 1 KiB stays under
// glibc's large-chunk threshold and holds a typical request or response whole.
constexpr size_t kBlockBytes = 1024;
constexpr uint32_t kBlockEntries = 16;
constexpr size_t kBlockEntryBytes = kBlockEntries * sizeof(HeaderMap::Entry);
static_assert(kBlockEntryBytes < kBlockBytes);
// Enough for every message in flight on a busy worker (HTTP/2 streams hold two or three maps);
// past that, blocks go back to malloc.
constexpr size_t kMaxCachedBlocks = 256;
// Heap chunks for bytes beyond the block's: at least this big, so a large message makes few.
constexpr size_t kMinChunkBytes = 2048;

using FieldBlockCache = BlockCache<kBlockBytes, kMaxCachedBlocks>;

}  // namespace

struct HeaderMap::Chunk {
  Chunk* next;
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
};

HeaderMap::HeaderMap(const HeaderMap& other) {
  for (const Entry& e : other.entries()) add(e.name, e.value);
}

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this != &other) {
    clear();
    for (const Entry& e : other.entries()) add(e.name, e.value);
  }
  return *this;
}

HeaderMap::HeaderMap(HeaderMap&& other) noexcept {
  *this = std::move(other);
}

HeaderMap& HeaderMap::operator=(HeaderMap&& other) noexcept {
  if (this != &other) {
    release();
    block_ = std::exchange(other.block_, nullptr);
    entries_ = std::exchange(other.entries_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    cursor_ = std::exchange(other.cursor_, nullptr);
    limit_ = std::exchange(other.limit_, nullptr);
    chunks_ = std::exchange(other.chunks_, nullptr);
  }
  return *this;
}

void HeaderMap::releaseSpill() {
  while (chunks_ != nullptr) ::operator delete(std::exchange(chunks_, chunks_->next));
  if (entries_ != block_) ::operator delete(entries_);
}

void HeaderMap::release() {
  releaseSpill();
  if (block_ != nullptr) FieldBlockCache::local().give(block_);
  block_ = nullptr;
  entries_ = nullptr;
  size_ = capacity_ = 0;
  cursor_ = limit_ = nullptr;
}

void HeaderMap::clear() {
  // Keeps the block for the next fields; heap spill goes.
  size_ = 0;
  if (block_ == nullptr) return;
  releaseSpill();
  useBlock(block_);
}

char* HeaderMap::reserveBytes(size_t n) {
  if (static_cast<size_t>(limit_ - cursor_) < n) return growBytes(n);
  return std::exchange(cursor_, cursor_ + n);
}

void HeaderMap::useBlock(void* block) {
  block_ = block;
  entries_ = static_cast<Entry*>(block_);
  capacity_ = kBlockEntries;
  cursor_ = static_cast<char*>(block_) + kBlockEntryBytes;
  limit_ = static_cast<char*>(block_) + kBlockBytes;
}

char* HeaderMap::growBytes(size_t n) {
  // The rest of the current region is abandoned: fields are never split across regions.
  const size_t size = std::max(n, kMinChunkBytes);
  auto* chunk = static_cast<Chunk*>(::operator new(sizeof(Chunk) + size));
  chunk->next = chunks_;
  chunks_ = chunk;
  cursor_ = chunk->bytes() + n;
  limit_ = chunk->bytes() + size;
  return chunk->bytes();
}

HeaderMap::Entry& HeaderMap::appendEntry() {
  if (size_ == capacity_) {
    const uint32_t capacity = capacity_ * 2;
    auto* grown = static_cast<Entry*>(::operator new(capacity * sizeof(Entry)));
    std::memcpy(static_cast<void*>(grown), entries_, size_ * sizeof(Entry));
    if (entries_ != block_) ::operator delete(entries_);
    entries_ = grown;
    capacity_ = capacity;
  }
  return *new (&entries_[size_++]) Entry{};
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  if (block_ == nullptr) useBlock(FieldBlockCache::local().take());
  // Both copies land before the entry is appended: `name` and `value` may be views of this
  // map's own fields, and no byte storage moves.
  char* bytes = reserveBytes(name.size() + value.size());
  copyLowerAscii(bytes, name.data(), name.size());
  if (!value.empty()) std::memcpy(bytes + name.size(), value.data(), value.size());
  Entry& entry = appendEntry();
  entry.name = {bytes, name.size()};
  entry.value = {bytes + name.size(), value.size()};
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  Entry* const end = entries_ + size_;
  for (Entry* it = entries_; it != end; ++it) {
    if (!storedNameEquals(it->name, name)) continue;
    // The old value's bytes are this map's own: reuse them when the new value fits.
    char* bytes = value.size() <= it->value.size() ? const_cast<char*>(it->value.data())
                                                   : reserveBytes(value.size());
    if (!value.empty()) std::memmove(bytes, value.data(), value.size());
    it->value = {bytes, value.size()};
    // Drop later duplicates.
    Entry* kept =
        std::remove_if(it + 1, end, [&](const Entry& e) { return storedNameEquals(e.name, name); });
    size_ = static_cast<uint32_t>(kept - entries_);
    return;
  }
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  Entry* const end = entries_ + size_;
  Entry* kept =
      std::remove_if(entries_, end, [&](const Entry& e) { return storedNameEquals(e.name, name); });
  const size_t removed = static_cast<size_t>(end - kept);
  size_ -= static_cast<uint32_t>(removed);
  return removed;
}

const std::string_view* HeaderMap::get(std::string_view name) const {
  for (const Entry& e : entries()) {
    if (storedNameEquals(e.name, name)) return &e.value;
  }
  return nullptr;
}

std::optional<std::string> HeaderMap::getJoined(std::string_view name) const {
  std::optional<std::string> out;
  for (const Entry& e : entries()) {
    if (!storedNameEquals(e.name, name)) continue;
    if (out) {
      out->append(", ");
      out->append(e.value);
    } else {
      out.emplace(e.value);
    }
  }
  return out;
}

size_t HeaderMap::byteSize() const {
  size_t n = 0;
  for (const Entry& e : entries()) n += e.name.size() + e.value.size() + 4;
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
