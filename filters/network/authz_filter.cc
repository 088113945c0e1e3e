#include "filters/network/authz_filter.h"

namespace podproxy::filters {

void NetworkAuthzFilter::initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) {
  callbacks_ = &callbacks;
}

network::FilterStatus NetworkAuthzFilter::onNewConnection() {
  network::Connection& connection = callbacks_->connection();
  if (!policy_.check(connection.remoteAddress(), connection.tls(), nullptr).allowed) {
    denied_ = true;
    next_.reset();
    connection.close(network::CloseType::kNoFlush);
    return network::FilterStatus::kStopIteration;
  }
  // The next filter learns of the connection only once it is allowed.
  next_->initializeReadFilterCallbacks(*callbacks_);
  return next_->onNewConnection();
}

network::FilterStatus NetworkAuthzFilter::onData(buffer::Buffer& data, bool end_stream) {
  if (denied_ || !next_) {
    data.clear();
    return network::FilterStatus::kStopIteration;
  }
  return next_->onData(data, end_stream);
}

}  // namespace podproxy::filters
