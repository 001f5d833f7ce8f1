#ifndef GATEHOUSE_HTTP_SERVER_TLS_H_
#define GATEHOUSE_HTTP_SERVER_TLS_H_

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace gatehouse {

// The TLS context of a server that serves HTTPS itself: the certificate chain and the private
// key from PEM files, TLS 1.2 and later only, no renegotiation, the server's cipher order.
// Start-up only: throws std::runtime_error naming the file for a file that is missing,
// unreadable or not a PEM certificate / key, and both files for a key that does not belong to
// the certificate. Thread-safe once built (streams of every loop share it).
std::shared_ptr<boost::asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                                const std::string& key_file);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_SERVER_TLS_H_
