#include "proxy/http/http1/server_codec.h"

#include <array>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "proxy/http/http1/header_rules.h"

namespace podproxy::http::http1 {

namespace {

struct Target {
  std::string scheme = "http";
  std::string authority;  // empty unless absolute-form
  std::string path;
};

// RFC 9112 3.2: origin-form, absolute-form, or asterisk-form for OPTIONS. (CONNECT's
// authority-form is parseConnectTarget's.)
std::optional<Target> parseTarget(std::string_view method, std::string& raw_target) {
  Target out;
  const std::string_view target = raw_target;
  if (!target.empty() && target.front() == '/') {
    out.path = std::move(raw_target);  // the parser starts the next message with a new one
    return out;
  }
  if (target == "*" && method == "OPTIONS") {
    out.path = "*";
    return out;
  }
  const size_t sep = target.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  out.scheme = toLower(target.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string_view rest = target.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  // userinfo in an http(s) URI is deprecated and a classic confusion vector (RFC 9110 4.2.4).
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  out.authority = authority;
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (rest.empty() || rest.front() != '/') out.path = "/";
  out.path.append(rest);
  return out;
}

// RFC 9112 3.2.3: CONNECT names "host:port" (a bracketed IPv6 literal as host), nothing else.
std::optional<std::string> parseConnectTarget(std::string_view target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view host = target.substr(0, colon);
  const std::string_view port = target.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !isDigits(port)) return std::nullopt;
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return std::nullopt;
  } else if (host.find_first_of(":[]") != std::string_view::npos) {
    return std::nullopt;
  }
  if (host.find_first_of(" \t,/@\\?#") != std::string_view::npos) return std::nullopt;
  return std::string(target);
}

// Enough for the codecs of the requests in flight on one worker at a time; beyond it, memory
// goes back to the allocator.
constexpr size_t kMaxCachedCodecs = 256;

struct CodecCache {
  std::vector<void*> free;
  ~CodecCache() {
    gone = true;
    for (void* p : free) ::operator delete(p);
  }
  static inline thread_local bool gone = false;
};

CodecCache& codecCache() {
  thread_local CodecCache cache;
  return cache;
}

// No byte a router or a log could read two ways: SP, HTAB, ',', '/', '@' or '\\'.
constexpr std::array<bool, 256> kHostDelimiters = [] {
  std::array<bool, 256> t{};
  for (const char c : std::string_view(" \t,/@\\")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool isPlainHost(std::string_view host) {
  bool bad = false;
  for (const char c : host) bad |= kHostDelimiters[static_cast<unsigned char>(c)];
  return !bad;
}

}  // namespace

ServerCodec::ServerCodec(CodecTransport& transport, ServerConnectionCallbacks& callbacks,
                         const ServerCodecSettings& settings)
    : transport_(transport),
      callbacks_(callbacks),
      parser_(MessageParser::Type::kRequest,
              {settings.max_request_headers_bytes, settings.max_request_headers_count}) {}

void* ServerCodec::operator new(size_t size) {
  if (size == sizeof(ServerCodec) && !CodecCache::gone) {
    auto& free = codecCache().free;
    if (!free.empty()) {
      void* p = free.back();
      free.pop_back();
      return p;
    }
  }
  return ::operator new(size);
}

void ServerCodec::operator delete(void* p, size_t size) {
  if (size == sizeof(ServerCodec) && !CodecCache::gone) {
    auto& free = codecCache().free;
    if (free.size() < kMaxCachedCodecs) {
      free.push_back(p);
      return;
    }
  }
  ::operator delete(p);
}

bool ServerCodec::keepAlive() const {
  return request_keep_alive_ && !close_after_response_ && !connection_closing_ && !error_;
}

CodecStatus ServerCodec::fail(const CodecError& error) {
  error_ = error;
  no_more_requests_ = true;
  return std::unexpected(error);
}

CodecStatus ServerCodec::dispatch(buffer::Buffer& data) {
  if (error_) return std::unexpected(*error_);
  // After a head, parse once more even without input: a request without a body completes
  // with no further bytes.
  bool after_head = false;
  for (;;) {
    if (tunneling_ && decoder_ != nullptr) {
      // After the 101 nothing is HTTP: every byte is the tunnel's.
      if (!data.empty() && !tunnel_input_ended_) decoder_->decodeData(data, false);
      data.drain(data.length());
      return {};
    }
    if (no_more_requests_) {
      // The connection closes after the response that is out: nothing here will be answered,
      // and dropping it keeps the read buffer bounded until then.
      data.drain(data.length());
      return {};
    }
    if (waitingForResponse()) return {};
    if (data.empty() && !after_head) return {};
    after_head = false;
    const MessageParser::Step step = parser_.parse(data.frontSlice());
    data.drain(step.consumed);
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
        break;
      case MessageParser::Event::kError:
        parser_.body().clear();
        return fail(parser_.error());
    }
  }
}

CodecStatus ServerCodec::onEndOfInput() {
  if (error_) return std::unexpected(*error_);
  if (tunneling_) {
    // The client half-closed its side of the tunnel: pass the FIN on.
    if (decoder_ != nullptr && !tunnel_input_ended_) {
      tunnel_input_ended_ = true;
      RequestDecoder* decoder = decoder_;
      // After the response's end this was the last thing the stream waited for.
      if (!stream_active_) decoder_ = nullptr;
      buffer::Buffer empty;
      decoder->decodeData(empty, true);
    }
    return {};
  }
  // The response to an unfinished request is out and the connection closes anyway.
  if (no_more_requests_) return {};
  if (parser_.finish() == MessageParser::Event::kError) {
    return fail(CodecError{400, "http1.premature_eof"});
  }
  return {};
}

CodecStatus ServerCodec::onHead() {
  ParsedHead& head = parser_.head();
  http10_ = head.http_minor == 0;
  request_connect_ = head.method == "CONNECT";

  std::optional<Target> target;
  if (request_connect_) {
    // The tunnel's bytes follow the head; a body in between would have no meaning.
    if (parser_.hasBody()) return fail(CodecError{400, "http1.connect_with_body"});
    if (std::optional<std::string> authority = parseConnectTarget(head.target)) {
      target.emplace();
      target->scheme.clear();
      target->authority = std::move(*authority);
    }
  } else {
    target = parseTarget(head.method, head.target);
  }
  if (!target) return fail(CodecError{400, "http1.invalid_target"});
  size_t host_count = 0;
  const std::string_view* host = nullptr;
  for (const HeaderMap::Entry& e : head.headers.entries()) {
    if (classifyField(e.name) != kFieldHost) continue;
    if (++host_count == 1) host = &e.value;
  }
  if (host_count > 1) return fail(CodecError{400, "http1.multiple_host"});
  // One authority, nothing a router or a log could read two ways.
  if (host != nullptr && !isPlainHost(*host)) {
    return fail(CodecError{400, "http1.invalid_host"});
  }
  if (host == nullptr && !http10_) return fail(CodecError{400, "http1.missing_host"});

  auto headers = std::make_unique<RequestHeaders>();
  headers->method = std::move(head.method);  // the parser starts the next message with a new one
  headers->scheme = std::move(target->scheme);
  headers->path = std::move(target->path);
  // RFC 9112 3.2.2: the absolute-form's authority wins over Host.
  if (!target->authority.empty()) {
    headers->authority = std::move(target->authority);
  } else if (host != nullptr) {
    headers->authority = *host;
  }
  headers->http_major = head.http_major;
  headers->http_minor = head.http_minor;

  const ConnectionOptions connection = parseConnection(head.headers);
  request_keep_alive_ = !connection.close && (!http10_ || connection.keep_alive);
  // RFC 9110 7.8: Upgrade counts only when Connection nominates it; HTTP/1.0 has no upgrades.
  request_upgrade_.clear();
  if (!http10_ && !request_connect_ && isNominated(connection, "upgrade")) {
    if (std::optional<std::string> upgrade = head.headers.getJoined("upgrade")) {
      request_upgrade_ = trimOws(*upgrade);
    }
  }
  headers->upgrade = request_upgrade_;
  headers->headers = std::move(head.headers);
  stripHopByHop(headers->headers, connection, /*keep_te_trailers=*/true, kFieldHost);

  request_is_head_ = headers->method == "HEAD";
  request_has_body_ = parser_.hasBody();
  request_complete_ = !request_has_body_;
  stream_active_ = true;
  parsing_request_ = true;
  response_started_ = false;
  response_chunked_ = false;
  response_no_body_ = false;
  continue_sent_ = false;

  decoder_ = &callbacks_.newStream(encoder_);
  decoder_->decodeHeaders(std::move(headers), !request_has_body_);
  return {};
}

void ServerCodec::deliverBody(bool end_stream) {
  buffer::Buffer& body = parser_.body();
  if (decoder_ != nullptr && (!body.empty() || end_stream)) decoder_->decodeData(body, end_stream);
  body.clear();
}

void ServerCodec::onMessageComplete() {
  parsing_request_ = false;
  if (!stream_active_) {
    // The response ended first; the rest of the request has nobody to go to.
    parser_.body().clear();
    return;
  }
  request_complete_ = true;
  if (!request_has_body_) return;  // end_stream went with the headers
  HeaderMap& trailers = parser_.trailers();
  stripHopByHop(trailers, ConnectionOptions{}, false, kFieldContentLength | kFieldHost);
  if (trailers.empty()) {
    deliverBody(true);
    return;
  }
  deliverBody(false);
  if (decoder_ != nullptr) {
    decoder_->decodeTrailers(std::make_unique<TrailerMap>(std::move(trailers)));
  }
  trailers.clear();
}

void ServerCodec::encode100Continue() {
  if (!stream_active_ || response_started_ || continue_sent_ || http10_) return;
  continue_sent_ = true;
  buffer::Buffer out;
  out.add("HTTP/1.1 100 Continue\r\n\r\n");
  transport_.write(out, false);
}

void ServerCodec::encodeHeaders(const ResponseHeaders& headers, bool end_stream) {
  if (!stream_active_ || response_started_) return;
  const uint16_t status = headers.status;
  if (status == 101 && !request_upgrade_.empty()) {
    encodeSwitchingProtocols(headers);
    return;
  }
  if (request_connect_ && status / 100 == 2 && !end_stream) {
    encodeConnectEstablished(headers);
    return;
  }
  const bool informational = status / 100 == 1;
  if (informational && (http10_ || status == 101)) return;  // nothing to say to those

  const std::string_view reason = reasonPhrase(status);
  // Status line, the fields, and the framing fields added below.
  buffer::Buffer b;
  HeadWriter out(b, 96 + reason.size() + headers.headers.byteSize());
  out.append("HTTP/1.1 ");
  out.appendNumber(status);
  out.push(' ');
  out.append(reason);
  out.append("\r\n");

  const ConnectionOptions connection = parseConnection(headers.headers);
  const std::string_view* content_length = nullptr;
  for (const HeaderMap::Entry& e : headers.headers.entries()) {
    const uint32_t kind = classifyField(e.name);
    if (kind == kFieldContentLength) {
      if (content_length == nullptr && isDigits(e.value)) content_length = &e.value;
      continue;
    }
    if ((kind & kFieldHopByHop) != 0 || isNominated(connection, e.name)) continue;
    out.field(e.name, e.value);
  }

  if (informational) {
    // 103 Early Hints and friends: the final response follows.
    out.append("\r\n");
    out.finish();
    transport_.write(b, false);
    return;
  }

  response_started_ = true;
  response_no_body_ = request_is_head_ || status == 204 || status == 304;
  if (response_no_body_) {
    // HEAD and 304 describe the representation; 204 must not carry a length at all.
    if (content_length != nullptr && status != 204) {
      out.field("content-length", *content_length);
    }
  } else if (content_length != nullptr) {
    out.field("content-length", *content_length);
  } else if (end_stream) {
    out.append("content-length: 0\r\n");
  } else if (!http10_) {
    response_chunked_ = true;
    out.append("transfer-encoding: chunked\r\n");
  } else {
    connection_closing_ = true;  // the body ends when the connection does
  }
  // A response that ends before its request has been received can't leave a reusable
  // connection: the rest of the request would be read as the next one. Nor can a refused
  // CONNECT: a client may have sent its tunnel's first bytes behind it.
  if ((end_stream && !request_complete_) || request_connect_) connection_closing_ = true;
  if (!keepAlive()) {
    out.append("connection: close\r\n");
  } else if (http10_) {
    out.append("connection: keep-alive\r\n");
  }
  out.append("\r\n");
  out.finish();

  if (end_stream) {
    endResponse(b);
  } else {
    transport_.write(b, false);
  }
}

void ServerCodec::encodeSwitchingProtocols(const ResponseHeaders& headers) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
  appendTunnelHeadFields(out, headers.headers);
  // The upstream's choice among the offered protocols (the client codec keeps it on a 101).
  const std::string_view* upgrade = headers.headers.get("upgrade");
  if (!appendField(out, "upgrade", upgrade != nullptr ? *upgrade : request_upgrade_)) {
    appendField(out, "upgrade", request_upgrade_);
  }
  out.append("connection: upgrade\r\n\r\n");
  startTunnel(out);
}

void ServerCodec::encodeConnectEstablished(const ResponseHeaders& headers) {
  // RFC 9110 9.3.6: a 2xx to CONNECT has no content and no framing; the tunnel starts after it.
  std::string out = "HTTP/1.1 ";
  out.append(std::to_string(headers.status));
  out.append(headers.status == 200 ? " Connection Established\r\n"
                                   : " " + std::string(reasonPhrase(headers.status)) + "\r\n");
  appendTunnelHeadFields(out, headers.headers);
  out.append("\r\n");
  startTunnel(out);
}

void ServerCodec::appendTunnelHeadFields(std::string& out, const HeaderMap& headers) {
  // No framing (the tunnel has none) and nothing about this hop: the upstream's connection
  // fields were its own.
  const ConnectionOptions connection = parseConnection(headers);
  for (const HeaderMap::Entry& e : headers.entries()) {
    const uint32_t kind = classifyField(e.name);
    if (kind == kFieldContentLength || (kind & kFieldHopByHop) != 0 ||
        isNominated(connection, e.name)) {
      continue;
    }
    appendField(out, e.name, e.value);
  }
}

void ServerCodec::startTunnel(std::string_view head) {
  response_started_ = true;
  tunneling_ = true;
  connection_closing_ = true;  // the connection ends with the tunnel
  buffer::Buffer b;
  b.add(head);
  transport_.write(b, false);
}

void ServerCodec::encodeData(buffer::Buffer& data, bool end_stream) {
  if (!stream_active_ || !response_started_) {
    data.drain(data.length());
    return;
  }
  buffer::Buffer out;
  if (response_no_body_) {
    data.drain(data.length());
  } else if (response_chunked_) {
    appendChunk(out, data, end_stream);
  } else {
    out.move(data);
  }
  if (end_stream) {
    endResponse(out);
  } else if (!out.empty()) {
    transport_.write(out, false);
  }
}

void ServerCodec::encodeTrailers(const TrailerMap& trailers) {
  if (!stream_active_ || !response_started_) return;
  buffer::Buffer out;
  // Only chunked framing can carry trailers; otherwise they are dropped.
  if (response_chunked_) appendLastChunk(out, trailers);
  endResponse(out);
}

void ServerCodec::endResponse(buffer::Buffer& out) {
  if (!request_complete_) connection_closing_ = true;
  const bool close = !keepAlive();
  if (close) no_more_requests_ = true;
  if (!out.empty() || close) transport_.write(out, close);
  stream_active_ = false;
  // A tunnel's end of response is only our FIN (a half-close): the client's bytes keep going to
  // the stream until its own FIN.
  if (!tunneling_ || tunnel_input_ended_) decoder_ = nullptr;
}

}  // namespace podproxy::http::http1
