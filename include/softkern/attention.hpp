// softkern/attention.hpp — fused attention over float32 queries and float32,
// bf16 or f16 keys and values: decode (one query per head over a long KV
// cache) and prefill (many queries, causal), with grouped-query heads.
//
//   softkern::AttentionTensors t;              // dense [L, H, d] q/o, [n, Hk, d] K/V
//   t.queries = 1; t.keys = n; t.heads = 32; t.kv_heads = 8; t.head_dim = 128;
//   t.q = q; t.k = k_cache; t.v = v_cache; t.o = out;  // K/V: float, bfloat16 or float16
//   softkern::Status s = softkern::attention(t);              // softmax, scale 1/sqrt(d)
//   s = softkern::attention(t, {.score = softkern::ScoreFunction::kSigmoid});  // C++20
//
// Score functions (AttentionOptions::score), scale = 1/sqrt(d) unless set:
//  - kSoftmax: o_i = sum_j e^{z_ij} v_j / (e^{S_h/T} + sum_j e^{z_ij}),
//    z_ij = (scale q_i.k_j + mask_ij) / T, with the per-head sink S_h only when
//    `sinks` is given (gpt-oss; S_h = 0 is softmax-off-by-one). Online softmax,
//    one pass over K and V, the score row is never materialised; the online
//    state starts from m = S_h/T, l = 1 (or m = -inf, l = 0 without a sink).
//  - kSigmoid (FlashSigmoid, Ramapuram et al. 2024): o_i = sum_j
//    sigmoid(scale q_i.k_j + mask_ij + b) v_j, no max, no normalisation.
//  - kSoftplus (LSSA with re-weighting, LSSAR, Gao et al. 2025): see
//    AttentionOptions::softplus_power for the formulas.
//
// Score modifiers (AttentionOptions): soft-capping c tanh(s / c) of scale
// q.k (softmax, sigmoid) and ALiBi slopes per head (every score function).
//
// Masking (every score function): key j is visible to query i when it passes
// the causal test (position of key <= position of query), the sliding window
// (position of query - window < position of key) and its mask entry is not
// -inf. An invisible key gets weight exactly 0: it is skipped (its K and V
// values do not matter, NaN included). A query that sees no key gives an
// all-zero output (not NaN) and, for softmax without a sink, lse = -inf.
//
// Non-finite inputs: a NaN score, or a NaN in the V row of a key with a
// non-zero weight, makes that query's output NaN. A +inf score makes a
// softmax or softplus query NaN (no limit semantics, unlike softmax() on
// +inf logits); sigmoid saturates (weight 1). A -inf score hides the key,
// like a -inf mask entry.
//
// Rejected calls (bad shapes, strides, null pointers, overlapping outputs,
// out-of-domain options) return a Status and write nothing.
#ifndef SOFTKERN_ATTENTION_HPP_
#define SOFTKERN_ATTENTION_HPP_

#include <cstddef>
#include <cstdint>

#include "softkern/dispatch.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"
#include "softkern/status.hpp"

namespace softkern {

// Where K or V is: a pointer to float32, bfloat16 or float16 elements, or
// to quantized codes, std::int8_t, float8_e4m3 or float8_e5m2
// (element_types.hpp; codes come with scales, see AttentionTensors), with
// the type it was given. Assign a typed pointer, `tensors.k = k_cache;`; a
// pointer of any other type does not compile (data in another 16-bit or
// 8-bit type goes through as_bfloat16 / as_float16 / as_float8_e4m3 /
// as_float8_e5m2). K/V are widened to float as they are loaded, in the
// loops; all arithmetic is float32.
class KvPointer {
 public:
  constexpr KvPointer() = default;
  constexpr KvPointer(std::nullptr_t) {}
  constexpr KvPointer(const float* p) : data_(p), type_(ElementType::kFloat32) {}
  constexpr KvPointer(const bfloat16* p) : data_(p), type_(ElementType::kBFloat16) {}
  constexpr KvPointer(const float16* p) : data_(p), type_(ElementType::kFloat16) {}
  constexpr KvPointer(const std::int8_t* p) : data_(p), type_(ElementType::kInt8) {}
  constexpr KvPointer(const float8_e4m3* p) : data_(p), type_(ElementType::kFloat8E4M3) {}
  constexpr KvPointer(const float8_e5m2* p) : data_(p), type_(ElementType::kFloat8E5M2) {}

  constexpr const void* data() const { return data_; }
  constexpr ElementType type() const { return type_; }

 private:
  const void* data_ = nullptr;
  ElementType type_ = ElementType::kFloat32;
};

enum class ScoreFunction : int {
  kSoftmax = 0,
  kSigmoid,
  kSoftplus,
};
inline constexpr int kScoreFunctionCount = 3;

// "softmax", "sigmoid", "softplus".
const char* score_function_name(ScoreFunction score);

// Largest head dimension the kernels accept (their per-call scratch lives on
// the stack, sized for it).
inline constexpr std::size_t kMaxHeadDim = 256;

// Default FlashSigmoid bias: -ln 2048, what FlashSigmoid uses for a training
// length of 2048. It is a constant, not -ln(n) of the call, so that a split
// over keys sums to the unsplit result; set -ln(your training length).
inline constexpr float kDefaultSigmoidBias = -7.62461899f;

// Position of the first query when it is "the last `queries` positions of the
// keys": query_start = key_start + keys - queries (decode: the query is the
// newest token; prefill with a cached prefix of P = keys - queries tokens).
// With more queries than that (cross attention), it is an error when the
// positions matter (causal or a window) and 0 otherwise.
inline constexpr std::size_t kQueriesAtEnd = SIZE_MAX;

// Where the tensors are. Strides are in elements of the tensor's own type; a
// stride left 0 takes its dense value:
//   q, o:  element (i, h, c) at i * row_stride + h * head_stride + c,
//          dense [L, H, d]: head_stride = d, row_stride = H * d;
//   k, v:  element (j, g, c) at j * kv_row_stride + g * kv_head_stride + c,
//          dense [n, Hk, d]: kv_head_stride = d, kv_row_stride = Hk * d. A
//          head-major cache [Hk, n, d] is kv_row_stride = d, kv_head_stride = n * d;
//   lse:   (i, h) at i * lse_row_stride + h, dense lse_row_stride = H.
// Query head h reads KV head h / (H / Hk) (grouped-query attention; H must
// be a multiple of Hk). K and V share the layout and the type.
struct AttentionTensors {
  std::size_t queries = 1;   // L
  std::size_t keys = 0;      // n
  std::size_t heads = 1;     // H, query heads
  std::size_t kv_heads = 1;  // Hk
  std::size_t head_dim = 0;  // d, 1..kMaxHeadDim (K, V and the output share it)

  const float* q = nullptr;
  std::size_t q_row_stride = 0, q_head_stride = 0;
  KvPointer k;  // K and V must have the same element type
  KvPointer v;
  std::size_t kv_row_stride = 0, kv_head_stride = 0;
  // Quantized K/V only (null otherwise): float32 scales, finite and > 0; an
  // element's value is code * scale.
  //  - int8: one scale per (key, KV head), (j, g) at j * scale_row_stride +
  //    g * scale_head_stride, dense [n, Hk];
  //  - float8_e4m3, float8_e5m2: one per KV head, g at g * scale_head_stride.
  const float* k_scales = nullptr;
  const float* v_scales = nullptr;
  std::size_t scale_row_stride = 0, scale_head_stride = 0;
  float* o = nullptr;
  std::size_t o_row_stride = 0, o_head_stride = 0;
  // Optional (softmax only): the natural log of each query's denominator,
  // log(e^{S_h/T} + sum_j e^{z_ij}); -inf when it is 0. What merges split-KV
  // partials (attention_merge).
  float* lse = nullptr;
  std::size_t lse_row_stride = 0;

  // Positions for the causal mask and the window: query i is at query_start
  // + i, key j at key_start + j. A split-KV chunk [b, e) of a cache passes
  // k, v advanced by b rows, keys = e - b, key_start = b, and the query's
  // own position.
  std::size_t query_start = kQueriesAtEnd;
  std::size_t key_start = 0;
};

struct AttentionOptions {
  ScoreFunction score = ScoreFunction::kSoftmax;
  // Multiplies q.k; 0 means 1/sqrt(d). Ignored by kSoftplus, whose scores are
  // cosines scaled by ln d * ln N_i. Must be finite.
  float scale = 0.0f;
  // Softmax only: softmax(z / T); finite, > 0, and 1/T a float. Must be 1 for
  // the other score functions.
  float temperature = 1.0f;
  // Query i sees keys at positions <= its own.
  bool causal = true;
  // Sliding window: when > 0, query at position p sees keys at p - window < j
  // (with causal: p - window < j <= p).
  std::size_t window = 0;
  // Softmax only: one sink logit per query head (S_h, `heads` floats), scaled
  // by 1/T like the scores. NaN makes that head's outputs NaN; -inf is no sink.
  const float* sinks = nullptr;
  // Additive mask, added to scale q.k before anything else: entry (i, j) of
  // head h at mask[i * mask_row_stride + h * mask_head_stride + j]
  // (mask_row_stride 0 means `keys`; mask_head_stride 0 shares one [L, n]
  // mask across heads). -inf hides the key; a NaN entry makes that query's
  // output NaN.
  const float* mask = nullptr;
  std::size_t mask_row_stride = 0, mask_head_stride = 0;
  // Sigmoid only: b in sigmoid(scale q.k + mask + b).
  float sigmoid_bias = kDefaultSigmoidBias;
  // Logit soft-capping (Gemma 2), softmax and sigmoid: when > 0 (finite), the
  // score scale q.k becomes c tanh(scale q.k / c) before the mask, ALiBi,
  // the temperature and the sigmoid bias; +-inf scores become +-c.
  float softcap = 0.0f;
  // ALiBi (Press et al. 2022; vLLM's and FlashAttention's alibi_slopes): one
  // finite slope per query head (`heads` floats); query i and key j get
  // -slope_h |position_i - position_j| added like a mask entry (a causal
  // query: slope_h (j - i)). Distances are exact up to 2^24 positions.
  const float* alibi_slopes = nullptr;
  // Softplus only (softplus attention with re-weighting, LSSA/LSSAR, Gao et
  // al. 2025):
  //   q^ = q/|q|, k^ = k/|k| (|x| floored at 1e-12, as torch's F.normalize),
  //   N_i = number of keys query i sees,
  //   a_ij = softplus(ln d * ln N_i * q^_i.k^_j),  softplus(x) = max(x,0) + log1p(e^{-|x|}),
  //   A_ij = a_ij / (sum_j a_ij + 1e-8),
  //   r_ij = ReLU(A_ij * N_i - O)^p,   W_ij = r_ij / (sum_j r_ij + 1e-8),
  //   o_i  = sum_j W_ij v_j.
  // p = softplus_power (> 0, finite), O = softplus_offset (finite). The power
  // is taken on r / max_j r, so p = 15 cannot overflow.
  float softplus_power = 15.0f;
  float softplus_offset = 1.0f;
  // Where the work may run (executor.hpp). Null, or an executor of
  // concurrency 1: on the calling thread, nothing allocated. Otherwise the
  // call is cut into tasks by a rule that reads only the shapes, so the
  // result is bit-identical for every executor and thread count:
  //  - prefill, and softplus: one task per (KV head, block of 64 queries);
  //    each query row is computed exactly as without an executor (same bits);
  //  - decode-shaped calls (at most 16 queries) over at least 2 x 4096 keys,
  //    softmax and sigmoid: the keys are cut into chunks of 4096, one task per
  //    (KV head, chunk), merged as attention_merge() does (log-sum-exp for
  //    softmax, a sum for sigmoid). The merge rounds differently from the
  //    one-pass result (within the same bound), but identically whatever
  //    the executor.
  // Batches of sequences (decode steps, chunked prefill), paged caches:
  // attention_batch (serving.hpp), which cuts every sequence as this call
  // does, all in one executor run.
  Executor* executor = nullptr;
};

// o = attention(q, K, V) for every query row and head. Decode is queries = 1.
// Softmax and sigmoid read K and V once (prefill: once per tile of queries,
// FlashAttention-2 order, memory O(L d)); softplus makes three passes over K
// and one over V (it needs two row statistics before its weights exist).
Status attention(const AttentionTensors& tensors, const AttentionOptions& options = {});

// Merges `splits` partial results of one attention call, each over a
// disjoint range of its keys (see AttentionTensors::key_start), into the
// result over all of them. Partials are dense: o_parts[(c * rows + r) * d + x],
// lse_parts[c * rows + r] for split c and row r = i * heads + h (the dense
// [L, H] order); o and lse (lse may be null) are dense [rows, d] and [rows].
//  - softmax: each partial computed *without* sinks and with its lse; the
//    sinks (options.sinks, options.temperature) are added here, once:
//    o = sum_c e^{lse_c - M} o_c / (e^{S_h/T - M} + sum_c e^{lse_c - M}).
//  - sigmoid: o = sum_c o_c (lse_parts unused, may be null).
// o may not overlap the partials.
Status attention_merge(std::size_t splits, std::size_t rows, std::size_t heads,
                       std::size_t head_dim, const float* o_parts, const float* lse_parts,
                       float* o, float* lse, const AttentionOptions& options = {});

// ------------------------------------------------------------ linear attention

enum class LinearKind : int {
  // Katharopoulos et al. 2020, phi(x) = elu(x) + 1:
  //   non-causal o_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / (phi(q_i)^T sum_j phi(k_j) + eps)
  //   causal:   S_i = S_{i-1} + phi(k_i) v_i^T, z_i = z_{i-1} + phi(k_i),
  //             o_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps).
  kEluPlusOne = 0,
  // Lightning Attention / TransNormerLLM, lambda_h = e^{-s_h}, causal only:
  //   o_t = sum_{u<=t} lambda^{t-u} (q_t.k_u) v_u,
  //   S_t = lambda S_{t-1} + k_t v_t^T, o_t = q_t^T S_t.
  // Prefill runs in chunks: inside a chunk the quadratic form with
  // lambda^{t-u}, u <= t; across chunks through the state, scaled by
  // lambda^{t - t0 + 1} (never the lambda^{-t} factorisation, which overflows).
  kDecay,
};
inline constexpr int kLinearKindCount = 2;

struct LinearAttentionOptions {
  LinearKind kind = LinearKind::kEluPlusOne;
  bool causal = true;   // kDecay requires true
  float eps = 1e-6f;    // kEluPlusOne's denominator, finite and >= 0
  // kDecay: s_h >= 0 per query head (`heads` floats), lambda_h = e^{-s_h}.
  const float* decay = nullptr;
  // Causal forms: tokens per chunk, 1..32 (0 means 32). Every chunk size
  // gives the same result up to rounding.
  std::size_t chunk = 0;
  // Where the work may run (executor.hpp); null: the calling thread. One
  // task per query head (heads are independent: same bits as without it).
  Executor* executor = nullptr;
};

// Linear attention over AttentionTensors (float32 or 16-bit K/V, not
// quantized; query_start, key_start, mask, window are not used: the causal
// form is by token order).
// Causal: queries == keys, token i is query i and key i. The recurrent
// state is the caller's to keep between calls (decode is queries = keys = 1):
//   state:      `heads` blocks of d x d floats, S[h][a][b] = sum phi(k)_a v_b,
//               at state + h * d * d; zero it for a new sequence;
//   normaliser: kEluPlusOne only, `heads` blocks of d floats (z); null for kDecay.
// Both are read, advanced over the call's tokens, and written back.
// Non-causal (kEluPlusOne only; each query sees every key): state and
// normaliser are not read; they receive S = sum_j phi(k_j) v_j^T and
// z = sum_j phi(k_j) of the call's keys (the caller provides the memory:
// softkern allocates nothing).
// GQA as in attention(): query head h reads KV head h / (H / Hk); the state
// is per query head.
Status linear_attention(const AttentionTensors& tensors, float* state, float* normaliser,
                        const LinearAttentionOptions& options = {});

}  // namespace softkern

#ifdef SOFTKERN_IMPLEMENTATION
#include "softkern/detail/implementation.hpp"
#endif

#endif  // SOFTKERN_ATTENTION_HPP_
