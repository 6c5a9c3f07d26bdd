// Process tests of the supervisor as a subreaper (`cppcluster run --subreaper`, what PID 1 in a
// container does on its own): a worker that double-forks leaves an orphan, which is re-parented
// to the supervisor and reaped when it exits, while the workers' own exits still reach the pool.
#include "support/child_lines.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;

// A worker that double-forks: its child exits at once (the worker reaps it), the grandchild, an
// orphan now, waits until it has a new parent, says who it is, and exits when the file named by
// ORPHAN_GO exists (or after 20 s). Both write their line in one write(): they share the pipe.
const char* const double_forker =
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    parent = os.getpid()\n"
    "    if os.fork() == 0:\n"
    "        for _ in range(2000):\n"
    "            if os.getppid() != parent: break\n"
    "            time.sleep(0.01)\n"
    "        os.write(1, b'orphan pid=%d ppid=%d\\n' % (os.getpid(), os.getppid()))\n"
    "        for _ in range(2000):\n"
    "            if os.path.exists(os.environ['ORPHAN_GO']): break\n"
    "            time.sleep(0.01)\n"
    "        os._exit(7)\n"
    "    os._exit(0)\n"
    "os.waitpid(child, 0)\n"
    "os.write(1, b'worker up pid=%d\\n' % os.getpid())\n"
    "while True: time.sleep(1)\n";

// The state letter of /proc/<pid>/stat ('Z' zombie), or 0 when the process is gone.
char state_of(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

// Verifies that an orphaned grandchild is adopted by the supervisor (its new parent) and reaped
// when it exits (not left a zombie), and that a worker SIGKILLed after that is still seen by the
// pool (the exit logged, the slot respawned) and a stop still ends with exit 0.
TEST(CppclusterReaper, OrphanAdoptedAndReapedWorkerExitsStillSeen) {
  char dir_templ[] = "/tmp/cppcluster-reaper-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_templ), nullptr);
  const std::string go = std::string(dir_templ) + "/go";
  Child sup(CPPCLUSTER_BIN, {{"ORPHAN_GO", go}},
            {"run", "--subreaper", "--workers", "1", "--", PYTHON3, "-c", double_forker});
  ASSERT_FALSE(sup.wait_for("subreaper: reaping orphaned processes").empty()) << sup.output();
  const auto orphan = sup.wait_for("\\] orphan pid=(\\d+) ppid=(\\d+)");
  ASSERT_FALSE(orphan.empty()) << sup.output();
  const int orphan_pid = std::stoi(orphan[1]);
  EXPECT_EQ(std::stoi(orphan[2]), sup.pid()) << "the orphan was not adopted by the supervisor";
  std::ofstream(go) << "go\n";
  ASSERT_FALSE(sup.wait_for("reaped orphan pid " + std::to_string(orphan_pid) + " \\(exit code 7\\)").empty())
      << sup.output();
  // Gone, not a zombie: at most 10 s for /proc to agree.
  for (int i = 0; i < 1000 && state_of(orphan_pid) != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(state_of(orphan_pid), 0) << "state " << state_of(orphan_pid);

  const auto worker = sup.wait_for("\\] worker up pid=(\\d+)");
  ASSERT_FALSE(worker.empty()) << sup.output();
  ::kill(std::stoi(worker[1]), SIGKILL);
  EXPECT_FALSE(sup.wait_for("\\(pid " + worker[1] + "\\) killed by SIGKILL").empty()) << sup.output();
  EXPECT_FALSE(sup.wait_for("respawning slot 0").empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] worker up pid=", 2).empty()) << sup.output();
  ::kill(sup.pid(), SIGTERM);
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
  EXPECT_FALSE(sup.wait_for("exited with code 0", 1, 5s).empty()) << sup.output();
  std::filesystem::remove_all(dir_templ);
}

}  // namespace
