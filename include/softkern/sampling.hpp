// softkern/sampling.hpp — draw the next token from a row of logits: penalties,
// temperature, min-p, top-k and top-p fused into a few passes over the row,
// without sorting it.
//
//   softkern::SampleOptions o;
//   o.temperature = 0.7f; o.top_k = 50; o.top_p = 0.9f;   // C++20: {.top_k = 50, ...}
//   softkern::SampleResult r;
//   softkern::Status s = softkern::sample(logits, vocab, uniform, o, &r);  // uniform in [0, 1)
//   if (s.ok()) next_token = r.token;
//
// The distribution (applied in vLLM's order; docs/sampling.md gives the
// formulas, the rounding and the measured cost):
//  1. penalties on the listed token ids (SampleOptions::token_ids), as
//     llama.cpp's penalties sampler and vLLM define them:
//       x' = (x > 0 ? x / repetition : x * repetition) - (count * frequency + [count > 0] * presence);
//  2. greedy: the token with the largest x' (the lowest id among equals);
//  3. temperature: z = x' / T;
//  4. min-p: keep x' >= max x' + T ln(min_p);
//  5. top-k: keep x' >= the k-th largest x' among what min-p kept;
//  6. top-p: keep an entry when the probability of the entries strictly
//     above it (renormalised over what top-k kept) is < p;
//  7. draw: the first token, in token id order, at which the kept entries'
//     running probability exceeds uniform.
// Ties at a cut are all kept or all dropped (entries with equal x' are
// never separated), so the kept set is always {x' >= a cut value}.
//
// Determinism: the kept set and the drawn token depend only on the logits,
// the options and the uniform: the same on every target (scalar, AVX2,
// AVX-512, NEON, SVE) and for every executor and thread count.
//
// Semantics:
//  - A NaN logit (or one the penalties make NaN) is an error Status; so is a
//    row whose every logit is -inf (nothing to draw) and an empty row.
//  - -inf entries are never drawn. When some x' is +inf, the +inf entries
//    share the probability equally and every other entry gets none.
//  - top_k = 0, top_p = 1 and min_p = 0 each mean "no filter".
//  - Rejected calls (bad options, bad token lists, null pointers) return a
//    Status and write nothing.
#ifndef SOFTKERN_SAMPLING_HPP_
#define SOFTKERN_SAMPLING_HPP_

#include <cstddef>
#include <cstdint>

#include "softkern/dispatch.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"
#include "softkern/status.hpp"

namespace softkern {

// Token ids and how often each was generated, for the penalties. Ids must be
// strictly increasing (sorted, no repeats) and < the row's length; counts
// must be >= 0. A count of 0 takes the repetition penalty only (vLLM applies
// the repetition penalty to prompt tokens too, frequency and presence only
// to generated ones). The arrays are read, never kept.
struct TokenCounts {
  const std::int32_t* ids = nullptr;
  const std::int32_t* counts = nullptr;
  std::size_t size = 0;
};

struct SampleOptions {
  // z = x' / T, T in [2^-100, 2^100] (other values, NaN included, are
  // rejected). Unused (but checked) when greedy.
  float temperature = 1.0f;
  // Keep the entries >= the k-th largest. 0: no filter; >= the row's length:
  // no filter; negative: rejected.
  std::int64_t top_k = 0;
  // Nucleus: in (0, 1]; 1: no filter.
  float top_p = 1.0f;
  // Keep the entries whose probability is >= min_p times the largest one.
  // In [0, 1]; 0: no filter.
  float min_p = 0.0f;
  // Penalties on the tokens below (sample) or on each row's TokenCounts
  // (sample_rows). repetition > 0 and finite (1: none); presence and
  // frequency finite (0: none).
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // sample()'s penalised tokens, as TokenCounts describes them: token_ids
  // and token_counts hold token_count entries. (Separate fields, not a
  // TokenCounts, so that designated initializers may leave them out under
  // -Wextra.)
  const std::int32_t* token_ids = nullptr;
  const std::int32_t* token_counts = nullptr;
  std::size_t token_count = 0;
  // The token with the largest penalised logit; log_prob = 0, kept = 1.
  bool greedy = false;
  // Where the work may run (executor.hpp). Null: on the calling thread. A
  // long row is cut into fixed chunks and a batch into blocks of rows; the
  // cut depends on the shapes only, so the result is the same for every
  // executor and thread count.
  Executor* executor = nullptr;
};

struct SampleResult {
  std::int32_t token = -1;
  // log of the token's probability under the filtered, renormalised
  // distribution (penalties, temperature, min-p, top-k, top-p). <= 0.
  float log_prob = 0.0f;
  // How many entries the filters kept (ties included: may exceed top_k).
  std::size_t kept = 0;
};

// Draws one token from logits[0, n) with `uniform` in [0, 1) (the caller's
// random number: the same uniform gives the same token everywhere). n must be
// in [1, 2^31 - 1] (token ids are int32).
Status sample(const float* logits, std::size_t n, float uniform, const SampleOptions& options,
              SampleResult* out);
Status sample(const bfloat16* logits, std::size_t n, float uniform, const SampleOptions& options,
              SampleResult* out);
Status sample(const float16* logits, std::size_t n, float uniform, const SampleOptions& options,
              SampleResult* out);

// One token per row: row r is logits + r * stride (stride >= n, in
// elements), drawn with uniforms[r] into results[r]. `row_tokens`, when not
// null, holds each row's penalty list (rows entries; options.token_count
// must then be 0). The same options apply to every row. Every row is checked
// before any result is written: a NaN in any row rejects the whole call.
// rows = 0 is a no-op.
Status sample_rows(const float* logits, std::size_t stride, std::size_t rows, std::size_t n,
                   const float* uniforms, const SampleOptions& options, SampleResult* results,
                   const TokenCounts* row_tokens = nullptr);
Status sample_rows(const bfloat16* logits, std::size_t stride, std::size_t rows, std::size_t n,
                   const float* uniforms, const SampleOptions& options, SampleResult* results,
                   const TokenCounts* row_tokens = nullptr);
Status sample_rows(const float16* logits, std::size_t stride, std::size_t rows, std::size_t n,
                   const float* uniforms, const SampleOptions& options, SampleResult* results,
                   const TokenCounts* row_tokens = nullptr);

}  // namespace softkern

#ifdef SOFTKERN_IMPLEMENTATION
#include "softkern/detail/implementation.hpp"
#endif

#endif  // SOFTKERN_SAMPLING_HPP_
