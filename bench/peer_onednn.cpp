// oneDNN's softmax primitive (softmax_forward, forward_inference, axis 1).
// One thread: the bench sets OMP_NUM_THREADS=1 before oneDNN starts.
#include <oneapi/dnnl/dnnl.hpp>

#include "peers.hpp"

namespace softkern_bench {
namespace {

class OneDnnPeer final : public PeerSoftmax {
 public:
  OneDnnPeer() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}
  const char* name() const override { return "onednn"; }
  bool prepare(std::size_t rows, std::size_t cols, std::string*) override {
    desc_ = dnnl::memory::desc({static_cast<dnnl::memory::dim>(rows), static_cast<dnnl::memory::dim>(cols)},
                               dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    const dnnl::softmax_forward::desc op(dnnl::prop_kind::forward_inference, desc_, 1);
    primitive_ = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(op, engine_));
    return true;
  }
  void run(const float* x, float* y) override {
    dnnl::memory src(desc_, engine_, const_cast<float*>(x));
    dnnl::memory dst(desc_, engine_, y);
    primitive_.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory::desc desc_;
  dnnl::softmax_forward primitive_;
};

}  // namespace

std::unique_ptr<PeerSoftmax> MakeOneDnnPeer() { return std::make_unique<OneDnnPeer>(); }

}  // namespace softkern_bench
