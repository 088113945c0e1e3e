#include "proxy/tls/session_cache.h"

namespace podproxy::tls {

ClientSessionCache::~ClientSessionCache() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
}

SSL_SESSION* ClientSessionCache::get(const std::string& key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : it->second;
}

void ClientSessionCache::put(const std::string& key, SSL_SESSION* session) {
  auto [it, inserted] = sessions_.emplace(key, session);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = session;
    return;
  }
  if (sessions_.size() > kMaxEntries) {
    // Bounded: drop another host's session (original_dst clusters see many hosts).
    auto victim = sessions_.begin() == it ? std::next(sessions_.begin()) : sessions_.begin();
    SSL_SESSION_free(victim->second);
    sessions_.erase(victim);
  }
}

void ClientSessionCache::remove(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  SSL_SESSION_free(it->second);
  sessions_.erase(it);
}

}  // namespace podproxy::tls
