// softkern/softkern.hpp — everything softkern offers.
//
// softkern is header-only in the stb sense: every header declares, and exactly
// one translation unit of the program expands the kernels for every target by
// defining SOFTKERN_IMPLEMENTATION before including a softkern header. The
// CMake target softkern::softkern does that for you (it builds one small
// static library, softkern_impl, from the installed softkern_impl.cpp with
// your flags). Keeping the expansion in one TU keeps compile times down and
// lets your own code use Highway's foreach_target.h in any other TU.
#ifndef SOFTKERN_SOFTKERN_HPP_
#define SOFTKERN_SOFTKERN_HPP_

#include "softkern/attention.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/element_types.hpp"
#include "softkern/sampling.hpp"
#include "softkern/serving.hpp"
#include "softkern/softmax.hpp"
#include "softkern/status.hpp"
#include "softkern/training.hpp"

#endif  // SOFTKERN_SOFTKERN_HPP_
