// tests/fuzz/fuzz_bytes.hpp — what the fuzzers share: the fuzzer's bytes read
// front to back, and the failure that libFuzzer reports with its input.
#ifndef SOFTKERN_TESTS_FUZZ_FUZZ_BYTES_HPP_
#define SOFTKERN_TESTS_FUZZ_FUZZ_BYTES_HPP_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace softkern_fuzz {

// Reads the fuzzer's bytes front to back; zeros once they run out.
class FuzzBytes {
 public:
  FuzzBytes(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  std::uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  float f32() {
    std::uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<std::uint32_t>(u8()) << (8 * i);
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// Prints the case and aborts, which libFuzzer reports with the input.
[[noreturn]] inline void FuzzFailure(const char* fuzzer, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", fuzzer, what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace softkern_fuzz

#endif  // SOFTKERN_TESTS_FUZZ_FUZZ_BYTES_HPP_
