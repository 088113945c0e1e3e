#pragma once

// Drives llhttp over one direction of an HTTP/1 connection, one message section at a time, and
// adds the strictness llhttp 8.1 lacks in loose mode (see LineChecker), field-name checks,
// framing checks and header limits. Shared by the server and client codecs.

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/header_map.h"
#include "proxy/http/http1/line_checker.h"

namespace podproxy::http::http1 {

// A message head as received, before the codec turns it into Request/ResponseHeaders.
struct ParsedHead {
  std::string method;   // requests
  std::string target;   // requests: the raw request-target
  uint16_t status = 0;  // responses
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  HeaderMap headers;  // every field: lower-case names, OWS-trimmed values
  bool chunked = false;
  bool has_content_length = false;
  uint64_t content_length = 0;
};

class MessageParser {
 public:
  enum class Type { kRequest, kResponse };
  enum class Event {
    kNeedData,         // everything given was consumed
    kHead,             // head() is ready; the caller must look at it before parsing on
    kMessageComplete,  // body() holds the last body bytes, trailers() any trailers
    kError,            // error() says why; nothing more will be parsed
  };
  struct Step {
    Event event;
    size_t consumed;  // bytes of the input the caller may drop
  };
  struct Limits {
    uint32_t max_header_bytes;  // request-target + field names and values
    uint32_t max_header_count;
  };

  MessageParser(Type type, Limits limits);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // Parses from the start of `data` until the next event. Call again with an empty view after
  // kHead: a message without a body completes without further input.
  Step parse(std::string_view data);
  // The peer closed its side: kMessageComplete for a close-delimited body, kNeedData when
  // between messages, kError (premature EOF) inside one.
  Event finish();

  // After kHead: the message has no body whatever its framing says (HEAD, 204, 304 responses).
  void skipBody();
  // After kHead: whether body bytes follow (chunked, Content-Length > 0 or until close).
  bool hasBody() const;
  // After kHead of a response: the body ends when the connection closes.
  bool bodyUntilClose() const;

  ParsedHead& head() { return head_; }
  // Body bytes parsed and not yet taken by the caller.
  buffer::Buffer& body() { return body_; }
  // Trailer fields of a chunked message, complete at kMessageComplete.
  HeaderMap& trailers() { return trailers_; }
  const CodecError& error() const { return error_; }
  // Bytes of a message were parsed and the message has not completed.
  bool messageInProgress() const { return in_message_; }

 private:
  enum class Section { kIdle, kHead, kBody, kTrailers };
  enum class Pause { kNone, kHeadComplete, kTrailersBegin, kMessageComplete };

  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t n);
  static int onHeaderField(llhttp_t* p, const char* at, size_t n);
  static int onHeaderFieldComplete(llhttp_t* p);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t n);
  static int onChunkHeader(llhttp_t* p);
  static int onMessageComplete(llhttp_t* p);

  bool countBytes(size_t n);
  // The current field name / value: the input span, or the copy once it came in pieces.
  std::string_view field() const { return field_view_.empty() ? field_ : field_view_; }
  std::string_view value() const { return value_view_.empty() ? value_ : value_view_; }
  void keepField();
  void keepValue();
  int fail(uint16_t status, std::string_view details);
  int validateHead();
  Step failStep(size_t consumed) { return {Event::kError, consumed}; }

  static const llhttp_settings_t& settings();

  llhttp_t parser_;
  Type type_;
  Limits limits_;
  LineChecker line_checker_;
  Section section_ = Section::kIdle;
  Pause pause_ = Pause::kNone;
  bool in_message_ = false;
  bool failed_ = false;
  bool skip_body_ = false;
  bool has_error_ = false;  // error_ was set by one of our callbacks

  ParsedHead head_;
  HeaderMap trailers_;
  std::string field_;
  std::string value_;
  // Spans of the input llhttp is running over; valid only inside one llhttp_execute().
  std::string_view field_view_;
  std::string_view value_view_;
  uint32_t header_bytes_ = 0;
  uint32_t header_count_ = 0;
  buffer::Buffer body_;
  CodecError error_;
};

}  // namespace podproxy::http::http1
