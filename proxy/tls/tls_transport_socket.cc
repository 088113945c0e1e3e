#include "proxy/tls/tls_transport_socket.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "proxy/common/logger.h"

namespace podproxy::tls {

namespace {

// The BIO under every SSL: reads what the Connection read (raw input buffer), appends what
// OpenSSL writes to the raw output buffer. Both exist only during our calls into OpenSSL;
// outside them a read would block (retry) and a write cannot happen.
int bioRead(BIO* bio, char* out, int len) {
  BIO_clear_retry_flags(bio);
  auto* socket = static_cast<TlsTransportSocket*>(BIO_get_data(bio));
  buffer::Buffer* in = socket != nullptr ? socket->bioInput() : nullptr;
  if (in == nullptr || in->empty() || len <= 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = in->copyOut(0, static_cast<size_t>(len), out);
  in->drain(n);
  return static_cast<int>(n);
}

int bioWrite(BIO* bio, const char* data, int len) {
  BIO_clear_retry_flags(bio);
  auto* socket = static_cast<TlsTransportSocket*>(BIO_get_data(bio));
  buffer::Buffer* out = socket != nullptr ? socket->bioOutput() : nullptr;
  if (out == nullptr) {
    BIO_set_retry_write(bio);
    return -1;
  }
  out->add(data, static_cast<size_t>(len));
  return len;
}

long bioCtrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // the Connection flushes after the I/O pass
    default:
      return 0;
  }
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bioDestroy(BIO*) {
  return 1;
}

BIO_METHOD* bufferBioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "podproxy_buffer");
    BIO_meth_set_write(m, bioWrite);
    BIO_meth_set_read(m, bioRead);
    BIO_meth_set_ctrl(m, bioCtrl);
    BIO_meth_set_create(m, bioCreate);
    BIO_meth_set_destroy(m, bioDestroy);
    return m;
  }();
  return method;
}

bool isIpLiteral(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// Sets the in/out buffers for the length of one call into OpenSSL. The thread's OpenSSL error
// queue is empty on entry (see clearErrors): SSL_get_error trusts it.
class BioScope {
 public:
  BioScope(buffer::Buffer*& in_slot, buffer::Buffer*& out_slot, buffer::Buffer* in,
           buffer::Buffer* out)
      : in_slot_(in_slot), out_slot_(out_slot) {
    in_slot_ = in;
    out_slot_ = out;
  }
  ~BioScope() {
    in_slot_ = nullptr;
    out_slot_ = nullptr;
  }

 private:
  buffer::Buffer*& in_slot_;
  buffer::Buffer*& out_slot_;
};

// The worker's OpenSSL error queue is emptied wherever errors can be left behind (handshake
// steps, failures, shutdown) instead of before every record: ERR_clear_error walks all 16 slots
// of the thread's queue, a real share of a small request's TLS cost. Only proxy/tls calls
// OpenSSL on a worker.
void clearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Plaintext of one full TLS record: SSL_write is handed up to this much at a time, so a response
// whose head and body sit in separate slices leaves as one record, not one per slice.
constexpr size_t kMaxRecordPlaintext = 16 * 1024;

}  // namespace

int onNewClientSession(SSL* ssl, SSL_SESSION* session) {
  TlsTransportSocket* socket = TlsTransportSocket::fromSsl(ssl);
  if (socket == nullptr) return 0;
  socket->onNewSession(session);
  return 1;  // the cache owns the reference now
}

TlsTransportSocket::TlsTransportSocket(std::shared_ptr<const TlsContext> context, TlsStats* stats)
    : context_(std::move(context)), stats_(stats) {}

TlsTransportSocket::~TlsTransportSocket() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

TlsTransportSocket* TlsTransportSocket::fromSsl(SSL* ssl) {
  return static_cast<TlsTransportSocket*>(SSL_get_app_data(ssl));
}

std::unique_ptr<TlsTransportSocket> TlsTransportSocket::createServer(
    std::shared_ptr<const TlsContext> context, TlsStats* stats) {
  std::unique_ptr<TlsTransportSocket> socket(new TlsTransportSocket(std::move(context), stats));
  if (!socket->init()) return nullptr;
  SSL_set_accept_state(socket->ssl_);
  return socket;
}

std::unique_ptr<TlsTransportSocket> TlsTransportSocket::createClient(
    std::shared_ptr<const TlsContext> context, TlsStats* stats,
    std::shared_ptr<ClientSessionCache> sessions, std::string session_key) {
  std::unique_ptr<TlsTransportSocket> socket(new TlsTransportSocket(std::move(context), stats));
  if (!socket->init()) return nullptr;
  socket->sessions_ = std::move(sessions);
  socket->session_key_ = std::move(session_key);
  SSL* ssl = socket->ssl_;
  const TlsContextConfig& config = socket->context_->config();
  SSL_set_connect_state(ssl);
  if (!config.sni.empty()) {
    if (!isIpLiteral(config.sni)) SSL_set_tlsext_host_name(ssl, config.sni.c_str());
    socket->info_.sni = config.sni;
    // With no explicit list, the certificate must be for the name we asked for.
    if (config.verify_subject_alt_names.empty()) SSL_set1_host(ssl, config.sni.c_str());
  }
  if (socket->sessions_) {
    if (SSL_SESSION* session = socket->sessions_->get(socket->session_key_)) {
      SSL_set_session(ssl, session);
    }
  }
  clearErrors();
  return socket;
}

bool TlsTransportSocket::init() {
  ssl_ = SSL_new(context_->sslCtx());
  if (ssl_ == nullptr) return false;
  SSL_set_app_data(ssl_, this);
  BIO* bio = BIO_new(bufferBioMethod());
  if (bio == nullptr) return false;
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways: SSL owns its single reference
  clearErrors();
  return true;
}

void TlsTransportSocket::onNewSession(SSL_SESSION* session) {
  if (sessions_ && SSL_SESSION_is_resumable(session)) {
    sessions_->put(session_key_, session);
  } else {
    SSL_SESSION_free(session);
  }
}

bool TlsTransportSocket::startHandshake(buffer::Buffer& raw_out) {
  BioScope scope(in_, out_, nullptr, &raw_out);
  return doHandshake();
}

bool TlsTransportSocket::doHandshake() {
  clearErrors();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    const bool ok = onHandshakeDone();
    clearErrors();  // certificate parsing may have queued some
    return ok;
  }
  const int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
  fail("tls_handshake_failed", err);
  return false;
}

bool TlsTransportSocket::onHandshakeDone() {
  X509* peer = SSL_get0_peer_certificate(ssl_);
  if (peer != nullptr) {
    info_.peer_certificate_presented = true;
    info_.peer_certificate_verified = SSL_get_verify_result(ssl_) == X509_V_OK;
    info_.peer_uri_san = firstUriSan(peer);
    info_.peer_dns_sans = dnsSans(peer);
    info_.peer_cert_sha256 = sha256Hex(peer);
  }
  if (const std::string why = context_->checkPeer(peer); !why.empty()) {
    failure_ = "tls_handshake_failed: " + why;
    failed_ = true;
    if (stats_ != nullptr) {
      ++stats_->handshake_failures;
      ++stats_->peer_rejected;
    }
    LOG_DEBUG("tls peer rejected", {"context", context_->config().name}, {"reason", why});
    return false;
  }
  handshake_complete_ = true;
  info_.version = SSL_get_version(ssl_);
  info_.cipher = SSL_get_cipher_name(ssl_);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn != nullptr) info_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (context_->isServer()) {
    if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) info_.sni = name;
  }
  info_.local_uri_san = context_->localUriSan();
  info_.session_reused = SSL_session_reused(ssl_) == 1;
  if (stats_ != nullptr) {
    ++stats_->handshakes;
    if (info_.session_reused) ++stats_->sessions_resumed;
  }
  return true;
}

void TlsTransportSocket::fail(std::string_view stage, int ssl_error) {
  if (failed_) return;
  failed_ = true;
  std::string why = opensslErrors("");
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK && (why.empty() || why.find("verify") != std::string::npos)) {
    why += (why.empty() ? "" : " (") + std::string(X509_verify_cert_error_string(verify)) +
           (why.empty() ? "" : ")");
  }
  if (why.empty()) {
    why = ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of stream"
                                         : "ssl error " + std::to_string(ssl_error);
  }
  failure_ = std::string(stage) + ": " + why;
  if (stats_ != nullptr && !handshake_complete_) {
    ++stats_->handshake_failures;
    if (why.find("did not return a certificate") != std::string::npos ||
        why.find("certificate required") != std::string::npos) {
      ++stats_->no_certificate;
    }
  }
  clearErrors();  // opensslErrors() drained what it read; anything else goes too
  LOG_DEBUG("tls failure", {"context", context_->config().name}, {"reason", failure_});
}

TlsTransportSocket::ReadStatus TlsTransportSocket::onRead(buffer::Buffer& raw_in,
                                                          buffer::Buffer& plaintext,
                                                          buffer::Buffer& raw_out) {
  if (failed_) return ReadStatus::kError;
  BioScope scope(in_, out_, &raw_in, &raw_out);
  if (!handshake_complete_) {
    if (!doHandshake()) return ReadStatus::kError;
    if (!handshake_complete_) return ReadStatus::kOk;
  }
  for (;;) {
    // Without read-ahead OpenSSL holds no bytes past the record it just returned: with no raw
    // bytes left and no decrypted ones pending, SSL_read could only say WANT_READ. Skipping that
    // call also skips the read buffer it would allocate and free (SSL_MODE_RELEASE_BUFFERS).
    if (raw_in.empty() && SSL_pending(ssl_) == 0) return ReadStatus::kOk;
    auto space = plaintext.reserve(4096);
    const int n = SSL_read(ssl_, space.data(), static_cast<int>(space.size()));
    if (n > 0) {
      plaintext.commit(static_cast<size_t>(n));
      continue;
    }
    plaintext.commit(0);
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return ReadStatus::kOk;
    if (err == SSL_ERROR_ZERO_RETURN) return ReadStatus::kPeerClosed;
    fail("tls_error", err);
    return ReadStatus::kError;
  }
}

bool TlsTransportSocket::onWrite(buffer::Buffer& plaintext, buffer::Buffer& raw_out) {
  if (failed_) return false;
  BioScope scope(in_, out_, nullptr, &raw_out);
  while (!plaintext.empty()) {
    std::string_view chunk = plaintext.frontSlice();
    char staging[kMaxRecordPlaintext];
    if (chunk.size() < kMaxRecordPlaintext && plaintext.length() > chunk.size()) {
      // Several small slices (a head, a body, HTTP/2 frames): one record instead of one each.
      // Copying is cheaper than a record's own cost (header, nonce, tag, cipher setup).
      const size_t n = plaintext.copyOut(0, kMaxRecordPlaintext, staging);
      chunk = std::string_view(staging, n);
    }
    const int n = SSL_write(ssl_, chunk.data(), static_cast<int>(chunk.size()));
    if (n <= 0) {
      fail("tls_error", SSL_get_error(ssl_, n));
      return false;
    }
    plaintext.drain(static_cast<size_t>(n));
  }
  return true;
}

void TlsTransportSocket::shutdown(buffer::Buffer& raw_out) {
  if (failed_ || !handshake_complete_) return;
  BioScope scope(in_, out_, nullptr, &raw_out);
  (void)SSL_shutdown(ssl_);
  clearErrors();
}

}  // namespace podproxy::tls
