// libFuzzer target for softmax() and softmax_rows().
//
// The fuzzer's bytes choose the target (forced through the dispatch API), the
// algorithm, the options (temperature, log, sink, streaming), the shape
// (length, rows, strides, offsets, in place or not) and every input value,
// with special values (±inf, NaN, ±FLT_MAX, denormals) one byte away. Each
// run either
//  - is a valid call: it must succeed, every row must match the long-double
//    reference within docs/accuracy.md's bound (tests/support.hpp), and nothing
//    outside the rows may change; or
//  - is an invalid call (bad temperature, stride shorter than the row,
//    overlapping unequal buffers, unknown enum): it must be rejected and write
//    nothing at all.
// Any violation prints the case and aborts, which libFuzzer reports with the
// input that caused it. Built with clang's -fsanitize=fuzzer,address,undefined
// (scripts/run_fuzzers.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../support.hpp"
#include "fuzz_bytes.hpp"

namespace {

using namespace softkern_test;

// The fuzzer's bytes, and a logit from them: mostly ordinary values, special
// ones one byte away.
class Bytes : public softkern_fuzz::FuzzBytes {
 public:
  using FuzzBytes::FuzzBytes;
  float value() {
    const std::uint8_t b = u8();
    if (b < 232) return (static_cast<float>(b) - 116.0f) * 0.25f;  // [-29, 29]
    switch (b) {
      case 232: return -std::numeric_limits<float>::infinity();
      case 233: return std::numeric_limits<float>::infinity();
      case 234: return std::numeric_limits<float>::quiet_NaN();
      case 235: return std::numeric_limits<float>::max();
      case 236: return -std::numeric_limits<float>::max();
      case 237: return std::numeric_limits<float>::denorm_min() * static_cast<float>(u8());
      case 238: return -1000.0f + static_cast<float>(u16()) * (2000.0f / 65535.0f);
      case 239: return 88.0f + static_cast<float>(u8()) / 256.0f;
      default: return f32();  // anything at all
    }
  }
};

[[noreturn]] void Fail(const std::string& what) { softkern_fuzz::FuzzFailure("fuzz_softmax", what); }

float Temperature(Bytes& in) {
  const float table[] = {1.0f, 0.5f, 2.0f, 0.25f, 3.0f, 1e-30f, 0x1p-100f, 0x1p100f, FLT_MAX,
                         0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                         std::numeric_limits<float>::infinity(), 1e-39f};
  const std::uint8_t b = in.u8();
  return b < sizeof(table) / sizeof(table[0]) * 16 ? table[b % (sizeof(table) / sizeof(table[0]))]
                                                   : in.f32();
}

bool TemperatureValid(float t) {
  return t >= 0x1p-100f && t <= 0x1p100f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const std::vector<Isa> isas = supported_isa_list();
  const Isa isa = isas[in.u8() % isas.size()];
  if (!softkern::force_isa(isa).ok()) Fail("force_isa failed for a supported target");

  const std::uint8_t flags = in.u8();
  const bool use_rows = flags & 1, in_place = flags & 2;
  SoftmaxOptions o;
  o.log = flags & 4;
  o.has_sink = flags & 8;
  const std::uint8_t algorithm = in.u8();
  o.algorithm = static_cast<Algorithm>(algorithm < 250 ? algorithm % 5 : algorithm);  // rarely invalid
  o.streaming = static_cast<softkern::StreamingStores>(in.u8() % 3);
  o.temperature = Temperature(in);
  if (o.has_sink) o.sink = in.value();

  const std::size_t cols = in.u16() % 700;
  const std::size_t rows = use_rows ? 1 + in.u8() % 4 : 1;
  const std::uint8_t stride_byte = in.u8();
  // Mostly valid strides; stride_byte >= 250 asks for one shorter than the row.
  std::size_t x_stride = cols + stride_byte % 5, y_stride = cols + (stride_byte / 5) % 5;
  bool stride_ok = true;
  if (use_rows && stride_byte >= 250 && cols > 0) {
    x_stride = cols - 1;
    stride_ok = false;
  }
  if (in_place) y_stride = x_stride;
  if (!use_rows) x_stride = y_stride = cols;
  const std::size_t x_offset = in.u8() % 16, y_offset = in.u8() % 16;

  // One buffer holds x and (out of place) y, with a gap the fuzzer picks; a
  // small gap makes them overlap, which must be rejected.
  const std::size_t x_extent = rows == 0 || cols == 0 ? 0 : (rows - 1) * x_stride + cols;
  const std::size_t y_extent = rows == 0 || cols == 0 ? 0 : (rows - 1) * y_stride + cols;
  const std::uint8_t gap_byte = in.u8();
  const bool want_overlap = !in_place && gap_byte >= 240 && x_extent > 1;
  const std::size_t y_start = in_place ? x_offset
                              : want_overlap ? x_offset + 1 + gap_byte % (x_extent - 1)
                                             : x_offset + x_extent + 8 + y_offset;
  const std::size_t total = std::max(x_offset + x_extent, y_start + y_extent) + 8;
  std::vector<float> buffer(total);
  fill_sentinel(buffer.data(), total);
  float* x = buffer.data() + x_offset;
  float* y = buffer.data() + y_start;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) x[r * x_stride + c] = in.value();
  // The rows as given (x is overwritten in place).
  std::vector<std::vector<float>> input(rows);
  for (std::size_t r = 0; r < rows; ++r)
    input[r].assign(x + r * x_stride, x + r * x_stride + cols);
  const std::vector<float> before = buffer;

  const bool enums_ok = algorithm < 250;
  const bool overlap = want_overlap && cols > 0 && rows > 0;
  const bool valid = TemperatureValid(o.temperature) && enums_ok && stride_ok && !overlap;

  const Status s = use_rows ? softkern::softmax_rows(x, x_stride, y, y_stride, rows, cols, o)
                            : softkern::softmax(x, y, cols, o);
  const std::string what = std::string("isa=") + softkern::isa_name(isa) + " " + describe(o) +
                           " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                           " strides=" + std::to_string(x_stride) + "," + std::to_string(y_stride) +
                           (in_place ? " in place" : "") + (overlap ? " overlapping" : "");
  if (!valid) {
    if (s.ok() && cols > 0 && rows > 0) Fail("accepted an invalid call: " + what);
    if (!s.ok() && !bitwise_equal(buffer.data(), before.data(), total))
      Fail("a rejected call wrote memory: " + what + ": " + s.message());
    softkern::reset_isa();
    return 0;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());
  // Nothing outside the output rows changed (the input rows too, out of place).
  std::vector<unsigned char> is_output(total, 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) is_output[y_start + r * y_stride + c] = 1;
  for (std::size_t i = 0; i < total; ++i)
    if (!is_output[i] && float_bits(buffer[i]) != float_bits(before[i]))
      Fail("wrote outside the output rows at buffer index " + std::to_string(i) + ": " + what);
  for (std::size_t r = 0; r < rows; ++r) {
    const Reference ref = reference_softmax(input[r].data(), cols, o);
    const Accuracy acc = check_softmax(input[r].data(), y + r * y_stride, cols, o, ref);
    if (!acc.ok()) {
      std::string row;
      for (std::size_t c = 0; c < cols && c < 400; ++c) row += " " + hexfloat(input[r][c]);
      Fail("row " + std::to_string(r) + " outside the bound: " + what + ": " + acc.first_failure +
           "\nthe row:" + row);
    }
  }
  softkern::reset_isa();
  return 0;
}
