// The one translation unit that expands softkern's kernels for every target.
// CMake's softkern::softkern target builds it; without CMake, compile this file
// (or define SOFTKERN_IMPLEMENTATION in one of your own sources that includes
// no Highway header before softkern) and link it once.
#define SOFTKERN_IMPLEMENTATION
#include "softkern/softkern.hpp"
