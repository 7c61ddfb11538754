// softkern/detail/sampling_impl.hpp — the functions of sampling.hpp: every
// argument is checked before anything is written, then each row goes through
// the passes of sampling-inl.hpp (cut into chunks across an executor) and the
// decisions of sampling_select.hpp. Part of the one expansion
// (implementation.hpp).
//
// A row's passes:
//  1. scan: max, NaN, and the candidates for the cut (the entries >= a
//     threshold that rises as the scan goes: the k-th largest so far for
//     top-k, min-p's bound from the max so far; for top-p without top-k the
//     kTopPCandidates largest, and if they fall short one more scan for the
//     kTopPCandidatesWide largest);
//  2. when the candidates hold the whole kept set (top-k, or min-p's cut at
//     or above their threshold, the usual case): top-k, top-p and the draw
//     on them (sampling_select.hpp), with no further pass;
//  3. top-p without such a bound: the kept mass of the row (one pass of
//     weights), then the cut among the candidates if they carry p of it;
//  4. otherwise (a top-k beyond kFastTopK, a flat row under top-p, no
//     filter at all): radix select over the keys' bits and the draw over
//     the row's chunks and blocks (sampling_radix.hpp).
#ifndef SOFTKERN_DETAIL_SAMPLING_IMPL_HPP_
#define SOFTKERN_DETAIL_SAMPLING_IMPL_HPP_

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/extents.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/sampling_params.hpp"
#include "softkern/detail/sampling_radix.hpp"
#include "softkern/detail/sampling_select.hpp"
#include "softkern/sampling.hpp"

namespace softkern {
namespace detail {
namespace {

// A validated call's options, shared by its rows.
struct SamplePlan {
  Filters filters;
  Penalties penalties;
  float inv_temperature = 1.0f;
};

// The options, checked; n is the row length (checked by the caller).
Status MakeSamplePlan(const SampleOptions& o, std::size_t n, SamplePlan* plan) {
  const float t = o.temperature;
  if (!(t >= 0x1p-100f && t <= 0x1p100f)) {
    return Status(StatusCode::kBadTemperature, "sample: temperature must be in [2^-100, 2^100] (7.9e-31 to 1.3e30)");
  }
  if (o.top_k < 0) return Status(StatusCode::kBadArgument, "sample: top_k must be >= 0 (0: no filter)");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) return Status(StatusCode::kBadArgument, "sample: top_p must be in (0, 1]");
  if (!(o.min_p >= 0.0f && o.min_p <= 1.0f)) return Status(StatusCode::kBadArgument, "sample: min_p must be in [0, 1]");
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty)) {
    return Status(StatusCode::kBadArgument, "sample: repetition_penalty must be finite and > 0");
  }
  if (!std::isfinite(o.presence_penalty) || !std::isfinite(o.frequency_penalty)) {
    return Status(StatusCode::kBadArgument, "sample: presence_penalty and frequency_penalty must be finite");
  }
  const double inv_t = 1.0 / static_cast<double>(t);
  plan->inv_temperature = static_cast<float>(inv_t);
  plan->penalties = Penalties{o.repetition_penalty, o.presence_penalty, o.frequency_penalty};
  Filters& f = plan->filters;
  f.greedy = o.greedy;
  f.top_k = static_cast<std::uint64_t>(o.top_k) >= n ? 0 : o.top_k;
  f.top_p = o.top_p;
  CandidateRule& rule = f.rule;
  rule.min_p = o.min_p > 0.0f;
  rule.log_min_p_scaled = rule.min_p ? static_cast<double>(t) * std::log(static_cast<double>(o.min_p)) : 0.0;
  // The first pass collects the candidates of top-k up to kFastTopK and of
  // min-p; for top-p without such a top-k, the kTopPCandidates largest,
  // which usually carry p of the mass.
  const bool fast_top_k = f.top_k > 0 && f.top_k <= static_cast<std::int64_t>(kFastTopK);
  rule.top_k = fast_top_k ? f.top_k : f.top_p < 1.0 ? static_cast<std::int64_t>(kTopPCandidates) : 0;
  rule.collect = !f.greedy && (rule.top_k > 0 || rule.min_p);
  return Status::Ok();
}

Status CheckTokens(const TokenCounts& t, std::size_t n) {
  if (t.size == 0) return Status::Ok();
  if (t.ids == nullptr || t.counts == nullptr) {
    return Status(StatusCode::kNullPointer, "sample: token ids or counts are null with size > 0");
  }
  for (std::size_t i = 0; i < t.size; ++i) {
    if (t.ids[i] < 0 || static_cast<std::size_t>(t.ids[i]) >= n) {
      return Status(StatusCode::kBadArgument, "sample: a penalised token id is outside [0, n)");
    }
    if (i > 0 && t.ids[i] <= t.ids[i - 1]) {
      return Status(StatusCode::kBadArgument, "sample: penalised token ids must be strictly increasing");
    }
    if (t.counts[i] < 0) return Status(StatusCode::kBadArgument, "sample: token counts must be >= 0");
  }
  return Status::Ok();
}

// x'_i, read one at a time (the rare paths: greedy's block, +inf rows).
float LogitAt(const SampleRow& row, std::size_t i) {
  float x;
  switch (row.type) {
    case ElementType::kBFloat16: x = to_float(static_cast<const bfloat16*>(row.logits)[i]); break;
    case ElementType::kFloat16: x = to_float(static_cast<const float16*>(row.logits)[i]); break;
    default: x = static_cast<const float*>(row.logits)[i]; break;
  }
  const std::int32_t* end = row.ids + row.listed;
  const std::int32_t* at = std::lower_bound(row.ids, end, static_cast<std::int32_t>(i));
  if (at != end && *at == static_cast<std::int32_t>(i)) {
    x = PenalizedLogit(x, row.counts[at - row.ids], row.penalties);
  }
  return x;
}

// Rows whose max is +inf: the +inf entries share the probability equally;
// the draw takes the floor(uniform * count)-th of them in id order.
SampleResult DrawAmongInfinities(const SampleRow& row, float uniform) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::size_t count = 0;
  for (std::size_t i = 0; i < row.n; ++i) count += LogitAt(row, i) == kInf;
  const std::size_t pick = static_cast<std::size_t>(static_cast<double>(uniform) * static_cast<double>(count));
  SampleResult r;
  r.kept = count;
  r.log_prob = static_cast<float>(-std::log(static_cast<double>(count)));
  for (std::size_t i = 0, seen = 0; i < row.n; ++i) {
    if (LogitAt(row, i) == kInf && seen++ == pick) {
      r.token = static_cast<std::int32_t>(i);
      break;
    }
  }
  return r;
}

// Draws from the pool's entries >= `cut` when they hold the whole kept set
// so far: top-k (`top_k` > 0) among them, top-p with the kept mass `mass`
// (< 0: theirs), the draw in id order.
SampleResult DrawFromPool(const SamplingKernels& k, CandidateBuffer* pool, float cut, std::int64_t top_k,
                          double top_p, double mass, const WeightScale& scale, float uniform) {
  KeepAtLeast(pool, cut);
  if (top_k > 0 && pool->count > static_cast<std::size_t>(top_k)) {
    KeepAtLeast(pool, KthLargest(pool->values, pool->count, static_cast<std::size_t>(top_k)));
  }
  std::size_t count = pool->count;
  Scratch<float, kCandidateCapacity + kMaxVectorFloats> weights(count + kMaxVectorFloats);
  k.weights(pool->values, count, scale, weights.data());
  if (top_p < 1.0) {
    const float top_p_cut = TopPCutOf(pool->values, weights.data(), count, top_p,
                                      mass < 0.0 ? SumOf(weights.data(), count) : mass);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (pool->values[i] >= top_p_cut) {
        weights[kept] = weights[i];
        pool->ids[kept++] = pool->ids[i];
      }
    }
    count = kept;
  }
  const Drawn drawn = DrawFrom(weights.data(), count, uniform);
  SampleResult r;
  r.token = static_cast<std::int32_t>(pool->ids[drawn.index]);
  r.log_prob = static_cast<float>(drawn.log_prob);
  r.kept = count;
  return r;
}

// What the first pass finds in a row.
struct RowScan {
  float max = -std::numeric_limits<float>::infinity();
  std::size_t max_block = 0;  // the first block holding it
  bool nan = false;
};

// A scan of the row under `rule` into `pool` (Reset, then finished as a
// function of the row: FinishPool): one candidate buffer for the row on one
// thread, one per chunk merged in chunk order on several (the chunks sharing
// their thresholds as they go).
RowScan ScanRow(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking, const CandidateRule& rule,
                CandidateBuffer* pool) {
  RowScan row_scan;
  auto merge = [&](const ScanResult& s) {
    row_scan.nan |= s.nan;
    if (s.max > row_scan.max) {
      row_scan.max = s.max;
      row_scan.max_block = s.max_block;
    }
  };
  pool->Reset(rule);
  if (!chunking.parallel()) {
    for (std::size_t c = 0; c < chunking.count() && !row_scan.nan; ++c) {
      ScanResult s;
      k.scan(row, chunking.begin(c), chunking.end(c), rule, &s, rule.collect ? pool : nullptr);
      merge(s);
    }
  } else {
    std::vector<ScanResult> scans(chunking.count());
    std::vector<CandidateBuffer> buffers(rule.collect ? chunking.count() : 0);
    std::atomic<float> shared_threshold{kLowestFinite};
    chunking.Run([&](std::size_t c) {
      if (rule.collect) buffers[c].Reset(rule, &shared_threshold);
      k.scan(row, chunking.begin(c), chunking.end(c), rule, &scans[c], rule.collect ? &buffers[c] : nullptr);
    });
    for (std::size_t c = 0; c < chunking.count(); ++c) {
      merge(scans[c]);
      if (rule.collect) Absorb(pool, buffers[c], rule);
    }
  }
  if (rule.collect && !row_scan.nan && row_scan.max < std::numeric_limits<float>::infinity()) {
    FinishPool(pool, rule, row_scan.max);
  }
  return row_scan;
}

// One row, start to end. Fails only on a NaN or an all -inf row.
Status SampleRowOn(const KernelTable& table, const SamplePlan& plan, const SampleRow& row, float uniform,
                   Executor* executor, SampleResult* out) {
  const SamplingKernels& k = table.sampling;
  const Filters& f = plan.filters;
  const CandidateRule& rule = f.rule;
  const RowChunking chunking(row.n, executor);
  CandidateBuffer pool;
  const RowScan scan = ScanRow(k, row, chunking, rule, &pool);
  const float max = scan.max;
  if (scan.nan) return Status(StatusCode::kBadArgument, "sample: a logit is NaN (or the penalties made it NaN)");
  if (max == -std::numeric_limits<float>::infinity()) {
    return Status(StatusCode::kBadArgument, "sample: every logit is -inf: nothing to draw");
  }
  if (f.greedy) {
    SampleResult r;
    r.kept = 1;
    r.log_prob = 0.0f;
    for (std::size_t i = scan.max_block; i < row.n; ++i) {
      if (LogitAt(row, i) == max) {
        r.token = static_cast<std::int32_t>(i);
        break;
      }
    }
    *out = r;
    return Status::Ok();
  }
  if (max == std::numeric_limits<float>::infinity()) {
    *out = DrawAmongInfinities(row, uniform);
    return Status::Ok();
  }
  const WeightScale scale{max, plan.inv_temperature};
  float cut = MinPCut(max, rule);
  if (rule.collect) {
    // The pool holds every entry min-p and top-k keep: it was collected for
    // this top-k, or its threshold is at or below min-p's cut.
    if ((f.top_k > 0 && f.top_k == rule.top_k) || pool.threshold <= cut) {
      *out = DrawFromPool(k, &pool, cut, f.top_k, f.top_p, -1.0, scale, uniform);
      return Status::Ok();
    }
  }
  // What min-p and top-k keep is more than the pool: top-k (a large k) by
  // radix select, then top-p from the pool if the entries it holds of the
  // kept set carry p of its mass, else by radix select too.
  if (f.top_k > 0) cut = TopKCutByRadix(k, row, chunking, cut, static_cast<std::uint64_t>(f.top_k), scale);
  if (f.top_p < 1.0) {
    if (rule.collect) {
      // The kTopPCandidates largest entries, then (one more scan) the
      // kTopPCandidatesWide largest: the cut is among them when they carry
      // p of the kept mass.
      const RowMass kept = KeptMassOf(k, row, chunking, cut, scale);
      CandidateRule wide = rule;
      wide.top_k = static_cast<std::int64_t>(kTopPCandidatesWide);
      for (int attempt = 0; attempt < 2; ++attempt) {
        if (attempt == 1) ScanRow(k, row, chunking, wide, &pool);
        KeepAtLeast(&pool, cut);
        Scratch<float, kCandidateCapacity + kMaxVectorFloats> weights(pool.count + kMaxVectorFloats);
        k.weights(pool.values, pool.count, scale, weights.data());
        if (SumOf(weights.data(), pool.count) >= f.top_p * kept.total) {
          *out = DrawFromPool(k, &pool, cut, 0, f.top_p, kept.total, scale, uniform);
          return Status::Ok();
        }
      }
    }
    cut = TopPCutByRadix(k, row, chunking, cut, f.top_p, scale);
  }
  *out = DrawOverRow(k, row, chunking, cut, scale, uniform);
  return Status::Ok();
}

// ------------------------------------------------------------ entry points

Status SampleCall(const void* logits, std::size_t stride, std::size_t rows, std::size_t n, ElementType type,
                  const float* uniforms, const SampleOptions& options, SampleResult* results,
                  const TokenCounts* row_tokens) {
  const ScopedDefaultFpEnv fp_env;
  SamplePlan plan;
  if (Status s = MakeSamplePlan(options, n, &plan); !s.ok()) return s;
  if (rows == 0) return Status::Ok();
  if (n == 0) return Status(StatusCode::kBadArgument, "sample: the row is empty (n = 0): nothing to draw");
  if (n > static_cast<std::size_t>(INT32_MAX)) {
    return Status(StatusCode::kBadArgument, "sample: n must be <= 2^31 - 1 (token ids are int32)");
  }
  if (logits == nullptr) return Status(StatusCode::kNullPointer, "sample: logits is null");
  if (uniforms == nullptr || results == nullptr) {
    return Status(StatusCode::kNullPointer, "sample: uniforms or results is null");
  }
  if (stride < n) return Status(StatusCode::kBadStride, "sample_rows: stride must be >= n");
  Extent logits_extent, results_extent, uniforms_extent;
  const std::size_t one = 1;
  if (!TensorExtent(logits, &rows, &stride, 1, n, element_bytes(type), &logits_extent) ||
      !TensorExtent(results, &rows, &one, 1, 1, sizeof(SampleResult), &results_extent) ||
      !TensorExtent(uniforms, &rows, &one, 1, 1, sizeof(float), &uniforms_extent)) {
    return Status(StatusCode::kBadStride, "sample: a buffer's size exceeds PTRDIFF_MAX bytes");
  }
  if (Overlaps(results_extent, logits_extent) || Overlaps(results_extent, uniforms_extent)) {
    return Status(StatusCode::kOverlap, "sample: results overlap the logits or the uniforms");
  }
  const TokenCounts option_tokens{options.token_ids, options.token_counts, options.token_count};
  if (row_tokens != nullptr && option_tokens.size != 0) {
    return Status(StatusCode::kBadArgument, "sample_rows: give penalty tokens in row_tokens or in the options, not both");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (!(uniforms[r] >= 0.0f && uniforms[r] < 1.0f)) {
      return Status(StatusCode::kBadArgument, "sample: uniform must be in [0, 1)");
    }
    if (Status s = CheckTokens(row_tokens != nullptr ? row_tokens[r] : option_tokens, n); !s.ok()) return s;
  }
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) return status;

  auto row_of = [&](std::size_t r) {
    const TokenCounts& t = row_tokens != nullptr ? row_tokens[r] : option_tokens;
    SampleRow row;
    row.logits = static_cast<const unsigned char*>(logits) + r * stride * element_bytes(type);
    row.type = type;
    row.n = n;
    row.ids = t.ids;
    row.counts = t.counts;
    row.listed = t.size;
    row.penalties = plan.penalties;
    return row;
  };
  // Results go to scratch first: a NaN found in a later row rejects the call
  // with nothing written.
  SampleResult one_row;
  std::vector<SampleResult> scratch(rows > 1 ? rows : 0);
  SampleResult* staged = rows > 1 ? scratch.data() : &one_row;
  status = RunSampleRows(rows, n, options.executor, [&](std::size_t r, Executor* row_executor) {
    return SampleRowOn(*table, plan, row_of(r), uniforms[r], row_executor, &staged[r]);
  });
  if (!status.ok()) return status;
  for (std::size_t r = 0; r < rows; ++r) results[r] = staged[r];
  return Status::Ok();
}

}  // namespace
}  // namespace detail

Status sample(const float* logits, std::size_t n, float uniform, const SampleOptions& options, SampleResult* out) {
  return detail::SampleCall(logits, n, 1, n, ElementType::kFloat32, &uniform, options, out, nullptr);
}
Status sample(const bfloat16* logits, std::size_t n, float uniform, const SampleOptions& options, SampleResult* out) {
  return detail::SampleCall(logits, n, 1, n, ElementType::kBFloat16, &uniform, options, out, nullptr);
}
Status sample(const float16* logits, std::size_t n, float uniform, const SampleOptions& options, SampleResult* out) {
  return detail::SampleCall(logits, n, 1, n, ElementType::kFloat16, &uniform, options, out, nullptr);
}

Status sample_rows(const float* logits, std::size_t stride, std::size_t rows, std::size_t n, const float* uniforms,
                   const SampleOptions& options, SampleResult* results, const TokenCounts* row_tokens) {
  return detail::SampleCall(logits, stride, rows, n, ElementType::kFloat32, uniforms, options, results, row_tokens);
}
Status sample_rows(const bfloat16* logits, std::size_t stride, std::size_t rows, std::size_t n, const float* uniforms,
                   const SampleOptions& options, SampleResult* results, const TokenCounts* row_tokens) {
  return detail::SampleCall(logits, stride, rows, n, ElementType::kBFloat16, uniforms, options, results, row_tokens);
}
Status sample_rows(const float16* logits, std::size_t stride, std::size_t rows, std::size_t n, const float* uniforms,
                   const SampleOptions& options, SampleResult* results, const TokenCounts* row_tokens) {
  return detail::SampleCall(logits, stride, rows, n, ElementType::kFloat16, uniforms, options, results, row_tokens);
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SAMPLING_IMPL_HPP_
