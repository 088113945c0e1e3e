#include "filters/http/header_mutations.h"

#include <algorithm>
#include <string>
#include <vector>

namespace podproxy::router {

namespace {

void apply(const std::vector<std::string>& to_remove,
           const std::vector<config::HeaderValueOption>& to_add, http::HeaderMap& headers) {
  for (const std::string& name : to_remove) headers.remove(name);
  for (const config::HeaderValueOption& option : to_add) {
    if (option.append) {
      headers.add(option.name, option.value);
    } else {
      headers.set(option.name, option.value);
    }
  }
}

}  // namespace

void applyRequestMutations(const config::HeaderMutations& mutations,
                           http::RequestHeaders& request) {
  apply(mutations.request_headers_to_remove, mutations.request_headers_to_add, request.headers);
  // Host travels in `authority`, not in the map: an edit of it must land there, or the codec
  // would send two Host headers. A request always keeps one authority, so removal is ignored.
  // Only an added header can put Host in the map (the codecs take it out), so the map is not
  // searched on every request for a Host that no mutation added.
  const auto edits_host = [](const config::HeaderValueOption& option) {
    return http::equalsIgnoreCase(option.name, "host") ||
           http::equalsIgnoreCase(option.name, ":authority");
  };
  if (std::none_of(mutations.request_headers_to_add.begin(), mutations.request_headers_to_add.end(),
                   edits_host)) {
    return;
  }
  for (const char* name : {"host", ":authority"}) {
    if (const std::string_view* value = request.headers.get(name)) {
      request.authority = *value;
      request.headers.remove(name);
    }
  }
}

void applyResponseMutations(const config::HeaderMutations& mutations,
                            http::ResponseHeaders& response) {
  apply(mutations.response_headers_to_remove, mutations.response_headers_to_add, response.headers);
}

}  // namespace podproxy::router
