// softkern/detail/kernels-inl.hpp — every kernel of one target. Re-included
// once per target by implementation.hpp (SOFTKERN_KERNELS). softmax-inl.hpp
// defines the target's KernelTable, attention-inl.hpp its AttentionTable;
// each has its own toggle guard, so this file needs none.
#include "softkern/detail/softmax-inl.hpp"
#include "softkern/detail/attention-inl.hpp"
