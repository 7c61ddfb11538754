// Calls that must not compile: a row or K/V of the wrong element type is a
// type error, never bits silently read as another format. CTest compiles this
// file once per case (-DSOFTKERN_REJECTED_CASE=N) and passes when the
// compiler reports the overload or assignment error the case expects
// (tests/compile/CMakeLists.txt). Case 0 is the control: the same calls with
// the right types, which must compile cleanly, so that a failing case fails
// for its own line and nothing else.
#include <cstdint>
#include <vector>

#include "softkern/softkern.hpp"

#ifndef SOFTKERN_REJECTED_CASE
#define SOFTKERN_REJECTED_CASE 0
#endif

int main() {
  std::vector<float> f(8);
  std::vector<double> dbl(8);
  std::vector<std::uint16_t> bits(8);
  std::vector<softkern::bfloat16> bf(8);
  std::vector<softkern::float16> hf(8);
  softkern::AttentionTensors t;
  softkern::Status s;
#if SOFTKERN_REJECTED_CASE == 0
  s = softkern::softmax(f.data(), f.data(), 8);
  s = softkern::softmax_rows(f.data(), 8, f.data(), 8, 1, 8);
  s = softkern::softmax(bf.data(), bf.data(), 8);
  s = softkern::softmax(softkern::as_bfloat16(bits.data()), softkern::as_bfloat16(bits.data()), 8);
  t.k = f.data();
  t.v = bf.data();
  softkern::SampleResult r;
  s = softkern::sample(bf.data(), 8, 0.5f, {}, &r);
#elif SOFTKERN_REJECTED_CASE == 1  // a double row
  s = softkern::softmax(dbl.data(), dbl.data(), 8);
#elif SOFTKERN_REJECTED_CASE == 2  // double rows through softmax_rows
  s = softkern::softmax_rows(dbl.data(), 8, dbl.data(), 8, 1, 8);
#elif SOFTKERN_REJECTED_CASE == 3  // bf16 bit patterns without saying they are bf16
  s = softkern::softmax(bits.data(), bits.data(), 8);
#elif SOFTKERN_REJECTED_CASE == 4  // bf16 in, f16 out
  s = softkern::softmax(bf.data(), hf.data(), 8);
#elif SOFTKERN_REJECTED_CASE == 5  // a double K cache
  t.k = dbl.data();
#elif SOFTKERN_REJECTED_CASE == 6  // a K cache of uint16_t bit patterns
  t.k = bits.data();
#elif SOFTKERN_REJECTED_CASE == 7  // float16 storage viewed as bfloat16
  s = softkern::softmax(softkern::as_bfloat16(hf.data()), softkern::as_bfloat16(hf.data()), 8);
#elif SOFTKERN_REJECTED_CASE == 8  // 4-byte storage viewed as bfloat16
  s = softkern::softmax(softkern::as_bfloat16(f.data()), softkern::as_bfloat16(f.data()), 8);
#elif SOFTKERN_REJECTED_CASE == 9  // sampling a double row
  softkern::SampleResult r;
  s = softkern::sample(dbl.data(), 8, 0.5f, {}, &r);
#elif SOFTKERN_REJECTED_CASE == 10  // sampling uint16_t bit patterns without saying they are bf16
  softkern::SampleResult r;
  s = softkern::sample(bits.data(), 8, 0.5f, {}, &r);
#endif
  (void)s;
  (void)t;
}
