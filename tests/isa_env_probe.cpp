// isa_env_probe — checks what SOFTKERN_ISA does to a fresh process. CTest runs
// it once per value (tests/CMakeLists.txt), because the variable is read once,
// on first use.
//
//   isa_env_probe runs:<isa>   the variable selects <isa>: calls run its code
//   isa_env_probe runs:best    the variable is empty: the best target runs
//   isa_env_probe rejects      the variable names nothing runnable: every call
//                              fails with a status that names the variable and
//                              writes nothing, until force_isa() overrides it
// Exits 0 on success, 1 on a failed check, 77 (skip) if <isa> is not on this CPU.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "softkern/softkern.hpp"

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

bool softmax_works() {
  float x[3] = {1, 2, 3}, y[3] = {0, 0, 0};
  if (!softkern::softmax(x, y, 3).ok()) return false;
  return std::fabs(y[0] + y[1] + y[2] - 1.0f) < 1e-6f && y[2] > y[1] && y[1] > y[0];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: isa_env_probe runs:<isa>|runs:best|rejects\n");
    return 2;
  }
  const char* env = std::getenv("SOFTKERN_ISA");
  std::printf("SOFTKERN_ISA=\"%s\", expecting %s\n", env ? env : "(unset)", argv[1]);
  const std::string expect = argv[1];

  if (expect.rfind("runs:", 0) == 0) {
    const std::string name = expect.substr(5);
    softkern::Isa want;
    if (name == "best") {
      softkern::supported_isas(&want, 1);
    } else {
      if (!softkern::parse_isa(name.c_str(), &want).ok()) return 2;
      if (!softkern::isa_supported(want)) {
        std::printf("skipped: %s is not supported on this CPU\n", name.c_str());
        return 77;
      }
    }
    const softkern::Status env_status = softkern::environment_status();
    check(env_status.ok(), std::string("environment_status() is ok: ") + env_status.message());
    check(softkern::active_isa() == want,
          std::string("active_isa() = ") + softkern::isa_name(softkern::active_isa()));
    check(softkern::active_isa() == want,
          std::string("active_isa() = ") + softkern::isa_name(softkern::active_isa()));
    check(softmax_works(), "softmax runs and is right");
  } else if (expect == "rejects") {
    const softkern::Status env_status = softkern::environment_status();
    check(!env_status.ok(), "environment_status() is an error");
    check(env_status.code() == softkern::StatusCode::kUnsupportedIsa,
          "its code is kUnsupportedIsa");
    check(std::strstr(env_status.message(), "SOFTKERN_ISA") != nullptr,
          std::string("its message names the variable: ") + env_status.message());
    float x[4] = {1, 2, 3, 4}, y[4] = {7, 7, 7, 7};
    const softkern::Status call = softkern::softmax(x, y, 4);
    check(!call.ok() && call.code() == softkern::StatusCode::kUnsupportedIsa,
          std::string("softmax() fails with it: ") + call.message());
    check(y[0] == 7 && y[1] == 7 && y[2] == 7 && y[3] == 7, "and writes nothing");
    check(softkern::force_isa(softkern::Isa::kScalar).ok(), "force_isa(scalar) succeeds");
    check(softmax_works(), "after force_isa, softmax runs and is right");
    softkern::reset_isa();
    check(!softkern::softmax(x, y, 4).ok(), "after reset_isa, the variable applies again");
  } else {
    std::fprintf(stderr, "isa_env_probe: unknown expectation '%s'\n", argv[1]);
    return 2;
  }
  std::printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
