// XNNPACK's softmax operator (xnn_create_softmax_nc_f32), run without a
// thread pool, i.e. on the calling thread.
#include <xnnpack.h>

#include "peers.hpp"

namespace softkern_bench {
namespace {

class XnnpackPeer final : public PeerSoftmax {
 public:
  ~XnnpackPeer() override {
    if (op_ != nullptr) xnn_delete_operator(op_);
  }
  const char* name() const override { return "xnnpack"; }
  bool prepare(std::size_t rows, std::size_t cols, std::string* why) override {
    if (xnn_initialize(nullptr) != xnn_status_success) {
      *why = "xnn_initialize failed";
      return false;
    }
    if (op_ != nullptr) xnn_delete_operator(op_);
    op_ = nullptr;
    if (xnn_create_softmax_nc_f32(cols, cols, cols, 0, &op_) != xnn_status_success) {
      *why = "xnn_create_softmax_nc_f32 failed";
      return false;
    }
    rows_ = rows;
    return true;
  }
  void run(const float* x, float* y) override {
    // Setup is per input/output pointer pair; it is cheap (no allocation).
    xnn_setup_softmax_nc_f32(op_, rows_, x, y, nullptr);
    xnn_run_operator(op_, nullptr);
  }

 private:
  xnn_operator_t op_ = nullptr;
  std::size_t rows_ = 0;
};

}  // namespace

std::unique_ptr<PeerSoftmax> MakeXnnpackPeer() { return std::make_unique<XnnpackPeer>(); }

}  // namespace softkern_bench
