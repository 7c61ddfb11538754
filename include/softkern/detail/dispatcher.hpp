// softkern/detail/dispatcher.hpp — which target's kernels a call runs on:
// the compiled targets' kernel tables (targets.hpp), the best one this CPU
// supports, the SOFTKERN_ISA override and force_isa, and the public functions
// of dispatch.hpp. Part of the one expansion (implementation.hpp), after the
// per-target kernels whose tables it lists.
#ifndef SOFTKERN_DETAIL_DISPATCHER_HPP_
#define SOFTKERN_DETAIL_DISPATCHER_HPP_

#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdlib>

#include "softkern/detail/cpu.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/testing.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/status.hpp"

namespace softkern {
namespace detail {
namespace {

// The compiled targets' tables, best first (targets.hpp).
constexpr const KernelTable* kCompiledTables[] = {
#define SOFTKERN_TARGET_VISITOR "softkern/detail/target_entry.hpp"
#include "softkern/detail/targets.hpp"
#undef SOFTKERN_TARGET_VISITOR
};

// The table compiled for `isa`, or null if this build has none.
const KernelTable* CompiledTable(Isa isa) {
  for (const KernelTable* table : kCompiledTables) {
    if (table->isa == isa) return table;
  }
  return nullptr;
}

struct Dispatcher {
  const KernelTable* best = nullptr;         // best supported target
  const KernelTable* from_environment = nullptr;  // SOFTKERN_ISA, if set and valid
  Status environment = Status::Ok();
};

const Dispatcher& GetDispatcher() {
  // Initialised once, thread-safely (a function-local static).
  static const Dispatcher dispatcher = [] {
    Dispatcher result;
    for (const KernelTable* table : kCompiledTables) {
      if (CpuSupports(table->isa)) {
        result.best = table;
        break;
      }
    }
    const char* name = std::getenv("SOFTKERN_ISA");
    if (name != nullptr && name[0] != '\0') {
      Isa isa;
      if (!parse_isa(name, &isa).ok()) {
        result.environment = Status(StatusCode::kUnsupportedIsa,
                                    "SOFTKERN_ISA names no target softkern knows (see isa_name in dispatch.hpp)");
      } else if (!isa_supported(isa)) {
        result.environment = Status(StatusCode::kUnsupportedIsa,
                                    "SOFTKERN_ISA names a target that is not compiled in "
                                    "or not supported by this CPU");
      } else {
        result.from_environment = CompiledTable(isa);
      }
    }
    return result;
  }();
  return dispatcher;
}

std::atomic<const KernelTable*> g_forced{nullptr};

// The table calls run on, or an error status (a bad SOFTKERN_ISA).
const KernelTable* ActiveTable(Status* status) {
  if (const KernelTable* forced = g_forced.load(std::memory_order_acquire)) return forced;
  const Dispatcher& dispatcher = GetDispatcher();
  if (!dispatcher.environment.ok()) {
    *status = dispatcher.environment;
    return nullptr;
  }
  return dispatcher.from_environment != nullptr ? dispatcher.from_environment : dispatcher.best;
}

bool EqualsIgnoreCase(const char* a, const char* b) {
  for (; *a != '\0' && *b != '\0'; ++a, ++b) {
    if (std::tolower(static_cast<unsigned char>(*a)) != std::tolower(static_cast<unsigned char>(*b))) {
      return false;
    }
  }
  return *a == *b;
}

}  // namespace
}  // namespace detail

namespace detail {
// The names of isa_name, in the order of the Isa enumerators.
constexpr const char* kIsaNames[] = {"scalar", "avx2", "avx512", "neon", "sve", "sve2"};
static_assert(sizeof(kIsaNames) / sizeof(kIsaNames[0]) == kIsaCount, "one name per Isa");
}  // namespace detail

const char* isa_name(Isa isa) {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < kIsaCount ? detail::kIsaNames[i] : "unknown";
}

Status parse_isa(const char* name, Isa* isa) {
  if (name == nullptr || isa == nullptr) return Status(StatusCode::kNullPointer, "parse_isa: null argument");
  for (int i = 0; i < kIsaCount; ++i) {
    if (detail::EqualsIgnoreCase(name, isa_name(static_cast<Isa>(i)))) {
      *isa = static_cast<Isa>(i);
      return Status::Ok();
    }
  }
  if (detail::EqualsIgnoreCase(name, "avx3")) {
    *isa = Isa::kAvx512;
    return Status::Ok();
  }
  return Status(StatusCode::kBadArgument, "unknown ISA name (see isa_name in dispatch.hpp)");
}

bool isa_compiled(Isa isa) { return detail::CompiledTable(isa) != nullptr; }

bool isa_supported(Isa isa) { return isa_compiled(isa) && detail::CpuSupports(isa); }

std::size_t supported_isas(Isa* out, std::size_t capacity) {
  std::size_t count = 0;
  for (const detail::KernelTable* table : detail::kCompiledTables) {
    if (!detail::CpuSupports(table->isa)) continue;
    if (out != nullptr && count < capacity) out[count] = table->isa;
    ++count;
  }
  return count;
}

Isa active_isa() {
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  return table != nullptr ? table->isa : detail::GetDispatcher().best->isa;
}

namespace detail {
std::size_t vector_bytes_for_testing() {
  Status status;
  const KernelTable* table = ActiveTable(&status);
  return (table != nullptr ? table : GetDispatcher().best)->vector_bytes();
}
}  // namespace detail

Status force_isa(Isa isa) {
  if (!isa_compiled(isa)) {
    return Status(StatusCode::kUnsupportedIsa, "force_isa: that target is not compiled into this build");
  }
  if (!detail::CpuSupports(isa)) {
    return Status(StatusCode::kUnsupportedIsa, "force_isa: this CPU does not support that target");
  }
  detail::g_forced.store(detail::CompiledTable(isa), std::memory_order_release);
  return Status::Ok();
}

void reset_isa() { detail::g_forced.store(nullptr, std::memory_order_release); }

Status environment_status() { return detail::GetDispatcher().environment; }

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_DISPATCHER_HPP_
