// The reference backend: the Backend interface on top of the float instantiations of the naive
// op templates in reference_ops.h (one thread, double accumulation). It is the executable
// specification every other backend is tested against (native/tests), not a backend to train with.
#include "backends/reference/reference_backend.h"

#include "backends/reference/reference_ops.h"

namespace gnas {
namespace {

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }

  void normalize_u8(float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C) override {
    ref::normalize_u8<float>(x, src, mean, std, M, C);
  }
  void normalize_f32(float* x, const float* src, const float* mean, const float* std, int64_t M, int C) override {
    ref::normalize_f32<float>(x, src, mean, std, M, C);
  }

  void conv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    ref::conv_forward<float>(y, x, w, s);
  }
  void conv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvShape& s) override {
    ref::conv_backward<float>(dx, dw, dy, x, w, s);
  }

  void dwconv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    ref::dwconv_forward<float>(y, x, w, s);
  }
  void dwconv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                       const ConvShape& s) override {
    ref::dwconv_backward<float>(dx, dw, dy, x, w, s);
  }

  void bn_act_forward_train(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, Act act, int64_t M, int C) override {
    ref::bn_act_forward_train<float>(y, mean, invstd, x, gamma, beta, eps, act, M, C);
  }
  void bn_act_forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                           const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                           int C) override {
    ref::bn_act_forward_eval<float>(y, x, gamma, beta, running_mean, running_var, eps, act, M, C);
  }
  void bn_act_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                       const float* invstd, const float* gamma, const float* beta, Act act, int64_t M,
                       int C) override {
    ref::bn_act_backward<float>(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, beta, act, M, C);
  }

  void se_forward(float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                  const float* b1, const float* w2, const float* b2, const SEShape& s) override {
    ref::se_forward<float>(y, pooled, hidden, gate, x, w1, b1, w2, b2, s);
  }
  void se_scale(float* y, const float* x, const float* gate, const SEShape& s) override {
    ref::se_scale<float>(y, x, gate, s);
  }
  void se_backward(float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy, const float* x,
                   const float* pooled, const float* hidden, const float* gate, const float* w1, const float* w2,
                   const SEShape& s) override {
    ref::se_backward<float>(dx, dw1, db1, dw2, db2, dy, x, pooled, hidden, gate, w1, w2, s);
  }

  void add_inplace(float* y, const float* x, int64_t n) override { ref::add_inplace<float>(y, x, n); }

  void gap_forward(float* y, const float* x, int N, int HW, int C) override {
    ref::gap_forward<float>(y, x, N, HW, C);
  }
  void gap_backward(float* dx, const float* dy, int N, int HW, int C) override {
    ref::gap_backward<float>(dx, dy, N, HW, C);
  }

  void fc_forward(float* y, const float* x, const float* w, const float* b, int N, int C, int K) override {
    ref::fc_forward<float>(y, x, w, b, N, C, K);
  }
  void fc_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N, int C,
                   int K) override {
    ref::fc_backward<float>(dx, dw, db, dy, x, w, N, C, K);
  }

  void softmax_xent(float* loss, uint8_t* correct, float* dlogits, const float* logits, const int32_t* labels,
                    float smoothing, int N, int K) override {
    ref::softmax_xent<float>(loss, correct, dlogits, logits, labels, smoothing, N, K);
  }

  void sgd_update(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                  float weight_decay, bool nesterov, float* nonfinite) override {
    ref::sgd_update<float>(w, velocity, g, n, lr, momentum, weight_decay, nesterov, nonfinite);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace gnas
