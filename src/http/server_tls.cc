#include "http/server_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gatehouse {

namespace asio = boost::asio;

namespace {

// The reason OpenSSL gives for its latest error, or `fallback`.
std::string OpenSslReason(const boost::system::error_code& ec) {
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  if (error != 0) {
    const char* reason = ERR_reason_error_string(error);
    if (reason) return reason;
  }
  return ec.message();
}

void CheckReadable(const std::string& what, const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    throw std::runtime_error("cannot read TLS " + what + " " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

std::shared_ptr<asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                         const std::string& key_file) {
  CheckReadable("certificate", cert_file);
  CheckReadable("key", key_file);
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    throw std::runtime_error("TLS certificate " + cert_file +
                             " is not a valid PEM certificate: " + OpenSslReason(ec));
  }
  context->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  // Asio takes the first OpenSSL error into `ec`; the check against the certificate may be it.
  const bool mismatch =
      ec && (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH ||
             ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH);
  if (mismatch || (!ec && SSL_CTX_check_private_key(native) != 1)) {
    ERR_clear_error();
    throw std::runtime_error("TLS key " + key_file + " does not belong to certificate " +
                             cert_file);
  }
  if (ec) {
    throw std::runtime_error("TLS key " + key_file +
                             " is not a valid PEM private key: " + OpenSslReason(ec));
  }
  return context;
}

}  // namespace gatehouse
