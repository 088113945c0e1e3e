#include "proxy/http/active_stream.h"

#include <algorithm>

#include "proxy/common/logger.h"
#include "proxy/http/connection_manager.h"
#include "proxy/http/grpc.h"

namespace podproxy::http {

ActiveStream::ActiveStream(ConnectionManager& manager, ResponseEncoder& encoder)
    : manager_(manager), encoder_(encoder), multiplexed_(manager.multiplexed()) {
  encoder_.setStreamCallbacks(this);
  info_.start_time_ms = manager.connection().dispatcher().nowMs();
  info_.downstream_remote_address = manager.remoteAddressText();
}

ActiveStream::~ActiveStream() {
  destroyFilters();
  deleteFilters();
}

void ActiveStream::deleteFilters() {
  // Encoder filters (last added first), then decoder filters (first added first): the order
  // of the vectors of owning pointers this replaced.
  for (size_t i = encoder_filters_.size(); i > 0; --i) delete encoder_filters_[i - 1];
  encoder_filters_.clear();
  for (size_t i = 0; i < decoder_filters_.size(); ++i) {
    StreamDecoderFilter* f = decoder_filters_[i];
    if (i < 64 && (owned_in_place_ & (uint64_t{1} << i)) != 0) {
      f->~StreamDecoderFilter();
    } else {
      delete f;
    }
  }
  decoder_filters_.clear();
  owned_in_place_ = 0;
}

event::Dispatcher& ActiveStream::dispatcher() {
  return manager_.connection().dispatcher();
}
network::Connection& ActiveStream::connection() {
  return manager_.connection();
}

void ActiveStream::addDecoderFilter(std::unique_ptr<StreamDecoderFilter> filter) {
  filter->setDecoderFilterCallbacks(*this);
  decoder_filters_.push_back(filter.release());
}

void ActiveStream::addEncoderFilter(std::unique_ptr<StreamEncoderFilter> filter) {
  filter->setEncoderFilterCallbacks(*this);
  encoder_filters_.push_back(filter.release());
}

void* ActiveStream::filterStorage(size_t size, size_t align) {
  if (align > alignof(std::max_align_t) || decoder_filters_.size() >= 64) return nullptr;
  const size_t offset = (filter_storage_used_ + align - 1) & ~(align - 1);
  if (offset + size > kFilterStorageBytes) return nullptr;
  filter_storage_used_ = offset + size;
  return filter_storage_ + offset;
}

void ActiveStream::addStreamOwnedDecoderFilter(StreamDecoderFilter& filter) {
  filter.setDecoderFilterCallbacks(*this);
  owned_in_place_ |= uint64_t{1} << decoder_filters_.size();
  decoder_filters_.push_back(&filter);
}

void ActiveStream::prepareRequest(RequestHeaders& headers) {
  const auto& options = manager_.context().config.options;
  info_.protocol = headers.http_major == 2 ? "HTTP/2"
                   : headers.isHttp10()    ? "HTTP/1.0"
                                           : "HTTP/1.1";
  head_request_ = headers.method == "HEAD";
  // One pass over the headers finds every field handled here (each get() or set() is a scan
  // of its own); fields found absent are then added without another.
  const std::string_view* expect = nullptr;
  const std::string_view* xff = nullptr;
  bool xff_repeated = false;
  bool has_xfp = false;
  const std::string_view* request_id = nullptr;
  for (const auto& e : headers.headers.entries()) {
    const std::string_view name = e.name;  // stored lower-case
    if (name == "expect") {
      if (expect == nullptr) expect = &e.value;
    } else if (name == "x-forwarded-for") {
      xff_repeated = xff != nullptr;
      if (xff == nullptr) xff = &e.value;
    } else if (name == "x-forwarded-proto") {
      has_xfp = true;
    } else if (name == "x-request-id") {
      if (request_id == nullptr) request_id = &e.value;
    }
  }
  // Everything read from the map before it changes (the pointers die with the first edit).
  const bool keep_request_id = request_id != nullptr && !request_id->empty();
  if (keep_request_id) info_.request_id = *request_id;
  std::string forwarded_for;
  if (options.use_remote_address && xff != nullptr) {
    if (xff_repeated) {
      forwarded_for = *headers.headers.getJoined("x-forwarded-for");
    } else {
      forwarded_for = *xff;
    }
    forwarded_for.append(", ").append(manager_.remoteIp());
  }
  // We answer "100 Continue" ourselves and do not forward the expectation: the upstream sees
  // a plain request whose body follows at once.
  if (expect != nullptr) {
    if (equalsIgnoreCase(*expect, "100-continue") && !headers.isHttp10()) {
      encoder_.encode100Continue();
    }
    headers.headers.remove("expect");
  }
  if (options.use_remote_address) {
    if (xff != nullptr) {
      headers.headers.set("x-forwarded-for", forwarded_for);
    } else {
      headers.headers.add("x-forwarded-for", manager_.remoteIp());
    }
    const std::string_view proto =
        headers.scheme.empty() ? std::string_view("http") : std::string_view(headers.scheme);
    if (has_xfp) {
      headers.headers.set("x-forwarded-proto", proto);
    } else {
      headers.headers.add("x-forwarded-proto", proto);
    }
  }
  if (!keep_request_id && options.generate_request_id) {
    char* id_out = info_.request_id.resize(Random::kUuidLength);
    manager_.context().random.uuid4(id_out);
    if (request_id != nullptr) {
      headers.headers.set("x-request-id", info_.request_id);  // it was empty
    } else {
      headers.headers.add("x-request-id", info_.request_id);
    }
  }
}

void ActiveStream::decodeHeaders(std::unique_ptr<RequestHeaders> headers, bool end_stream) {
  request_headers_ = std::move(headers);
  prepareRequest(*request_headers_);
  request_complete_ = end_stream;
  decode_headers_end_stream_ = end_stream;
  const auto request_timeout = manager_.context().config.options.request_timeout;
  if (!end_stream && request_timeout.count() > 0) {
    // The timer wheel's precision (one 32 ms tick) is plenty for a whole-request deadline, and
    // arming it allocates nothing.
    dispatcher().timerWheel().arm(*this, request_timeout);
  }
  runDecodeHeaders(0);
}

void ActiveStream::onRequestTimeout() {
  if (request_complete_ || destroyed_) return;
  // The client is too slow sending its body: answer if we still can, else cut the stream.
  if (response_headers_sent_) {
    resetStream("request_overall_timeout");
    return;
  }
  sendLocalReply(408, "request timeout", "request_overall_timeout");
}

void ActiveStream::runDecodeHeaders(size_t from) {
  for (size_t i = from; i < decoder_filters_.size(); ++i) {
    const FilterHeadersStatus status =
        decoderFilter(i).decodeHeaders(*request_headers_, decode_headers_end_stream_);
    if (destroyed_ || local_reply_sent_) return;
    if (status == FilterHeadersStatus::kStopIteration) {
      decode_stopped_ = true;
      decode_stopped_on_headers_ = true;
      decode_stopped_at_ = i;
      return;
    }
  }
  decode_stopped_ = false;
}

void ActiveStream::decodeData(buffer::Buffer& data, bool end_stream) {
  info_.bytes_received += data.length();
  if (end_stream) {
    request_complete_ = true;
    event::TimerWheel::disarm(*this);
  }
  if (destroyed_ || local_reply_sent_) {
    data.clear();
    return;
  }
  if (decode_stopped_ && !decode_stopped_on_headers_) {
    // A filter stopped on data sees the body accumulate.
    decode_buffered_.move(data);
    decode_buffered_end_ = end_stream;
    runDecodeData(decode_stopped_at_, decode_buffered_, end_stream);
  } else {
    runDecodeData(0, data, end_stream);
  }
  if (destroyed_ || local_reply_sent_) return;
  if (end_stream && wait_for_request_end_ && response_complete_) {
    // The client's FIN was all this tunnel still waited for: the upstream's went out before.
    manager_.onStreamComplete(*this);
    return;
  }
  const uint32_t limit = manager_.context().config.options.max_request_body_buffer_bytes;
  if (decode_buffered_.length() > limit) {
    sendLocalReply(413, "request body too large", "request_body_buffer_overflow");
  }
}

size_t ActiveStream::decodeEnd() const {
  // As in Envoy, the filter that stopped the headers still sees the body and trailers (the
  // router streams them upstream); only the filters after it wait for continueDecoding().
  return decode_stopped_ && decode_stopped_on_headers_ ? decode_stopped_at_ + 1
                                                       : decoder_filters_.size();
}

void ActiveStream::runDecodeData(size_t from, buffer::Buffer& data, bool end_stream) {
  const bool headers_held = decode_stopped_ && decode_stopped_on_headers_;
  const size_t end = decodeEnd();
  for (size_t i = from; i < end; ++i) {
    const FilterDataStatus status = decoderFilter(i).decodeData(data, end_stream);
    if (destroyed_ || local_reply_sent_) return;
    if (status == FilterDataStatus::kStopIterationAndBuffer) {
      if (&data != &decode_buffered_) decode_buffered_.move(data);
      decode_buffered_end_ = end_stream;
      if (!headers_held) {
        decode_stopped_ = true;
        decode_stopped_on_headers_ = false;
        decode_stopped_at_ = i;
      }
      return;
    }
    if (status == FilterDataStatus::kStopIterationNoBuffer) return;
  }
  if (headers_held) {
    // Past the filter holding the headers: the rest of the chain gets it on continueDecoding().
    if (&data != &decode_buffered_) decode_buffered_.move(data);
    decode_buffered_end_ = end_stream;
    return;
  }
  decode_stopped_ = false;
}

void ActiveStream::decodeTrailers(std::unique_ptr<TrailerMap> trailers) {
  request_complete_ = true;
  event::TimerWheel::disarm(*this);
  request_trailers_ = std::move(trailers);
  if (destroyed_ || local_reply_sent_) return;
  // Behind a filter holding the body, trailers wait for it: continueDecoding() sends them.
  if (decode_stopped_ && !decode_stopped_on_headers_) return;
  runDecodeTrailers();
}

void ActiveStream::runDecodeTrailers() {
  // Trailers may reach the chain in parts (up to a filter holding the headers, later the
  // rest): decode_trailers_next_ keeps any filter from seeing them twice.
  const size_t end = decodeEnd();
  while (decode_trailers_next_ < end) {
    const size_t i = decode_trailers_next_++;
    if (decoderFilter(i).decodeTrailers(*request_trailers_) ==
        FilterTrailersStatus::kStopIteration) {
      return;
    }
    if (destroyed_ || local_reply_sent_) return;
  }
}

void ActiveStream::continueDecoding() {
  if (!decode_stopped_ || destroyed_) return;
  decode_stopped_ = false;
  const size_t resume = decode_stopped_at_ + 1;
  if (decode_stopped_on_headers_) {
    // Body and trailers received meanwhile went up to the filter that held the headers; they
    // follow the headers from the next filter on (and stop with them if they stop again).
    runDecodeHeaders(resume);
    if (destroyed_ || local_reply_sent_) return;
    if (!decode_buffered_.empty() || decode_buffered_end_) {
      runDecodeData(resume, decode_buffered_, decode_buffered_end_);
    }
    if (destroyed_ || local_reply_sent_ || (decode_stopped_ && !decode_stopped_on_headers_)) {
      return;
    }
    if (request_trailers_) runDecodeTrailers();
    return;
  }
  runDecodeData(resume, decode_buffered_, decode_buffered_end_);
  if (decode_stopped_ || destroyed_ || local_reply_sent_) return;
  if (request_trailers_) runDecodeTrailers();
}

void ActiveStream::sendLocalReply(uint16_t status, std::string_view body, std::string_view details,
                                  const HeaderMap* extra_headers) {
  if (destroyed_) return;
  if (response_headers_sent_) {
    // Part of a response is out already: a new status line would corrupt it.
    resetStream(details);
    return;
  }
  local_reply_sent_ = true;
  info_.details = std::string(details);
  // Answered before the whole request arrived: the rest of it cannot be trusted as the start
  // of a next request, so say now that the connection ends with this response. (HTTP/2 frames
  // every stream apart: the codec tells the client to stop sending this one, RFC 9113 8.1.)
  if (!request_complete_ && !multiplexed_) manager_.closeAfterResponse();
  LOG_DEBUG("local reply", {"status", status}, {"details", details},
            {"request_id", info_.request_id.view()});
  const std::string& server = manager_.context().config.options.server_name;
  if (request_headers_ && grpc::isGrpcRequest(*request_headers_)) {
    // gRPC clients read the outcome from grpc-status, not from the HTTP status: answer
    // "trailers-only" (HTTP 200, the status in the headers, no body).
    auto grpc_headers = std::make_unique<ResponseHeaders>();
    grpc_headers->status = 200;
    grpc_headers->headers.set("content-type", "application/grpc");
    grpc_headers->headers.set("grpc-status", std::to_string(grpc::httpToGrpcStatus(status)));
    grpc_headers->headers.set("grpc-message", grpc::encodeMessage(body));
    if (!server.empty()) grpc_headers->headers.set("server", server);
    encodeHeaders(std::move(grpc_headers), true);
    return;
  }
  auto headers = std::make_unique<ResponseHeaders>();
  headers->status = status;
  if (extra_headers != nullptr) {
    for (const auto& e : extra_headers->entries()) headers->headers.add(e.name, e.value);
  }
  std::string text(body);
  if (!text.empty() && text.back() != '\n') text += '\n';
  headers->headers.set("content-type", "text/plain");
  headers->headers.set("content-length", std::to_string(text.size()));
  if (!server.empty()) headers->headers.set("server", server);
  const bool no_body = text.empty() || head_request_;
  encodeHeaders(std::move(headers), no_body);
  if (!no_body && !destroyed_) {
    buffer::Buffer data;
    data.add(text);
    encodeData(data, true);
  }
}

void ActiveStream::recordResponseCode(uint16_t status) {
  info_.response_code = status;
  auto& stats = manager_.context().stats;
  switch (status / 100) {
    case 1:
      ++stats.downstream_rq_1xx;
      break;
    case 2:
      ++stats.downstream_rq_2xx;
      break;
    case 3:
      ++stats.downstream_rq_3xx;
      break;
    case 4:
      ++stats.downstream_rq_4xx;
      break;
    default:
      ++stats.downstream_rq_5xx;
      break;
  }
}

void ActiveStream::encodeHeaders(std::unique_ptr<ResponseHeaders> headers, bool end_stream) {
  if (destroyed_ || response_headers_sent_) return;
  response_headers_sent_ = true;
  response_headers_ = std::move(headers);
  encode_headers_end_stream_ = end_stream;
  runEncodeHeaders(0);
}

void ActiveStream::runEncodeHeaders(size_t from) {
  for (size_t i = from; i < encoder_filters_.size(); ++i) {
    if (encoderFilter(i).encodeHeaders(*response_headers_, encode_headers_end_stream_) ==
        FilterHeadersStatus::kStopIteration) {
      encode_stopped_ = true;
      encode_stopped_on_headers_ = true;
      encode_stopped_at_ = i;
      return;
    }
    if (destroyed_) return;
  }
  encode_stopped_ = false;
  recordResponseCode(response_headers_->status);
  encoder_.encodeHeaders(*response_headers_, encode_headers_end_stream_);
  if (encode_headers_end_stream_) {
    finishResponse();
  } else if (opensTunnel(response_headers_->status)) {
    // The codec switched to a byte tunnel: the client's bytes are this stream's data now, and
    // they end with the client's FIN (HTTP/2: END_STREAM), whatever the request's framing said.
    // (The request timeout bounded the HTTP request; the tunnel is bounded by the router's idle
    // timeout.) An HTTP/2 client's END_STREAM that came already was that end: the codec
    // delivered it, and the router kept it for the tunnel.
    wait_for_request_end_ = true;
    if (!multiplexed_) request_complete_ = false;
    event::TimerWheel::disarm(*this);
    manager_.onStreamUpgraded(*this);
  }
}

bool ActiveStream::opensTunnel(uint16_t status) const {
  if (!request_headers_) return false;
  // An accepted Upgrade (HTTP/1.1, or RFC 8441's extended CONNECT in its HTTP/1.1 form), or a
  // CONNECT that succeeded.
  if (status == 101) return !request_headers_->upgrade.empty();
  return status / 100 == 2 && request_headers_->method == "CONNECT";
}

void ActiveStream::encodeData(buffer::Buffer& data, bool end_stream) {
  if (destroyed_ || response_complete_) {
    data.clear();
    return;
  }
  if (encode_stopped_ && !encode_stopped_on_headers_) {
    // A filter stopped on data sees the body accumulate.
    encode_buffered_.move(data);
    encode_buffered_end_ = end_stream;
    runEncodeData(encode_stopped_at_, encode_buffered_, end_stream);
  } else {
    runEncodeData(0, data, end_stream);
  }
}

size_t ActiveStream::encodeEnd() const {
  // The same rule as for requests: the filter holding the headers still sees body and trailers.
  return encode_stopped_ && encode_stopped_on_headers_ ? encode_stopped_at_ + 1
                                                       : encoder_filters_.size();
}

void ActiveStream::runEncodeData(size_t from, buffer::Buffer& data, bool end_stream) {
  const bool headers_held = encode_stopped_ && encode_stopped_on_headers_;
  const size_t end = encodeEnd();
  for (size_t i = from; i < end; ++i) {
    const FilterDataStatus status = encoderFilter(i).encodeData(data, end_stream);
    if (destroyed_) return;
    if (status == FilterDataStatus::kStopIterationAndBuffer) {
      if (&data != &encode_buffered_) encode_buffered_.move(data);
      encode_buffered_end_ = end_stream;
      if (!headers_held) {
        encode_stopped_ = true;
        encode_stopped_on_headers_ = false;
        encode_stopped_at_ = i;
      }
      return;
    }
    if (status == FilterDataStatus::kStopIterationNoBuffer) return;
  }
  if (headers_held) {
    if (&data != &encode_buffered_) encode_buffered_.move(data);
    encode_buffered_end_ = end_stream;
    return;
  }
  encode_stopped_ = false;
  info_.bytes_sent += data.length();
  encoder_.encodeData(data, end_stream);
  if (end_stream) finishResponse();
}

void ActiveStream::encodeTrailers(std::unique_ptr<TrailerMap> trailers) {
  if (destroyed_ || response_complete_) return;
  response_trailers_ = std::move(trailers);
  if (encode_stopped_ && !encode_stopped_on_headers_) return;
  runEncodeTrailers();
}

void ActiveStream::runEncodeTrailers() {
  const size_t end = encodeEnd();
  while (encode_trailers_next_ < end) {
    const size_t i = encode_trailers_next_++;
    if (encoderFilter(i).encodeTrailers(*response_trailers_) ==
        FilterTrailersStatus::kStopIteration) {
      return;
    }
    if (destroyed_) return;
  }
  if (encode_stopped_ && encode_stopped_on_headers_) return;  // held behind the headers
  encoder_.encodeTrailers(*response_trailers_);
  finishResponse();
}

void ActiveStream::continueEncoding() {
  if (!encode_stopped_ || destroyed_) return;
  encode_stopped_ = false;
  const size_t resume = encode_stopped_at_ + 1;
  if (encode_stopped_on_headers_) {
    runEncodeHeaders(resume);
    if (destroyed_ || response_complete_) return;
    if (!encode_buffered_.empty() || encode_buffered_end_) {
      runEncodeData(resume, encode_buffered_, encode_buffered_end_);
    }
    if (destroyed_ || response_complete_ || (encode_stopped_ && !encode_stopped_on_headers_)) {
      return;
    }
    if (response_trailers_) runEncodeTrailers();
    return;
  }
  runEncodeData(resume, encode_buffered_, encode_buffered_end_);
  if (encode_stopped_ || destroyed_ || response_complete_) return;
  if (response_trailers_) runEncodeTrailers();
}

void ActiveStream::finishResponse() {
  if (response_complete_) return;
  response_complete_ = true;
  // A tunnel's response end went out as a half-close: the client may still be sending, and
  // decodeData() completes the stream with its FIN.
  if (wait_for_request_end_ && !request_complete_) return;
  manager_.onStreamComplete(*this);
}

void ActiveStream::endTunnel() {
  if (destroyed_ || !wait_for_request_end_) return;
  // The client's FIN is no longer awaited: the stream ends with the response, as any other
  // stream whose request did not finish (HTTP/1: the connection closes after what is queued;
  // HTTP/2: the client is told to stop sending).
  wait_for_request_end_ = false;
  if (multiplexed_) encoder_.abandonTunnelInput();
  if (!response_complete_) {
    buffer::Buffer none;
    encodeData(none, true);
    return;
  }
  manager_.onStreamComplete(*this);
}

void ActiveStream::resetStream(std::string_view details) {
  if (destroyed_) return;
  info_.details = std::string(details);
  LOG_DEBUG("downstream stream reset", {"details", details},
            {"request_id", info_.request_id.view()});
  // HTTP/2 resets just this stream; HTTP/1 cannot, and the manager aborts the connection.
  encoder_.resetStream(StreamResetReason::kLocalReset);
  manager_.onStreamReset(*this);
}

void ActiveStream::onResetStream(StreamResetReason, std::string_view details) {
  if (destroyed_) return;
  info_.details = "downstream_remote_reset: " + std::string(details);
  LOG_DEBUG("downstream stream reset by peer", {"details", details},
            {"request_id", info_.request_id.view()});
  manager_.onStreamRemoteReset(*this);
}

void ActiveStream::readDisableDownstream(bool disable) {
  if (disable) {
    ++downstream_read_disables_;
  } else {
    if (downstream_read_disables_ == 0) return;
    --downstream_read_disables_;
  }
  if (multiplexed_) {
    encoder_.readDisable(disable);
  } else {
    manager_.connection().readDisable(disable);
  }
}

void ActiveStream::addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) {
  watermark_callbacks_.push_back(&callbacks);
}

void ActiveStream::removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) {
  watermark_callbacks_.erase(&callbacks);
}

void ActiveStream::onDownstreamAboveHighWatermark() {
  // A copy: a callback may remove itself (or others) meanwhile.
  SmallPtrList<DownstreamWatermarkCallbacks, 2> callbacks = watermark_callbacks_;
  for (size_t i = 0; i < callbacks.size(); ++i) callbacks[i]->onAboveWriteBufferHighWatermark();
}

void ActiveStream::onDownstreamBelowLowWatermark() {
  SmallPtrList<DownstreamWatermarkCallbacks, 2> callbacks = watermark_callbacks_;
  for (size_t i = 0; i < callbacks.size(); ++i) callbacks[i]->onBelowWriteBufferLowWatermark();
}

void ActiveStream::onConnectionClosed() {
  // A tunnel still waiting for the client's FIN saw its connection go without one, too.
  if (!response_complete_ || wait_for_request_end_) {
    info_.addResponseFlag(response_flags::kDownstreamConnectionTermination);
  }
  destroyFilters();
}

void ActiveStream::destroyFilters() {
  if (destroyed_) return;
  destroyed_ = true;
  event::TimerWheel::disarm(*this);
  // Give back any read-disables this stream still holds on the connection.
  while (downstream_read_disables_ > 0) {
    --downstream_read_disables_;
    if (multiplexed_) {
      encoder_.readDisable(false);
    } else {
      manager_.connection().readDisable(false);
    }
  }
  encoder_.setStreamCallbacks(nullptr);
  watermark_callbacks_.clear();
  for (size_t i = 0; i < decoder_filters_.size(); ++i) decoder_filters_[i]->onDestroy();
  for (size_t i = 0; i < encoder_filters_.size(); ++i) encoderFilter(i).onDestroy();
  // Once per stream, with everything final: metrics and the access log line.
  if (StreamObserver* observer = manager_.context().observer) {
    observer->onStreamComplete(info_, request_headers_.get(), response_headers_.get(),
                               response_trailers_.get());
  }
}

}  // namespace podproxy::http
