// foil launch: a foil command as N local processes of one job (foil/distributed/launch.h).
#include "foil/distributed/launch.h"

#include <cstdio>
#include <cstdlib>

#include "commands.h"
#include "foil/core/error.h"

namespace foil::cli {

void setup_launch(CLI::App& app) {
  auto o = std::make_shared<dist::LaunchOptions>();
  auto* sub = app.add_subcommand(
      "launch",
      "run a foil command as N local processes of one job (like torchrun): foil launch -n 2 -- "
      "attack --data fashion-mnist:test");
  sub->add_option("-n,--nproc", o->processes, "processes to start")
      ->check(integer_in(1, 256))
      ->capture_default_str();
  sub->add_option("--port", o->port, "rank 0's port on 127.0.0.1 (default: a free one)")
      ->check(integer_in(1, 65535));
  sub->add_option("command", o->args, "the foil command and its options, after --");
  sub->callback([o] {
    check_input(!o->args.empty(), "foil launch", "a foil command after --", "nothing");
    check_input(o->args.front() != "launch", "foil launch", "a foil command other than launch",
                "launch");
    const int code = dist::launch_local(*o);
    if (code != 0) std::exit(code == 2 ? 2 : 1);
  });
}

}  // namespace foil::cli
