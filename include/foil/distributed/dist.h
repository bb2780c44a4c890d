#pragma once
/// @file
/// Several foil processes as one job over LibTorch's c10d (Gloo backend), joined the way
/// torchrun joins them: RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (or the options below).
/// A process that joins no job is rank 0 of 1 and every call here is then local.

#include <torch/types.h>

#include <functional>
#include <string>
#include <utility>

namespace foil {

/// How a process joins a job; unset fields come from the environment.
struct DistOptions {
  int rank = -1;           ///< this process's rank; -1: $RANK (0 when unset)
  int world_size = -1;     ///< processes in the job; -1: $WORLD_SIZE (1 when unset)
  std::string master;      ///< rank 0's TCPStore, HOST:PORT; "": $MASTER_ADDR:$MASTER_PORT
  std::string store_file;  ///< a FileStore on a shared file system instead of the TCPStore
  double timeout = 120;    ///< seconds to wait for a peer: joining and every exchange
};

/// The job this process belongs to.
namespace dist {

/// Joins the job (once per process). Throws InputError for a bad configuration: ranks and
/// sizes that do not fit, an unreachable master, peers that do not all arrive in time.
void init(const DistOptions& options);
/// This process's rank (0 without a job).
int rank();
/// The number of processes in the job (1 without a job).
int size();
/// Seconds this process has spent in exchanges so far (waiting for slower peers included).
double exchange_seconds();
/// Rank 0 writes the results; the others only compute their share.
inline bool leader() { return rank() == 0; }
/// This rank's contiguous share [begin, end) of `count` units (rank order = unit order).
std::pair<int64_t, int64_t> shard(int64_t count);
/// Every rank's `rows` (the same trailing shape and dtype, any number of rows), concatenated
/// in rank order, on the CPU of every rank. Throws std::runtime_error when a peer is lost.
torch::Tensor all_gather_rows(const torch::Tensor& rows);
/// Runs `rows_of(begin, end)` on this process's share of `count` items taken in batches of
/// `batch` (whole batches, the ones a single process makes) and returns every item's rows (one
/// per item, the same trailing shape and type as `none`, a tensor of no rows), in item order,
/// on every process. A `progress` label shows this process's share done on stderr.
torch::Tensor map_batches(int64_t count, int64_t batch, const torch::Tensor& none,
                          const std::function<torch::Tensor(int64_t, int64_t)>& rows_of,
                          const std::string& progress = "");
/// Like all_gather_rows, on `rows`' device, with this rank's share being `rows` itself: a loss
/// over all ranks' rows sends gradients back into this rank's own rows only.
torch::Tensor all_gather_rows_keep_own(const torch::Tensor& rows);
/// The element-wise sum over ranks, in place (on `t`'s device).
void all_reduce_sum(torch::Tensor& t);
/// Rank 0's `bytes` on every rank.
std::string broadcast(const std::string& bytes);

}  // namespace dist
}  // namespace foil
