// tests/sampling_reference.hpp — a sampler written the obvious way, to hold
// softkern::sample to: penalties by sampling.hpp's formulas, a full sort,
// the filters in vLLM's order with sampling.hpp's tie rule, and the
// filtered distribution in long double (double on aarch64: support.hpp's
// Wide). Shared by test_sampling.cpp and the fuzzer.
#ifndef SOFTKERN_TESTS_SAMPLING_REFERENCE_HPP_
#define SOFTKERN_TESTS_SAMPLING_REFERENCE_HPP_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "support.hpp"

namespace softkern_test {

using softkern::SampleOptions;
using softkern::SampleResult;
using softkern::TokenCounts;

// SampleOptions' penalty list as a TokenCounts, and back.
inline TokenCounts tokens_of(const SampleOptions& o) { return TokenCounts{o.token_ids, o.token_counts, o.token_count}; }
inline void set_tokens(SampleOptions& o, const TokenCounts& t) {
  o.token_ids = t.ids;
  o.token_counts = t.counts;
  o.token_count = t.size;
}

// x' for every entry (sampling.hpp's formula, written out again here).
inline std::vector<float> penalized_logits(const std::vector<float>& x, const SampleOptions& o,
                                           const TokenCounts& t) {
  std::vector<float> y = x;
  for (std::size_t i = 0; i < t.size; ++i) {
    const std::int32_t count = t.counts[i];
    const float q = std::fma(static_cast<float>(count), o.frequency_penalty, count > 0 ? o.presence_penalty : 0.0f);
    float& v = y[static_cast<std::size_t>(t.ids[i])];
    v = v > 0.0f ? v / o.repetition_penalty - q : std::fma(v, o.repetition_penalty, -q);
  }
  return y;
}

struct SampleReference {
  bool error = false;             // NaN, or every entry -inf
  bool infinite = false;          // some x' is +inf
  std::vector<float> values;      // x'
  float max = 0;
  // Entries by value, descending (ties by id), and how many of them the kept
  // set holds: `kept`, or any count up to `kept_alt` that ends a group of
  // equal values, when top-p's boundary is within rounding of its target
  // (the kernel's weights are float, the reference's exact).
  std::vector<std::size_t> by_value;
  std::size_t kept = 0;
  std::size_t kept_alt = 0;
  std::size_t greedy_token = 0;
  // reference_distribution's results, by kept count (long rows are checked
  // at several uniforms and on several targets).
  mutable std::map<std::size_t, std::pair<std::vector<std::size_t>, std::vector<Wide>>> distributions;
};

inline Wide reference_weight(float v, float max, float temperature) {
  return std::exp(static_cast<Wide>(static_cast<double>(v) - static_cast<double>(max)) / static_cast<Wide>(temperature));
}

inline SampleReference reference_sample(const std::vector<float>& x, const SampleOptions& o, const TokenCounts& t) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  SampleReference ref;
  ref.values = penalized_logits(x, o, t);
  const std::vector<float>& v = ref.values;
  const std::size_t n = v.size();
  ref.max = -kInf;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) {
      ref.error = true;
      return ref;
    }
    if (v[i] > ref.max) {
      ref.max = v[i];
      ref.greedy_token = i;
    }
  }
  if (ref.max == -kInf) {
    ref.error = true;
    return ref;
  }
  ref.by_value.resize(n);
  std::iota(ref.by_value.begin(), ref.by_value.end(), std::size_t{0});
  std::stable_sort(ref.by_value.begin(), ref.by_value.end(), [&](std::size_t a, std::size_t b) { return v[a] > v[b]; });
  std::size_t finite = 0;
  while (finite < n && v[ref.by_value[finite]] > -kInf) ++finite;
  if (ref.max == kInf) {
    ref.infinite = true;
    while (ref.kept < n && v[ref.by_value[ref.kept]] == kInf) ++ref.kept;
    ref.kept_alt = ref.kept;
    return ref;
  }
  // min-p: x' >= max + T ln(min_p), in double.
  std::size_t kept = finite;
  if (o.min_p > 0.0f) {
    const double cut = static_cast<double>(ref.max) + static_cast<double>(o.temperature) * std::log(static_cast<double>(o.min_p));
    kept = 0;
    while (kept < finite && static_cast<double>(v[ref.by_value[kept]]) >= cut) ++kept;
  }
  // top-k: everything >= the k-th largest of what is left (ties kept).
  if (o.top_k > 0 && static_cast<std::size_t>(o.top_k) < kept) {
    const float kth = v[ref.by_value[static_cast<std::size_t>(o.top_k) - 1]];
    kept = static_cast<std::size_t>(o.top_k);
    while (kept < n && v[ref.by_value[kept]] == kth) ++kept;
  }
  ref.kept = ref.kept_alt = kept;
  // top-p: a group of equal values stays while the mass above it is < p.
  if (o.top_p < 1.0f) {
    Wide total = 0;
    for (std::size_t i = 0; i < kept; ++i) total += reference_weight(v[ref.by_value[i]], ref.max, o.temperature);
    const Wide target = static_cast<Wide>(o.top_p) * total;
    const Wide slack = 3e-5L * total;
    Wide above = 0;
    std::size_t i = 0, certain = 0, possible = 0;
    while (i < kept) {
      std::size_t j = i;
      Wide group = 0;
      for (; j < kept && v[ref.by_value[j]] == v[ref.by_value[i]]; ++j) group += reference_weight(v[ref.by_value[j]], ref.max, o.temperature);
      if (above < target - slack || i == 0) certain = j;
      if (above < target + slack) possible = j;
      above += group;
      i = j;
    }
    ref.kept = certain;
    ref.kept_alt = possible;
  }
  return ref;
}

// The ids of the top `kept` entries, in id order, and their probabilities.
inline void reference_distribution(const SampleReference& ref, std::size_t kept, float temperature,
                                   std::vector<std::size_t>* ids, std::vector<Wide>* probs) {
  const auto cached = ref.distributions.find(kept);
  if (cached != ref.distributions.end()) {
    *ids = cached->second.first;
    *probs = cached->second.second;
    return;
  }
  ids->assign(ref.by_value.begin(), ref.by_value.begin() + static_cast<std::ptrdiff_t>(kept));
  std::sort(ids->begin(), ids->end());
  probs->assign(kept, Wide{0});
  Wide total = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    (*probs)[i] = ref.infinite ? Wide{1} : reference_weight(ref.values[(*ids)[i]], ref.max, temperature);
    total += (*probs)[i];
  }
  for (Wide& p : *probs) p /= total;
  ref.distributions[kept] = {*ids, *probs};
}

// Checks one result against the reference; returns "" or what is wrong.
// The token must be kept, and the uniform must fall (within 1e-5) in its
// slice of the kept probabilities in id order; log_prob within 2e-5 (1 + |it|).
inline std::string check_sample(const SampleReference& ref, const SampleOptions& o, float uniform,
                                const SampleResult& r) {
  if (o.greedy) {
    if (r.token != static_cast<std::int32_t>(ref.greedy_token) || r.kept != 1 || r.log_prob != 0.0f)
      return "greedy: token " + std::to_string(r.token) + ", expected " + std::to_string(ref.greedy_token);
    return "";
  }
  const bool ends_group = r.kept >= ref.by_value.size() || r.kept == 0 ||
                          ref.values[ref.by_value[r.kept - 1]] != ref.values[ref.by_value[r.kept]];
  if (r.kept < ref.kept || r.kept > ref.kept_alt || !ends_group) {
    return "kept " + std::to_string(r.kept) + ", expected " + std::to_string(ref.kept) +
           (ref.kept_alt != ref.kept ? " to " + std::to_string(ref.kept_alt) : "");
  }
  std::vector<std::size_t> ids;
  std::vector<Wide> probs;
  reference_distribution(ref, r.kept, o.temperature, &ids, &probs);
  const auto at = std::find(ids.begin(), ids.end(), static_cast<std::size_t>(r.token));
  if (at == ids.end()) return "token " + std::to_string(r.token) + " is not in the kept set";
  const std::size_t k = static_cast<std::size_t>(at - ids.begin());
  Wide before = 0;
  for (std::size_t i = 0; i < k; ++i) before += probs[i];
  const Wide u = uniform;
  if (ref.infinite) {
    const std::size_t expect = static_cast<std::size_t>(static_cast<double>(uniform) * static_cast<double>(r.kept));
    if (k != expect) return "+inf row: drew the " + std::to_string(k) + "-th +inf entry, expected the " + std::to_string(expect) + "-th";
  } else if (u < before - 1e-5L || u > before + probs[k] + 1e-5L) {
    return "token " + std::to_string(r.token) + " covers [" + std::to_string(static_cast<double>(before)) + ", " +
           std::to_string(static_cast<double>(before + probs[k])) + ") of the kept mass, uniform " + std::to_string(uniform);
  }
  const Wide want = std::log(probs[k]);
  if (!(std::fabs(static_cast<Wide>(r.log_prob) - want) <= 2e-5L * (1 + std::fabs(want)))) {
    return "log_prob " + std::to_string(r.log_prob) + ", expected " + std::to_string(static_cast<double>(want));
  }
  return "";
}

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_SAMPLING_REFERENCE_HPP_
