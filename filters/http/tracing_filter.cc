#include "filters/http/tracing_filter.h"

#include <algorithm>

#include "proxy/tracing/trace_context.h"

namespace podproxy::tracing {

namespace {

bool sample(double percent, Random& random) {
  if (percent >= 100.0) return true;
  if (percent <= 0.0) return false;
  return static_cast<double>(random.next() % 1000000) < percent * 10000.0;
}

// The B3 trace id in the width the caller used: 64-bit ids stay 64-bit when they fit.
std::string_view b3TraceId(std::string_view trace_id, size_t caller_width) {
  if (caller_width == 16 && trace_id.starts_with("0000000000000000")) {
    return trace_id.substr(16);
  }
  return trace_id;
}

}  // namespace

void propagateTraceContext(http::HeaderMap& headers, http::StreamInfo& info,
                           double sampling_percent, Random& random) {
  // The ids are formatted straight into StreamInfo (inline strings): no allocation per request
  // beyond the header values themselves.
  // One pass over the headers for every field read here (each get() is a scan of the map).
  const std::string_view* traceparent_header = nullptr;
  const std::string_view* b3_trace_id = nullptr;
  const std::string_view* b3_span_id = nullptr;
  const std::string_view* b3_parent_span_id = nullptr;
  const std::string_view* b3_sampled = nullptr;
  const std::string_view* b3_flags = nullptr;
  const std::string_view* b3_header = nullptr;
  for (const auto& e : headers.entries()) {
    const std::string_view name = e.name;  // stored lower-case
    const std::string_view** slot = nullptr;
    if (name == "traceparent") {
      slot = &traceparent_header;
    } else if (name == "b3") {
      slot = &b3_header;
    } else if (name.starts_with("x-b3-")) {
      const std::string_view rest = name.substr(5);
      if (rest == "traceid") {
        slot = &b3_trace_id;
      } else if (rest == "spanid") {
        slot = &b3_span_id;
      } else if (rest == "parentspanid") {
        slot = &b3_parent_span_id;
      } else if (rest == "sampled") {
        slot = &b3_sampled;
      } else if (rest == "flags") {
        slot = &b3_flags;
      }
    }
    if (slot != nullptr && *slot == nullptr) *slot = &e.value;  // the first value, as get()
  }
  auto view = [](const std::string_view* v) { return v != nullptr ? std::string_view(*v) : ""; };
  const std::string_view traceparent = view(traceparent_header);
  const bool incoming = !traceparent.empty() && TraceParent::valid(traceparent);

  const bool has_multi_b3 = b3_trace_id != nullptr || b3_span_id != nullptr;
  const size_t b3_trace_id_width = b3_trace_id != nullptr ? b3_trace_id->size() : 0;
  std::optional<B3Context> b3;
  if (has_multi_b3) {
    b3 = B3Context::parseMulti(view(b3_trace_id), view(b3_span_id), view(b3_parent_span_id),
                               view(b3_sampled), view(b3_flags));
  }
  const std::string_view single = view(b3_header);
  std::optional<B3Context> b3_single =
      single.empty() ? std::nullopt : B3Context::parseSingle(single);
  if (!b3) b3 = b3_single;

  // Copied out before any header changes: the pointers above point into the map.
  uint8_t flags = 0;
  if (incoming) {
    info.trace_id = TraceParent::traceIdOf(traceparent);
    info.parent_span_id = TraceParent::parentIdOf(traceparent);
    flags = TraceParent::flagsOf(traceparent);
  } else if (b3) {
    if (b3->trace_id.size() == 32) {
      info.trace_id = b3->trace_id;
    } else {
      char* id = info.trace_id.resize(32);
      std::fill_n(id, 16, '0');
      std::copy(b3->trace_id.begin(), b3->trace_id.end(), id + 16);
    }
    flags = b3->sampled.value_or(sample(sampling_percent, random)) ? 1 : 0;
    info.parent_span_id = b3->span_id;
  } else {
    randomHexId(random, info.trace_id.resize(32), 32);
    flags = sample(sampling_percent, random) ? 1 : 0;
    info.parent_span_id.clear();
    // tracestate belongs to the traceparent it came with; a broken one takes it along.
    if (!traceparent.empty()) headers.remove("tracestate");
  }
  randomHexId(random, info.span_id.resize(16), 16);  // this hop's span
  char traceparent_out[TraceParent::kLength];
  const std::string_view traceparent_value =
      TraceParent::format(info.trace_id, info.span_id, flags, traceparent_out);
  if (traceparent_header != nullptr) {
    headers.set("traceparent", traceparent_value);
  } else {
    headers.add("traceparent", traceparent_value);  // no scan for one we know is absent
  }

  // B3 headers describe the same span as traceparent, whichever of them the caller sent.
  const bool sampled = (flags & 1) != 0;
  const std::string_view parent = info.parent_span_id;
  if (has_multi_b3) {
    headers.set("x-b3-traceid", b3TraceId(info.trace_id, b3_trace_id_width));
    headers.set("x-b3-spanid", info.span_id);
    if (!parent.empty()) {
      headers.set("x-b3-parentspanid", parent);
    } else {
      headers.remove("x-b3-parentspanid");
    }
    if (!(b3 && b3->debug)) headers.set("x-b3-sampled", sampled ? "1" : "0");
  }
  if (b3_single) {
    B3Context next;
    next.trace_id = b3TraceId(info.trace_id, b3_single->trace_id.size());
    next.span_id = info.span_id.view();
    next.parent_span_id = parent;
    next.debug = b3_single->debug;
    next.sampled = sampled;
    headers.set("b3", next.toSingle());
  }
}

}  // namespace podproxy::tracing
