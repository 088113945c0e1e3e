#include "proxy/http/websocket_handshake.h"

#include <openssl/evp.h>

namespace podproxy::http {

namespace {
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* bytes, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(n));
  out.resize(static_cast<size_t>(written));
  return out;
}
}  // namespace

std::string webSocketKey(uint64_t high, uint64_t low) {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(high >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(low >> (8 * i));
  }
  return base64(bytes, sizeof(bytes));
}

std::string webSocketAccept(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  return base64(digest, length);
}

}  // namespace podproxy::http
