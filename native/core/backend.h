// The backend interface: every numerical op of the supernet, forward and backward, as one
// virtual method each. The reference backend (slow, double accumulation, one thread) is the
// executable specification; the CPU backend (SIMD, thread pool) and later the CUDA backend
// implement the same methods and are tested against the reference op by op.
//
// Conventions (after llm.c): outputs first, then inputs, then sizes. All tensors are float32,
// dense, NHWC ("channels last"): a feature map of N images of H x W pixels with C channels is
// x[((n * H + h) * W + w) * C + c]. Rows of a 1x1 conv are the M = N*H*W pixels, so a 1x1 conv is
// one GEMM [M,C] x [C,K] with no reshuffling, and a depthwise conv vectorises over C.
//
// Dimension letters: N batch, H/W input height/width, C input channels, K output channels,
// k kernel size (square), P/Q output height/width, M = N*P*Q (or N*H*W) rows, HW = H*W.
//
// Weight layouts:
//   dense conv      w[K][k][k][C]   (OHWI; a 1x1 conv is w[K][C])
//   depthwise conv  w[k][k][C]
//   fully connected w[K][C], bias[K]   (same as PyTorch's Linear)
//   batch norm      gamma[C], beta[C], running mean[C], running var[C]
//
// Gradient outputs (dw, dgamma, ...) are OVERWRITTEN, never accumulated, unless the method says
// otherwise. A null dx means "the input gradient is not needed" (the stem's input).
//
// Memory: every pointer an op receives (tensors, labels, loss/correct outputs, BnAct/BnGrad
// fields, normalisation mean/std) is BACKEND memory, obtained from alloc() or inside such a block.
// For the host backends (reference, cpu) that is plain host memory and the memory methods below
// are memcpy/malloc; a device backend (cuda) overrides them all. Ops may run asynchronously on a
// device: download() and synchronize() wait for them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gnas {

// A failure of a device backend (e.g. a CUDA error): what() starts with the device API's error
// name ("cudaErrorMemoryAllocation: out of memory (...)"). The binding rejects with code
// GNAS_DEVICE; nothing in the engine calls exit().
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Activation functions. The numeric values are part of the N-API contract (src/native/engine.ts).
enum class Act : int { None = 0, ReLU = 1, ReLU6 = 2, HSwish = 3 };

struct ConvShape {
  int N = 0, H = 0, W = 0, C = 0;  // input N x H x W x C
  int K = 0;                       // output channels (== C for depthwise)
  int k = 1;                       // kernel size (k x k)
  int stride = 1, pad = 0;
  int P = 0, Q = 0;                // output height / width
  // Fills P and Q from H, W, k, stride, pad.
  void finish() {
    P = (H + 2 * pad - k) / stride + 1;
    Q = (W + 2 * pad - k) / stride + 1;
  }
  int64_t in_size() const { return int64_t(N) * H * W * C; }
  int64_t out_size() const { return int64_t(N) * P * Q * K; }
};

// Squeeze-excite on x[N][HW][C]: pooled = mean over HW; hidden = relu(w1 . pooled + b1) with
// w1[R][C]; gate = sigmoid(w2 . hidden + b2) with w2[C][R]; y = x * gate (per image and channel).
struct SEShape {
  int N = 0, HW = 0, C = 0, R = 0;
};

// A batch norm + activation given by saved statistics, a = act(gamma * (x - mean) * invstd + beta),
// that a fused op applies to its input on the fly (see the fused variants at the end of Backend).
// Which tensors of a scoring op are stored in bfloat16 (see Backend::conv_forward_fused_bf16).
struct Bf16Io {
  bool in = false;   // the input x
  bool out = false;  // the output y
};

struct BnAct {
  const float* mean = nullptr;
  const float* invstd = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  Act act = Act::None;
};

// The backward of a train-mode BN+act, bn_act_backward(dx, dgamma, dbeta, dy, x, ...), for a
// conv backward that runs its second pass (the input gradient) on the fly on its own dy, given
// the BN's saved input and its parameter gradients (the first pass; see conv_backward_fused).
struct BnGrad {
  const float* x = nullptr;  // the BN's input: the conv's saved output (pre-BN)
  const float* mean = nullptr;
  const float* invstd = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  Act act = Act::None;
  const float* dgamma = nullptr;  // sum dz * xhat and sum dz, as bn_act_backward writes them
  const float* dbeta = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Number of worker threads for the backend's own pool (0 = all cores). No-op where meaningless.
  virtual void set_threads(int threads) { (void)threads; }
  virtual int threads() const { return 1; }

  // ---- memory (defaults: host memory; see "Memory" above) ----
  // True when backend memory is addressable by the host (the caller may then skip uploads).
  virtual bool host_memory() const { return true; }
  // At least `bytes` bytes, 64-byte aligned, contents undefined; throws std::bad_alloc (or a
  // backend error naming the device) when memory is exhausted.
  virtual void* alloc(size_t bytes);
  virtual void release(void* p);
  virtual void upload(void* dst, const void* src_host, size_t bytes);    // host -> backend
  virtual void download(void* dst_host, const void* src, size_t bytes);  // backend -> host (waits)
  virtual void copy(void* dst, const void* src, size_t bytes);           // backend -> backend
  virtual void fill(float* x, float value, int64_t n);
  // Waits until every op issued so far has finished (no-op on host backends).
  virtual void synchronize() {}
  // Gives back scratch memory the backend keeps between calls (regrown on demand): after an
  // oversized call or an out-of-memory error. No-op for backends that keep none.
  virtual void trim() {}
  virtual int64_t scratch_bytes() const { return 0; }  // what trim() would give back
  // The device queue the ops run on (a cudaStream_t for CUDA; null for host backends), for
  // collectives (NCCL) that must run in order with the backend's own work.
  virtual void* native_stream() { return nullptr; }
  // The device ordinal (-1 for host backends).
  virtual int device() const { return -1; }

  // Running statistics of a train-mode BN after a batch of M rows whose statistics were mean[C]
  // and invstd[C] (as bn_act_forward_train writes them), computed in double:
  //   var = max(1 / invstd^2 - eps, 0);  rm = (1 - m) rm + m mean;  rv = (1 - m) rv + m var M / (M - 1)
  // (PyTorch's unbiased running variance; M == 1 uses var as is). nonfinite (backend memory, may
  // be null) is set to 1 when an updated statistic is not finite, as in sgd_update.
  virtual void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* invstd,
                                 float eps, float momentum, int64_t M, int C, float* nonfinite);

  // ---- input ----
  // x[i] = (src[i] / 255 - mean[c]) / std[c] for NHWC images with C channels (uint8 source), or
  // (src[i] - mean[c]) / std[c] for a float source already in [0,1].
  virtual void normalize_u8(float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C) = 0;
  virtual void normalize_f32(float* x, const float* src, const float* mean, const float* std, int64_t M, int C) = 0;

  // ---- dense convolution (stem 3x3, 1x1 expand / project, strided 1x1 identity) ----
  virtual void conv_forward(float* y, const float* x, const float* w, const ConvShape& s) = 0;
  virtual void conv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                             const ConvShape& s) = 0;

  // ---- depthwise convolution (k = 3/5/7, stride 1/2, pad k/2), s.K == s.C ----
  virtual void dwconv_forward(float* y, const float* x, const float* w, const ConvShape& s) = 0;
  virtual void dwconv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                               const ConvShape& s) = 0;

  // ---- batch norm fused with the following activation: y = act(gamma * (x - mean) * invstd + beta) ----
  // Train mode: statistics of this batch over the M rows (biased variance); writes mean[C] and
  // invstd[C] = 1 / sqrt(var + eps), which backward needs. The running statistics are updated by
  // the caller (the supernet), not here.
  virtual void bn_act_forward_train(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                                    const float* beta, float eps, Act act, int64_t M, int C) = 0;
  // Eval mode: running statistics.
  virtual void bn_act_forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, float eps, Act act,
                                   int64_t M, int C) = 0;
  // Backward of the train-mode forward. The pre-activation is recomputed from x, mean, invstd,
  // gamma and beta, so the forward keeps only x (and y, which the next op keeps anyway). dx may
  // be null: the parameter gradients only (the first pass, for a fused conv backward's out_bn).
  virtual void bn_act_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                               const float* mean, const float* invstd, const float* gamma, const float* beta,
                               Act act, int64_t M, int C) = 0;

  // Recomputes a train-mode forward's output from its saved input and statistics:
  // y = act(gamma * (x - mean) * invstd + beta). The supernet keeps only each conv's output and
  // the batch statistics, and rebuilds the activated tensors in backward with this op, which
  // halves the saved activations. Default: a plain loop (backend_defaults.cpp).
  virtual void bn_act_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                            const float* beta, Act act, int64_t M, int C);
  // A block's output in one pass: y = bn_act_apply(x) + residual (residual null: none), the sum
  // add_inplace would do, so bit-identical to the two ops; one read of each input and one write
  // instead of three passes. io (bfloat16 scoring, host-memory backends): io.in, the residual is
  // stored in bfloat16; io.out, y and x are (x: the unit's conv output, which the scoring forward
  // then stores in bfloat16 too; see conv_forward_fused_bf16). y may be x (in place: elementwise).
  // Default: the two ops, or a host emulation for io.
  virtual void bn_act_residual_apply(float* y, const float* x, const float* mean, const float* invstd,
                                     const float* gamma, const float* beta, Act act, const float* residual,
                                     int64_t M, int C, Bf16Io io = {});

  // ---- squeeze-excite ----
  // Saves pooled[N][C], hidden[N][R] (after relu) and gate[N][C] for backward. y may be x (in
  // place: each image is pooled before it is gated).
  virtual void se_forward(float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                          const float* b1, const float* w2, const float* b2, const SEShape& s) = 0;
  // y = x * gate[n][c] over x[N][HW][C]: se_forward's last step alone, for a backward that has
  // the gate se_forward saved (R unused). y may be x.
  virtual void se_scale(float* y, const float* x, const float* gate, const SEShape& s) = 0;
  virtual void se_backward(float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                           const float* x, const float* pooled, const float* hidden, const float* gate,
                           const float* w1, const float* w2, const SEShape& s) = 0;

  // ---- elementwise ----
  // y[i] += x[i]  (residual add forward with y = branch output, and gradient summation backward)
  virtual void add_inplace(float* y, const float* x, int64_t n) = 0;

  // ---- global average pool: x[N][HW][C] -> y[N][C] ----
  virtual void gap_forward(float* y, const float* x, int N, int HW, int C) = 0;
  virtual void gap_backward(float* dx, const float* dy, int N, int HW, int C) = 0;

  // ---- fully connected: y[N][K] = x[N][C] . w[K][C]^T + b[K] ----
  virtual void fc_forward(float* y, const float* x, const float* w, const float* b, int N, int C, int K) = 0;
  virtual void fc_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N,
                           int C, int K) = 0;

  // ---- softmax cross-entropy with label smoothing ----
  // target = (1 - smoothing) * onehot(label) + smoothing / K. Writes the per-image loss[N] and
  // correct[N] (1 if argmax(logits) == label, ties to the lowest index). If dlogits is not null
  // it receives d(mean loss)/d(logits) = (softmax - target) / N.
  virtual void softmax_xent(float* loss, uint8_t* correct, float* dlogits, const float* logits,
                            const int32_t* labels, float smoothing, int N, int K) = 0;

  // ---- SGD with momentum (PyTorch semantics) ----
  // g' = g + weight_decay * w; v = momentum * v + g'; step = nesterov ? g' + momentum * v : v;
  // w -= lr * step.
  // nonfinite (backend memory, may be null): set to 1 when any updated w or velocity is not finite,
  // never cleared here. The check rides on the update pass, so divergence costs no extra sweep.
  virtual void sgd_update(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                          float weight_decay, bool nesterov, float* nonfinite) = 0;

  // ---- reduced-precision forward for scoring (forward only: ranks paths, never trains) ----
  // conv_forward_fused with bfloat16 products: the (activated) input and the weights are rounded
  // to bfloat16 (nearest even), the products and sums are float. Same arguments and outputs
  // otherwise. fast_bf16() says whether this backend runs it faster than conv_forward_fused
  // (hardware bfloat16 dot products for the shapes the supernet scores); the supernet only uses
  // it where that holds, and scores in FP32 elsewhere. The default (backend_defaults.cpp) emulates
  // the rounding on the host around conv_forward_fused: the reference's semantics, which the op
  // harness checks fast kernels against. A device-memory backend that does not override it
  // computes plain FP32 (and says fast_bf16() false).
  //
  // io: where the scoring forward keeps an MBConv block's inner activations (the expand and dw
  // conv outputs) in bfloat16 to halve their memory traffic. io.in: x holds bfloat16 values (the
  // upper 16 bits of a float, two to a float slot: a tensor of n values takes n / 2 floats);
  // io.out: y is written so, rounded to nearest even, while the batch statistics are those of
  // the float outputs before rounding. The consumer widens the stored values exactly and applies
  // its input BN+act in float.
  virtual bool fast_bf16() const { return false; }
  virtual void conv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                       const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io = {});
  // dwconv_forward_fused with bfloat16 products as conv_forward_fused_bf16's (the activated input
  // and the weights rounded to bfloat16, float sums) and the bfloat16 storage of `io`. Default:
  // host emulation as above.
  virtual void dwconv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                         const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io);

  // ---- fused variants (optional) ----
  // A train-mode unit is conv -> BN -> act; these let a backend skip two full passes over each
  // conv output. The defaults below compose the ops above (with temporary buffers), so every
  // backend supports them; the CPU backend overrides them with fused kernels.
  //
  // Forward of a dense (conv_forward_fused) or depthwise (dwconv_forward_fused) conv with two
  // optional fusions:
  //   in_bn != null: the conv reads act(gamma * (x - mean) * invstd + beta) instead of x, i.e. its
  //     input is given in the pre-BN form the producer saved, and the activated tensor is never
  //     stored (zero padding applies to the activated input, as in the unfused graph);
  //   out_mean != null: also writes the batch statistics of y over its M = N*P*Q rows, the mean[K]
  //     and invstd[K] = 1 / sqrt(biased var + eps) that bn_act_forward_train(y, ..., eps) would
  //     write, so the BN that follows is just bn_act_apply(out, y, out_mean, out_invstd, ...).
  //     (Computed as E[y^2] - E[y]^2 in double from float partial sums: equal to the two-pass
  //     statistics to ~1e-6 relative unless |mean| >> std.)
  virtual void conv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                  const BnAct* in_bn, const float* w, const ConvShape& s) {
    Scratch a(*this);
    conv_forward(y, activated_input(a, x, in_bn, s), w, s);
    if (out_mean) batch_stats(out_mean, out_invstd, y, eps, int64_t(s.N) * s.P * s.Q, s.K);
  }
  virtual void dwconv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                    const BnAct* in_bn, const float* w, const ConvShape& s) {
    Scratch a(*this);
    dwconv_forward(y, activated_input(a, x, in_bn, s), w, s);
    if (out_mean) batch_stats(out_mean, out_invstd, y, eps, int64_t(s.N) * s.P * s.Q, s.K);
  }
  // An eval-mode depthwise unit in one call: y = act(BN(dwconv_forward_fused(x, in_bn))) with
  // out_bn's (running) statistics, i.e. the conv then bn_act_apply in place. Its consumer (the
  // project conv) then reads y as it is, instead of activating each block of it on the fly
  // (conv_forward_fused's in_bn). The CPU backend applies out_bn to the accumulators before they
  // are stored, with the arithmetic of its bn_act_apply, so the two forms are bit-identical.
  virtual void dwconv_forward_bn_act(float* y, const float* x, const BnAct* in_bn, const float* w,
                                     const BnAct& out_bn, const ConvShape& s) {
    dwconv_forward_fused(y, nullptr, nullptr, 0.0f, x, in_bn, w, s);
    bn_act_apply(y, y, out_bn.mean, out_bn.invstd, out_bn.gamma, out_bn.beta, out_bn.act,
                 int64_t(s.N) * s.P * s.Q, s.K);
  }
  // An eval-mode MBConv block (every BN from running statistics) in one call:
  // out = act_p(BN_p(conv(se(d), project_w))) + residual, where
  // d = act_d(BN_d(dwconv(act_e(BN_e(conv(x, expand_w)))))), or d from x as it is without an
  // expand conv (expand_w null), and se is the block's squeeze-excite (se_forward, which also
  // leaves its pooled / hidden / gate in the se_* buffers) or nothing (se_w1 null). The default
  // is the unfused sequence (conv_forward_fused into expand_buf, dwconv_forward_bn_act into
  // dw_buf, se_forward in place there, conv_forward_fused into out, then bn_act_residual_apply
  // in place); the CPU backend runs the chain a few images at a time, so its wide inner tensors
  // stay in cache, with the same arithmetic per value (bit-identical), and leaves expand_buf /
  // dw_buf untouched (shapes outside its fast kernels take the default).
  // out must not alias x or the residual.
  struct MbconvEval {
    const float* expand_w = nullptr;  // null: no expand conv
    BnAct expand_bn;
    ConvShape expand;  // 1x1 stride 1
    const float* dw_w = nullptr;
    BnAct dw_bn;
    ConvShape dw;
    const float* project_w = nullptr;
    BnAct project_bn;
    ConvShape project;  // 1x1 stride 1
    const float* residual = nullptr;  // null: none
    const float* se_w1 = nullptr;     // null: no squeeze-excite
    const float* se_b1 = nullptr;
    const float* se_w2 = nullptr;
    const float* se_b2 = nullptr;
    SEShape se;  // N, HW = dw.P * dw.Q, C = dw.K
    float* se_pooled = nullptr;  // [N][C], [N][R], [N][C]: written as se_forward writes them
    float* se_hidden = nullptr;
    float* se_gate = nullptr;
  };
  virtual void mbconv_forward_eval(float* out, const float* x, const MbconvEval& b, float* expand_buf, float* dw_buf);
  // The eval-mode head in one call: pooled[N][K] = the mean over pixels of
  // act(bn_act_forward_eval(conv(x, w))), s a 1x1 conv. The default is that sequence through buf
  // (the conv output, out_size floats); the CPU backend runs it a group of images at a time, so
  // the head's output (7x7 x 256-1280 channels) is pooled while in cache, bit-identically.
  virtual void head_forward_eval(float* pooled, const float* x, const float* w, const ConvShape& s,
                                 const float* gamma, const float* beta, const float* running_mean,
                                 const float* running_var, float eps, Act act, float* buf);
  // Backward of the forwards above, with up to three fusions:
  //   in_bn: x is given pre-BN as in the forward; dw is taken against the re-activated input, and
  //     dx (may be null) is the gradient with respect to the ACTIVATED input, i.e. the dy of that
  //     BN's bn_act_backward.
  //   in_dgamma / in_dbeta (need in_bn and dx): also writes in_bn's parameter gradients from dx,
  //     the first pass of that bn_act_backward (sum dz * xhat, sum dz) done while dx is hot.
  //   out_bn: dy is NOT this conv's output gradient but the gradient of the unit's activated
  //     output act(bn(y)); the conv's output gradient is bn_act_backward's dx for out_bn (its
  //     second pass), computed on the fly from dy, out_bn->x (= y) and out_bn->dgamma/dbeta.
  // With all of them null this is conv_backward / dwconv_backward. A train-mode MBConv then needs
  // no separate batch-norm pass for its expand and depthwise units: the project conv's backward
  // yields the depthwise BN's parameter gradients (in_dgamma), the depthwise backward runs that
  // BN's input gradient (out_bn) and yields the expand BN's parameter gradients, and the expand
  // conv's backward runs the expand BN's input gradient (out_bn).
  virtual void conv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                                   const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                                   const ConvShape& s) {
    Scratch g(*this), a(*this);
    conv_backward(dx, dw, output_grad(g, dy, out_bn, s), activated_input(a, x, in_bn, s), w, s);
    if (in_dgamma) input_bn_grads(in_dgamma, in_dbeta, dx, x, in_bn, s);
  }
  virtual void dwconv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                                     const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                                     const ConvShape& s) {
    Scratch g(*this), a(*this);
    dwconv_backward(dx, dw, output_grad(g, dy, out_bn, s), activated_input(a, x, in_bn, s), w, s);
    if (in_dgamma) input_bn_grads(in_dgamma, in_dbeta, dx, x, in_bn, s);
  }

 protected:
  // Backend memory for the life of a scope (the temporaries of the default fused variants).
  class Scratch {
   public:
    explicit Scratch(Backend& be) : be_(be) {}
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { if (p_) be_.release(p_); }
    float* floats(int64_t n) {
      if (p_) be_.release(p_);
      p_ = nullptr;
      p_ = static_cast<float*>(be_.alloc(size_t(n > 0 ? n : 1) * sizeof(float)));
      return p_;
    }
    float* data() const { return p_; }

   private:
    Backend& be_;
    float* p_ = nullptr;
  };
  // The defaults of conv_forward_fused_bf16 / dwconv_forward_fused_bf16 (backend_defaults.cpp).
  void bf16_forward_emulated(bool depthwise, float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                             const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io);
  // Helpers of the default fused variants.
  const float* activated_input(Scratch& buf, const float* x, const BnAct* bn, const ConvShape& s) {
    if (!bn) return x;
    float* a = buf.floats(s.in_size());
    bn_act_apply(a, x, bn->mean, bn->invstd, bn->gamma, bn->beta, bn->act, int64_t(s.N) * s.H * s.W, s.C);
    return a;
  }
  void batch_stats(float* mean, float* invstd, const float* y, float eps, int64_t M, int C) {
    Scratch tmp(*this), one(*this), zero(*this);
    float* o = one.floats(C);
    float* z = zero.floats(C);
    fill(o, 1.0f, C);
    fill(z, 0.0f, C);
    bn_act_forward_train(tmp.floats(M * C), mean, invstd, y, o, z, eps, Act::None, M, C);
  }
  const float* output_grad(Scratch& buf, const float* dy, const BnGrad* bn, const ConvShape& s) {
    if (!bn) return dy;
    const int64_t M = int64_t(s.N) * s.P * s.Q;
    float* g = buf.floats(s.out_size());
    Scratch dg(*this), db(*this);
    bn_act_backward(g, dg.floats(s.K), db.floats(s.K), dy, bn->x, bn->mean, bn->invstd, bn->gamma, bn->beta, bn->act,
                    M, s.K);
    return g;
  }
  void input_bn_grads(float* dgamma, float* dbeta, const float* dx, const float* x, const BnAct* bn,
                      const ConvShape& s) {
    Scratch tmp(*this);
    bn_act_backward(tmp.floats(s.in_size()), dgamma, dbeta, dx, x, bn->mean, bn->invstd, bn->gamma, bn->beta,
                    bn->act, int64_t(s.N) * s.H * s.W, s.C);
  }
};

}  // namespace gnas
