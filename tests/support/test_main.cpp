// main() of the process tests: a worker runs its role and the loop; otherwise gtest runs.
#include "support/test_support.hpp"

#include <uv.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>

namespace testing_support {
namespace {

std::map<std::string, RoleFn>& roles() {
  static std::map<std::string, RoleFn> r;
  return r;
}

}  // namespace

RoleRegistrar::RoleRegistrar(const char* name, RoleFn fn) { roles()[name] = fn; }

bool run_worker_role_if_any() {
  if (!cluster::is_worker()) return false;
  const char* role = std::getenv("CPPCLUSTER_TEST_ROLE");
  if (!role) {
    std::fprintf(stderr, "test worker started without CPPCLUSTER_TEST_ROLE\n");
    std::exit(3);
  }
  auto it = roles().find(role);
  if (it == roles().end()) {
    std::fprintf(stderr, "unknown test role %s\n", role);
    std::exit(4);
  }
  it->second();
  return true;
}

std::shared_ptr<cluster::Worker> fork_role(const std::string& role, cluster::Env env) {
  env["CPPCLUSTER_TEST_ROLE"] = role;
  return cluster::fork(env);
}

void run_loop(std::chrono::seconds timeout) {
  uv_timer_t guard;
  uv_timer_init(cluster::loop(), &guard);
  static bool timed_out;
  timed_out = false;
  uv_timer_start(
      &guard,
      [](uv_timer_t*) {
        timed_out = true;
        ADD_FAILURE() << "the test's loop was still busy at its deadlock guard";
        for (auto& [id, w] : cluster::workers()) w->process().kill(SIGKILL);
      },
      static_cast<uint64_t>(timeout.count()) * 1000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
  uv_run(cluster::loop(), UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  uv_run(cluster::loop(), UV_RUN_NOWAIT);
}

void write_raw(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(3, bytes.data() + off, bytes.size() - off);
    if (n <= 0) std::exit(7);
    off += static_cast<std::size_t>(n);
  }
}

void after(int ms, std::function<void()> fn) {
  struct Timer {
    uv_timer_t t;
    std::function<void()> fn;
  };
  auto* t = new Timer{{}, std::move(fn)};
  t->t.data = t;
  uv_timer_init(cluster::loop(), &t->t);
  uv_timer_start(
      &t->t,
      [](uv_timer_t* h) {
        auto* self = static_cast<Timer*>(h->data);
        self->fn();
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
      },
      static_cast<uint64_t>(ms), 0);
}

std::string tests_dir() { return TESTS_DIR; }

std::string self_exe() {
  char buf[4096];
  size_t len = sizeof buf;
  uv_exepath(buf, &len);
  return std::string(buf, len);
}

bool have_node() { return std::system("node --version >/dev/null 2>&1") == 0; }

}  // namespace testing_support

int main(int argc, char** argv) {
  if (testing_support::run_worker_role_if_any()) return cluster::run();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
