#include "control.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace cppcluster {
namespace {

// One request on the Unix socket at path: the status code and body, or code 0 and a reason.
std::pair<int, std::string> request(const std::string& path, const std::string& method, const std::string& target) {
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path) return {0, "the path is too long for a Unix socket"};
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, std::strerror(errno)};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    return {0, std::string("nothing listens there (") + std::strerror(err) + ")"};
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = method + " " + target + " HTTP/1.0\r\n\r\n";
  std::string in;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto sp = in.find(' ');
  const auto head_end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || sp == std::string::npos || head_end == std::string::npos) {
    return {0, "no answer from the supervisor"};
  }
  return {std::atoi(in.c_str() + sp + 1), in.substr(head_end + 4)};
}

std::string duration_text(long long ms) {
  const long long s = ms / 1000;
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", s);
  }
  return buf;
}

}  // namespace

std::string status_table(const nlohmann::json& st) {
  const auto& workers = st.at("workers");
  std::string out = std::to_string(workers.size()) + " workers, " + std::to_string(st.at("ready").get<unsigned>()) +
                    " ready, target " + std::to_string(st.at("target").get<unsigned>());
  if (st.value("reloading", false)) out += ", reloading";
  if (st.value("draining", false)) out += ", stopping";
  if (st.value("crash_looped", false)) out += ", crash loop";
  out += "\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-5s %-8s %-9s %-8s %-8s %-11s %-9s %s\n", "ID", "PID", "STATE", "UPTIME",
                "RESTARTS", "CONNECTIONS", "RSS", "CPU");
  out += line;
  for (const auto& w : workers) {
    const auto& conns = w.at("connections");
    const std::string c = conns.is_null() ? "-" : std::to_string(conns.get<unsigned long long>());
    char rss[32], cpu[32];
    std::snprintf(rss, sizeof rss, "%.1fM", static_cast<double>(w.at("rss_bytes").get<unsigned long long>()) / 1048576.0);
    std::snprintf(cpu, sizeof cpu, "%.2fs", static_cast<double>(w.at("cpu_ms").get<long long>()) / 1000.0);
    std::snprintf(line, sizeof line, "%-5d %-8d %-9s %-8s %-8u %-11s %-9s %s\n", w.at("id").get<int>(),
                  w.at("pid").get<int>(), w.at("state").get<std::string>().c_str(),
                  duration_text(w.at("uptime_ms").get<long long>()).c_str(), w.at("restarts").get<unsigned>(),
                  c.c_str(), rss, cpu);
    out += line;
  }
  return out;
}

int control_main(Parsed::Command cmd, const ControlOptions& o) {
  std::string method = "POST", target, name;
  switch (cmd) {
    case Parsed::Command::status: method = "GET", target = "/status", name = "status"; break;
    case Parsed::Command::reload: target = "/reload", name = "reload"; break;
    case Parsed::Command::scale: target = "/scale?workers=" + std::to_string(o.workers), name = "scale"; break;
    case Parsed::Command::stop: target = "/stop", name = "stop"; break;
    case Parsed::Command::upgrade: target = "/upgrade", name = "upgrade"; break;
    default: return 2;
  }
  auto [code, body] = request(o.control, method, target);
  if (code == 0) {
    std::fprintf(stderr, "cppcluster %s: %s: %s; is `cppcluster run --control %s` running?\n", name.c_str(),
                 o.control.c_str(), body.c_str(), o.control.c_str());
    return 1;
  }
  if (code != 200) {
    std::fprintf(stderr, "cppcluster %s: the supervisor refused (%d): %s", name.c_str(), code, body.c_str());
    return 1;
  }
  if (cmd == Parsed::Command::status && !o.json) {
    try {
      body = status_table(nlohmann::json::parse(body));
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "cppcluster status: a /status the table cannot read: %s\n", e.what());
      return 1;
    }
  }
  std::fwrite(body.data(), 1, body.size(), stdout);
  return 0;
}

}  // namespace cppcluster
