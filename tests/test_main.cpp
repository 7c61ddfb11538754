// The suite's main(): prints which targets this run covers before any test,
// so a log says what "every supported target" meant on that machine.
#include <gtest/gtest.h>

#include <cstdio>

#include "softkern/softkern.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t k = softkern::supported_isas(isas, softkern::kIsaCount);
  std::printf("softkern: targets supported here:");
  for (std::size_t i = 0; i < k; ++i) std::printf(" %s", softkern::isa_name(isas[i]));
  std::printf(" (default %s)\n", softkern::isa_name(softkern::active_isa()));
  return RUN_ALL_TESTS();
}
