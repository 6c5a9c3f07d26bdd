// cppcluster, the command: `cppcluster run [OPTIONS] -- PROGRAM [ARGS...]` runs any program as
// a pool of workers (supervisor.hpp); `cppcluster status|reload|scale|stop` talk to a running one
// over its control socket (control.hpp). The hidden `__exec` mode is the worker side (exec_shim.hpp).
#include "control.hpp"
#include "exec_shim.hpp"
#include "options.hpp"
#include "supervisor.hpp"

#include <cstdio>
#include <cstring>
#include <string_view>

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == cppcluster::exec_shim_command) {
    return cppcluster::exec_shim_main(argc - 2, argv + 2);
  }
  try {
    const cppcluster::Parsed p = cppcluster::parse_command_line(argc, argv);
    if (p.command == cppcluster::Parsed::Command::help_shown) return 0;
    if (p.command == cppcluster::Parsed::Command::run) return cppcluster::run_supervisor(p.run);
    return cppcluster::control_main(p.command, p.control);
  } catch (const cppcluster::UsageError& e) {
    std::fprintf(stderr, "cppcluster: %s\nRun 'cppcluster --help' or 'cppcluster COMMAND --help' for the options.\n", e.message.c_str());
    return 2;
  }
}
