#pragma once
/// @file
/// A program as N local processes of one job, started the way torchrun starts them (RANK,
/// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), each line of their
/// output prefixed by its rank; the job fails as a whole when one process fails.
///
/// Example:
///   foil::dist::LaunchOptions o;
///   o.args = {"attack", "--data", "fashion-mnist:test:100"};
///   int code = foil::dist::launch_local(o);   // runs this program as ranks 0 and 1

#include <string>
#include <vector>

namespace foil::dist {

/// What `launch_local` starts.
struct LaunchOptions {
  int processes = 2;                       ///< ranks 0 .. processes-1
  int port = 0;                            ///< rank 0's port on 127.0.0.1; 0: a free one
  std::string program = "/proc/self/exe";  ///< the executable (default: this one)
  std::string name = "foil";               ///< its argv[0]
  std::vector<std::string> args;           ///< its arguments after argv[0]
};

/// Starts the processes, relays their output (stdout lines to stdout and stderr lines to
/// stderr, as "[RANK] line") until all have ended, and returns 0 when every one succeeded.
/// The first process that fails stops the others (SIGTERM); its exit code is returned (1 when
/// a signal killed it) and its own "foil: " lines on stderr are said once, or, when it said
/// none, one line naming the rank and how it ended. A job that succeeds passes on the "foil: "
/// lines (warnings) of every rank. Throws std::runtime_error when no process can be started.
int launch_local(const LaunchOptions& options);

}  // namespace foil::dist
