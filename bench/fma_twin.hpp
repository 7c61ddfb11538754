// bench/fma_twin.hpp — the compute twin of matrix-shaped attention (prefill).
//
// A register-blocked loop of independent fused multiply-adds on one target's
// vectors: as many accumulators as the register file holds without spilling
// (and more than FMA latency x FMA ports, so every port issues every cycle),
// nothing loaded or stored in the loop. Its flops per second are what one
// core can do on that target; prefill reports fma_fraction = useful flops/s
// of the kernel / the twin's, both measured in the same run.
#ifndef SOFTKERN_BENCH_FMA_TWIN_HPP_
#define SOFTKERN_BENCH_FMA_TWIN_HPP_

#include <softkern/dispatch.hpp>

namespace softkern_bench {

// Measured FMA peak of one thread on `isa`'s vectors, in flops per second
// (2 per multiply-add and lane), per second of wall-clock time and per
// second of the thread's CPU time (what a shared machine leaves intact);
// medians of 9 runs of about 2 ms. 0 when the bench has no twin for that
// target.
struct FmaPeak {
  double wall = 0, cpu = 0;
};
FmaPeak FmaPeakFlops(softkern::Isa isa);

// CPU time of this thread, or of the whole process, in seconds.
double ThreadCpuSeconds();
double ProcessCpuSeconds();

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_FMA_TWIN_HPP_
