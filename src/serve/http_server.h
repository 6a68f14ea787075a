// httplib::Server with a listen backlog fit for many concurrent clients. Debian's compiled
// cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG): 32 clients connecting
// at once overflow it and some see their connection dropped. Linux lets listen() be called
// again on a listening socket to change the backlog, which bind() here does.
#pragma once

#include <sys/socket.h>

#include <string>

#include <httplib.h>

#include "core/error.h"

namespace lmd::serve {

class HttpServer : public httplib::Server {
 public:
  // Binds host:port (0: any free port), raises the backlog, returns the port.
  int bind(const std::string& host, int port, const char* who) {
    int bound = port;
    if (port == 0) {
      bound = bind_to_any_port(host);
      LMD_CHECK(bound > 0) << who << ": cannot bind " << host << " on any port";
    } else {
      LMD_CHECK(bind_to_port(host, port)) << who << ": cannot bind " << host << ":" << port
                                          << " (in use, or not an address of this machine)";
    }
    ::listen(svr_sock_, SOMAXCONN);
    return bound;
  }
};

}  // namespace lmd::serve
