#include "process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

extern char** environ;

namespace tdximg::store {

namespace {
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (const int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};
} // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& env) {
  if (argv.empty()) fail(ErrorKind::internal, "run_process: empty argv");
  // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  const std::string dir = cwd.string();

  Pipe in, out, err;
  if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0 ||
      ::pipe2(err.fd, O_CLOEXEC) != 0)
    fail(ErrorKind::io, "{}: cannot create pipes: {}", argv[0], errno_text());
  const pid_t pid = ::fork();
  if (pid < 0) fail(ErrorKind::io, "{}: cannot fork: {}", argv[0], errno_text());
  if (pid == 0) {
    ::dup2(in.fd[0], 0);
    ::dup2(out.fd[1], 1);
    ::dup2(err.fd[1], 2);
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  ProcessResult res;
  in.close_end(1); // the child reads end-of-file
  char buf[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd p[2];
    nfds_t n = 0;
    if (out.fd[0] >= 0) p[n++] = {out.fd[0], POLLIN, 0};
    if (err.fd[0] >= 0) p[n++] = {err.fd[0], POLLIN, 0};
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      const ssize_t r = ::read(p[i].fd, buf, sizeof buf);
      if (r > 0) {
        (p[i].fd == out.fd[0] ? res.out : res.err).append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (p[i].fd == out.fd[0]) out.close_end(0);
        else err.close_end(0);
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail(ErrorKind::io, "{}: waitpid failed: {}", argv[0], errno_text());
  }
  res.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (res.status == 127 && res.out.empty() && res.err.empty())
    fail(ErrorKind::io, "{}: cannot run (not installed?)", argv[0]);
  return res;
}

} // namespace tdximg::store
