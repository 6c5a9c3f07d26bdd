// The tests' HTTP client: one request per connection on 127.0.0.1, as a load balancer's probe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <utility>

namespace cppcluster_test {

// One HTTP GET on 127.0.0.1:port: the status code (0 on failure) and the body.
inline std::pair<int, std::string> http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("^HTTP/1\\.[01] (\\d{3}) "))) return {0, out};
  const auto body = out.find("\r\n\r\n");
  return {std::stoi(m[1]), body == std::string::npos ? "" : out.substr(body + 4)};
}

}  // namespace cppcluster_test
