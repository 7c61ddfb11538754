// Parity with PyTorch's CPU operators (built where libtorch is installed;
// tests/CMakeLists.txt): softmax and log-softmax backward against
// at::_softmax_backward_data / at::_log_softmax_backward_data and autograd
// (temperature), and cross_entropy against F.cross_entropy composed with
// the soft-cap, temperature and z-loss as a user writes them, its loss, its
// lse (torch::logsumexp) and the autograd gradient of the logits, for many
// option combinations; StableMax cross-entropy against its autograd
// composition. Where softkern differs by design (docs/training.md), the
// test states PyTorch's value and softkern's.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "softkern/softkern.hpp"

namespace {

namespace F = torch::nn::functional;

// The float32 row functions, named without overload resolution.
using BackwardRows = softkern::Status (*)(const float*, std::size_t, const float*, std::size_t, float*, std::size_t,
                                          std::size_t, std::size_t, const softkern::SoftmaxBackwardOptions&);
BackwardRows BackwardOf(bool log) {
  return log ? static_cast<BackwardRows>(&softkern::log_softmax_backward_rows)
             : static_cast<BackwardRows>(&softkern::softmax_backward_rows);
}
using softkern::CrossEntropyOptions;
using softkern::Normaliser;
using softkern::Reduction;

torch::Tensor Logits(std::int64_t rows, std::int64_t vocab, std::uint64_t seed, double scale = 3.0) {
  torch::manual_seed(seed);
  return torch::randn({rows, vocab}, torch::kFloat32) * scale;
}

// |a - b| <= rtol (|b| + atol_scale), elementwise; reports the worst.
void ExpectClose(const torch::Tensor& got, const torch::Tensor& want, double rtol, double atol_scale,
                 const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const torch::Tensor g = got.to(torch::kFloat64).contiguous(), w = want.to(torch::kFloat64).contiguous();
  const double* gp = g.data_ptr<double>();
  const double* wp = w.data_ptr<double>();
  double worst = 0;
  std::int64_t worst_at = -1;
  for (std::int64_t i = 0; i < g.numel(); ++i) {
    const double excess = std::fabs(gp[i] - wp[i]) - rtol * (std::fabs(wp[i]) + atol_scale);
    if (!(excess <= worst) || (std::isnan(gp[i]) != std::isnan(wp[i]))) {
      worst = std::isnan(excess) ? HUGE_VAL : excess;
      worst_at = i;
    }
  }
  EXPECT_LT(worst_at, 0) << what << ": element " << worst_at << " softkern " << gp[std::max<std::int64_t>(worst_at, 0)]
                         << " pytorch " << wp[std::max<std::int64_t>(worst_at, 0)];
}

class TorchParity : public testing::Test {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(1); }
};

TEST_F(TorchParity, SoftmaxBackward) {
  for (bool log : {false, true}) {
    for (std::int64_t cols : {1, 7, 100, 1000, 40000}) {
      const torch::Tensor x = Logits(4, cols, cols);
      const torch::Tensor y = log ? torch::log_softmax(x, 1) : torch::softmax(x, 1);
      const torch::Tensor dy = torch::randn({4, cols});
      const torch::Tensor want = log ? at::_log_softmax_backward_data(dy, y, 1, at::kFloat)
                                     : at::_softmax_backward_data(dy, y, 1, at::kFloat);
      torch::Tensor got = torch::empty_like(dy);
      ASSERT_TRUE(BackwardOf(log)(y.data_ptr<float>(), cols, dy.data_ptr<float>(), cols, got.data_ptr<float>(), cols,
                                  4, cols, {})
                      .ok());
      // Both sum D = <y, dy> (log: sum dy) in float: the difference scales
      // with sum |y dy| (log: sum |dy|), the sum's condition.
      const double condition = (log ? dy.abs() : (y * dy).abs()).sum(1).max().item<double>();
      ExpectClose(got, want, 2e-6, want.abs().max().item<double>() + condition,
                  std::string(log ? "log_" : "") + "softmax_backward cols=" + std::to_string(cols));
    }
  }
}

// Temperature: autograd through softmax(x / T).
TEST_F(TorchParity, SoftmaxBackwardTemperature) {
  for (bool log : {false, true}) {
    const float t = 0.6f;
    torch::Tensor x = Logits(3, 500, 9).requires_grad_(true);
    const torch::Tensor y = log ? torch::log_softmax(x / t, 1) : torch::softmax(x / t, 1);
    const torch::Tensor dy = torch::randn({3, 500});
    y.backward(dy);
    const torch::Tensor yd = y.detach().contiguous();
    torch::Tensor got = torch::empty_like(dy);
    softkern::SoftmaxBackwardOptions o;
    o.temperature = t;
    ASSERT_TRUE(BackwardOf(log)(yd.data_ptr<float>(), 500, dy.data_ptr<float>(), 500, got.data_ptr<float>(), 500, 3,
                                500, o)
                    .ok());
    ExpectClose(got, x.grad(), 2e-6, x.grad().abs().max().item<double>(), log ? "log T" : "T");
  }
}

// One cross-entropy configuration: PyTorch's value by composition (and
// autograd), softkern's by one call.
struct Config {
  Reduction reduction = Reduction::kMean;
  float eps = 0, z_loss = 0, softcap = 0, temperature = 1;
  bool weights = false;
  Normaliser normaliser = Normaliser::kSoftmax;
  std::string Name() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %s eps=%g z=%g cap=%g T=%g%s", softkern::normaliser_name(normaliser),
                  softkern::reduction_name(reduction), eps, z_loss, softcap, temperature, weights ? " weights" : "");
    return buf;
  }
};

// The loss as a PyTorch user composes it; `lse` gets logsumexp(z) (StableMax:
// log sum s(z)).
torch::Tensor TorchLoss(const Config& c, const torch::Tensor& x, const torch::Tensor& targets,
                        const torch::Tensor& weight, torch::Tensor* lse) {
  torch::Tensor v = c.softcap != 0 ? c.softcap * torch::tanh(x / c.softcap) : x;
  const torch::Tensor z = v / c.temperature;
  const torch::Tensor kept = targets != -100;
  const torch::Tensor count = kept.sum().to(torch::kFloat32);
  torch::Tensor ce, log_norm;
  const auto reduction = c.reduction == Reduction::kNone ? torch::Reduction::None
                         : c.reduction == Reduction::kSum ? torch::Reduction::Sum
                                                          : torch::Reduction::Mean;
  if (c.normaliser == Normaliser::kSoftmax) {
    log_norm = torch::logsumexp(z, 1);
    auto o = F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(c.eps);
    if (c.weights) o = o.weight(weight);
    o = c.reduction == Reduction::kNone ? o.reduction(torch::kNone)
        : c.reduction == Reduction::kSum ? o.reduction(torch::kSum)
                                         : o.reduction(torch::kMean);
    ce = F::cross_entropy(z, targets, o);
  } else {
    // StableMax: log p = log s(z) - log sum s(z); PyTorch's label-smoothing
    // formula (LossNLL.cpp) on these log-probabilities.
    const torch::Tensor s = torch::where(z >= 0, z + 1, 1 / (1 - z));
    log_norm = torch::log(s.sum(1));
    const torch::Tensor logp = torch::log(s) - log_norm.unsqueeze(1);
    const torch::Tensor w = c.weights ? weight : torch::ones({x.size(1)});
    const torch::Tensor safe = torch::where(kept, targets, torch::zeros_like(targets));
    const torch::Tensor w_t = w.index_select(0, safe) * kept.to(torch::kFloat32);
    const torch::Tensor nll = -logp.gather(1, safe.unsqueeze(1)).squeeze(1) * w_t;
    const torch::Tensor smooth = -(logp * w.unsqueeze(0)).sum(1) * kept.to(torch::kFloat32);
    torch::Tensor row = (1 - c.eps) * nll + c.eps / x.size(1) * smooth;
    ce = c.reduction == Reduction::kNone ? row : c.reduction == Reduction::kSum ? row.sum() : row.sum() / w_t.sum();
  }
  (void)reduction;
  *lse = log_norm.detach();
  torch::Tensor zl = c.z_loss * log_norm * log_norm * kept.to(torch::kFloat32);
  zl = c.reduction == Reduction::kNone ? zl : c.reduction == Reduction::kSum ? zl.sum() : zl.sum() / count;
  return ce + zl;
}

void CheckConfig(const Config& c, std::int64_t rows, std::int64_t vocab, std::uint64_t seed) {
  torch::Tensor x = Logits(rows, vocab, seed).requires_grad_(true);
  torch::manual_seed(seed + 1);
  torch::Tensor targets = torch::randint(0, vocab, {rows}, torch::kInt64);
  if (rows >= 3) targets[1] = -100;
  const torch::Tensor weight = torch::rand({vocab}) + 0.25;
  torch::Tensor lse;
  const torch::Tensor loss = TorchLoss(c, x, targets, weight, &lse);
  const torch::Tensor grad_output =
      c.reduction == Reduction::kNone ? torch::rand({rows}) + 0.5 : torch::full({}, 1.75f);
  loss.backward(grad_output);

  const torch::Tensor logits = x.detach().contiguous();
  torch::Tensor got_grad = torch::empty_like(logits);
  torch::Tensor got_loss = torch::empty(c.reduction == Reduction::kNone ? rows : 1);
  torch::Tensor got_lse = torch::empty(rows);
  const torch::Tensor go = grad_output.contiguous();
  softkern::CrossEntropyTensors t;
  t.rows = rows;
  t.vocab = vocab;
  t.logits = logits.data_ptr<float>();
  t.targets = targets.data_ptr<std::int64_t>();
  t.loss = got_loss.data_ptr<float>();
  t.lse = got_lse.data_ptr<float>();
  t.grad = got_grad.data_ptr<float>();
  t.grad_output = go.data_ptr<float>();
  CrossEntropyOptions o;
  o.reduction = c.reduction;
  o.label_smoothing = c.eps;
  o.z_loss = c.z_loss;
  o.softcap = c.softcap;
  o.temperature = c.temperature;
  o.normaliser = c.normaliser;
  o.class_weights = c.weights ? weight.data_ptr<float>() : nullptr;
  const softkern::Status s = softkern::cross_entropy(t, o);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string name = c.Name() + " N=" + std::to_string(rows) + " V=" + std::to_string(vocab);
  const torch::Tensor want_loss = loss.detach().reshape({-1});
  // Ignored rows: PyTorch's loss is 0 for kNone, as softkern's.
  ExpectClose(got_loss, want_loss, 2e-5, 1.0, name + " loss");
  // softkern's lse of an ignored row is NaN (the row is not read).
  const torch::Tensor kept = targets != -100;
  ExpectClose(got_lse.masked_select(kept), lse.masked_select(kept), 2e-6, 1.0, name + " lse");
  ExpectClose(got_grad, x.grad(), 2e-5, x.grad().abs().max().item<double>(), name + " grad");
}

TEST_F(TorchParity, CrossEntropyOptionCombinations) {
  std::uint64_t seed = 1;
  for (Normaliser n : {Normaliser::kSoftmax, Normaliser::kStableMax}) {
    for (Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
      for (float eps : {0.0f, 0.1f}) {
        for (bool weights : {false, true}) {
          for (int extra = 0; extra < 4; ++extra) {
            Config c;
            c.normaliser = n;
            c.reduction = r;
            c.eps = eps;
            c.weights = weights;
            c.z_loss = extra == 1 || extra == 3 ? 1e-2f : 0.0f;
            c.softcap = (extra == 2 || extra == 3) && n == Normaliser::kSoftmax ? 6.0f : 0.0f;
            c.temperature = extra == 3 ? 1.3f : 1.0f;
            for (std::int64_t vocab : {5, 333, 5000}) CheckConfig(c, 4, vocab, ++seed);
          }
        }
      }
    }
  }
}

// A vocabulary over several chunks, as a language model's.
TEST_F(TorchParity, CrossEntropyLargeVocabulary) {
  Config c;
  c.eps = 0.1f;
  c.z_loss = 1e-4f;
  CheckConfig(c, 2, 128256, 7);
}

// Where softkern differs from PyTorch by design (docs/training.md): every
// row ignored (PyTorch's mean is 0/0), and label smoothing over -inf logits
// (PyTorch's smoothing term is +inf, its gradient NaN).
TEST_F(TorchParity, DocumentedDifferences) {
  const torch::Tensor x = Logits(2, 10, 3);
  const torch::Tensor ignored = torch::full({2}, -100, torch::kInt64);
  const torch::Tensor torch_mean = F::cross_entropy(x, ignored, F::CrossEntropyFuncOptions().ignore_index(-100));
  float loss = -1;
  softkern::CrossEntropyTensors t;
  t.rows = 2;
  t.vocab = 10;
  t.logits = x.data_ptr<float>();
  t.targets = ignored.data_ptr<std::int64_t>();
  t.loss = &loss;
  ASSERT_TRUE(softkern::cross_entropy(t).ok());
  std::printf("[ pytorch  ] every row ignored, mean: PyTorch %g, softkern %g\n", torch_mean.item<float>(), loss);
  EXPECT_EQ(loss, 0.0f);

  torch::Tensor masked = Logits(1, 10, 4);
  masked[0][7] = -INFINITY;
  masked.requires_grad_(true);
  const torch::Tensor target = torch::full({1}, 2, torch::kInt64);
  const torch::Tensor torch_loss =
      F::cross_entropy(masked, target, F::CrossEntropyFuncOptions().label_smoothing(0.1));
  torch_loss.backward();
  const torch::Tensor logits = masked.detach().contiguous();
  torch::Tensor grad = torch::empty_like(logits);
  t.rows = 1;
  t.logits = logits.data_ptr<float>();
  t.targets = target.data_ptr<std::int64_t>();
  t.grad = grad.data_ptr<float>();
  CrossEntropyOptions o;
  o.label_smoothing = 0.1f;
  ASSERT_TRUE(softkern::cross_entropy(t, o).ok());
  std::printf("[ pytorch  ] label smoothing with a -inf logit: loss PyTorch %g, softkern %g; its gradient "
              "PyTorch %g, softkern %g\n",
              torch_loss.item<float>(), loss, masked.grad()[0][7].item<float>(), grad[0][7].item<float>());
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_EQ(grad[0][7].item<float>(), 0.0f);
}

}  // namespace
