// HTTP/1 codec cost per exchange on a keep-alive connection: a typical GET parsed and its 200
// response encoded (server side), and the mirror image (client side).

#include <benchmark/benchmark.h>

#include <string_view>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http1/client_codec.h"
#include "proxy/http/http1/server_codec.h"

namespace podproxy::http::http1 {
namespace {

constexpr std::string_view kRequest =
    "GET /api/v1/items?id=42&expand=true HTTP/1.1\r\n"
    "Host: catalog.default.svc.cluster.local:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=7f3a9c2e4b1d; theme=dark\r\n"
    "X-Request-Id: 9b2c6f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f\r\n"
    "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 27\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Server: envoy\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Envoy-Upstream-Service-Time: 3\r\n"
    "\r\n"
    "{\"id\":42,\"name\":\"a widget\"}";

class CountingTransport : public CodecTransport {
 public:
  void write(buffer::Buffer& data, bool) override {
    bytes += data.length();
    data.drain(data.length());
  }
  size_t bytes = 0;
};

class KeepingRequestDecoder : public RequestDecoder {
 public:
  void decodeHeaders(std::unique_ptr<RequestHeaders> h, bool) override { headers = std::move(h); }
  void decodeData(buffer::Buffer& data, bool) override { data.drain(data.length()); }
  void decodeTrailers(std::unique_ptr<TrailerMap>) override {}
  std::unique_ptr<RequestHeaders> headers;
};

class Callbacks : public ServerConnectionCallbacks {
 public:
  RequestDecoder& newStream(ResponseEncoder& e) override {
    encoder = &e;
    return decoder;
  }
  ResponseEncoder* encoder = nullptr;
  KeepingRequestDecoder decoder;
};

class KeepingResponseDecoder : public ResponseDecoder {
 public:
  void decode1xxHeaders(std::unique_ptr<ResponseHeaders>) override {}
  void decodeHeaders(std::unique_ptr<ResponseHeaders> h, bool) override { headers = std::move(h); }
  void decodeData(buffer::Buffer& data, bool) override { data.drain(data.length()); }
  void decodeTrailers(std::unique_ptr<TrailerMap>) override {}
  std::unique_ptr<ResponseHeaders> headers;
};

void BM_Http1ServerGetAnd200(benchmark::State& state) {
  CountingTransport transport;
  Callbacks callbacks;
  ServerCodec codec(transport, callbacks, ServerCodecSettings{});
  ResponseHeaders response;
  response.status = 200;
  response.headers.add("content-type", "application/json");
  response.headers.add("content-length", "27");
  response.headers.add("date", "Mon, 01 Jan 2024 00:00:00 GMT");
  response.headers.add("server", "podproxy");
  for (auto _ : state) {
    buffer::Buffer in;
    in.add(kRequest);
    if (!codec.dispatch(in) || callbacks.encoder == nullptr) {
      state.SkipWithError("dispatch failed");
      break;
    }
    callbacks.encoder->encodeHeaders(response, false);
    buffer::Buffer body;
    body.add("{\"id\":42,\"name\":\"a widget\"}");
    callbacks.encoder->encodeData(body, true);
    benchmark::DoNotOptimize(callbacks.decoder.headers);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
}
BENCHMARK(BM_Http1ServerGetAnd200);

void BM_Http1ClientGetAnd200(benchmark::State& state) {
  CountingTransport transport;
  ClientCodec codec(transport);
  KeepingResponseDecoder decoder;
  RequestHeaders request;
  request.method = "GET";
  request.path = "/api/v1/items?id=42&expand=true";
  request.authority = "catalog.default.svc.cluster.local:8080";
  request.headers.add("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
  request.headers.add("accept", "application/json, text/plain, */*");
  request.headers.add("x-request-id", "9b2c6f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f");
  request.headers.add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  for (auto _ : state) {
    codec.newStream(decoder).encodeHeaders(request, true);
    buffer::Buffer in;
    in.add(kResponse);
    if (!codec.dispatch(in) || !codec.reusable()) {
      state.SkipWithError("response not parsed");
      break;
    }
    benchmark::DoNotOptimize(decoder.headers);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponse.size()));
}
BENCHMARK(BM_Http1ClientGetAnd200);

}  // namespace
}  // namespace podproxy::http::http1
