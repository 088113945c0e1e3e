#pragma once

// HTTP/1.1 client side of an upstream connection: frames one request at a time and parses the
// response to it with llhttp. Upstream protocol errors are CodecError{502, ...}. A request with
// RequestHeaders::upgrade offers that Upgrade; a 101 to it is delivered as the final response
// headers (end_stream false) and the connection becomes a byte tunnel: the bytes after the 101
// are response data, request data is written raw, and the upstream's FIN (onEndOfInput) ends the
// response while request data may still follow until the caller's own end_stream.
// Such a connection is never reusable, whatever the answer.

#include <cstdint>
#include <optional>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http1/message_parser.h"

namespace podproxy::http::http1 {

struct ClientCodecSettings {
  uint32_t max_response_headers_bytes = 60 * 1024;
  uint32_t max_response_headers_count = 100;
};

class ClientCodec : public ClientConnection {
 public:
  explicit ClientCodec(CodecTransport& transport, const ClientCodecSettings& settings = {});

  RequestEncoder& newStream(ResponseDecoder& decoder) override;
  CodecStatus dispatch(buffer::Buffer& data) override;
  CodecStatus onEndOfInput() override;
  Protocol protocol() const override { return Protocol::kHttp11; }
  bool responseStarted() const override { return response_started_; }
  bool reusable() const override;
  // A 101 arrived: the connection carries raw bytes from now on.
  bool tunneling() const { return tunneling_; }

 private:
  class Encoder : public RequestEncoder {
   public:
    explicit Encoder(ClientCodec& codec) : codec_(codec) {}
    void encodeHeaders(const RequestHeaders& headers, bool end_stream) override {
      codec_.encodeHeaders(headers, end_stream);
    }
    void encodeData(buffer::Buffer& data, bool end_stream) override {
      codec_.encodeData(data, end_stream);
    }
    void encodeTrailers(const TrailerMap& trailers) override { codec_.encodeTrailers(trailers); }

   private:
    ClientCodec& codec_;
  };

  CodecStatus onHead();
  CodecStatus onSwitchingProtocols();
  void onMessageComplete();
  void deliverBody(bool end_stream);
  CodecStatus fail(std::string details);

  void encodeHeaders(const RequestHeaders& headers, bool end_stream);
  void encodeData(buffer::Buffer& data, bool end_stream);
  void encodeTrailers(const TrailerMap& trailers);

  CodecTransport& transport_;
  MessageParser parser_;
  Encoder encoder_{*this};
  ResponseDecoder* decoder_ = nullptr;
  std::optional<CodecError> error_;

  bool stream_active_ = false;
  bool request_is_head_ = false;
  bool request_chunked_ = false;
  bool request_complete_ = true;
  bool response_started_ = false;
  bool response_head_seen_ = false;  // a final (non-1xx) head
  bool response_informational_ = false;
  bool response_has_body_ = false;
  bool response_complete_ = true;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool upgrade_requested_ = false;  // the current request offered an Upgrade
  bool tunneling_ = false;
};

}  // namespace podproxy::http::http1
