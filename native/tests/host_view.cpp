// make_host_view(): see host_view.h. One method per Backend op; each lists, argument by argument,
// what it stages and how many elements, derived from the op's own size arguments:
//   in(p, n)   host -> device before the op (read by the op)
//   out(p, n)  host -> device before the op (the harness's NaN poison, so unwritten elements stay
//              NaN), device -> host after it; also used for in/out arguments (add_inplace's y,
//              sgd_update's w and velocity, bn_update_running's running statistics)
// A null host pointer stays null (dx of the stem, dlogits when not wanted, absent fused inputs).
#include "host_view.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gnas {
namespace test {
namespace {

// Device copies of the host buffers of one call. Everything is released by the destructor, on
// success and on exceptions alike.
class Staging {
 public:
  explicit Staging(Backend& dev) : dev_(dev) {}
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    // Wait for queued work before the memory goes back (a throwing op may have left some);
    // destructors must not throw.
    try {
      if (!finished_) dev_.synchronize();
    } catch (...) {
    }
    for (const Buf& b : bufs_) {
      try {
        dev_.release(b.dev);
      } catch (...) {
      }
    }
  }

  template <typename T>
  const T* in(const T* host, int64_t n) {
    return static_cast<const T*>(map(host, n, sizeof(T), false, false));
  }
  template <typename T>
  T* out(T* host, int64_t n) {
    return static_cast<T*>(map(host, n, sizeof(T), true, std::is_same<T, float>::value));
  }

  // After a failed op: every output the op was given becomes garbage the harness cannot mistake
  // for a result (NaN floats, 0xFF bytes), whatever was or was not downloaded.
  void poison_outputs() {
    for (const Buf& b : bufs_) {
      if (!b.download) continue;
      if (b.is_float)
        std::fill_n(static_cast<float*>(const_cast<void*>(b.host)), b.bytes / sizeof(float),
                    std::numeric_limits<float>::quiet_NaN());
      else
        std::memset(const_cast<void*>(b.host), 0xFF, b.bytes);
    }
  }

  // Downloads every output completely (download waits for the device), after the op.
  void finish() {
    for (const Buf& b : bufs_)
      if (b.download) dev_.download(const_cast<void*>(b.host), b.dev, b.bytes);
    dev_.synchronize();
    finished_ = true;
  }

  // A BnAct over C channels with its four vectors staged (null when bn is null).
  const BnAct* bn_act(const BnAct* bn, int64_t C) {
    if (!bn) return nullptr;
    bn_act_ = *bn;
    bn_act_.mean = in(bn->mean, C);
    bn_act_.invstd = in(bn->invstd, C);
    bn_act_.gamma = in(bn->gamma, C);
    bn_act_.beta = in(bn->beta, C);
    return &bn_act_;
  }
  // A BnGrad of an output with `rows` x K elements: x is the whole saved conv output, the other
  // six vectors have K entries (null when bn is null).
  const BnGrad* bn_grad(const BnGrad* bn, int64_t out_size, int64_t K) {
    if (!bn) return nullptr;
    bn_grad_ = *bn;
    bn_grad_.x = in(bn->x, out_size);
    bn_grad_.mean = in(bn->mean, K);
    bn_grad_.invstd = in(bn->invstd, K);
    bn_grad_.gamma = in(bn->gamma, K);
    bn_grad_.beta = in(bn->beta, K);
    bn_grad_.dgamma = in(bn->dgamma, K);
    bn_grad_.dbeta = in(bn->dbeta, K);
    return &bn_grad_;
  }

 private:
  struct Buf {
    const void* host;
    void* dev;
    size_t bytes;
    bool download;
    bool is_float;
  };

  void* map(const void* host, int64_t n, size_t elem, bool download, bool is_float) {
    if (!host) return nullptr;
    if (n < 0) throw std::logic_error("host view: negative element count");
    const size_t bytes = size_t(n) * elem;
    const auto* lo = static_cast<const uint8_t*>(host);
    for (Buf& b : bufs_) {
      if (b.host == host) {  // the same buffer passed twice (in-place use): one device copy
        if (b.bytes != bytes)
          throw std::logic_error("host view: one host pointer passed with two sizes (" + std::to_string(b.bytes) +
                                 " and " + std::to_string(bytes) + " bytes)");
        b.download = b.download || download;
        b.is_float = b.is_float || is_float;
        return b.dev;
      }
      const auto* blo = static_cast<const uint8_t*>(b.host);
      if (bytes > 0 && b.bytes > 0 && lo < blo + b.bytes && blo < lo + bytes)
        throw std::logic_error("host view: partially overlapping host buffers are not supported");
    }
    // At least one float, so a zero-length tensor still gets a valid, distinct pointer.
    void* dev = dev_.alloc(std::max<size_t>(bytes, sizeof(float)));
    try {
      if (bytes > 0) dev_.upload(dev, host, bytes);
      bufs_.push_back(Buf{host, dev, bytes, download, is_float});
    } catch (...) {
      dev_.release(dev);
      throw;
    }
    return dev;
  }

  Backend& dev_;
  std::vector<Buf> bufs_;
  BnAct bn_act_;
  BnGrad bn_grad_;
  bool finished_ = false;
};

int64_t dense_w(const ConvShape& s) { return int64_t(s.K) * s.k * s.k * s.C; }  // w[K][k][k][C]
int64_t dw_w(const ConvShape& s) { return int64_t(s.k) * s.k * s.C; }           // w[k][k][C]
int64_t se_x(const SEShape& s) { return int64_t(s.N) * s.HW * s.C; }

class HostView final : public Backend {
 public:
  HostView(std::unique_ptr<Backend> device, OpErrorHandler on_error)
      : d_(std::move(device)), on_error_(std::move(on_error)) {
    if (!d_) throw std::invalid_argument("host view: no device backend");
  }

  std::string name() const override { return d_->name(); }
  void set_threads(int threads) override { d_->set_threads(threads); }
  int threads() const override { return d_->threads(); }
  int device() const override { return d_->device(); }
  // Memory methods: the Backend defaults (host memory), except that waiting means waiting for
  // the device.
  void synchronize() override { d_->synchronize(); }

  void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* invstd, float eps,
                         float momentum, int64_t M, int C, float* nonfinite) override {
    run("bn_update_running", [&](Staging& g) {
      d_->bn_update_running(g.out(running_mean, C), g.out(running_var, C), g.in(mean, C), g.in(invstd, C), eps, momentum,
                            M, C, nonfinite ? g.out(nonfinite, 1) : nullptr);
    });
  }

  void normalize_u8(float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C) override {
    run("normalize_u8", [&](Staging& g) {
      d_->normalize_u8(g.out(x, M * C), g.in(src, M * C), g.in(mean, C), g.in(std, C), M, C);
    });
  }
  void normalize_f32(float* x, const float* src, const float* mean, const float* std, int64_t M, int C) override {
    run("normalize_f32", [&](Staging& g) {
      d_->normalize_f32(g.out(x, M * C), g.in(src, M * C), g.in(mean, C), g.in(std, C), M, C);
    });
  }

  void conv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    run("conv_forward", [&](Staging& g) {
      d_->conv_forward(g.out(y, s.out_size()), g.in(x, s.in_size()), g.in(w, dense_w(s)), s);
    });
  }
  void conv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvShape& s) override {
    run("conv_backward", [&](Staging& g) {
      d_->conv_backward(g.out(dx, s.in_size()), g.out(dw, dense_w(s)), g.in(dy, s.out_size()), g.in(x, s.in_size()),
                        g.in(w, dense_w(s)), s);
    });
  }

  void dwconv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    run("dwconv_forward", [&](Staging& g) {
      d_->dwconv_forward(g.out(y, s.out_size()), g.in(x, s.in_size()), g.in(w, dw_w(s)), s);
    });
  }
  void dwconv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                       const ConvShape& s) override {
    run("dwconv_backward", [&](Staging& g) {
      d_->dwconv_backward(g.out(dx, s.in_size()), g.out(dw, dw_w(s)), g.in(dy, s.out_size()), g.in(x, s.in_size()),
                          g.in(w, dw_w(s)), s);
    });
  }

  void bn_act_forward_train(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, Act act, int64_t M, int C) override {
    run("bn_act_forward_train", [&](Staging& g) {
      d_->bn_act_forward_train(g.out(y, M * C), g.out(mean, C), g.out(invstd, C), g.in(x, M * C), g.in(gamma, C),
                               g.in(beta, C), eps, act, M, C);
    });
  }
  void bn_act_forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                           const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                           int C) override {
    run("bn_act_forward_eval", [&](Staging& g) {
      d_->bn_act_forward_eval(g.out(y, M * C), g.in(x, M * C), g.in(gamma, C), g.in(beta, C), g.in(running_mean, C),
                              g.in(running_var, C), eps, act, M, C);
    });
  }
  void bn_act_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                       const float* invstd, const float* gamma, const float* beta, Act act, int64_t M,
                       int C) override {
    run("bn_act_backward", [&](Staging& g) {
      d_->bn_act_backward(g.out(dx, M * C), g.out(dgamma, C), g.out(dbeta, C), g.in(dy, M * C), g.in(x, M * C),
                          g.in(mean, C), g.in(invstd, C), g.in(gamma, C), g.in(beta, C), act, M, C);
    });
  }
  void bn_act_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                    const float* beta, Act act, int64_t M, int C) override {
    run("bn_act_apply", [&](Staging& g) {
      d_->bn_act_apply(g.out(y, M * C), g.in(x, M * C), g.in(mean, C), g.in(invstd, C), g.in(gamma, C), g.in(beta, C),
                       act, M, C);
    });
  }

  // SE: x, y, dx, dy [N][HW][C]; pooled, gate [N][C]; hidden [N][R]; w1 [R][C], b1 [R]; w2 [C][R], b2 [C].
  void se_forward(float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                  const float* b1, const float* w2, const float* b2, const SEShape& s) override {
    const int64_t NC = int64_t(s.N) * s.C, NR = int64_t(s.N) * s.R, RC = int64_t(s.R) * s.C;
    run("se_forward", [&](Staging& g) {
      d_->se_forward(g.out(y, se_x(s)), g.out(pooled, NC), g.out(hidden, NR), g.out(gate, NC), g.in(x, se_x(s)),
                     g.in(w1, RC), g.in(b1, s.R), g.in(w2, RC), g.in(b2, s.C), s);
    });
  }
  void se_scale(float* y, const float* x, const float* gate, const SEShape& s) override {
    run("se_scale", [&](Staging& g) {
      d_->se_scale(g.out(y, se_x(s)), g.in(x, se_x(s)), g.in(gate, int64_t(s.N) * s.C), s);
    });
  }
  void se_backward(float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy, const float* x,
                   const float* pooled, const float* hidden, const float* gate, const float* w1, const float* w2,
                   const SEShape& s) override {
    const int64_t NC = int64_t(s.N) * s.C, NR = int64_t(s.N) * s.R, RC = int64_t(s.R) * s.C;
    run("se_backward", [&](Staging& g) {
      d_->se_backward(g.out(dx, se_x(s)), g.out(dw1, RC), g.out(db1, s.R), g.out(dw2, RC), g.out(db2, s.C),
                      g.in(dy, se_x(s)), g.in(x, se_x(s)), g.in(pooled, NC), g.in(hidden, NR), g.in(gate, NC),
                      g.in(w1, RC), g.in(w2, RC), s);
    });
  }

  void add_inplace(float* y, const float* x, int64_t n) override {
    run("add_inplace", [&](Staging& g) {
      d_->add_inplace(g.out(y, n), g.in(x, n), n);  // y is read and written
    });
  }

  void gap_forward(float* y, const float* x, int N, int HW, int C) override {
    run("gap_forward", [&](Staging& g) {
      d_->gap_forward(g.out(y, int64_t(N) * C), g.in(x, int64_t(N) * HW * C), N, HW, C);
    });
  }
  void gap_backward(float* dx, const float* dy, int N, int HW, int C) override {
    run("gap_backward", [&](Staging& g) {
      d_->gap_backward(g.out(dx, int64_t(N) * HW * C), g.in(dy, int64_t(N) * C), N, HW, C);
    });
  }

  // FC: x, dx [N][C]; y, dy [N][K]; w, dw [K][C]; b, db [K].
  void fc_forward(float* y, const float* x, const float* w, const float* b, int N, int C, int K) override {
    run("fc_forward", [&](Staging& g) {
      d_->fc_forward(g.out(y, int64_t(N) * K), g.in(x, int64_t(N) * C), g.in(w, int64_t(K) * C), g.in(b, K), N, C, K);
    });
  }
  void fc_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N, int C,
                   int K) override {
    run("fc_backward", [&](Staging& g) {
      d_->fc_backward(g.out(dx, int64_t(N) * C), g.out(dw, int64_t(K) * C), g.out(db, K), g.in(dy, int64_t(N) * K),
                      g.in(x, int64_t(N) * C), g.in(w, int64_t(K) * C), N, C, K);
    });
  }

  // loss [N], correct [N] bytes, dlogits / logits [N][K], labels [N] int32.
  void softmax_xent(float* loss, uint8_t* correct, float* dlogits, const float* logits, const int32_t* labels,
                    float smoothing, int N, int K) override {
    run("softmax_xent", [&](Staging& g) {
      d_->softmax_xent(g.out(loss, N), g.out(correct, N), g.out(dlogits, int64_t(N) * K), g.in(logits, int64_t(N) * K),
                       g.in(labels, N), smoothing, N, K);
    });
  }

  void sgd_update(float* w, float* velocity, const float* g_, int64_t n, float lr, float momentum, float weight_decay,
                  bool nesterov, float* nonfinite) override {
    run("sgd_update", [&](Staging& g) {
      d_->sgd_update(g.out(w, n), g.out(velocity, n), g.in(g_, n), n, lr, momentum, weight_decay, nesterov,
                     nonfinite ? g.out(nonfinite, 1) : nullptr);
    });
  }

  // Fused variants: in_bn has s.C channels (the conv's input), out_mean / out_invstd and out_bn
  // have s.K (the conv's output), out_bn->x is the whole conv output.
  void conv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x, const BnAct* in_bn,
                          const float* w, const ConvShape& s) override {
    run("conv_forward_fused", [&](Staging& g) {
      d_->conv_forward_fused(g.out(y, s.out_size()), g.out(out_mean, s.K), g.out(out_invstd, s.K), eps,
                             g.in(x, s.in_size()), g.bn_act(in_bn, s.C), g.in(w, dense_w(s)), s);
    });
  }
  void dwconv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                            const BnAct* in_bn, const float* w, const ConvShape& s) override {
    run("dwconv_forward_fused", [&](Staging& g) {
      d_->dwconv_forward_fused(g.out(y, s.out_size()), g.out(out_mean, s.K), g.out(out_invstd, s.K), eps,
                               g.in(x, s.in_size()), g.bn_act(in_bn, s.C), g.in(w, dw_w(s)), s);
    });
  }
  void conv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                           const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s) override {
    run("conv_backward_fused", [&](Staging& g) {
      d_->conv_backward_fused(g.out(dx, s.in_size()), g.out(dw, dense_w(s)), g.out(in_dgamma, s.C),
                              g.out(in_dbeta, s.C), g.in(dy, s.out_size()), g.bn_grad(out_bn, s.out_size(), s.K),
                              g.in(x, s.in_size()), g.bn_act(in_bn, s.C), g.in(w, dense_w(s)), s);
    });
  }
  void dwconv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                             const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                             const ConvShape& s) override {
    run("dwconv_backward_fused", [&](Staging& g) {
      d_->dwconv_backward_fused(g.out(dx, s.in_size()), g.out(dw, dw_w(s)), g.out(in_dgamma, s.C),
                                g.out(in_dbeta, s.C), g.in(dy, s.out_size()), g.bn_grad(out_bn, s.out_size(), s.K),
                                g.in(x, s.in_size()), g.bn_act(in_bn, s.C), g.in(w, dw_w(s)), s);
    });
  }

 private:
  // Stages, runs `call` (the device op) and downloads; an exception (staging, the op, the
  // download) goes to on_error_ with the outputs poisoned, or is rethrown without a handler.
  template <typename F>
  void run(const char* op, F&& call) {
    Staging g(*d_);
    try {
      call(g);
      g.finish();
    } catch (const std::exception& e) {
      if (!on_error_) throw;
      g.poison_outputs();
      on_error_(op, e.what());
    }
  }

  std::unique_ptr<Backend> d_;
  OpErrorHandler on_error_;
};

}  // namespace

std::unique_ptr<Backend> make_host_view(std::unique_ptr<Backend> device, OpErrorHandler on_error) {
  return std::make_unique<HostView>(std::move(device), std::move(on_error));
}

}  // namespace test
}  // namespace gnas
