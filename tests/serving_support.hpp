// tests/serving_support.hpp — batches of sequences for the serving tests:
// queries, a packed dense K/V tensor, the same K/V in a paged pool (blocks
// shuffled through it, unused slots NaN, optionally a shared prefix), and
// each sequence's context gathered back into a dense tensor for attention().
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
    default: return "?";
  }
}

// K or V bytes as the pointer type of `type`.
inline KvPointer kv_pointer(const unsigned char* p, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return reinterpret_cast<const softkern::bfloat16*>(p);
    case ElementType::kFloat16: return reinterpret_cast<const softkern::float16*>(p);
    default: return reinterpret_cast<const float*>(p);
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
  std::vector<float> mask, sinks;         // mask [rows, mask_row_stride]; sinks [H]
  std::size_t mask_row_stride = 0;
  // The paged pool (make_pool).
  std::size_t block_size = 0, num_blocks = 0, table_stride = 0;
  bool head_major = false;
  std::vector<unsigned char> kpool, vpool;
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
  const std::size_t elems = static_cast<std::size_t>(x.k_off.back()) * Hk * d;
  x.kbytes.assign(std::max<std::size_t>(1, elems * x.es), 0);
  x.vbytes.assign(std::max<std::size_t>(1, elems * x.es), 0);
  for (std::size_t i = 0; i < elems; ++i) {
    const float kv = 1.5f * normal(rng), vv = normal(rng);
    if (type == ElementType::kFloat32) {
      std::memcpy(x.kbytes.data() + 4 * i, &kv, 4);
      std::memcpy(x.vbytes.data() + 4 * i, &vv, 4);
    } else {
      const std::uint16_t kb = type == ElementType::kBFloat16 ? softkern::to_bfloat16(kv).bits : softkern::to_float16(kv).bits;
      const std::uint16_t vb = type == ElementType::kBFloat16 ? softkern::to_bfloat16(vv).bits : softkern::to_float16(vv).bits;
      std::memcpy(x.kbytes.data() + 2 * i, &kb, 2);
      std::memcpy(x.vbytes.data() + 2 * i, &vb, 2);
    }
  }
  x.mask_row_stride = std::max<std::size_t>(1, x.max_keys());
  x.mask.resize(std::max<std::size_t>(1, x.rows()) * x.mask_row_stride);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float& m : x.mask) m = rng() % 6 == 0 ? -std::numeric_limits<float>::infinity() : u(rng);
  x.sinks.resize(H);
  for (float& s : x.sinks) s = u(rng);
  return x;
}

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_SERVING_SUPPORT_HPP_
