#pragma once

// Applies the configured header edits of a virtual host or route to a request or a response.

#include "config/model.h"
#include "proxy/http/header_map.h"

namespace podproxy::router {

// Removals run first, then additions (append=false replaces every existing value), so a
// configuration can remove a header and add a fresh value of it.
void applyRequestMutations(const config::HeaderMutations& mutations, http::RequestHeaders& request);
void applyResponseMutations(const config::HeaderMutations& mutations,
                            http::ResponseHeaders& response);

}  // namespace podproxy::router
