// foil::dist::launch_local: N local processes of one job with their output relayed by rank.
#include "foil/distributed/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace foil::dist {
namespace {

// A port nobody listens on now (the kernel's choice), for rank 0's store.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) close(fd);
  if (!ok) throw std::runtime_error("foil launch: no free port on 127.0.0.1");
  return ntohs(a.sin_port);
}

// One child's output stream: complete lines go out with the rank in front.
// A rank's own "foil: ..." lines on stderr (its error, or warnings) are held back: every rank of
// a job that fails on bad input says the same, and the job says it once.
struct Stream {
  int fd, rank;
  FILE* to;
  std::string pending;
  std::vector<std::string> held;
  void line(const std::string& text) {
    if (to == stderr && text.rfind("foil: ", 0) == 0)
      held.push_back(text);
    else
      std::fprintf(to, "[%d] %s\n", rank, text.c_str());
  }
  void emit(bool all) {
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      line(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
    if (all && !pending.empty()) line(pending);
    if (all) pending.clear();
    std::fflush(to);
  }
};

}  // namespace

int launch_local(const LaunchOptions& c) {
  const int port = c.port > 0 ? c.port : free_port();
  std::vector<pid_t> pids;
  std::vector<Stream> streams;
  for (int r = 0; r < c.processes; ++r) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("foil launch: pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("foil launch: fork failed");
    if (pid == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]), close(out[1]), close(err[0]), close(err[1]);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(c.processes).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(c.processes).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(c.name.c_str())};
      for (const auto& a : c.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(c.program.c_str(), argv.data());
      std::fprintf(stderr, "foil launch: cannot start %s\n", c.name.c_str());
      _exit(1);
    }
    close(out[1]), close(err[1]);
    pids.push_back(pid);
    streams.push_back({out[0], r, stdout, {}});
    streams.push_back({err[0], r, stderr, {}});
  }
  // Relay output until every stream is closed; the first process that fails stops the rest.
  int status_code = 0, failed_rank = -1, failed_signal = 0;
  size_t open = streams.size();
  std::vector<bool> exited(pids.size(), false);
  while (open > 0 || std::find(exited.begin(), exited.end(), false) != exited.end()) {
    std::vector<pollfd> fds;
    std::vector<Stream*> ready;
    for (auto& s : streams)
      if (s.fd >= 0) fds.push_back({s.fd, POLLIN, 0}), ready.push_back(&s);
    if (!fds.empty()) poll(fds.data(), fds.size(), 200);
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Stream& s = *ready[i];
      char buf[4096];
      const ssize_t k = read(s.fd, buf, sizeof buf);
      if (k > 0) {
        s.pending.append(buf, static_cast<size_t>(k));
        s.emit(false);
      } else {
        s.emit(true);
        close(s.fd);
        s.fd = -1;
        --open;
      }
    }
    // The first rank to fail (of those that end together, one killed by a signal: the others
    // then only lost their peer) stops the job.
    const bool stopping = failed_rank >= 0;
    for (size_t r = 0; r < pids.size(); ++r) {
      int status = 0;
      if (exited[r] || waitpid(pids[r], &status, fds.empty() ? 0 : WNOHANG) != pids[r]) continue;
      exited[r] = true;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      if (code != 0 && !stopping && (failed_rank < 0 || (signal != 0 && failed_signal == 0))) {
        failed_rank = static_cast<int>(r);
        status_code = code;
        failed_signal = signal;
      }
    }
    if (failed_rank >= 0 && !stopping)
      for (size_t o = 0; o < pids.size(); ++o)
        if (!exited[o]) kill(pids[o], SIGTERM);
  }
  // What the ranks said of themselves: warnings of a job that ran, else the failing rank's
  // own message, once (the others were stopped, or failed the same way).
  for (const auto& s : streams)
    if (failed_rank < 0 || s.rank == failed_rank)
      for (const auto& text : s.held) std::fprintf(stderr, "%s\n", text.c_str());
  if (failed_rank >= 0) {
    bool said = false;
    for (const auto& s : streams) said = said || (s.rank == failed_rank && !s.held.empty());
    if (failed_signal != 0)
      std::fprintf(stderr,
                   "foil launch: rank %d was killed by signal %d (%s); the job was stopped\n",
                   failed_rank, failed_signal, strsignal(failed_signal));
    else if (!said)
      std::fprintf(stderr, "foil launch: rank %d exited with code %d; the job was stopped\n",
                   failed_rank, status_code);
    std::fflush(nullptr);
    return status_code;
  }
  return 0;
}

}  // namespace foil::dist
