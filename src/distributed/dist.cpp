// The job a foil process belongs to: rendezvous through a c10d store, exchanges through a
// Gloo process group (Debian's LibTorch ships both; the Gloo headers come from libgloo-dev).
// CMake defines USE_C10D_GLOO where those headers are found; without them foil runs alone.
#include "foil/distributed/dist.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netdb.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>
#ifdef USE_C10D_GLOO

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <netinet/in.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "foil/core/error.h"
#include "foil/core/runtime.h"

namespace foil::dist {
namespace {

struct Job {
  int rank = 0, size = 1;
  double timeout = 120;
  double exchange_seconds = 0;
#ifdef USE_C10D_GLOO
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#endif
};

Job& job() {
  static Job j;
  return j;
}

// An integer setting from its flag (>= 0 when given) or environment variable.
int setting(int flag, const char* env, int fallback, int lowest) {
  if (flag >= 0) return flag;
  const char* text = std::getenv(env);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  check_input(*end == '\0' && v >= lowest && v <= 1 << 20, env,
              fmt::format("an integer >= {}", lowest), fmt::format("'{}'", text));
  return static_cast<int>(v);
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

#ifdef USE_C10D_GLOO
// Whether something listens on host:port within `seconds` (tried every 100 ms). Ranks > 0 ask
// before c10d connects, which would log every failed try through glog.
bool reachable(const std::string& host, int port, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + millis(seconds);
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool ok = false;
  while (!ok && std::chrono::steady_clock::now() < deadline) {
    for (addrinfo* a = found; a && !ok; a = a->ai_next) {
      const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      ok = fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0;
      if (fd >= 0) close(fd);
    }
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  freeaddrinfo(found);
  return ok;
}

// Whether a server could listen on `port` of this machine now (c10d would log each failed bind
// through glog before failing).
bool port_free(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return true;  // let c10d say what is wrong
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 || errno != EADDRINUSE;
  close(fd);
  return ok;
}

// While alive, this process's stderr goes to a file; then it comes back, less glog's lines
// ("W20261202 06:29:17.445369 ... socket.cpp:426] [c10d] ..."), which c10d writes as it forms
// a job and which foil's own one-line message replaces.
class GlogFilter {
 public:
  GlogFilter() : saved_(dup(2)), file_(std::tmpfile()) {
    if (saved_ >= 0 && file_) dup2(fileno(file_), 2);
  }
  ~GlogFilter() {
    if (saved_ < 0 || !file_) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    std::rewind(file_);
    char line[4096];
    while (std::fgets(line, sizeof line, file_)) {
      const bool glog = (std::strchr("IWEF", line[0]) && std::isdigit(line[1]) &&
                         std::isdigit(line[8]) && line[9] == ' ') ||
                        std::strncmp(line, "WARNING: Logging before InitGoogleLogging", 41) == 0;
      if (!glog) std::fputs(line, stderr);
    }
    std::fclose(file_);
  }
  GlogFilter(const GlogFilter&) = delete;
  GlogFilter& operator=(const GlogFilter&) = delete;

 private:
  int saved_;
  std::FILE* file_;
};

// Runs one exchange; a peer that died or stopped answering ends the job with one line.
template <typename Fn>
void exchange(const char* what, Fn fn) {
  const auto start = std::chrono::steady_clock::now();
  try {
    auto work = fn();
    work->wait(millis(job().timeout));
    job().exchange_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "rank {}: lost a peer process during {} (it failed, exited or did not answer within "
        "{:g}s): {}",
        job().rank, what, job().timeout, library_message(e.what(), 160)));
  }
}

#endif

}  // namespace

void init(const DistOptions& o) {
  Job& j = job();
  check_input(o.timeout > 0 && o.timeout <= 86400, "--dist-timeout", "seconds in (0, 86400]",
              fmt::format("{:g}", o.timeout));
  j.timeout = o.timeout;
  j.size = setting(o.world_size, "WORLD_SIZE", 1, 1);
  j.rank = setting(o.rank, "RANK", 0, 0);
  check_input(j.rank < j.size, o.rank >= 0 ? "--rank" : "RANK",
              fmt::format("0..{} ({} {})", j.size - 1,
                          o.world_size > 0 ? "--world-size" : "WORLD_SIZE", j.size),
              std::to_string(j.rank));
  if (j.size == 1) return;
#ifndef USE_C10D_GLOO
  throw InputError("WORLD_SIZE " + std::to_string(j.size) +
                   ": this foil was built without the Gloo headers (libgloo-dev); it runs alone");
#else
  std::string host = "127.0.0.1";
  if (!o.store_file.empty()) {
    try {
      j.store = c10::make_intrusive<c10d::FileStore>(o.store_file, j.size);
    } catch (const std::exception& e) {
      throw InputError("--store-file " + o.store_file + ": " + library_message(e.what(), 160));
    }
  } else {
    std::string master = o.master;
    if (master.empty()) {
      const char* addr = std::getenv("MASTER_ADDR");
      const char* port = std::getenv("MASTER_PORT");
      check_input(addr && *addr && port && *port, "MASTER_ADDR/MASTER_PORT",
                  "rank 0's address and port (or --master HOST:PORT, or --store-file)", "unset");
      master = std::string(addr) + ":" + port;
    }
    const auto colon = master.rfind(':');
    char* end = nullptr;
    const long port =
        colon == std::string::npos ? 0 : std::strtol(master.c_str() + colon + 1, &end, 10);
    check_input(colon != std::string::npos && colon > 0 && end && *end == '\0' && port >= 1 &&
                    port <= 65535,
                "--master", "HOST:PORT with a port 1..65535", "'" + master + "'");
    host = master.substr(0, colon);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = j.rank == 0;
    so.waitWorkers = false;
    so.timeout = millis(o.timeout);
    const std::string named =
        (o.master.empty() ? "MASTER_ADDR:MASTER_PORT " : "--master ") + master;
    if (j.rank == 0)
      check_input(port_free(static_cast<int>(port)), named, "a port rank 0 can listen on",
                  "a port in use on this machine");
    if (j.rank != 0) {
      addrinfo hints{}, *found = nullptr;
      hints.ai_socktype = SOCK_STREAM;
      const bool known = getaddrinfo(host.c_str(), nullptr, &hints, &found) == 0;
      if (found) freeaddrinfo(found);
      check_input(known, named, "a host this machine can resolve",
                  "an unknown host '" + host + "'");
    }
    try {
      if (j.rank != 0 && !reachable(host, static_cast<int>(port), o.timeout))
        throw std::runtime_error("nothing listens there");
      GlogFilter quiet;
      j.store = c10::make_intrusive<c10d::TCPStore>(host, so);
    } catch (const std::exception& e) {
      throw InputError(fmt::format(
          "rank {}: cannot {} the master {} within {:g}s (is rank 0 running there? check "
          "MASTER_ADDR/MASTER_PORT): {}",
          j.rank, j.rank == 0 ? "listen as" : "reach", master, o.timeout,
          library_message(e.what(), 120)));
    }
  }
  // Every rank checks in once; a rank given twice or a WORLD_SIZE larger than the processes
  // started ends the job here, with the count that did arrive.
  try {
    j.store->setTimeout(millis(o.timeout));
    check_input(j.store->add(fmt::format("foil/rank/{}", j.rank), 1) == 1, "RANK",
                "a different rank in every process", fmt::format("{} twice", j.rank));
    j.store->add("foil/arrived", 1);
    const auto deadline = std::chrono::steady_clock::now() + millis(o.timeout);
    int64_t arrived = 0;
    const auto too_few = [&] {
      return InputError(fmt::format(
          "rank {}: {} of WORLD_SIZE {} processes arrived within {:g}s (check WORLD_SIZE and "
          "that every rank was started)",
          j.rank, arrived, j.size, o.timeout));
    };
    while (arrived < j.size) {
      try {
        arrived = j.store->add("foil/arrived", 0);
      } catch (const std::exception&) {
        // Rank 0 gave up on the same count a moment earlier and took the store with it.
        if (j.rank != 0 && arrived > 0) throw too_few();
        throw;
      }
      if (arrived >= j.size) break;
      if (std::chrono::steady_clock::now() > deadline) throw too_few();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto options = c10d::ProcessGroupGloo::Options::create(millis(o.timeout));
    options->devices.push_back(o.store_file.empty()
                                   ? c10d::ProcessGroupGloo::createDeviceForHostname(host)
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    j.group = c10::make_intrusive<c10d::ProcessGroupGloo>(j.store, j.rank, j.size, options);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(fmt::format("rank {}: joining the job of {} processes failed: {}", j.rank,
                                 j.size, library_message(e.what(), 160)));
  }
#endif
}

int rank() { return job().rank; }
int size() { return job().size; }
double exchange_seconds() { return job().exchange_seconds; }

std::pair<int64_t, int64_t> shard(int64_t count) {
  const int64_t r = rank(), n = size();
  return {count * r / n, count * (r + 1) / n};
}

namespace {

// Every rank's rows (padded to the largest share for Gloo, which gathers equal shapes), in
// rank order, on the CPU.
std::vector<torch::Tensor> gather_shares(const torch::Tensor& rows) {
  if (size() > 1 && rows.scalar_type() == torch::kBool) {  // Gloo has no bool: sent as bytes
    auto parts = gather_shares(rows.to(torch::kUInt8));
    for (auto& p : parts) p = p.to(torch::kBool);
    return parts;
  }
  const torch::Tensor local = rows.detach().cpu().contiguous();
  if (size() == 1) return {local};
  std::vector<torch::Tensor> parts;
#ifdef USE_C10D_GLOO
  std::vector<torch::Tensor> count_in{torch::tensor({local.size(0)}, torch::kLong)};
  std::vector<std::vector<torch::Tensor>> counts(1);
  for (int r = 0; r < size(); ++r) counts[0].push_back(torch::zeros({1}, torch::kLong));
  exchange("the row counts", [&] { return job().group->allgather(counts, count_in); });
  int64_t most = 0;
  for (const auto& c : counts[0]) most = std::max(most, c.item<int64_t>());
  auto shape = local.sizes().vec();
  shape[0] = most;
  std::vector<torch::Tensor> in{torch::zeros(shape, local.options())};
  in[0].slice(0, 0, local.size(0)).copy_(local);
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < size(); ++r) out[0].push_back(torch::empty(shape, local.options()));
  exchange("the gathering of results", [&] { return job().group->allgather(out, in); });
  for (int r = 0; r < size(); ++r)
    parts.push_back(out[0][r].slice(0, 0, counts[0][r].item<int64_t>()));
#endif
  return parts;
}

}  // namespace

torch::Tensor all_gather_rows(const torch::Tensor& rows) { return torch::cat(gather_shares(rows)); }

torch::Tensor map_batches(int64_t count, int64_t batch, const torch::Tensor& none,
                          const std::function<torch::Tensor(int64_t, int64_t)>& rows_of,
                          const std::string& progress) {
  const auto [first, end] = shard((count + batch - 1) / batch);
  const int64_t lo = first * batch, hi = std::min(count, end * batch);
  Progress bar(progress, std::max<int64_t>(0, hi - lo));
  std::vector<torch::Tensor> rows{none.cpu()};
  for (int64_t b = lo; b < hi; b += batch) {
    const int64_t e = std::min(hi, b + batch);
    rows.push_back(rows_of(b, e).cpu());
    if (!progress.empty()) bar.update(e - lo);
  }
  if (!progress.empty()) bar.finish();
  return all_gather_rows(torch::cat(rows));
}

torch::Tensor all_gather_rows_keep_own(const torch::Tensor& rows) {
  if (size() == 1) return rows;
  std::vector<torch::Tensor> parts = gather_shares(rows);
  for (auto& p : parts) p = p.to(rows.device());
  parts[rank()] = rows;
  return torch::cat(parts);
}

void all_reduce_sum(torch::Tensor& t) {
  if (size() == 1) return;
#ifdef USE_C10D_GLOO
  std::vector<torch::Tensor> v{t.detach().cpu().contiguous()};
  exchange("a sum over processes", [&] { return job().group->allreduce(v); });
  torch::NoGradGuard no_grad;
  t.copy_(v[0]);
#endif
}

std::string broadcast(const std::string& bytes) {
  if (size() == 1) return bytes;
#ifdef USE_C10D_GLOO
  std::vector<torch::Tensor> n{torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong)};
  exchange("a broadcast", [&] { return job().group->broadcast(n); });
  std::vector<torch::Tensor> data{torch::empty({n[0].item<int64_t>()}, torch::kUInt8)};
  // (an empty tensor has no storage: memcpy of nothing from a null pointer is undefined)
  if (leader() && !bytes.empty()) std::memcpy(data[0].data_ptr(), bytes.data(), bytes.size());
  if (data[0].numel() > 0) exchange("a broadcast", [&] { return job().group->broadcast(data); });
  return {reinterpret_cast<const char*>(data[0].data_ptr()), static_cast<size_t>(data[0].numel())};
#else
  return bytes;
#endif
}

}  // namespace foil::dist
