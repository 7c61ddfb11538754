// accuracy_sweep — measures softkern's accuracy per algorithm and target over
// many random and adversarial rows, and prints a Markdown table:
//   max element C   max over elements of (|y - r| - 2^-149) / (u r) - 2|z|, the
//                   quantity the tests bound by 8 + S(n) (tests/support.hpp);
//   max rel error   max over elements with r >= 2^-126 of |y - r| / r;
//   max row-sum err max over rows of |sum y - sum r|, in units of u;
//   exp max ulp     the exponential against the correctly rounded e^x over
//                   random floats of its domain [-104, 89].
//
//   accuracy_sweep [--rows N] [--max-length N] [--exp-samples N] [--seed S]
//
// Rows (default 2 million per target, lengths uniform in [1, 100]; use
// --max-length for long rows): distributions cycling through the
// suite's nine (narrow, wide, logits, huge outlier, near overflow, ties at the
// maximum, denormal differences, masked -inf, a dominant entry over equal
// small ones), options cycling through plain,
// temperatures 0.25 and 3, and a sink. Every row runs on every target and
// algorithm, so the columns compare like with like.
#include <atomic>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "../tests/support.hpp"
#include "softkern/detail/testing.hpp"

using namespace softkern_test;

namespace {

struct Figures {
  double element_c = 0, rel_error = 0, row_sum_u = 0;
  std::uint64_t rows = 0, elements = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t rows = 2000000, max_length = 100, exp_samples = 20000000;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) -> const char* {
      if (std::strcmp(argv[i], flag) == 0 && i + 1 < argc) return argv[++i];
      return nullptr;
    };
    if (const char* v = value("--rows")) rows = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("--max-length")) max_length = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("--exp-samples")) exp_samples = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("--seed")) seed = std::strtoull(v, nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--rows N] [--max-length N] [--exp-samples N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Isa> isas = supported_isa_list();
  const Algorithm algorithms[] = {Algorithm::kThreePassRecompute, Algorithm::kThreePassReload,
                                  Algorithm::kTwoPass, Algorithm::kOnline};
  const std::vector<NamedOptions> variants = option_variants();
  const std::size_t option_picks[] = {0, 1, 2, 4};  // plain, T=0.25, T=3, sink 0
  std::map<std::pair<int, int>, Figures> figures;
  // One target at a time (force_isa is process-wide), rows split over the
  // hardware threads; each thread keeps its own figures, merged at the end.
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (Isa isa : isas) {
    if (!softkern::force_isa(isa).ok()) return 1;
    std::vector<std::map<int, Figures>> per_thread(threads);
    std::atomic<bool> failed{false};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::mt19937_64 rng(seed * 7919 + t);
        std::vector<float> y;
        for (std::size_t k = t; k < rows; k += threads) {
          const std::size_t n = 1 + rng() % max_length;
          const std::vector<float> x = make_row(kAllDistributions[k % kDistributionCount], n, seed * 1000003 + k);
          SoftmaxOptions o = variants[option_picks[(k / 8) % 4]].options;
          const Reference ref = reference_softmax(x.data(), n, o);  // the same for every algorithm
          y.resize(n);
          for (Algorithm a : algorithms) {
            o.algorithm = a;
            if (!softkern::softmax(x.data(), y.data(), n, o).ok()) failed = true;
            Figures& f = per_thread[t][static_cast<int>(a)];
            const Accuracy acc = check_softmax(x.data(), y.data(), n, o, ref, 1e9, 1e9);
            f.element_c = std::max(f.element_c, acc.element_c);
            f.row_sum_u = std::max(f.row_sum_u, acc.row_sum_c);
            for (std::size_t i = 0; i < n; ++i) {
              if (ref.exact[i] || ref.r[i] < 0x1p-126L) continue;
              f.rel_error = std::max(f.rel_error, static_cast<double>(std::fabs(y[i] - ref.r[i]) / ref.r[i]));
            }
            f.rows += 1;
            f.elements += n;
          }
        }
      });
    }
    for (auto& th : pool) th.join();
    if (failed) {
      std::fprintf(stderr, "accuracy_sweep: a call failed on %s\n", softkern::isa_name(isa));
      return 1;
    }
    for (const auto& m : per_thread) {
      for (const auto& [a, g] : m) {
        Figures& f = figures[{static_cast<int>(isa), a}];
        f.element_c = std::max(f.element_c, g.element_c);
        f.rel_error = std::max(f.rel_error, g.rel_error);
        f.row_sum_u = std::max(f.row_sum_u, g.row_sum_u);
        f.rows += g.rows;
        f.elements += g.elements;
      }
    }
  }
  // The exponential on random floats of its domain.
  std::map<int, std::int64_t> exp_ulp;
  {
    std::vector<float> xs(1 << 16), ys(xs.size());
    std::uniform_real_distribution<float> domain(-104.0f, 89.0f);
    for (Isa isa : isas) {
      (void)softkern::force_isa(isa);
      std::mt19937_64 exp_rng(seed);
      std::int64_t worst = 0;
      for (std::size_t done = 0; done < exp_samples; done += xs.size()) {
        for (float& v : xs) v = domain(exp_rng);
        softkern::detail::exp_for_testing(xs.data(), ys.data(), xs.size());
        for (std::size_t i = 0; i < xs.size(); ++i)
          worst = std::max(worst, ulp_distance(ys[i], static_cast<float>(std::exp(static_cast<long double>(xs[i])))));
      }
      exp_ulp[static_cast<int>(isa)] = worst;
    }
  }
  softkern::reset_isa();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("%zu rows per target and algorithm (lengths 1..%zu, 9 distributions, 4 option sets), "
              "%zu exp samples per target, seed %llu, %.0f s\n\n",
              rows, max_length, exp_samples, static_cast<unsigned long long>(seed), seconds);
  std::printf("| target | algorithm | elements | max element C (bound 8 + S(n)) | max rel error | "
              "max row-sum error (u, bound 8 + S(n)) | exp max ulp (bound 2) |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (Isa isa : isas) {
    for (Algorithm a : algorithms) {
      const Figures& f = figures[{static_cast<int>(isa), static_cast<int>(a)}];
      std::printf("| %s | %s | %llu | %.2f | %.3g | %.2f | %lld |\n", softkern::isa_name(isa),
                  softkern::algorithm_name(a), static_cast<unsigned long long>(f.elements),
                  f.element_c, f.rel_error, f.row_sum_u,
                  static_cast<long long>(exp_ulp[static_cast<int>(isa)]));
    }
  }
  return 0;
}
