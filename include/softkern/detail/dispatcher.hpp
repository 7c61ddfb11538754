// softkern/detail/dispatcher.hpp — which target's kernels a call runs on:
// the compiled targets' kernel tables, the best one this CPU supports, the
// SOFTKERN_ISA override and force_isa, and the public functions of
// dispatch.hpp. Part of the one expansion (implementation.hpp), after the
// per-target kernels, whose SOFTKERN_HAVE_* macros it reads.
#ifndef SOFTKERN_DETAIL_DISPATCHER_HPP_
#define SOFTKERN_DETAIL_DISPATCHER_HPP_

#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdlib>

#include "softkern/detail/cpu.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/status.hpp"

namespace softkern {
namespace detail {
namespace {

const KernelTable* CompiledTable(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return &N_SCALAR::kKernelTable;
#ifdef SOFTKERN_HAVE_AVX2
    case Isa::kAvx2:
      return &N_AVX2::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_AVX512
    case Isa::kAvx512:
      return &N_AVX3::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_NEON
    case Isa::kNeon:
      return &N_NEON::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_SVE
    case Isa::kSve:
      return &N_SVE::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_SVE2
    case Isa::kSve2:
      return &N_SVE2::kKernelTable;
#endif
    default:
      return nullptr;
  }
}

// Best first.
constexpr Isa kPreference[] = {Isa::kAvx512, Isa::kAvx2, Isa::kSve2, Isa::kSve, Isa::kNeon, Isa::kScalar};

struct Dispatcher {
  const KernelTable* best = nullptr;         // best supported target
  const KernelTable* from_environment = nullptr;  // SOFTKERN_ISA, if set and valid
  Status environment = Status::Ok();
};

const Dispatcher& GetDispatcher() {
  // Initialised once, thread-safely (a function-local static).
  static const Dispatcher dispatcher = [] {
    Dispatcher result;
    for (Isa isa : kPreference) {
      if (isa_supported(isa)) {
        result.best = CompiledTable(isa);
        break;
      }
    }
    const char* name = std::getenv("SOFTKERN_ISA");
    if (name != nullptr && name[0] != '\0') {
      Isa isa;
      if (!parse_isa(name, &isa).ok()) {
        result.environment = Status(StatusCode::kUnsupportedIsa,
                                    "SOFTKERN_ISA names no target softkern knows "
                                    "(expected scalar, avx2, avx512, neon, sve or sve2)");
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

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    case Isa::kSve: return "sve";
    case Isa::kSve2: return "sve2";
  }
  return "unknown";
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
  return Status(StatusCode::kBadArgument,
                "unknown ISA name (expected scalar, avx2, avx512, neon, sve or sve2)");
}

bool isa_compiled(Isa isa) { return detail::CompiledTable(isa) != nullptr; }

bool isa_supported(Isa isa) { return isa_compiled(isa) && detail::CpuSupports(isa); }

std::size_t supported_isas(Isa* out, std::size_t capacity) {
  std::size_t count = 0;
  for (Isa isa : detail::kPreference) {
    if (!isa_supported(isa)) continue;
    if (out != nullptr && count < capacity) out[count] = isa;
    ++count;
  }
  return count;
}

Isa active_isa() {
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  return table != nullptr ? table->isa : detail::GetDispatcher().best->isa;
}

Isa dispatched_isa() { return active_isa(); }

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
