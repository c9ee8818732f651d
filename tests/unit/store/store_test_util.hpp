#pragma once
// Helpers for the store/ unit tests: shell commands, a loopback HTTP server, file trees.

#include <arpa/inet.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace store_test {

namespace fs = std::filesystem;

// Runs `cmd` through /bin/sh; returns its stdout; throws if it exits non-zero.
inline std::string sh(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
  return out;
}

inline bool have_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

inline void write(const fs::path& p, std::string_view text, unsigned mode = 0644) {
  fs::create_directories(p.parent_path());
  tdximg::write_file_atomic(p, text, mode);
}

// A tiny HTTP/1.0 server on 127.0.0.1 (random port) serving fixed routes, one request per
// connection, until destroyed.
class HttpServer {
public:
  struct Response {
    int status = 200;
    std::string body;
    std::string location; // for redirects
  };

  explicit HttpServer(std::map<std::string, Response> routes) : m_routes(std::move(routes)) {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(m_fd, 16) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len);
    m_port = ntohs(a.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    m_stop = true;
    m_thread.join();
    ::close(m_fd);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }
  int requests() const { return m_requests; }

private:
  void serve() {
    while (!m_stop) {
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[2048];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      ++m_requests;
      const std::size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
      const std::string method = req.substr(0, sp1);
      const std::string path = sp1 == std::string::npos ? "" : req.substr(sp1 + 1, sp2 - sp1 - 1);
      Response r{404, "not found\n", {}};
      if (auto it = m_routes.find(path); it != m_routes.end()) r = it->second;
      std::string head = "HTTP/1.0 " + std::to_string(r.status) + " X\r\nContent-Length: " +
                         std::to_string(r.body.size()) + "\r\nConnection: close\r\n";
      if (!r.location.empty()) head += "Location: " + r.location + "\r\n";
      head += "\r\n";
      std::string all = head + (method == "HEAD" ? std::string() : r.body);
      std::size_t done = 0;
      while (done < all.size()) {
        const ssize_t n = ::send(c, all.data() + done, all.size() - done, MSG_NOSIGNAL);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }
  std::map<std::string, Response> m_routes;
  int m_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_requests{0};
  std::thread m_thread;
};

} // namespace store_test
