// foil launch: a foil command as N local processes of one job, started the way torchrun
// starts them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), each
// line of their output prefixed by its rank; the job fails as a whole when one process fails.
#include <arpa/inet.h>
#include <fmt/format.h>
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
#include <string>
#include <vector>

#include "commands.h"
#include "foil/core/error.h"

namespace foil::cli {
namespace {

struct LaunchCmd {
  int n = 2;
  int port = 0;
  std::vector<std::string> args;
};

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

void run_launch(const LaunchCmd& c) {
  check_input(!c.args.empty(), "foil launch", "a foil command after --", "nothing");
  check_input(c.args.front() != "launch", "foil launch", "a foil command other than launch",
              "launch");
  const int port = c.port > 0 ? c.port : free_port();
  std::vector<pid_t> pids;
  std::vector<Stream> streams;
  for (int r = 0; r < c.n; ++r) {
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
      setenv("WORLD_SIZE", std::to_string(c.n).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(c.n).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{const_cast<char*>("foil")};
      for (const auto& a : c.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "foil launch: cannot start foil\n");
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
    std::exit(status_code == 2 ? 2 : 1);
  }
}

}  // namespace

void setup_launch(CLI::App& app) {
  auto c = std::make_shared<LaunchCmd>();
  auto* sub = app.add_subcommand(
      "launch",
      "run a foil command as N local processes of one job (like torchrun): foil launch -n 2 -- "
      "attack --data fashion-mnist:test");
  sub->add_option("-n,--nproc", c->n, "processes to start")
      ->check(integer_in(1, 256))
      ->capture_default_str();
  sub->add_option("--port", c->port, "rank 0's port on 127.0.0.1 (default: a free one)")
      ->check(integer_in(1, 65535));
  sub->add_option("command", c->args, "the foil command and its options, after --");
  sub->callback([c] { run_launch(*c); });
}

}  // namespace foil::cli
