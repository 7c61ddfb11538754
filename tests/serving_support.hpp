// tests/serving_support.hpp — batches of sequences for the serving tests:
// queries, a packed dense K/V tensor, the same K/V in a paged pool (blocks
// shuffled through it, unused slots NaN, optionally a shared prefix), and
// each sequence's context gathered back into a dense tensor for attention(),
// and the checks the serving tests share (a batch against its sequences
// alone, rejected calls).
#ifndef SOFTKERN_TESTS_SERVING_SUPPORT_HPP_
#define SOFTKERN_TESTS_SERVING_SUPPORT_HPP_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace softkern_test {

using softkern::ElementType;
using softkern::KvPointer;

inline const char* type_label(ElementType t) {
  switch (t) {
    case ElementType::kFloat32: return "f32";
    case ElementType::kBFloat16: return "bf16";
    case ElementType::kFloat16: return "f16";
    case ElementType::kInt8: return "int8";
    case ElementType::kFloat8E4M3: return "e4m3";
    case ElementType::kFloat8E5M2: return "e5m2";
    default: return "?";
  }
}

// K or V bytes as the pointer type of `type`.
inline KvPointer kv_pointer(const unsigned char* p, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return reinterpret_cast<const softkern::bfloat16*>(p);
    case ElementType::kFloat16: return reinterpret_cast<const softkern::float16*>(p);
    case ElementType::kInt8: return reinterpret_cast<const std::int8_t*>(p);
    case ElementType::kFloat8E4M3: return reinterpret_cast<const softkern::float8_e4m3*>(p);
    case ElementType::kFloat8E5M2: return reinterpret_cast<const softkern::float8_e5m2*>(p);
    default: return reinterpret_cast<const float*>(p);
  }
}

inline bool is_quantized_type(ElementType t) { return softkern::is_quantized(t); }

// The value of element `i` of K/V bytes of `type` (codes without their scale).
inline float element_value(const unsigned char* p, std::size_t i, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: {
      softkern::bfloat16 b;
      std::memcpy(&b, p + 2 * i, 2);
      return softkern::to_float(b);
    }
    case ElementType::kFloat16: {
      softkern::float16 h;
      std::memcpy(&h, p + 2 * i, 2);
      return softkern::to_float(h);
    }
    case ElementType::kInt8: return static_cast<float>(static_cast<std::int8_t>(p[i]));
    case ElementType::kFloat8E4M3: return softkern::to_float(softkern::float8_e4m3{p[i]});
    case ElementType::kFloat8E5M2: return softkern::to_float(softkern::float8_e5m2{p[i]});
    default: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
  }
}

// K or V storage of `type` over bytes, for append_kv.
inline softkern::KvStorage kv_storage(unsigned char* p, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return reinterpret_cast<softkern::bfloat16*>(p);
    case ElementType::kFloat16: return reinterpret_cast<softkern::float16*>(p);
    case ElementType::kInt8: return reinterpret_cast<std::int8_t*>(p);
    case ElementType::kFloat8E4M3: return reinterpret_cast<softkern::float8_e4m3*>(p);
    case ElementType::kFloat8E5M2: return reinterpret_cast<softkern::float8_e5m2*>(p);
    default: return reinterpret_cast<float*>(p);
  }
}

// One sequence: its queries and its context length.
struct SequenceShape {
  std::size_t queries, keys;
};

struct BatchData {
  std::size_t H = 1, Hk = 1, d = 1;
  ElementType type = ElementType::kFloat32;
  std::size_t es = 4;  // bytes per K/V element
  std::vector<std::int32_t> q_off, k_off;
  std::vector<float> q;                   // [rows, H, d]
  std::vector<unsigned char> kbytes, vbytes;  // packed dense [total keys, Hk, d]
  std::vector<float> kvalues, vvalues;        // what was quantized (or stored), [total keys, Hk, d]
  // Quantized: int8 [total keys, Hk] per row and head, fp8 [Hk] per head.
  std::vector<float> kscales, vscales;
  std::vector<float> mask, sinks, slopes;  // mask [rows, mask_row_stride]; sinks and ALiBi slopes [H]
  std::size_t mask_row_stride = 0;
  // The paged pool (make_pool).
  std::size_t block_size = 0, num_blocks = 0, table_stride = 0;
  bool head_major = false;
  std::vector<unsigned char> kpool, vpool;
  std::vector<float> kpool_scales, vpool_scales;  // int8: [num_blocks, block_size, Hk]
  std::vector<std::int32_t> tables;

  std::size_t sequences() const { return q_off.size() - 1; }
  std::size_t rows() const { return static_cast<std::size_t>(q_off.back()); }
  std::size_t queries(std::size_t s) const { return static_cast<std::size_t>(q_off[s + 1] - q_off[s]); }
  std::size_t keys(std::size_t s) const { return static_cast<std::size_t>(k_off[s + 1] - k_off[s]); }
  std::size_t max_keys() const {
    std::size_t m = 0;
    for (std::size_t s = 0; s < sequences(); ++s) m = std::max(m, keys(s));
    return m;
  }

  // Byte offset of (block p, slot t, head g) in the pool.
  std::size_t pool_at(std::size_t p, std::size_t t, std::size_t g) const {
    const std::size_t elems = head_major ? (p * Hk + g) * block_size * d + t * d : ((p * block_size + t) * Hk + g) * d;
    return elems * es;
  }

  // Sequence s's K (or V) in logical order as a dense [n, Hk, d] tensor of
  // the element type, read back from the pool when there is one.
  std::vector<unsigned char> gathered(std::size_t s, bool v) const {
    const std::size_t n = keys(s), row = Hk * d * es;
    const std::vector<unsigned char>& dense = v ? vbytes : kbytes;
    const std::vector<unsigned char>& pool = v ? vpool : kpool;
    std::vector<unsigned char> out(std::max<std::size_t>(1, n * row));
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t g = 0; g < Hk; ++g) {
        unsigned char* dst = out.data() + j * row + g * d * es;
        if (block_size == 0) {
          std::memcpy(dst, dense.data() + (k_off[s] + j) * row + g * d * es, d * es);
        } else {
          const std::size_t p = static_cast<std::size_t>(tables[s * table_stride + j / block_size]);
          std::memcpy(dst, pool.data() + pool_at(p, j % block_size, g), d * es);
        }
      }
    }
    return out;
  }

  // Sequence s's scales of K (or V) as attention() alone takes them: int8
  // [n, Hk] gathered in logical order, fp8 the per-head scales.
  std::vector<float> gathered_scales(std::size_t s, bool v) const {
    if (type != ElementType::kInt8) return v ? vscales : kscales;
    const std::size_t n = keys(s);
    std::vector<float> out(std::max<std::size_t>(1, n * Hk));
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t g = 0; g < Hk; ++g) {
        if (block_size == 0) {
          out[j * Hk + g] = (v ? vscales : kscales)[(k_off[s] + j) * Hk + g];
        } else {
          const std::size_t p = static_cast<std::size_t>(tables[s * table_stride + j / block_size]);
          out[j * Hk + g] = (v ? vpool_scales : kpool_scales)[(p * block_size + j % block_size) * Hk + g];
        }
      }
    }
    return out;
  }

  // Sequence s's K (or V) as the float values the cache holds (codes times
  // their scales, in double then rounded once), dense [n, Hk, d].
  std::vector<float> dequantized(std::size_t s, bool v) const {
    const std::vector<unsigned char> codes = gathered(s, v);
    const std::vector<float> scales = is_quantized_type(type) ? gathered_scales(s, v) : std::vector<float>();
    const std::size_t n = keys(s);
    std::vector<float> out(n * Hk * d);
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t g = 0; g < Hk; ++g) {
        double scale = 1.0;
        if (type == ElementType::kInt8) scale = scales[j * Hk + g];
        if (type == ElementType::kFloat8E4M3 || type == ElementType::kFloat8E5M2) scale = scales[g];
        for (std::size_t c = 0; c < d; ++c) {
          const std::size_t at = (j * Hk + g) * d + c;
          out[at] = static_cast<float>(element_value(codes.data(), at, type) * scale);
        }
      }
    }
    return out;
  }

  // attention() on sequence s alone over its gathered K and V, output into o
  // and lse.
  softkern::AttentionTensors sequence_tensors(std::size_t s, const std::vector<unsigned char>& k,
                                              const std::vector<unsigned char>& v, float* o, float* lse) const {
    softkern::AttentionTensors t;
    t.queries = queries(s);
    t.keys = keys(s);
    t.heads = H;
    t.kv_heads = Hk;
    t.head_dim = d;
    t.q = q.data() + q_off[s] * H * d;
    t.k = kv_pointer(k.data(), type);
    t.v = kv_pointer(v.data(), type);
    t.o = o;
    t.lse = lse;
    if (is_quantized_type(type)) {
      gathered_k_scales_ = gathered_scales(s, false);
      gathered_v_scales_ = gathered_scales(s, true);
      t.k_scales = gathered_k_scales_.data();
      t.v_scales = gathered_v_scales_.data();
    }
    return t;
  }

  softkern::AttentionBatch base_batch() const {
    softkern::AttentionBatch b;
    b.sequences = sequences();
    b.heads = H;
    b.kv_heads = Hk;
    b.head_dim = d;
    b.query_offsets = q_off.data();
    b.key_offsets = k_off.data();
    b.q = q.data();
    return b;
  }
  softkern::AttentionBatch dense_batch() const {
    softkern::AttentionBatch b = base_batch();
    b.k = kv_pointer(kbytes.data(), type);
    b.v = kv_pointer(vbytes.data(), type);
    if (is_quantized_type(type)) {
      b.k_scales = kscales.data();
      b.v_scales = vscales.data();
    }
    return b;
  }
  softkern::AttentionBatch paged_batch() const {
    softkern::AttentionBatch b = base_batch();
    b.paged.block_size = block_size;
    b.paged.num_blocks = num_blocks;
    b.paged.k = kv_pointer(kpool.data(), type);
    b.paged.v = kv_pointer(vpool.data(), type);
    if (head_major) {
      b.paged.row_stride = d;
      b.paged.head_stride = block_size * d;
    }
    b.paged.block_tables = tables.data();
    b.paged.block_table_stride = table_stride;
    if (type == ElementType::kInt8) {
      b.paged.k_scales = kpool_scales.data();
      b.paged.v_scales = vpool_scales.data();
    } else if (is_quantized_type(type)) {
      b.paged.k_scales = kscales.data();
      b.paged.v_scales = vscales.data();
    }
    return b;
  }

  // Copies the packed dense K/V into a pool of blocks of `bs` tokens, in a
  // shuffled block order with spare blocks between them (their slots, and the
  // unused slots of each sequence's last block, hold NaN). With
  // share_prefix, the last sequence's table starts with the full blocks of
  // the sequence before it, whose rows it takes over (shared prefix).
  void make_pool(std::size_t bs, bool head_major_blocks, bool share_prefix, std::uint64_t seed) {
    block_size = bs;
    head_major = head_major_blocks;
    const std::size_t S = sequences();
    std::size_t shared = 0;
    if (share_prefix && S >= 2) {
      shared = std::min(keys(S - 1), keys(S - 2)) / bs;
      // The last sequence's first shared * bs rows become those of the one before.
      const std::size_t row = Hk * d * es;
      std::memcpy(kbytes.data() + k_off[S - 1] * row, kbytes.data() + k_off[S - 2] * row, shared * bs * row);
      std::memcpy(vbytes.data() + k_off[S - 1] * row, vbytes.data() + k_off[S - 2] * row, shared * bs * row);
      if (type == ElementType::kInt8) {
        std::copy_n(kscales.begin() + k_off[S - 2] * Hk, shared * bs * Hk, kscales.begin() + k_off[S - 1] * Hk);
        std::copy_n(vscales.begin() + k_off[S - 2] * Hk, shared * bs * Hk, vscales.begin() + k_off[S - 1] * Hk);
      }
    }
    table_stride = 0;
    std::size_t needed = 0;
    for (std::size_t s = 0; s < S; ++s) {
      const std::size_t blocks = (keys(s) + bs - 1) / bs;
      table_stride = std::max(table_stride, blocks);
      needed += blocks;
    }
    table_stride += 3;  // tables wider than needed, as an engine's are
    num_blocks = needed + 7;
    std::vector<std::int32_t> order(num_blocks);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    const std::size_t pool_bytes = num_blocks * bs * Hk * d * es;
    kpool.assign(pool_bytes, 0);
    vpool.assign(pool_bytes, 0);
    fill_nan(kpool);
    fill_nan(vpool);
    if (type == ElementType::kInt8) {  // unread slots' scales are NaN: only the read ones are checked
      kpool_scales.assign(num_blocks * bs * Hk, std::numeric_limits<float>::quiet_NaN());
      vpool_scales.assign(num_blocks * bs * Hk, std::numeric_limits<float>::quiet_NaN());
    }
    tables.assign(S * table_stride, -7);  // entries past a sequence's blocks are never read
    std::size_t next = 0;
    for (std::size_t s = 0; s < S; ++s) {
      const std::size_t blocks = (keys(s) + bs - 1) / bs;
      for (std::size_t i = 0; i < blocks; ++i) {
        const bool reuse = s == S - 1 && i < shared;
        const std::int32_t p = reuse ? tables[(s - 1) * table_stride + i] : order[next++];
        tables[s * table_stride + i] = p;
        if (reuse) continue;
        for (std::size_t t = 0; t < bs && i * bs + t < keys(s); ++t) {
          for (std::size_t g = 0; g < Hk; ++g) {
            const std::size_t src = ((k_off[s] + i * bs + t) * Hk + g) * d * es;
            std::memcpy(kpool.data() + pool_at(static_cast<std::size_t>(p), t, g), kbytes.data() + src, d * es);
            std::memcpy(vpool.data() + pool_at(static_cast<std::size_t>(p), t, g), vbytes.data() + src, d * es);
            if (type == ElementType::kInt8) {
              const std::size_t from = (k_off[s] + i * bs + t) * Hk + g, to = (p * bs + t) * Hk + g;
              kpool_scales[to] = kscales[from];
              vpool_scales[to] = vscales[from];
            }
          }
        }
      }
    }
  }

 private:
  void fill_nan(std::vector<unsigned char>& bytes) const {
    if (es == 4) {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      for (std::size_t i = 0; i + 4 <= bytes.size(); i += 4) std::memcpy(bytes.data() + i, &nan, 4);
    } else if (es == 2) {
      const std::uint16_t nan = type == ElementType::kBFloat16 ? 0x7FC0 : 0x7E00;
      for (std::size_t i = 0; i + 2 <= bytes.size(); i += 2) std::memcpy(bytes.data() + i, &nan, 2);
    } else {
      std::fill(bytes.begin(), bytes.end(), static_cast<unsigned char>(0x7F));
    }
  }
  mutable std::vector<float> gathered_k_scales_, gathered_v_scales_;
};

// Random queries and K/V for the given sequence shapes; the mask hides about
// one entry in six, the sinks are per head.
inline BatchData make_batch(const std::vector<SequenceShape>& shapes, std::size_t H, std::size_t Hk, std::size_t d,
                            ElementType type, std::uint64_t seed) {
  BatchData x;
  x.H = H;
  x.Hk = Hk;
  x.d = d;
  x.type = type;
  x.es = softkern::element_bytes(type);
  x.q_off.push_back(0);
  x.k_off.push_back(0);
  for (const SequenceShape& s : shapes) {
    x.q_off.push_back(x.q_off.back() + static_cast<std::int32_t>(s.queries));
    x.k_off.push_back(x.k_off.back() + static_cast<std::int32_t>(s.keys));
  }
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  x.q.resize(x.rows() * H * d);
  for (float& v : x.q) v = normal(rng);
  const std::size_t rows_k = static_cast<std::size_t>(x.k_off.back()), elems = rows_k * Hk * d;
  x.kvalues.resize(elems);
  x.vvalues.resize(elems);
  for (std::size_t i = 0; i < elems; ++i) {
    x.kvalues[i] = 1.5f * normal(rng);
    x.vvalues[i] = normal(rng);
  }
  // Written through append_kv, as an engine would: rows 0 .. rows_k - 1 of a
  // dense cache, quantized to `type` (fp8: a per-head scale that maps the
  // head's largest magnitude to a quarter of the format's range).
  x.kbytes.assign(std::max<std::size_t>(1, elems * x.es), 0);
  x.vbytes.assign(std::max<std::size_t>(1, elems * x.es), 0);
  if (type == ElementType::kInt8) {
    x.kscales.assign(std::max<std::size_t>(1, rows_k * Hk), 0.0f);
    x.vscales.assign(std::max<std::size_t>(1, rows_k * Hk), 0.0f);
  } else if (is_quantized_type(type)) {
    const float range = type == ElementType::kFloat8E4M3 ? 448.0f / 4 : 57344.0f / 4;
    for (const auto* values : {&x.kvalues, &x.vvalues}) {
      std::vector<float>& scales = values == &x.kvalues ? x.kscales : x.vscales;
      scales.assign(Hk, 0.0f);
      for (std::size_t j = 0; j < rows_k; ++j)
        for (std::size_t g = 0; g < Hk; ++g)
          for (std::size_t c = 0; c < d; ++c) scales[g] = std::max(scales[g], std::fabs((*values)[(j * Hk + g) * d + c]));
      for (float& sc : scales) sc = sc > 0 ? sc / range : 1.0f;
    }
  }
  if (rows_k > 0) {
    std::vector<std::int64_t> slots(rows_k);
    std::iota(slots.begin(), slots.end(), 0);
    for (bool v : {false, true}) {
      softkern::KvAppend a;
      a.tokens = rows_k;
      a.kv_heads = Hk;
      a.head_dim = d;
      a.x = (v ? x.vvalues : x.kvalues).data();
      a.slots = slots.data();
      a.cache = kv_storage((v ? x.vbytes : x.kbytes).data(), type);
      a.cache_rows = rows_k;
      if (type == ElementType::kInt8) a.scales = (v ? x.vscales : x.kscales).data();
      if (is_quantized_type(type) && type != ElementType::kInt8) a.head_scales = (v ? x.vscales : x.kscales).data();
      const softkern::Status st = softkern::append_kv(a);
      if (!st.ok()) {
        ADD_FAILURE() << "append_kv: " << st.message();
      }
    }
  }
  x.mask_row_stride = std::max<std::size_t>(1, x.max_keys());
  x.mask.resize(std::max<std::size_t>(1, x.rows()) * x.mask_row_stride);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float& m : x.mask) m = rng() % 6 == 0 ? -std::numeric_limits<float>::infinity() : u(rng);
  x.sinks.resize(H);
  for (float& s : x.sinks) s = u(rng);
  x.slopes.resize(H);
  for (std::size_t h = 0; h < H; ++h) x.slopes[h] = std::ldexp(1.0f, -static_cast<int>(h % 8 + 1));
  return x;
}


// ------------------------------------------------------------ shared checks

using softkern::AttentionBatch;
using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ScoreFunction;

// The option sets each identity runs with (under the boundary sweep, the
// two that between them take every score path the batch adds: masks and
// sinks, and soft-capping with ALiBi and a window).
inline std::vector<std::pair<const char*, softkern::AttentionOptions>> option_sets(const BatchData& x) {
  std::vector<std::pair<const char*, AttentionOptions>> v;
  AttentionOptions o;
  v.push_back({"softmax", o});
  o.sinks = x.sinks.data();
  o.mask = x.mask.data();
  o.mask_row_stride = x.mask_row_stride;
  o.temperature = 0.7f;
  v.push_back({"softmax_sinks_mask_T0.7", o});
  AttentionOptions w;
  w.window = 11;
  w.softcap = 3.0f;
  w.alibi_slopes = x.slopes.data();
  v.push_back({"softmax_window_11_softcap_alibi", w});
  AttentionOptions s;
  s.score = ScoreFunction::kSigmoid;
  s.mask = x.mask.data();
  s.mask_row_stride = x.mask_row_stride;
  v.push_back({"sigmoid_mask", s});
  AttentionOptions p;
  p.score = ScoreFunction::kSoftplus;
  p.window = 40;
  v.push_back({"softplus_window_40", p});
  if (!full_sweep()) return {v[1], v[2]};
  return v;
}

// Runs the batch and each sequence alone with `executor`, and compares
// every output and lse bit for bit.
inline void expect_batch_equals_sequences(const BatchData& x, const softkern::AttentionBatch& batch,
                                          const softkern::AttentionOptions& options,
                                   softkern::Executor* executor, const std::string& what, FailureLog& log) {
  AttentionOptions o = options;
  o.executor = executor;
  const bool with_lse = o.score == ScoreFunction::kSoftmax;
  std::vector<float> out(x.rows() * x.H * x.d), lse(x.rows() * x.H);
  fill_sentinel(out.data(), out.size());
  fill_sentinel(lse.data(), lse.size());
  AttentionBatch b = batch;
  b.o = out.data();
  b.lse = with_lse ? lse.data() : nullptr;
  const Status s = softkern::attention_batch(b, o);
  if (!s.ok()) {
    log.add(what + ": rejected: " + s.message());
    return;
  }
  for (std::size_t q = 0; q < x.sequences(); ++q) {
    std::vector<float> alone(x.queries(q) * x.H * x.d), alone_lse(x.queries(q) * x.H);
    const std::vector<unsigned char> k = x.gathered(q, false), v = x.gathered(q, true);
    AttentionTensors t = x.sequence_tensors(q, k, v, alone.data(), with_lse ? alone_lse.data() : nullptr);
    AttentionOptions oq = o;
    if (o.mask != nullptr) oq.mask = o.mask + x.q_off[q] * o.mask_row_stride;
    const Status sq = softkern::attention(t, oq);
    if (!sq.ok()) {
      log.add(what + ": attention() alone rejected sequence " + std::to_string(q) + ": " + sq.message());
      continue;
    }
    const std::size_t first = x.q_off[q] * x.H * x.d;
    if (!bitwise_equal(alone.data(), out.data() + first, alone.size()) ||
        (with_lse && !bitwise_equal(alone_lse.data(), lse.data() + x.q_off[q] * x.H, alone_lse.size()))) {
      log.add(what + ": sequence " + std::to_string(q) + " (" + std::to_string(x.queries(q)) + " queries, " +
              std::to_string(x.keys(q)) + " keys) differs from attention() alone");
    }
  }
}

// A rejected batch call: how it is made from a valid one, and its code.
struct RejectedCase {
  const char* name;
  StatusCode code;
  std::function<void(AttentionBatch&, AttentionOptions&)> edit;
};

// Each case on every target, from x's paged batch: its status code, and not
// one byte of o (or lse, when with_lse) written.
inline void expect_rejected(const BatchData& x, const std::vector<RejectedCase>& cases, bool with_lse) {
  for_each_supported_isa([&](Isa isa) {
    for (const RejectedCase& c : cases) {
      std::vector<float> out(x.rows() * x.H * x.d + 64), lse(x.rows() * x.H + 64);
      fill_sentinel(out.data(), out.size());
      fill_sentinel(lse.data(), lse.size());
      AttentionBatch b = x.paged_batch();
      b.o = out.data();
      b.lse = with_lse ? lse.data() : nullptr;
      AttentionOptions o;
      c.edit(b, o);
      const Status s = softkern::attention_batch(b, o);
      EXPECT_EQ(s.code(), c.code) << softkern::isa_name(isa) << " " << c.name << ": " << s.message();
      EXPECT_TRUE(is_sentinel(out.data(), out.size())) << c.name << ": o was written";
      EXPECT_TRUE(is_sentinel(lse.data(), lse.size())) << c.name << ": lse was written";
    }
  });
}

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_SERVING_SUPPORT_HPP_
