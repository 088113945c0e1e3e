#include "proxy/http/http1/client_codec.h"

#include <charconv>
#include <memory>
#include <string>

#include "proxy/http/http1/header_rules.h"

namespace podproxy::http::http1 {

ClientCodec::ClientCodec(CodecTransport& transport, const ClientCodecSettings& settings)
    : transport_(transport),
      parser_(MessageParser::Type::kResponse,
              {settings.max_response_headers_bytes, settings.max_response_headers_count}) {}

bool ClientCodec::reusable() const {
  return !stream_active_ && response_complete_ && request_complete_ && keep_alive_ && !closed_ &&
         !error_;
}

CodecStatus ClientCodec::fail(std::string details) {
  // Whatever the parser thought the status should be, the router answers a broken upstream
  // with 502.
  error_ = CodecError{502, std::move(details)};
  keep_alive_ = false;
  return std::unexpected(*error_);
}

RequestEncoder& ClientCodec::newStream(ResponseDecoder& decoder) {
  decoder_ = &decoder;
  stream_active_ = true;
  request_is_head_ = false;
  request_chunked_ = false;
  request_complete_ = false;
  response_started_ = false;
  response_head_seen_ = false;
  response_informational_ = false;
  response_has_body_ = false;
  response_complete_ = false;
  upgrade_requested_ = false;
  return encoder_;
}

void ClientCodec::encodeHeaders(const RequestHeaders& headers, bool end_stream) {
  request_is_head_ = headers.method == "HEAD";
  const std::string_view path =
      headers.path.empty() ? std::string_view("/") : std::string_view(headers.path);
  // Request line, host, the fields, and the fields added below.
  buffer::Buffer b;
  HeadWriter out(b, 128 + headers.method.size() + path.size() + headers.authority.size() +
                        headers.upgrade.size() + headers.headers.byteSize());
  out.append(headers.method);
  out.push(' ');
  out.append(path);
  out.append(" HTTP/1.1\r\n");
  if (!out.field("host", headers.authority)) out.append("host: \r\n");

  const ConnectionOptions connection = parseConnection(headers.headers);
  bool te_trailers = false;
  const std::string_view* content_length = nullptr;
  for (const HeaderMap::Entry& e : headers.headers.entries()) {
    const uint32_t kind = classifyField(e.name);
    if (kind == kFieldContentLength) {
      if (content_length == nullptr && isDigits(e.value)) {
        content_length = &e.value;
      }
      continue;
    }
    if (kind != 0 || isNominated(connection, e.name)) {
      // host and the hop-by-hop fields
      if (kind == kFieldTe && !te_trailers) te_trailers = teOffersTrailers(e.value);
      continue;
    }
    out.field(e.name, e.value);
  }
  if (te_trailers) out.append("te: trailers\r\n");
  if (!headers.upgrade.empty() && out.field("upgrade", headers.upgrade)) {
    out.append("connection: upgrade\r\n");
    upgrade_requested_ = true;
    // Whatever the answer, an upstream that was offered a protocol switch is not reused.
    keep_alive_ = false;
  }
  if (content_length != nullptr) {
    out.field("content-length", *content_length);
  } else if (!end_stream) {
    request_chunked_ = true;
    out.append("transfer-encoding: chunked\r\n");
  } else if (headers.method == "POST" || headers.method == "PUT" || headers.method == "PATCH") {
    // Some servers wait for a body (or answer 411) when these come without a length.
    out.append("content-length: 0\r\n");
  }
  out.append("\r\n");
  out.finish();
  transport_.write(b, false);
  if (end_stream) request_complete_ = true;
}

void ClientCodec::encodeData(buffer::Buffer& data, bool end_stream) {
  buffer::Buffer out;
  if (tunneling_) {
    // Raw bytes; the end of the client's side is our FIN.
    out.move(data);
    if (!out.empty() || end_stream) transport_.write(out, end_stream);
    if (end_stream) request_complete_ = true;
    return;
  }
  if (request_chunked_) {
    appendChunk(out, data, end_stream);
  } else {
    out.move(data);
  }
  if (!out.empty()) transport_.write(out, false);
  if (end_stream) request_complete_ = true;
}

void ClientCodec::encodeTrailers(const TrailerMap& trailers) {
  if (request_chunked_) {
    buffer::Buffer out;
    appendLastChunk(out, trailers);
    transport_.write(out, false);
  }
  request_complete_ = true;
}

CodecStatus ClientCodec::dispatch(buffer::Buffer& data) {
  if (error_) return std::unexpected(*error_);
  bool after_head = false;
  for (;;) {
    if (tunneling_) {
      // After the 101 nothing is HTTP: every byte is the tunnel's.
      if (decoder_ != nullptr && !data.empty()) decoder_->decodeData(data, false);
      data.drain(data.length());
      return {};
    }
    if (data.empty() && !after_head) return {};
    if (!stream_active_) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      data.drain(data.length());
      return fail("http1.unsolicited_response");
    }
    after_head = false;
    const MessageParser::Step step = parser_.parse(data.frontSlice());
    data.drain(step.consumed);
    if (step.consumed > 0) response_started_ = true;
    switch (step.event) {
      case MessageParser::Event::kNeedData:
        deliverBody(false);
        break;
      case MessageParser::Event::kHead:
        if (CodecStatus s = onHead(); !s) return s;
        after_head = true;
        break;
      case MessageParser::Event::kMessageComplete:
        onMessageComplete();
        if (!stream_active_ && !data.empty()) {
          // HTTP/1 carries one response per request: anything after it is garbage.
          data.drain(data.length());
          keep_alive_ = false;
          return {};
        }
        break;
      case MessageParser::Event::kError:
        parser_.body().clear();
        return fail(parser_.error().details);
    }
  }
}

CodecStatus ClientCodec::onEndOfInput() {
  closed_ = true;
  if (error_) return std::unexpected(*error_);
  if (tunneling_) {
    // The upstream closed its side of the tunnel: that ends the response, not the request side
    // (encodeData keeps writing raw bytes until the caller's end_stream).
    if (stream_active_) {
      stream_active_ = false;
      response_complete_ = true;
      ResponseDecoder* decoder = decoder_;
      decoder_ = nullptr;
      buffer::Buffer empty;
      if (decoder != nullptr) decoder->decodeData(empty, true);
    }
    return {};
  }
  if (!stream_active_) return {};
  switch (parser_.finish()) {
    case MessageParser::Event::kMessageComplete:
      onMessageComplete();
      return {};
    case MessageParser::Event::kError:
      return fail("http1.premature_eof");
    default:
      // Closed before any response byte, or between a 1xx and the final response.
      return fail("http1.premature_eof");
  }
}

CodecStatus ClientCodec::onHead() {
  ParsedHead& head = parser_.head();
  const uint16_t status = head.status;
  if (status == 101) {
    if (!upgrade_requested_) return fail("http1.unexpected_upgrade");
    return onSwitchingProtocols();
  }
  response_informational_ = status / 100 == 1;
  // llhttp would read a body that 204, 304 and responses to HEAD never have.
  if (response_informational_ || request_is_head_ || status == 204 || status == 304) {
    parser_.skipBody();
  }
  const ConnectionOptions connection = parseConnection(head.headers);
  auto headers = std::make_unique<ResponseHeaders>();
  headers->status = status;
  headers->headers = std::move(head.headers);
  // Content-Length stays so the downstream encoder can reuse it; the framing does not.
  stripHopByHop(headers->headers, connection, false);

  if (response_informational_) {
    if (decoder_ != nullptr) decoder_->decode1xxHeaders(std::move(headers));
    return {};
  }
  response_head_seen_ = true;
  response_has_body_ = parser_.hasBody();
  if (connection.close || (head.http_minor == 0 && !connection.keep_alive) ||
      parser_.bodyUntilClose()) {
    keep_alive_ = false;
  }
  if (decoder_ != nullptr) decoder_->decodeHeaders(std::move(headers), !response_has_body_);
  return {};
}

CodecStatus ClientCodec::onSwitchingProtocols() {
  ParsedHead& head = parser_.head();
  const ConnectionOptions connection = parseConnection(head.headers);
  std::optional<std::string> upgrade = head.headers.getJoined("upgrade");
  auto headers = std::make_unique<ResponseHeaders>();
  headers->status = 101;
  headers->headers = std::move(head.headers);
  stripHopByHop(headers->headers, connection, false, kFieldContentLength);
  // The protocol switched to goes back to the client with the 101.
  if (upgrade) headers->headers.set("upgrade", std::string(trimOws(*upgrade)));
  tunneling_ = true;
  response_head_seen_ = true;
  response_has_body_ = true;
  keep_alive_ = false;
  if (decoder_ != nullptr) decoder_->decodeHeaders(std::move(headers), false);
  return {};
}

void ClientCodec::deliverBody(bool end_stream) {
  buffer::Buffer& body = parser_.body();
  if (decoder_ != nullptr && (!body.empty() || end_stream)) decoder_->decodeData(body, end_stream);
  body.clear();
}

void ClientCodec::onMessageComplete() {
  if (response_informational_) {
    response_informational_ = false;  // the final response is still to come
    return;
  }
  response_complete_ = true;
  stream_active_ = false;
  ResponseDecoder* decoder = decoder_;
  decoder_ = nullptr;
  if (!response_has_body_ || decoder == nullptr) {
    parser_.body().clear();
    return;
  }
  HeaderMap& trailers = parser_.trailers();
  stripHopByHop(trailers, ConnectionOptions{}, false, kFieldContentLength);
  if (trailers.empty()) {
    decoder->decodeData(parser_.body(), true);
    parser_.body().clear();
    return;
  }
  if (!parser_.body().empty()) decoder->decodeData(parser_.body(), false);
  parser_.body().clear();
  decoder->decodeTrailers(std::make_unique<TrailerMap>(std::move(trailers)));
  trailers.clear();
}

}  // namespace podproxy::http::http1
