// libFuzzer target for sample() and sample_rows().
//
// The fuzzer's bytes choose the target (forced through the dispatch API),
// the element type, the shape (length, rows, stride), the options
// (temperature, top-k, top-p, min-p, penalties and their token lists,
// greedy, an executor), the uniforms and every logit, with special values
// one byte away. Each run either
//  - is a valid call: it must succeed and every row's token, kept count and
//    log-probability must match the sort-based reference
//    (tests/sampling_reference.hpp), or, for a row with a NaN or with every
//    logit -inf, it must be rejected with nothing written; or
//  - is an invalid call (an option out of its domain, a token list that is
//    not strictly increasing or points outside the row, a stride shorter
//    than the row): it must be rejected with nothing written.
// Any violation prints the case and aborts. Built with clang's
// -fsanitize=fuzzer,address,undefined (scripts/run_fuzzers.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../sampling_reference.hpp"
#include "fuzz_bytes.hpp"

namespace {

using namespace softkern_test;

// The fuzzer's bytes; a logit (mostly ordinary values, ties likely, special
// ones one byte away) and an option (a table of usual and edge values, or
// any float) from them.
class Bytes : public softkern_fuzz::FuzzBytes {
 public:
  using FuzzBytes::FuzzBytes;
  float value() {
    const std::uint8_t b = u8();
    if (b < 200) return (static_cast<float>(b) - 100.0f) * 0.125f;
    switch (b) {
      case 200: case 201: case 202: case 203: return -std::numeric_limits<float>::infinity();
      case 204: return std::numeric_limits<float>::infinity();
      case 205: return std::numeric_limits<float>::quiet_NaN();
      case 206: return std::numeric_limits<float>::max();
      case 207: return -std::numeric_limits<float>::max();
      case 208: return std::numeric_limits<float>::denorm_min() * static_cast<float>(u8());
      case 209: return -1000.0f + static_cast<float>(u16()) * (2000.0f / 65535.0f);
      default: return f32();
    }
  }
  float pick(std::initializer_list<float> table) {
    const std::uint8_t b = u8();
    if (b < 240) return table.begin()[b % table.size()];
    return f32();
  }
};

[[noreturn]] void Fail(const std::string& what) { softkern_fuzz::FuzzFailure("fuzz_sampling", what); }

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

bool OptionsValid(const SampleOptions& o) {
  return o.temperature >= 0x1p-100f && o.temperature <= 0x1p100f && o.top_k >= 0 && o.top_p > 0.0f &&
         o.top_p <= 1.0f && o.min_p >= 0.0f && o.min_p <= 1.0f && o.repetition_penalty > 0.0f &&
         std::isfinite(o.repetition_penalty) && std::isfinite(o.presence_penalty) &&
         std::isfinite(o.frequency_penalty);
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const std::vector<Isa> isas = supported_isa_list();
  const Isa isa = isas[in.u8() % isas.size()];
  if (!softkern::force_isa(isa).ok()) Fail("force_isa failed for a supported target");

  const std::uint8_t flags = in.u8();
  const int type = flags % 3;  // float32, bf16, f16
  const bool use_rows = flags & 4, penalties = flags & 8, threaded = flags & 16, bad_stride = flags & 32;
  SampleOptions o;
  o.greedy = (flags & 64) && (flags & 128);
  o.temperature = in.pick({1.0f, 0.5f, 2.0f, 0.01f, 100.0f, 0x1p-100f, 0x1p100f, 0.0f, -1.0f, kNaN, kInf});
  const std::uint8_t k = in.u8();
  o.top_k = k < 200 ? k % 20 : k < 250 ? static_cast<std::int64_t>(k) * 5 : k == 250 ? -1 : static_cast<std::int64_t>(in.u16()) << 2;
  o.top_p = in.pick({1.0f, 0.9f, 0.5f, 0.1f, 1e-6f, 0.99999f, 0.0f, 1.5f, kNaN});
  o.min_p = in.pick({0.0f, 0.05f, 0.5f, 1.0f, 1e-9f, -0.1f, 2.0f, kNaN});
  if (penalties) {
    o.repetition_penalty = in.pick({1.0f, 1.3f, 0.7f, 3.0f, 0.0f, kInf});
    o.presence_penalty = in.pick({0.0f, 0.5f, -1.0f, 2.0f, kNaN});
    o.frequency_penalty = in.pick({0.0f, 0.25f, -0.5f, 1e38f, -kInf});
  }
  if (threaded) o.executor = &softkern::default_executor();

  const std::size_t n = in.u16() % 900;
  const std::size_t rows = use_rows ? 1 + in.u8() % 3 : 1;
  const std::size_t stride = !use_rows ? n : bad_stride && n > 0 ? n - 1 : n + in.u8() % 4;
  std::vector<float> logits((rows - 1) * stride + n + 1);
  for (float& v : logits) v = in.value();
  std::vector<float> uniforms(rows);
  for (float& u : uniforms) {
    const std::uint8_t b = in.u8();
    u = b < 250 ? static_cast<float>(b) / 250.0f : b == 250 ? 1.0f : b == 251 ? kNaN : b == 252 ? -0.0f : 0.99999994f;
  }
  // Penalty lists: sorted ids from the bytes; now and then a broken one.
  std::vector<std::vector<std::int32_t>> ids(rows), counts(rows);
  std::vector<TokenCounts> lists(rows);
  bool tokens_valid = true;
  for (std::size_t r = 0; r < rows && penalties; ++r) {
    const std::size_t m = in.u8() % 12;
    std::int32_t id = 0;
    for (std::size_t i = 0; i < m; ++i) {
      id += 1 + in.u8() % 40;
      ids[r].push_back(id);
      counts[r].push_back(in.u8() % 5);
    }
    const std::uint8_t broken = in.u8();
    if (broken >= 250 && m >= 2) std::swap(ids[r][0], ids[r][1]);  // not increasing
    if (broken == 249 && m >= 1) counts[r][0] = -1;
    lists[r] = TokenCounts{ids[r].data(), counts[r].data(), m};
    for (std::size_t i = 0; i < m; ++i) {
      tokens_valid &= ids[r][i] >= 0 && static_cast<std::size_t>(ids[r][i]) < n && counts[r][i] >= 0 &&
                      (i == 0 || ids[r][i] > ids[r][i - 1]);
    }
  }
  bool uniforms_valid = true;
  for (float u : uniforms) uniforms_valid &= u >= 0.0f && u < 1.0f;
  const bool valid = OptionsValid(o) && tokens_valid && uniforms_valid && stride >= n && n > 0;

  // The rows as the kernels read them (16-bit rows widened back to float).
  std::vector<softkern::bfloat16> as_bf16(logits.size());
  std::vector<softkern::float16> as_f16(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    as_bf16[i] = softkern::to_bfloat16(logits[i]);
    as_f16[i] = softkern::to_float16(logits[i]);
    if (type == 1) logits[i] = softkern::to_float(as_bf16[i]);
    if (type == 2) logits[i] = softkern::to_float(as_f16[i]);
  }
  std::vector<SampleResult> results(rows);
  for (SampleResult& r : results) r.token = 0x5EED;
  const TokenCounts* row_tokens = penalties ? lists.data() : nullptr;
  Status s;
  if (use_rows) {
    s = type == 0   ? softkern::sample_rows(logits.data(), stride, rows, n, uniforms.data(), o, results.data(), row_tokens)
        : type == 1 ? softkern::sample_rows(as_bf16.data(), stride, rows, n, uniforms.data(), o, results.data(), row_tokens)
                    : softkern::sample_rows(as_f16.data(), stride, rows, n, uniforms.data(), o, results.data(), row_tokens);
  } else {
    if (penalties) set_tokens(o, lists[0]);
    s = type == 0   ? softkern::sample(logits.data(), n, uniforms[0], o, results.data())
        : type == 1 ? softkern::sample(as_bf16.data(), n, uniforms[0], o, results.data())
                    : softkern::sample(as_f16.data(), n, uniforms[0], o, results.data());
    set_tokens(o, TokenCounts{});
  }
  auto untouched = [&] {
    for (const SampleResult& r : results) {
      if (r.token != 0x5EED) return false;
    }
    return true;
  };
  const std::string what = std::string("isa=") + softkern::isa_name(isa) + " type=" + std::to_string(type) +
                           " n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " T=" +
                           std::to_string(o.temperature) + " k=" + std::to_string(o.top_k) + " p=" +
                           std::to_string(o.top_p) + " min_p=" + std::to_string(o.min_p) + (o.greedy ? " greedy" : "");
  if (!valid) {
    if (s.ok()) Fail("accepted an invalid call: " + what);
    if (!untouched()) Fail("a rejected call wrote a result: " + what);
    softkern::reset_isa();
    return 0;
  }
  // A row with a NaN or with nothing to draw rejects the whole call.
  std::vector<SampleReference> refs;
  bool any_error = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(r * stride),
                                 logits.begin() + static_cast<std::ptrdiff_t>(r * stride + n));
    SampleOptions ro = o;
    refs.push_back(reference_sample(row, ro, penalties ? lists[r] : TokenCounts{}));
    any_error |= refs.back().error;
  }
  if (any_error) {
    if (s.ok()) Fail("accepted a row with a NaN or every logit -inf: " + what);
    if (s.code() != StatusCode::kBadArgument) Fail("wrong status for a NaN or empty row: " + what);
    if (!untouched()) Fail("a rejected call wrote a result: " + what);
    softkern::reset_isa();
    return 0;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());
  for (std::size_t r = 0; r < rows; ++r) {
    const std::string problem = check_sample(refs[r], o, uniforms[r], results[r]);
    if (!problem.empty()) Fail("row " + std::to_string(r) + ": " + what + ": " + problem);
  }
  softkern::reset_isa();
  return 0;
}
