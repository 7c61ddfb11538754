// Every public function of softkern, called the way its header shows: `{}`
// and C++20 designated initializers for options, std::vector data(), typed
// 16-bit rows, and data in other 16-bit types through as_bfloat16 /
// as_float16. Compiled, never run, by every C++ compiler CTest finds
// (tests/compile/CMakeLists.txt), with -Wall -Wextra -Wpedantic -Werror: a
// call a user would write that is ambiguous, or that warns, fails the test.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "softkern/softkern.hpp"

namespace {

void report(softkern::Status s) {
  if (!s.ok()) std::fprintf(stderr, "%d: %s\n", static_cast<int>(s.code()), s.message());
}

void softmax_calls() {
  std::vector<float> x(64, 1.0f), y(64);
  const std::size_t n = x.size();
  report(softkern::softmax(x.data(), y.data(), n));
  report(softkern::softmax(x.data(), y.data(), n, {}));
  report(softkern::softmax(x.data(), y.data(), n, {.temperature = 0.5f}));
  report(softkern::softmax(x.data(), y.data(), n, {.algorithm = softkern::Algorithm::kTwoPass, .log = true}));
  report(softkern::softmax(x.data(), y.data(), n, {.has_sink = true, .sink = 0.0f}));
  report(softkern::softmax(x.data(), y.data(), n, {.executor = &softkern::default_executor()}));
  softkern::SoftmaxOptions options;
  options.streaming = softkern::StreamingStores::kNever;
  report(softkern::softmax(x.data(), x.data(), n, options));  // in place
  const std::vector<float>& cx = x;
  report(softkern::softmax(cx.data(), y.data(), n));
  float a[4] = {1, 2, 3, 4}, b[4];
  report(softkern::softmax(a, b, 4));

  report(softkern::softmax_rows(x.data(), 16, y.data(), 16, 4, 16));
  report(softkern::softmax_rows(x.data(), 16, y.data(), 16, 4, 16, {}));
  report(softkern::softmax_rows(x.data(), 16, y.data(), 16, 4, 16, {.temperature = 2.0f}));

  std::vector<softkern::bfloat16> xb(n), yb(n);
  std::vector<softkern::float16> xh(n), yh(n);
  for (std::size_t i = 0; i < n; ++i) {
    xb[i] = softkern::to_bfloat16(x[i]);
    xh[i] = softkern::to_float16(x[i]);
  }
  report(softkern::softmax(xb.data(), yb.data(), n));
  report(softkern::softmax(xb.data(), yb.data(), n, {}));
  report(softkern::softmax(xh.data(), yh.data(), n, {.log = true}));
  report(softkern::softmax_rows(xb.data(), 16, yb.data(), 16, 4, 16, {}));
  report(softkern::softmax_rows(xh.data(), 16, yh.data(), 16, 4, 16, {.algorithm = softkern::Algorithm::kOnline}));
  const float back = softkern::to_float(yb[0]) + softkern::to_float(yh[0]);
  (void)back;

  // Bits held in another 2-byte type: the caller says which format they are.
  std::vector<std::uint16_t> bits(n, 0x3F80), out(n);
  report(softkern::softmax(softkern::as_bfloat16(bits.data()), softkern::as_bfloat16(out.data()), n));
  const std::uint16_t* cbits = bits.data();
  report(softkern::softmax(softkern::as_float16(cbits), softkern::as_float16(out.data()), n, {}));
#if defined(__x86_64__) && defined(__FLT16_MANT_DIG__) && !defined(__clang__)
  std::vector<_Float16> native_h(n, static_cast<_Float16>(1.0f)), native_out(n);
  report(softkern::softmax(softkern::as_float16(native_h.data()), softkern::as_float16(native_out.data()), n));
#endif
#if defined(__BFLT16_MANT_DIG__)
  std::vector<__bf16> native_b(n), native_bout(n);
  report(softkern::softmax(softkern::as_bfloat16(native_b.data()), softkern::as_bfloat16(native_bout.data()), n));
#endif

  std::printf("%s %s %zu %d\n", softkern::algorithm_name(softkern::auto_algorithm(n)),
              softkern::algorithm_name(softkern::Algorithm::kAuto), softkern::streaming_threshold_bytes(),
              softkern::streams_for(n, softkern::StreamingStores::kAuto) ? 1 : 0);
}

void attention_calls() {
  constexpr std::size_t L = 2, n = 8, H = 4, Hk = 2, d = 16;
  std::vector<float> q(L * H * d, 0.1f), k(n * Hk * d, 0.2f), v(n * Hk * d, 0.3f), o(L * H * d), lse(L * H);
  softkern::AttentionTensors t;
  t.queries = L;
  t.keys = n;
  t.heads = H;
  t.kv_heads = Hk;
  t.head_dim = d;
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.o = o.data();
  t.lse = lse.data();
  report(softkern::attention(t));
  report(softkern::attention(t, {}));
  report(softkern::attention(t, {.score = softkern::ScoreFunction::kSigmoid}));
  report(softkern::attention(t, {.scale = 0.25f, .causal = false, .window = 4}));

  // Designated initializers for the tensors too; 16-bit K/V as typed pointers.
  std::vector<softkern::bfloat16> kb(k.size()), vb(v.size());
  std::vector<softkern::float16> kh(k.size()), vh(v.size());
  report(softkern::attention({.queries = L, .keys = n, .heads = H, .kv_heads = Hk, .head_dim = d,
                              .q = q.data(), .k = kb.data(), .v = vb.data(), .o = o.data()}));
  t.k = kh.data();
  t.v = vh.data();
  report(softkern::attention(t));
  std::vector<std::uint16_t> kbits(k.size()), vbits(v.size());
  t.k = softkern::as_bfloat16(kbits.data());
  t.v = softkern::as_bfloat16(vbits.data());
  std::printf("%d %p\n", static_cast<int>(t.k.type()), t.v.data());
  t.k = nullptr;

  std::vector<float> parts(2 * L * H * d), parts_lse(2 * L * H), merged(L * H * d), merged_lse(L * H);
  report(softkern::attention_merge(2, L * H, H, d, parts.data(), parts_lse.data(), merged.data(), merged_lse.data()));
  report(softkern::attention_merge(2, L * H, H, d, parts.data(), parts_lse.data(), merged.data(), nullptr, {}));

  softkern::AttentionTensors lt = t;
  lt.queries = lt.keys = n;
  lt.k = k.data();
  lt.v = v.data();
  std::vector<float> state(H * d * d), normaliser(H * d), decay(H, 0.1f);
  std::vector<float> lq(n * H * d), lo(n * H * d);
  lt.q = lq.data();
  lt.o = lo.data();
  lt.lse = nullptr;
  report(softkern::linear_attention(lt, state.data(), normaliser.data()));
  report(softkern::linear_attention(lt, state.data(), normaliser.data(), {}));
  report(softkern::linear_attention(lt, state.data(), nullptr, {.kind = softkern::LinearKind::kDecay, .decay = decay.data()}));
  std::printf("%s\n", softkern::score_function_name(softkern::ScoreFunction::kSoftplus));
}

void sampling_calls() {
  std::vector<float> logits(100, 0.5f);
  const std::size_t n = logits.size();
  softkern::SampleResult r;
  report(softkern::sample(logits.data(), n, 0.5f, {}, &r));
  report(softkern::sample(logits.data(), n, 0.5f, {.temperature = 0.7f, .top_k = 50, .top_p = 0.9f}, &r));
  report(softkern::sample(logits.data(), n, 0.5f, {.min_p = 0.05f, .executor = &softkern::default_executor()}, &r));
  const std::int32_t ids[] = {3, 17}, counts[] = {1, 0};
  softkern::SampleOptions o;
  o.token_ids = ids;
  o.token_counts = counts;
  o.token_count = 2;
  o.repetition_penalty = 1.1f;
  o.greedy = true;
  report(softkern::sample(logits.data(), n, 0.0f, o, &r));
  std::vector<softkern::bfloat16> xb(n, softkern::to_bfloat16(0.5f));
  std::vector<softkern::float16> xh(n, softkern::to_float16(0.5f));
  report(softkern::sample(xb.data(), n, 0.25f, {.top_p = 0.95f}, &r));
  report(softkern::sample(xh.data(), n, 0.25f, {}, &r));
  std::vector<std::uint16_t> bits(n, 0x3F80);
  report(softkern::sample(softkern::as_bfloat16(bits.data()), n, 0.25f, {}, &r));
  const float uniforms[2] = {0.1f, 0.9f};
  softkern::SampleResult results[2];
  const softkern::TokenCounts per_row[2] = {{ids, counts, 2}, {}};
  report(softkern::sample_rows(logits.data(), 50, 2, 50, uniforms, {}, results));
  report(softkern::sample_rows(xb.data(), 50, 2, 50, uniforms, {.top_k = 5}, results, per_row));
  std::printf("%d %g %zu\n", r.token, static_cast<double>(r.log_prob), r.kept);
}

void serving_calls() {
  // A decode step of two sequences over an int8 paged cache (serving.hpp).
  constexpr std::size_t H = 4, Hk = 2, d = 16, block = 16, blocks = 4;
  std::vector<std::int8_t> k_pool(blocks * block * Hk * d), v_pool(k_pool.size());
  std::vector<float> k_scales(blocks * block * Hk, 1.0f), v_scales(k_scales.size(), 1.0f);
  std::vector<std::int32_t> tables = {0, 1, 2, 3}, cu_q = {0, 1, 2}, cu_k = {0, 20, 40};
  std::vector<float> q(2 * H * d, 0.5f), o(q.size()), k_new(2 * Hk * d, 0.25f), slopes(H, 0.5f);
  std::vector<std::int64_t> slots = {19, 35};
  softkern::KvAppend a;
  a.tokens = 2;
  a.kv_heads = Hk;
  a.head_dim = d;
  a.x = k_new.data();
  a.slots = slots.data();
  a.cache = k_pool.data();
  a.cache_rows = blocks * block;
  a.block_size = block;
  a.scales = k_scales.data();
  report(softkern::append_kv(a));
  softkern::AttentionBatch b;
  b.sequences = 2;
  b.heads = H;
  b.kv_heads = Hk;
  b.head_dim = d;
  b.query_offsets = cu_q.data();
  b.key_offsets = cu_k.data();
  b.q = q.data();
  b.o = o.data();
  b.paged = {.block_size = block, .num_blocks = blocks, .k = k_pool.data(), .v = v_pool.data(),
             .k_scales = k_scales.data(), .v_scales = v_scales.data(), .block_tables = tables.data(),
             .block_table_stride = 2};
  report(softkern::attention_batch(b));
  report(softkern::attention_batch(b, {.softcap = 30.0f, .alibi_slopes = slopes.data()}));
  std::vector<softkern::float8_e4m3> fp8(8, softkern::to_float8_e4m3(1.5f));
  std::printf("%g %g\n", softkern::to_float(fp8[0]), softkern::to_float(softkern::to_float8_e5m2(3.0f)));
}

void dispatch_and_executor_calls() {
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t count = softkern::supported_isas(isas, softkern::kIsaCount);
  softkern::Isa parsed;
  report(softkern::parse_isa("avx2", &parsed));
  std::printf("%zu %s %d %d %s\n", count, softkern::isa_name(softkern::active_isa()),
              softkern::isa_compiled(parsed) ? 1 : 0, softkern::isa_supported(parsed) ? 1 : 0,
              softkern::isa_name(softkern::active_isa()));
  report(softkern::force_isa(softkern::Isa::kScalar));
  softkern::reset_isa();
  report(softkern::environment_status());

  auto serial = softkern::make_executor(1, [](std::size_t tasks, const auto& task) {
    for (std::size_t i = 0; i < tasks; ++i) task(i);
  });
  std::vector<float> x(8, 0.0f), y(8);
  report(softkern::softmax(x.data(), y.data(), x.size(), {.executor = &serial}));
  std::printf("%zu\n", softkern::default_executor().concurrency());
}

}  // namespace

int main() {
  softmax_calls();
  attention_calls();
  sampling_calls();
  serving_calls();
  dispatch_and_executor_calls();
}
