#pragma once

// HTTP/1.1 server side of a downstream connection: parses requests with llhttp (strictly: any
// framing doubt is a 400 and the end of the connection) and frames the responses to them.
// One request at a time; pipelined requests wait in the caller's buffer until the response to
// the current one has been encoded. A request offering an Upgrade keeps it (RequestHeaders::
// upgrade); a 101 answered to it turns the connection into a byte tunnel: the bytes that follow,
// both ways, are the stream's data, and the connection ends with the tunnel. Its directions end
// apart: the response's end is a half-close (our FIN) after which the client's bytes still go to
// the stream, until the client's own FIN (onEndOfInput). A CONNECT (authority-form target, no
// body) is delivered with an empty path; a 2xx to it starts the same tunnel, and any other
// answer ends the connection after it.

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http1/message_parser.h"

namespace podproxy::http::http1 {

struct ServerCodecSettings {
  uint32_t max_request_headers_bytes = 60 * 1024;  // request-target + field names and values
  uint32_t max_request_headers_count = 100;
};

class ServerCodec : public ServerConnection {
 public:
  ServerCodec(CodecTransport& transport, ServerConnectionCallbacks& callbacks,
              const ServerCodecSettings& settings);

  CodecStatus dispatch(buffer::Buffer& data) override;
  CodecStatus onEndOfInput() override;
  Protocol protocol() const override { return http10_ ? Protocol::kHttp10 : Protocol::kHttp11; }
  bool waitingForResponse() const override {
    return stream_active_ && !parsing_request_ && !tunneling_;
  }
  size_t activeStreams() const override {
    return stream_active_ && (tunneling_ || !parsing_request_) ? 1 : 0;
  }
  // A 101 went out: the connection carries raw bytes from now on.
  bool tunneling() const { return tunneling_; }
  bool keepAlive() const override;
  void setCloseAfterResponse() override { close_after_response_ = true; }
  // Between requests of a keep-alive connection, with nothing to remember: a new codec would
  // behave the same, so the connection manager may release this one.
  bool idle() const {
    return !stream_active_ && !parsing_request_ && !tunneling_ && !error_ && !no_more_requests_ &&
           !close_after_response_ && !connection_closing_ && !parser_.messageInProgress();
  }

  // Codecs come and go with requests on keep-alive connections: a per-thread cache of their
  // memory keeps that off the allocator.
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

 private:
  // The codec carries one stream at a time, so the stream's encoder is part of it.
  class Encoder : public ResponseEncoder {
   public:
    explicit Encoder(ServerCodec& codec) : codec_(codec) {}
    void encode100Continue() override { codec_.encode100Continue(); }
    void encodeHeaders(const ResponseHeaders& headers, bool end_stream) override {
      codec_.encodeHeaders(headers, end_stream);
    }
    void encodeData(buffer::Buffer& data, bool end_stream) override {
      codec_.encodeData(data, end_stream);
    }
    void encodeTrailers(const TrailerMap& trailers) override { codec_.encodeTrailers(trailers); }

   private:
    ServerCodec& codec_;
  };

  CodecStatus onHead();
  void onMessageComplete();
  void deliverBody(bool end_stream);
  CodecStatus fail(const CodecError& error);

  void encode100Continue();
  void encodeHeaders(const ResponseHeaders& headers, bool end_stream);
  void encodeSwitchingProtocols(const ResponseHeaders& headers);
  void encodeConnectEstablished(const ResponseHeaders& headers);
  // The response's end-to-end fields for a head that opens a tunnel.
  static void appendTunnelHeadFields(std::string& out, const HeaderMap& headers);
  // Writes the head that opens a tunnel (a 101, or a 2xx to CONNECT); bytes both ways are the
  // tunnel's from here on.
  void startTunnel(std::string_view head);
  void encodeData(buffer::Buffer& data, bool end_stream);
  void encodeTrailers(const TrailerMap& trailers);
  void endResponse(buffer::Buffer& out);

  CodecTransport& transport_;
  ServerConnectionCallbacks& callbacks_;
  MessageParser parser_;
  Encoder encoder_{*this};
  // Null once the stream ended (a tunnel's: once both its directions did).
  RequestDecoder* decoder_ = nullptr;
  std::optional<CodecError> error_;

  // Request side.
  bool stream_active_ = false;    // a request head arrived and its response has not ended
  bool parsing_request_ = false;  // the parser is inside a request it has reported a head for
  bool request_complete_ = false;
  bool request_has_body_ = false;
  bool request_keep_alive_ = true;
  bool request_is_head_ = false;
  bool http10_ = false;
  bool request_connect_ = false;
  std::string request_upgrade_;  // the Upgrade offer of the current request, if any

  // Response side.
  bool response_started_ = false;
  bool response_chunked_ = false;
  bool response_no_body_ = false;
  bool continue_sent_ = false;
  bool close_after_response_ = false;
  bool connection_closing_ = false;  // close-delimited response, or one ended before its request
  bool no_more_requests_ = false;    // a response went out on a connection that will close
  bool tunneling_ = false;           // a 101 went out: raw bytes both ways
  bool tunnel_input_ended_ = false;  // the client's FIN was passed on
};

}  // namespace podproxy::http::http1
