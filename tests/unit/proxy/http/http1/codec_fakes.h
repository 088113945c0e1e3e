#pragma once

// Recording fakes for HTTP/1 codec unit tests: a transport that keeps every write, decoders
// that keep everything they are handed, and a server codec fixture built on them.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http1/server_codec.h"

namespace podproxy::http::http1::testing {

inline buffer::Buffer bufferOf(std::string_view s) {
  buffer::Buffer b;
  b.add(s);
  return b;
}

class RecordingTransport : public CodecTransport {
 public:
  void write(buffer::Buffer& data, bool end_stream) override {
    writes.push_back(data.toString());
    data.drain(data.length());
    if (end_stream) ++end_stream_writes;
  }
  std::string all() const {
    std::string out;
    for (const std::string& w : writes) out += w;
    return out;
  }
  void clear() {
    writes.clear();
    end_stream_writes = 0;
  }

  std::vector<std::string> writes;
  int end_stream_writes = 0;
};

class FakeRequestDecoder : public RequestDecoder {
 public:
  void decodeHeaders(std::unique_ptr<RequestHeaders> h, bool end) override {
    headers = std::move(h);
    headers_end_stream = end;
    if (end) end_stream = true;
    if (on_headers) on_headers();
  }
  void decodeData(buffer::Buffer& data, bool end) override {
    ++data_calls;
    body += data.toString();
    data.drain(data.length());
    if (end) end_stream = data_end_stream = true;
  }
  void decodeTrailers(std::unique_ptr<TrailerMap> t) override {
    trailers = std::move(t);
    end_stream = true;
  }

  std::unique_ptr<RequestHeaders> headers;
  bool headers_end_stream = false;
  std::string body;
  int data_calls = 0;
  bool end_stream = false;
  bool data_end_stream = false;  // the end came with body data (a tunnel's FIN, say)
  std::unique_ptr<TrailerMap> trailers;
  std::function<void()> on_headers;  // runs inside decodeHeaders (synchronous local replies)
};

class FakeServerCallbacks : public ServerConnectionCallbacks {
 public:
  RequestDecoder& newStream(ResponseEncoder& encoder) override {
    encoders.push_back(&encoder);
    streams.push_back(std::make_unique<FakeRequestDecoder>());
    if (on_new_stream) on_new_stream(*streams.back());
    return *streams.back();
  }
  FakeRequestDecoder& last() { return *streams.back(); }

  std::vector<std::unique_ptr<FakeRequestDecoder>> streams;
  std::vector<ResponseEncoder*> encoders;
  std::function<void(FakeRequestDecoder&)> on_new_stream;
};

class FakeResponseDecoder : public ResponseDecoder {
 public:
  void decode1xxHeaders(std::unique_ptr<ResponseHeaders> h) override {
    informational.push_back(std::move(h));
  }
  void decodeHeaders(std::unique_ptr<ResponseHeaders> h, bool end) override {
    headers = std::move(h);
    headers_end_stream = end;
    if (end) end_stream = true;
  }
  void decodeData(buffer::Buffer& data, bool end) override {
    ++data_calls;
    body += data.toString();
    data.drain(data.length());
    if (end) end_stream = true;
  }
  void decodeTrailers(std::unique_ptr<TrailerMap> t) override {
    trailers = std::move(t);
    end_stream = true;
  }

  std::vector<std::unique_ptr<ResponseHeaders>> informational;
  std::unique_ptr<ResponseHeaders> headers;
  bool headers_end_stream = false;
  std::string body;
  int data_calls = 0;
  bool end_stream = false;
  std::unique_ptr<TrailerMap> trailers;
};

// A server codec over a recording transport and fake callbacks; tests feed it bytes with
// dispatch() and answer through encoder().
class ServerCodecTest : public ::testing::Test {
 protected:
  CodecStatus dispatch(std::string_view bytes) {
    input_.add(bytes);
    return codec_.dispatch(input_);
  }
  ResponseEncoder& encoder() { return *callbacks_.encoders.back(); }

  RecordingTransport transport_;
  FakeServerCallbacks callbacks_;
  ServerCodecSettings settings_;
  ServerCodec codec_{transport_, callbacks_, settings_};
  buffer::Buffer input_;
};

}  // namespace podproxy::http::http1::testing
