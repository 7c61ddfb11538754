// softkern/detail/kernel_table.hpp — what the dispatcher knows of one target:
// every kernel family's entry points, compiled for that target.
//
// kernels-inl.hpp fills one KernelTable per target from the families' own
// tables; the dispatcher (dispatcher.hpp) picks the table of the target calls
// run on, and a public function validates its arguments and then calls
// through that one table, so forcing a target forces every family. A new
// kernel family adds its params header, one member here and one line in
// kernels-inl.hpp. Nothing here names Highway.
#ifndef SOFTKERN_DETAIL_KERNEL_TABLE_HPP_
#define SOFTKERN_DETAIL_KERNEL_TABLE_HPP_

#include <cstddef>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/sampling_params.hpp"
#include "softkern/detail/softmax_params.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/dispatch.hpp"

namespace softkern {
namespace detail {

struct KernelTable {
  Isa isa;  // the targets.hpp entry the table was compiled for
  // Bytes per float vector of the code that runs. A function, not a
  // constant: SVE's vector length (128 to 2048 bits) is the hardware's choice
  // and known only at run time.
  std::size_t (*vector_bytes)();
  SoftmaxKernels softmax;
  AttentionKernels attention;
  SamplingKernels sampling;
  TrainingKernels training;
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_KERNEL_TABLE_HPP_
