// libFuzzer target for attention_batch() over a paged (or packed dense) K/V
// cache.
//
// The bytes choose the target, the batch (1..6 sequences, each 0..5 queries
// over 0..90 keys: decode, chunked prefill, empty sequences), the heads, the
// head dim, the K/V element type (float32, bf16, f16, int8, fp8 E4M3/E5M2),
// the cache (paged with block size 1..48 or up to 256, default or head-major
// blocks, a shared prefix; or packed dense), the options (softmax or
// sigmoid, causal, window, sinks, mask, temperature, soft-capping and
// ALiBi), an executor, the data's
// seed, and now and then one defect: a block id outside the pool, a
// decreasing offset, a bad scale, a block size of 0 or 257, more queries than
// keys under a causal mask. A valid call must give each sequence exactly the
// bits of attention() on it alone over its gathered dense context (whose
// accuracy fuzz_attention checks); an invalid one must be rejected without
// writing o or lse.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../serving_support.hpp"

namespace {

using softkern::AttentionBatch;
using softkern::AttentionOptions;
using softkern::ElementType;

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  std::uint8_t u8() { return p_ < end_ ? *p_++ : 0; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_serving: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Two tasks at a time, in order, on the calling thread.
auto g_in_order = softkern::make_executor(2, [](std::size_t count, const auto& task) {
  for (std::size_t i = 0; i < count; ++i) task(i);
});

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t isa_count = softkern::supported_isas(isas, softkern::kIsaCount);
  const softkern::Isa isa = isas[in.u8() % isa_count];
  if (!softkern::force_isa(isa).ok()) Fail("force_isa failed");

  const std::size_t sequences = 1 + in.u8() % 6;
  std::vector<softkern_test::SequenceShape> shapes;
  for (std::size_t s = 0; s < sequences; ++s) {
    const std::size_t keys = in.u8() % 91;
    const std::size_t queries = std::min<std::size_t>(keys, in.u8() % 6);
    shapes.push_back({queries, keys});
  }
  const std::size_t Hk = 1 + in.u8() % 2, H = Hk * (1 + in.u8() % 4);
  const std::size_t dims[] = {1, 3, 8, 16, 33, 64, 128};
  const std::size_t d = dims[in.u8() % 7];
  const ElementType type = static_cast<ElementType>(in.u8() % softkern::kElementTypeCount);
  const std::uint8_t cache_byte = in.u8();
  const bool paged = cache_byte & 1, head_major = cache_byte & 2, share = cache_byte & 4;
  const std::size_t block_size = (cache_byte & 8) ? 1 + in.u8() % 48 : 1 + in.u8();
  const std::uint8_t flags = in.u8();
  AttentionOptions o;
  o.score = (flags & 1) ? softkern::ScoreFunction::kSigmoid : softkern::ScoreFunction::kSoftmax;
  o.causal = flags & 2;
  o.window = (flags & 4) ? 1 + in.u8() % 40 : 0;
  const bool use_sinks = (flags & 8) && o.score == softkern::ScoreFunction::kSoftmax;
  const bool use_mask = flags & 16;
  if (o.score == softkern::ScoreFunction::kSoftmax) o.temperature = (flags & 32) ? 0.5f : 1.0f;
  if (flags & 64) o.executor = &g_in_order;
  const bool modifiers = flags & 128;  // soft-capping and ALiBi
  const std::uint64_t seed = in.u8() | (static_cast<std::uint64_t>(in.u8()) << 8);
  const std::uint8_t defect = in.u8();

  softkern_test::BatchData x = softkern_test::make_batch(shapes, H, Hk, d, type, seed);
  if (paged) x.make_pool(block_size, head_major, share, seed + 1);
  AttentionBatch b = paged ? x.paged_batch() : x.dense_batch();
  if (use_sinks) o.sinks = x.sinks.data();
  if (modifiers) {
    o.softcap = 2.0f;
    o.alibi_slopes = x.slopes.data();
  }
  if (use_mask) {
    o.mask = x.mask.data();
    o.mask_row_stride = x.mask_row_stride;
  }
  // One defect, now and then.
  bool valid = true;
  std::vector<std::int32_t> offsets = x.k_off, tables = x.tables;
  std::vector<float> scales;
  const std::size_t victim = defect % sequences;
  switch (defect >> 4) {
    case 1:
      if (paged && x.keys(victim) > 0 && x.queries(victim) > 0) {
        tables[victim * x.table_stride + (defect & 15) % ((x.keys(victim) + block_size - 1) / block_size)] =
            (defect & 1) ? -1 : static_cast<std::int32_t>(x.num_blocks);
        b.paged.block_tables = tables.data();
        valid = false;
      }
      break;
    case 2:
      if (x.k_off[victim + 1] > 0) {
        offsets[victim + 1] = x.k_off[victim] - 1;
        b.key_offsets = offsets.data();
        valid = false;
      }
      break;
    case 3:
      if (softkern::is_quantized(type) && x.keys(victim) > 0 && x.queries(victim) > 0) {
        if (type == ElementType::kInt8 && paged) {
          scales = x.kpool_scales;
          scales[static_cast<std::size_t>(x.tables[victim * x.table_stride]) * block_size * Hk] = (defect & 1) ? 0.0f : NAN;
          b.paged.k_scales = scales.data();
        } else {
          scales = x.kscales;
          scales[type == ElementType::kInt8 ? static_cast<std::size_t>(x.k_off[victim]) * Hk : 0] = -1.0f;
          (paged ? b.paged.k_scales : b.k_scales) = scales.data();
        }
        valid = false;
      }
      break;
    case 4:
      if (paged) {
        b.paged.block_size = (defect & 1) ? 0 : 257;
        valid = false;
      }
      break;
    case 5:
      if (o.causal && x.queries(victim) > 0) {
        for (std::size_t s = victim + 1; s < offsets.size(); ++s) offsets[s] -= static_cast<std::int32_t>(x.keys(victim));
        b.key_offsets = offsets.data();
        valid = false;
      }
      break;
    default: break;
  }

  const float sentinel = -12345.0f;
  const bool with_lse = o.score == softkern::ScoreFunction::kSoftmax;
  std::vector<float> out(std::max<std::size_t>(1, x.rows() * H * d), sentinel), lse(std::max<std::size_t>(1, x.rows() * H), sentinel);
  b.o = out.data();
  b.lse = with_lse ? lse.data() : nullptr;
  const softkern::Status s = softkern::attention_batch(b, o);
  const std::string what = std::string("isa=") + softkern::isa_name(isa) + " sequences=" + std::to_string(sequences) +
                           " H=" + std::to_string(H) + "/" + std::to_string(Hk) + " d=" + std::to_string(d) +
                           " type=" + softkern_test::type_label(type) + (paged ? " paged block=" + std::to_string(block_size) : " dense") +
                           " defect=" + std::to_string(defect >> 4);
  if (!valid) {
    softkern::reset_isa();
    if (s.ok()) Fail("accepted an invalid call: " + what);
    for (float v : out) if (v != sentinel) Fail("a rejected call wrote o: " + what);
    for (float v : lse) if (v != sentinel) Fail("a rejected call wrote lse: " + what);
    return 0;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());
  for (std::size_t q = 0; q < sequences; ++q) {
    std::vector<float> alone(std::max<std::size_t>(1, x.queries(q) * H * d)), alone_lse(std::max<std::size_t>(1, x.queries(q) * H));
    const std::vector<unsigned char> k = x.gathered(q, false), v = x.gathered(q, true);
    softkern::AttentionTensors t = x.sequence_tensors(q, k, v, alone.data(), with_lse ? alone_lse.data() : nullptr);
    AttentionOptions oq = o;
    if (o.mask != nullptr) oq.mask = o.mask + x.q_off[q] * o.mask_row_stride;
    const softkern::Status sq = softkern::attention(t, oq);
    if (!sq.ok()) Fail("attention() alone rejected a sequence the batch accepted: " + what + ": " + sq.message());
    const std::size_t n = x.queries(q) * H * d;
    if (std::memcmp(alone.data(), out.data() + x.q_off[q] * H * d, n * sizeof(float)) != 0 ||
        (with_lse && std::memcmp(alone_lse.data(), lse.data() + x.q_off[q] * H, x.queries(q) * H * sizeof(float)) != 0)) {
      Fail("sequence " + std::to_string(q) + " differs from attention() alone: " + what);
    }
  }
  softkern::reset_isa();
  return 0;
}
