#include "proxy/http/http1/message_parser.h"

#include "proxy/http/http1/header_rules.h"

namespace podproxy::http::http1 {

namespace {

MessageParser& self(llhttp_t* p) {
  return *static_cast<MessageParser*>(p->data);
}

bool noBodyStatus(uint16_t status) {
  return status / 100 == 1 || status == 204 || status == 304;
}

CodecError llhttpError(llhttp_errno_t err, const char* reason) {
  const std::string_view why = reason ? reason : "";
  switch (err) {
    case HPE_INVALID_METHOD:
      return {400, "http1.invalid_method"};
    case HPE_INVALID_VERSION:
      // 505 is for a well-formed version we don't speak; "HTTP/1.1 junk" or "HTTP/x.1" is a
      // malformed request line.
      if (why != "Invalid HTTP version") return {400, "http1.invalid_request_line"};
      return {505, "http1.unsupported_version"};
    case HPE_PAUSED_H2_UPGRADE:
      return {505, "http1.unsupported_version"};
    case HPE_INVALID_URL:
      return {400, "http1.invalid_url"};
    case HPE_INVALID_CONSTANT:
      return {400, "http1.invalid_start_line"};
    case HPE_INVALID_HEADER_TOKEN:
      return {400, "http1.invalid_header"};
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      if (why.find("Duplicate") != std::string_view::npos) {
        return {400, "http1.duplicate_content_length"};
      }
      return {400, "http1.content_length_and_transfer_encoding"};
    case HPE_INVALID_CONTENT_LENGTH:
      return {400, "http1.invalid_content_length"};
    case HPE_INVALID_TRANSFER_ENCODING:
      return {400, "http1.invalid_transfer_encoding"};
    case HPE_INVALID_CHUNK_SIZE:
      return {400, "http1.invalid_chunk_size"};
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
      return {400, "http1.invalid_line_ending"};
    case HPE_UNEXPECTED_SPACE:
      return {400, "http1.unexpected_space"};
    case HPE_INVALID_STATUS:
      return {400, "http1.invalid_status"};
    case HPE_STRICT:
      if (why.find("chunk") != std::string_view::npos)
        return {400, "http1.invalid_chunk_extension"};
      return {400, "http1.invalid_message"};
    case HPE_PAUSED_UPGRADE:
      return {400, "http1.unexpected_upgrade"};
    default:
      return {400, "http1.invalid_message"};
  }
}

}  // namespace

const llhttp_settings_t& MessageParser::settings() {
  // One table for every parser: the callbacks are static and find their parser through
  // parser_.data, so a per-connection copy would only cost memory (~160 bytes each).
  static const llhttp_settings_t table = [] {
    llhttp_settings_t t;
    llhttp_settings_init(&t);
    t.on_message_begin = &MessageParser::onMessageBegin;
    t.on_url = &MessageParser::onUrl;
    t.on_header_field = &MessageParser::onHeaderField;
    t.on_header_field_complete = &MessageParser::onHeaderFieldComplete;
    t.on_header_value = &MessageParser::onHeaderValue;
    t.on_header_value_complete = &MessageParser::onHeaderValueComplete;
    t.on_headers_complete = &MessageParser::onHeadersComplete;
    t.on_body = &MessageParser::onBody;
    t.on_chunk_header = &MessageParser::onChunkHeader;
    t.on_message_complete = &MessageParser::onMessageComplete;
    return t;
  }();
  return table;
}

MessageParser::MessageParser(Type type, Limits limits) : type_(type), limits_(limits) {
  // llhttp takes a non-const pointer but never writes through it.
  llhttp_init(&parser_, type == Type::kRequest ? HTTP_REQUEST : HTTP_RESPONSE,
              const_cast<llhttp_settings_t*>(&settings()));
  parser_.data = this;
}

MessageParser::Step MessageParser::parse(std::string_view data) {
  if (failed_) return {Event::kError, 0};
  if (section_ == Section::kIdle) {
    section_ = Section::kHead;
    line_checker_.reset(type_ == Type::kRequest ? LineChecker::Section::kRequestHead
                                                : LineChecker::Section::kResponseHead);
    // Field by field rather than `head_ = ParsedHead{}`: the strings keep their capacity.
    head_.method.clear();
    head_.target.clear();
    head_.status = 0;
    head_.http_major = 1;
    head_.http_minor = 1;
    head_.headers.clear();
    head_.chunked = false;
    head_.has_content_length = false;
    head_.content_length = 0;
    trailers_.clear();
    field_.clear();
    value_.clear();
    field_view_ = {};
    value_view_ = {};
    header_bytes_ = 0;
    header_count_ = 0;
    skip_body_ = false;
  }
  size_t total = 0;
  // Every section change pauses llhttp, so one llhttp_execute() call covers bytes of one
  // section only and the head / trailer bytes can be checked exactly.
  for (;;) {
    const Section section = section_;
    const std::string_view rest = data.substr(total);
    pause_ = Pause::kNone;
    const llhttp_errno_t err = llhttp_execute(&parser_, rest.data(), rest.size());
    // A field or value still open refers to bytes the caller is about to drop.
    if (!field_view_.empty()) keepField();
    if (!value_view_.empty()) keepValue();
    size_t consumed = rest.size();
    if (err != HPE_OK) {
      const char* pos = llhttp_get_error_pos(&parser_);
      consumed = pos != nullptr ? static_cast<size_t>(pos - rest.data()) : 0;
    }
    if (section == Section::kHead || section == Section::kTrailers) {
      const std::string_view bad = line_checker_.feed(rest.substr(0, consumed));
      if (!bad.empty()) {
        failed_ = true;
        error_ = CodecError{400, std::string(bad)};
        return failStep(total + consumed);
      }
    }
    total += consumed;
    if (err == HPE_OK) return {Event::kNeedData, total};
    if (err != HPE_PAUSED) {
      failed_ = true;
      if (!has_error_) error_ = llhttpError(err, llhttp_get_error_reason(&parser_));
      return failStep(total);
    }
    llhttp_resume(&parser_);
    switch (pause_) {
      case Pause::kHeadComplete:
        return {Event::kHead, total};
      case Pause::kMessageComplete:
        return {Event::kMessageComplete, total};
      case Pause::kTrailersBegin:
        line_checker_.reset(LineChecker::Section::kTrailers);
        continue;
      case Pause::kNone:
        failed_ = true;
        error_ = CodecError{400, "http1.unexpected_pause"};
        return failStep(total);
    }
  }
}

MessageParser::Event MessageParser::finish() {
  if (failed_) return Event::kError;
  // Between messages llhttp may not have run its after-message step yet (we pause in
  // on_message_complete), so it would still call an EOF here unsafe.
  if (!in_message_) return Event::kNeedData;
  pause_ = Pause::kNone;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_PAUSED) {
    llhttp_resume(&parser_);
    if (pause_ == Pause::kMessageComplete) return Event::kMessageComplete;
  }
  failed_ = true;
  error_ = CodecError{400, "http1.premature_eof"};
  return Event::kError;
}

void MessageParser::skipBody() {
  skip_body_ = true;
  // What returning 1 from on_headers_complete does; we paused there instead, and llhttp
  // resumes in after_headers_complete, which reads this flag.
  parser_.flags |= F_SKIPBODY;
}

bool MessageParser::hasBody() const {
  if (skip_body_) return false;
  if (head_.chunked) return true;
  if (head_.has_content_length) return head_.content_length > 0;
  return bodyUntilClose();
}

bool MessageParser::bodyUntilClose() const {
  return type_ == Type::kResponse && !skip_body_ && !head_.chunked && !head_.has_content_length &&
         !noBodyStatus(head_.status);
}

bool MessageParser::countBytes(size_t n) {
  header_bytes_ += static_cast<uint32_t>(n);
  return header_bytes_ <= limits_.max_header_bytes;
}

int MessageParser::fail(uint16_t status, std::string_view details) {
  has_error_ = true;
  error_ = CodecError{status, std::string(details)};
  return HPE_USER;
}

int MessageParser::validateHead() {
  if (head_.http_major != 1 || head_.http_minor > 1) {
    return fail(505, "http1.unsupported_version");
  }
  if (parser_.flags & F_TRANSFER_ENCODING) {
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
    if (head_.http_minor == 0) return fail(400, "http1.transfer_encoding_in_http10");
    // Only the last coding and how many there are matter.
    size_t codings = 0;
    std::string_view last;
    for (const HeaderMap::Entry& e : head_.headers.entries()) {
      if (classifyField(e.name) != kFieldTransferEncoding) continue;
      forEachListElement(e.value, [&](std::string_view coding) {
        ++codings;
        last = coding;
      });
    }
    if (codings == 0 || !equalsIgnoreCase(last, "chunked")) {
      return fail(400, "http1.invalid_transfer_encoding");
    }
    // Other codings would reach the far side without the header that names them.
    if (codings > 1) return fail(501, "http1.unsupported_transfer_coding");
  }
  return 0;
}

int MessageParser::onMessageBegin(llhttp_t* p) {
  self(p).in_message_ = true;
  return 0;
}

int MessageParser::onUrl(llhttp_t* p, const char* at, size_t n) {
  MessageParser& s = self(p);
  s.head_.target.append(at, n);
  return s.countBytes(n) ? 0 : s.fail(431, "http1.headers_too_large");
}

void MessageParser::keepField() {
  field_.append(field_view_);
  field_view_ = {};
}

void MessageParser::keepValue() {
  value_.append(value_view_);
  value_view_ = {};
}

int MessageParser::onHeaderField(llhttp_t* p, const char* at, size_t n) {
  MessageParser& s = self(p);
  // A field arrives as one span unless the input splits it: refer to the input bytes then, and
  // copy only when a second span (or the end of the input) comes.
  if (s.field_.empty() && s.field_view_.empty()) {
    s.field_view_ = {at, n};
  } else {
    if (!s.field_view_.empty()) s.keepField();
    s.field_.append(at, n);
  }
  return s.countBytes(n) ? 0 : s.fail(431, "http1.headers_too_large");
}

int MessageParser::onHeaderFieldComplete(llhttp_t* p) {
  MessageParser& s = self(p);
  // llhttp 8.1 accepts an empty name and whitespace before the colon ("Host : x").
  return isToken(s.field()) ? 0 : s.fail(400, "http1.invalid_header_name");
}

int MessageParser::onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  MessageParser& s = self(p);
  if (s.value_.empty() && s.value_view_.empty()) {
    s.value_view_ = {at, n};
  } else {
    if (!s.value_view_.empty()) s.keepValue();
    s.value_.append(at, n);
  }
  return s.countBytes(n) ? 0 : s.fail(431, "http1.headers_too_large");
}

int MessageParser::onHeaderValueComplete(llhttp_t* p) {
  MessageParser& s = self(p);
  if (++s.header_count_ > s.limits_.max_header_count) {
    return s.fail(431, "http1.too_many_headers");
  }
  HeaderMap& target = s.section_ == Section::kTrailers ? s.trailers_ : s.head_.headers;
  target.add(s.field(), trimOws(s.value()));
  s.field_.clear();
  s.value_.clear();
  s.field_view_ = {};
  s.value_view_ = {};
  return 0;
}

int MessageParser::onHeadersComplete(llhttp_t* p) {
  MessageParser& s = self(p);
  ParsedHead& h = s.head_;
  h.http_major = p->http_major;
  h.http_minor = p->http_minor;
  if (s.type_ == Type::kRequest) {
    h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  } else {
    h.status = static_cast<uint16_t>(p->status_code);
  }
  h.chunked = (p->flags & F_CHUNKED) != 0;
  h.has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
  h.content_length = h.has_content_length ? p->content_length : 0;
  // No protocol upgrades yet: Upgrade is an ordinary (stripped) field and llhttp keeps parsing
  // HTTP after the message instead of handing the connection over.
  p->upgrade = 0;
  if (const int rc = s.validateHead(); rc != 0) return rc;
  s.section_ = Section::kBody;
  s.pause_ = Pause::kHeadComplete;
  return HPE_PAUSED;
}

int MessageParser::onBody(llhttp_t* p, const char* at, size_t n) {
  self(p).body_.add(at, n);
  return 0;
}

int MessageParser::onChunkHeader(llhttp_t* p) {
  if (p->content_length != 0) return 0;
  // The last chunk: what follows is the trailer section, checked like a head.
  MessageParser& s = self(p);
  s.section_ = Section::kTrailers;
  s.header_bytes_ = 0;
  s.header_count_ = 0;
  s.pause_ = Pause::kTrailersBegin;
  return HPE_PAUSED;
}

int MessageParser::onMessageComplete(llhttp_t* p) {
  MessageParser& s = self(p);
  s.section_ = Section::kIdle;
  s.in_message_ = false;
  s.pause_ = Pause::kMessageComplete;
  return HPE_PAUSED;
}

}  // namespace podproxy::http::http1
