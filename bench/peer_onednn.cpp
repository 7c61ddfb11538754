// oneDNN peers, one thread (the bench sets OMP_NUM_THREADS=1 before oneDNN
// starts):
//  - softmax: the softmax primitive (softmax_forward, forward_inference,
//    axis 1);
//  - attention, composed from primitives as oneDNN's users write it: a
//    matmul q k^T with the 1/sqrt(d) output scale and the causal mask added
//    by a binary post-op (-inf above the diagonal), the softmax primitive in
//    place on the scores, then a matmul of the weights with v. K is read as
//    k^T through its memory descriptor (format ba), nothing is transposed.
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "peers.hpp"

namespace softkern_bench {
namespace {

using dnnl::memory;

class OneDnnPeer final : public PeerSoftmax {
 public:
  OneDnnPeer() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}
  const char* name() const override { return "onednn"; }
  bool prepare(std::size_t rows, std::size_t cols, std::string*) override {
    desc_ = memory::desc({static_cast<memory::dim>(rows), static_cast<memory::dim>(cols)}, memory::data_type::f32,
                         memory::format_tag::ab);
    const dnnl::softmax_forward::desc op(dnnl::prop_kind::forward_inference, desc_, 1);
    primitive_ = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(op, engine_));
    return true;
  }
  void run(const float* x, float* y) override {
    memory src(desc_, engine_, const_cast<float*>(x));
    memory dst(desc_, engine_, y);
    primitive_.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  memory::desc desc_;
  dnnl::softmax_forward primitive_;
};

class OneDnnAttentionPeer final : public PeerAttention {
 public:
  OneDnnAttentionPeer() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}
  const char* name() const override { return "onednn"; }
  bool prepare(std::size_t L, std::size_t d, const float* q, const float* k, const float* v,
               std::string*) override {
    const memory::dim l = static_cast<memory::dim>(L), dd = static_cast<memory::dim>(d);
    const auto f32 = memory::data_type::f32;
    L_ = L;
    const memory::desc q_md({l, dd}, f32, memory::format_tag::ab);
    const memory::desc kt_md({dd, l}, f32, memory::format_tag::ba);  // k [L, d] row-major is k^T column-major
    const memory::desc s_md({l, l}, f32, memory::format_tag::ab);
    const memory::desc v_md({l, dd}, f32, memory::format_tag::ab);
    scores_.assign(L * L, 0.0f);
    mask_.assign(L * L, 0.0f);
    for (std::size_t i = 0; i < L; ++i) {
      for (std::size_t j = i + 1; j < L; ++j) mask_[i * L + j] = -std::numeric_limits<float>::infinity();
    }
    dnnl::primitive_attr attr;
    attr.set_output_scales(0, {1.0f / std::sqrt(static_cast<float>(d))});
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, s_md);
    attr.set_post_ops(ops);
    scores_op_ = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), attr, engine_));
    softmax_op_ = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, s_md, 1), engine_));
    output_op_ = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(s_md, v_md, q_md), engine_));
    q_ = memory(q_md, engine_, const_cast<float*>(q));
    kt_ = memory(kt_md, engine_, const_cast<float*>(k));
    v_ = memory(v_md, engine_, const_cast<float*>(v));
    s_ = memory(s_md, engine_, scores_.data());
    m_ = memory(s_md, engine_, mask_.data());
    o_md_ = q_md;
    return true;
  }
  void run(float* o) override {
    memory out(o_md_, engine_, o);
    scores_op_.execute(stream_, {{DNNL_ARG_SRC, q_},
                                 {DNNL_ARG_WEIGHTS, kt_},
                                 {DNNL_ARG_DST, s_},
                                 {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, m_}});
    softmax_op_.execute(stream_, {{DNNL_ARG_SRC, s_}, {DNNL_ARG_DST, s_}});
    output_op_.execute(stream_, {{DNNL_ARG_SRC, s_}, {DNNL_ARG_WEIGHTS, v_}, {DNNL_ARG_DST, out}});
    stream_.wait();
  }
  // The scores (softmax in place) and the mask.
  double intermediate_bytes() const override { return 2.0 * L_ * L_ * sizeof(float); }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::size_t L_ = 0;
  std::vector<float> scores_, mask_;
  dnnl::matmul scores_op_, output_op_;
  dnnl::softmax_forward softmax_op_;
  memory q_, kt_, v_, s_, m_;
  memory::desc o_md_;
};

}  // namespace

std::unique_ptr<PeerSoftmax> MakeOneDnnPeer() { return std::make_unique<OneDnnPeer>(); }
std::unique_ptr<PeerAttention> MakeOneDnnAttentionPeer() { return std::make_unique<OneDnnAttentionPeer>(); }

}  // namespace softkern_bench
