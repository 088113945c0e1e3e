#include "filters/http/tracing_filter.h"

#include "proxy/tracing/trace_context.h"

namespace podproxy::tracing {

namespace {

std::string_view headerOr(const http::HeaderMap& headers, std::string_view name) {
  const std::string* v = headers.get(name);
  return v != nullptr ? std::string_view(*v) : std::string_view();
}

bool sample(double percent, Random& random) {
  if (percent >= 100.0) return true;
  if (percent <= 0.0) return false;
  return static_cast<double>(random.next() % 1000000) < percent * 10000.0;
}

// The B3 trace id in the width the caller used: 64-bit ids stay 64-bit when they fit.
std::string b3TraceId(const std::string& trace_id, size_t caller_width) {
  if (caller_width == 16 && trace_id.compare(0, 16, "0000000000000000") == 0) {
    return trace_id.substr(16);
  }
  return trace_id;
}

}  // namespace

void propagateTraceContext(http::HeaderMap& headers, http::StreamInfo& info,
                           double sampling_percent, Random& random) {
  const std::string_view traceparent = headerOr(headers, "traceparent");
  std::optional<TraceParent> incoming =
      traceparent.empty() ? std::nullopt : TraceParent::parse(traceparent);

  // Each header is looked up once: every lookup is a scan of the whole map.
  const std::string* b3_trace_id = headers.get("x-b3-traceid");
  const std::string* b3_span_id = headers.get("x-b3-spanid");
  const bool has_multi_b3 = b3_trace_id != nullptr || b3_span_id != nullptr;
  const size_t b3_trace_id_width = b3_trace_id != nullptr ? b3_trace_id->size() : 0;
  std::optional<B3Context> b3;
  if (has_multi_b3) {
    b3 = B3Context::parseMulti(b3_trace_id != nullptr ? std::string_view(*b3_trace_id) : "",
                               b3_span_id != nullptr ? std::string_view(*b3_span_id) : "",
                               headerOr(headers, "x-b3-parentspanid"),
                               headerOr(headers, "x-b3-sampled"), headerOr(headers, "x-b3-flags"));
  }
  const std::string_view single = headerOr(headers, "b3");
  std::optional<B3Context> b3_single =
      single.empty() ? std::nullopt : B3Context::parseSingle(single);
  if (!b3) b3 = b3_single;

  TraceParent out;
  std::string parent;
  if (incoming) {
    out.trace_id = std::move(incoming->trace_id);
    out.flags = incoming->flags;
    parent = std::move(incoming->parent_id);
  } else if (b3) {
    out.trace_id = b3->trace_id.size() == 32 ? b3->trace_id : "0000000000000000" + b3->trace_id;
    out.flags = b3->sampled.value_or(sample(sampling_percent, random)) ? 1 : 0;
    parent = b3->span_id;
  } else {
    out.trace_id = randomHexId(random, 32);
    out.flags = sample(sampling_percent, random) ? 1 : 0;
    // tracestate belongs to the traceparent it came with; a broken one takes it along.
    if (!traceparent.empty()) headers.remove("tracestate");
  }
  out.parent_id = randomHexId(random, 16);  // this hop's span
  headers.set("traceparent", out.toString());

  // B3 headers describe the same span as traceparent, whichever of them the caller sent.
  const bool sampled = out.sampled();
  if (has_multi_b3) {
    headers.set("x-b3-traceid", b3TraceId(out.trace_id, b3_trace_id_width));
    headers.set("x-b3-spanid", out.parent_id);
    if (!parent.empty()) {
      headers.set("x-b3-parentspanid", parent);
    } else {
      headers.remove("x-b3-parentspanid");
    }
    if (!(b3 && b3->debug)) headers.set("x-b3-sampled", sampled ? "1" : "0");
  }
  if (b3_single) {
    B3Context next;
    next.trace_id = b3TraceId(out.trace_id, b3_single->trace_id.size());
    next.span_id = out.parent_id;
    next.parent_span_id = parent;
    next.debug = b3_single->debug;
    next.sampled = sampled;
    headers.set("b3", next.toSingle());
  }

  info.trace_id = std::move(out.trace_id);
  info.span_id = std::move(out.parent_id);
  info.parent_span_id = std::move(parent);
}

}  // namespace podproxy::tracing
