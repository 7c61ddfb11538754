// bench/memory_counter.cpp — the replaced global operator new and delete
// that count live bytes and their peak (memory_counter.hpp). Sizes come from
// malloc_usable_size, so a release needs no size; every form (array,
// nothrow, aligned) goes through the same two functions.
#include "memory_counter.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace softkern_bench {
namespace {

std::atomic<std::size_t> g_live{0};
std::atomic<std::size_t> g_peak{0};

void RaisePeak(std::size_t live) {
  std::size_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

void* Allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) bytes = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(bytes);
  } else if (posix_memalign(&p, alignment, bytes) != 0) {
    p = nullptr;
  }
  if (p != nullptr) CountAllocation(malloc_usable_size(p));
  return p;
}

void Release(void* p) {
  if (p == nullptr) return;
  CountRelease(malloc_usable_size(p));
  std::free(p);
}

}  // namespace

void CountAllocation(std::size_t bytes) {
  RaisePeak(g_live.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}
void CountRelease(std::size_t bytes) { g_live.fetch_sub(bytes, std::memory_order_relaxed); }

PeakMemory::PeakMemory() : baseline_(g_live.load(std::memory_order_relaxed)) {
  g_peak.store(baseline_, std::memory_order_relaxed);
}
std::size_t PeakMemory::ExtraBytes() const {
  const std::size_t peak = g_peak.load(std::memory_order_relaxed);
  return peak > baseline_ ? peak - baseline_ : 0;
}

}  // namespace softkern_bench

using softkern_bench::Allocate;
using softkern_bench::Release;

void* operator new(std::size_t n) {
  if (void* p = Allocate(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = Allocate(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, std::size_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t) noexcept { Release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete(void* p, std::align_val_t) noexcept { Release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { Release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { Release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { Release(p); }
