// Every op of a fast backend against the reference backend, forward and backward, over a table of
// shapes chosen to hit the vector-width and thread-partition edges: k = 1/3/5/7, stride 1/2,
// channel counts that are and are not multiples of 8/16 (1, 3, 16, 24, 40, 144), the stem
// (C = 1, 3), row counts M that are not multiples of the vector width, tiny spatial sizes.
// Both backends get the same inputs; backward gets the same saved tensors (the reference's), so a
// backward is compared on its own. Outputs start as NaN so unwritten elements fail.
//
// Tolerances (relative to the reference output's max-abs value), float32 kernels:
//   elementwise ops (normalize, add, sgd)         1e-6
//   reductions over one axis (gap, se pooled)      1e-5 (bn mean over up to 6272 rows: 1e-4)
//   forward of conv/dwconv/fc/se/bn               1e-4
//   input gradients dx                            1e-4 (bn: 1e-3, cancellation in its formula)
//   weight/param gradients (sums over all rows)   1e-3
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/reference/reference_ops.h"
#include "harness.h"

namespace gnas {
namespace test {
namespace {

constexpr double kTolElementwise = 1e-6;
constexpr double kTolReduce = 1e-5;
constexpr double kTolForward = 1e-4;
constexpr double kTolInputGrad = 1e-4;
constexpr double kTolBnInputGrad = 1e-3;
constexpr double kTolParamGrad = 1e-3;

// Every case draws its inputs from its own generator, seeded by the case's key, so a case gets the
// same inputs whether it runs alone (--filter) or in the full table.
Rng case_rng(const std::string& key) {
  uint64_t hsh = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : key) hsh = (hsh ^ ch) * 1099511628211ull;
  return Rng(hsh);
}

struct Ctx {
  Harness& h;
  Backend& fast;
  Backend& ref;
  std::string label;  // the backend's registry name, first word of every case title
  std::string title(const std::string& op, const std::string& shape) const { return label + " " + op + " " + shape; }
};

// ---------------- conv / dwconv ----------------
struct ConvCase {
  int N, H, W, C, K, k, stride;
};

void conv_case(Ctx& t, const ConvCase& cc, bool depthwise) {
  ConvShape s;
  s.N = cc.N; s.H = cc.H; s.W = cc.W; s.C = cc.C; s.K = depthwise ? cc.C : cc.K;
  s.k = cc.k; s.stride = cc.stride; s.pad = cc.k / 2;
  s.finish();
  const std::string shape = depthwise ? fmt("N%d H%d W%d C%d k%d s%d", s.N, s.H, s.W, s.C, s.k, s.stride)
                                      : fmt("N%d H%d W%d C%d K%d k%d s%d", s.N, s.H, s.W, s.C, s.K, s.k, s.stride);
  Rng rng = case_rng((depthwise ? "dwconv " : "conv ") + shape);
  const size_t wsize = depthwise ? size_t(s.k) * s.k * s.C : size_t(s.K) * s.k * s.k * s.C;
  const std::vector<float> x = rng.normal_vec<float>(size_t(s.in_size()));
  const std::vector<float> w = rng.normal_vec<float>(wsize, 1.0 / std::sqrt(double(wsize) / s.K));
  const std::vector<float> dy = rng.normal_vec<float>(size_t(s.out_size()));
  const char* op_f = depthwise ? "dwconv_forward" : "conv_forward";
  const char* op_b = depthwise ? "dwconv_backward" : "conv_backward";

  std::string title = t.title(op_f, shape);
  if (t.h.selected(title)) {
    std::vector<float> yf = poisoned(size_t(s.out_size())), yr = poisoned(size_t(s.out_size()));
    if (depthwise) {
      t.fast.dwconv_forward(yf.data(), x.data(), w.data(), s);
      t.ref.dwconv_forward(yr.data(), x.data(), w.data(), s);
    } else {
      t.fast.conv_forward(yf.data(), x.data(), w.data(), s);
      t.ref.conv_forward(yr.data(), x.data(), w.data(), s);
    }
    t.h.check(title, "y", rel_max_err(yf, yr), kTolForward);
  }
  title = t.title(op_b, shape);
  if (t.h.selected(title)) {
    std::vector<float> dxf = poisoned(size_t(s.in_size())), dxr = poisoned(size_t(s.in_size()));
    std::vector<float> dwf = poisoned(wsize), dwr = poisoned(wsize), dwf_nodx = poisoned(wsize);
    if (depthwise) {
      t.fast.dwconv_backward(dxf.data(), dwf.data(), dy.data(), x.data(), w.data(), s);
      t.ref.dwconv_backward(dxr.data(), dwr.data(), dy.data(), x.data(), w.data(), s);
      t.fast.dwconv_backward(nullptr, dwf_nodx.data(), dy.data(), x.data(), w.data(), s);
    } else {
      t.fast.conv_backward(dxf.data(), dwf.data(), dy.data(), x.data(), w.data(), s);
      t.ref.conv_backward(dxr.data(), dwr.data(), dy.data(), x.data(), w.data(), s);
      t.fast.conv_backward(nullptr, dwf_nodx.data(), dy.data(), x.data(), w.data(), s);
    }
    t.h.check(title, "dx", rel_max_err(dxf, dxr), kTolInputGrad);
    t.h.check(title, "dw", rel_max_err(dwf, dwr), kTolParamGrad);
    t.h.check(title, "dw(dx=null)", rel_max_err(dwf_nodx, dwr), kTolParamGrad);
  }
}

void conv_tests(Ctx& t) {
  // stem (C = 1 / 3, k x k, stride 2 or 1)
  const ConvCase stem[] = {
      {2, 16, 16, 3, 16, 3, 2}, {2, 15, 13, 1, 8, 3, 2}, {1, 12, 12, 3, 24, 5, 1},
      {1, 14, 11, 3, 16, 7, 2}, {3, 7, 9, 3, 40, 3, 1}, {1, 6, 6, 1, 3, 3, 1},
      // C = 1, K = 16 / 24 over rows of several strips (the W1 stem; on AVX2 the direct kernels
      // take K = 16 in strips of 6 and one weight-gradient vector per pass), and C = 3, K = 24 /
      // 32 (on AVX-512 two vectors, whose weight gradient takes one pass each; K = 32 stride 2
      // is the ImageNet spaces' stem)
      {2, 15, 14, 1, 16, 3, 1}, {1, 13, 17, 1, 24, 3, 2}, {2, 11, 10, 3, 24, 3, 1}, {2, 17, 16, 3, 32, 3, 2},
  };
  for (const auto& c : stem) conv_case(t, c, false);
  // 1x1 expand / project, stride 1 (GEMM with M = N*H*W rows) and stride 2 (reduction identity)
  const ConvCase pw[] = {
      {2, 8, 8, 16, 24, 1, 1},  {1, 5, 7, 24, 144, 1, 1}, {2, 4, 5, 144, 40, 1, 1}, {1, 7, 5, 40, 3, 1, 1},
      {2, 3, 3, 3, 1, 1, 1},    {1, 1, 1, 1, 1, 1, 1},    {2, 9, 7, 16, 16, 1, 1},  {1, 6, 6, 24, 40, 1, 2},
      {2, 7, 5, 40, 144, 1, 2}, {1, 17, 1, 144, 16, 1, 1},
      // channel counts a multiple of 64 floats, whose rows the weight gradient copies into tiles
      // first (gemm.h set_conflicting_stride): x only (C = 128, over two blocks of rows), dY
      // only (K = 192, the swapped form), both (C = 64, K = 128), and a strided 1x1 (im2col rows)
      {3, 9, 7, 128, 40, 1, 1}, {2, 5, 5, 24, 192, 1, 1}, {1, 7, 6, 64, 128, 1, 1}, {2, 6, 6, 128, 24, 1, 2},
  };
  for (const auto& c : pw) conv_case(t, c, false);
  // a general k x k dense conv with wide channels (the second: im2col rows of 9 x 64 floats)
  const ConvCase dense[] = {{1, 6, 5, 16, 24, 3, 1}, {2, 5, 6, 24, 16, 5, 2}, {1, 6, 5, 64, 24, 3, 1}};
  for (const auto& c : dense) conv_case(t, c, false);
  // network-sized layers, large enough for a fast backend to split the work across threads
  const ConvCase large[] = {{8, 64, 64, 3, 16, 3, 2}, {8, 28, 28, 24, 144, 1, 1}, {8, 14, 14, 144, 40, 1, 1},
                            {8, 28, 28, 24, 40, 1, 2}};
  for (const auto& c : large) conv_case(t, c, false);
}

void dwconv_tests(Ctx& t) {
  const int channels[] = {1, 3, 16, 24, 40, 144};
  int variant = 0;
  for (int k : {3, 5, 7})
    for (int stride : {1, 2})
      for (int C : channels) {
        // vary N/H/W so that odd/even/tiny sizes meet every kernel size
        const int H = 5 + (variant % 5), W = 4 + ((variant * 3) % 6), N = 1 + (variant % 2);
        conv_case(t, ConvCase{N, H, W, C, C, k, stride}, true);
        ++variant;
      }
  // spatial size smaller than the kernel (padding dominates)
  conv_case(t, ConvCase{1, 3, 2, 24, 24, 7, 2}, true);
  conv_case(t, ConvCase{2, 2, 2, 16, 16, 5, 1}, true);
  conv_case(t, ConvCase{1, 1, 1, 40, 40, 3, 1}, true);
  // network-sized layers
  conv_case(t, ConvCase{8, 28, 28, 144, 144, 5, 1}, true);
  conv_case(t, ConvCase{8, 28, 28, 72, 72, 7, 2}, true);
  conv_case(t, ConvCase{8, 14, 14, 240, 240, 3, 2}, true);
}

// ---------------- batch norm + activation ----------------
void bn_case(Ctx& t, int64_t M, int C, Act act) {
  const std::string shape = fmt("M%lld C%d %s", (long long)M, C, act_name(act));
  const float eps = 1e-5f;
  Rng rng = case_rng("bn " + shape);
  std::vector<float> x = rng.normal_vec<float>(size_t(M * C), 1.5, 0.7);
  // channel 0 is nearly constant (std 0.01 around 0.7, variance 10 eps) as after a dying unit:
  // eps matters and a one-pass float variance E[x^2] - E[x]^2 loses digits
  for (int64_t m = 0; m < M; ++m) x[size_t(m * C)] = float(0.7 + 0.01 * rng.normal());
  std::vector<float> gamma = rng.uniform_vec<float>(size_t(C), 0.5, 3.0);
  for (auto& g : gamma)
    if (rng.uniform(0, 1) < 0.2) g = -g;
  const std::vector<float> beta = rng.uniform_vec<float>(size_t(C), -2.0, 3.0);
  const std::vector<float> dy = rng.normal_vec<float>(size_t(M * C));
  push_bn_off_kinks(x, gamma, beta, act, M, C, eps, 1e-3);

  std::string title = t.title("bn_act_forward_train", shape);
  // the reference statistics feed the backward comparison below
  std::vector<float> yr = poisoned(size_t(M * C)), meanr = poisoned(static_cast<size_t>(C)), isr = poisoned(static_cast<size_t>(C));
  t.ref.bn_act_forward_train(yr.data(), meanr.data(), isr.data(), x.data(), gamma.data(), beta.data(), eps, act, M, C);
  if (t.h.selected(title)) {
    std::vector<float> yf = poisoned(size_t(M * C)), meanf = poisoned(static_cast<size_t>(C)), isf = poisoned(static_cast<size_t>(C));
    t.fast.bn_act_forward_train(yf.data(), meanf.data(), isf.data(), x.data(), gamma.data(), beta.data(), eps, act, M,
                                C);
    t.h.check(title, "y", rel_max_err(yf, yr), kTolForward);
    t.h.check(title, "mean", rel_max_err(meanf, meanr), kTolForward);
    t.h.check(title, "invstd", rel_max_err(isf, isr), kTolForward);
  }
  title = t.title("bn_act_forward_eval", shape);
  if (t.h.selected(title)) {
    const std::vector<float> rmean = rng.normal_vec<float>(size_t(C), 0.5, 0.5);
    std::vector<float> rvar = rng.uniform_vec<float>(size_t(C), 0.2, 3.0);
    rvar[0] = 2e-5f;  // a channel where eps matters
    std::vector<float> yf = poisoned(size_t(M * C)), ye = poisoned(size_t(M * C));
    t.fast.bn_act_forward_eval(yf.data(), x.data(), gamma.data(), beta.data(), rmean.data(), rvar.data(), eps, act, M, C);
    t.ref.bn_act_forward_eval(ye.data(), x.data(), gamma.data(), beta.data(), rmean.data(), rvar.data(), eps, act, M, C);
    t.h.check(title, "y", rel_max_err(yf, ye), kTolForward);
  }
  title = t.title("bn_act_backward", shape);
  if (t.h.selected(title)) {
    std::vector<float> dxf = poisoned(size_t(M * C)), dxr = poisoned(size_t(M * C));
    std::vector<float> dgf = poisoned(static_cast<size_t>(C)), dgr = poisoned(static_cast<size_t>(C)), dbf = poisoned(static_cast<size_t>(C)),
                       dbr = poisoned(static_cast<size_t>(C));
    t.fast.bn_act_backward(dxf.data(), dgf.data(), dbf.data(), dy.data(), x.data(), meanr.data(), isr.data(),
                           gamma.data(), beta.data(), act, M, C);
    t.ref.bn_act_backward(dxr.data(), dgr.data(), dbr.data(), dy.data(), x.data(), meanr.data(), isr.data(),
                          gamma.data(), beta.data(), act, M, C);
    t.h.check(title, "dx", rel_max_err(dxf, dxr), kTolBnInputGrad);
    t.h.check(title, "dgamma", rel_max_err(dgf, dgr), kTolParamGrad);
    t.h.check(title, "dbeta", rel_max_err(dbf, dbr), kTolParamGrad);
  }
}

void bn_tests(Ctx& t) {
  const Act acts[] = {Act::None, Act::ReLU, Act::ReLU6, Act::HSwish};
  const int channels[] = {1, 3, 16, 24, 40, 144};
  const int64_t rows[] = {35, 130, 2};
  int variant = 0;
  for (Act a : acts)
    for (int C : channels) bn_case(t, rows[variant++ % 3], C, a);
  bn_case(t, 1000, 24, Act::ReLU6);  // longer reductions
  bn_case(t, 7, 17, Act::HSwish);
  bn_case(t, 6272, 144, Act::HSwish);  // network-sized: 8 x 28 x 28 pixels
  bn_case(t, 1568, 40, Act::None);
}

// ---------------- squeeze-excite ----------------
void se_case(Ctx& t, int N, int HW, int C) {
  SEShape s;
  s.N = N; s.HW = HW; s.C = C; s.R = std::max(1, C / 4);
  const std::string shape = fmt("N%d HW%d C%d R%d", s.N, s.HW, s.C, s.R);
  const size_t xs = size_t(N) * HW * C;
  Rng rng = case_rng("se " + shape);
  const std::vector<float> x = rng.normal_vec<float>(xs, 1.0, 0.3);
  const std::vector<float> w1 = rng.normal_vec<float>(size_t(s.R) * C, 1.0 / std::sqrt(double(C)));
  const std::vector<float> b1 = rng.normal_vec<float>(size_t(s.R), 0.1);
  const std::vector<float> w2 = rng.normal_vec<float>(size_t(C) * s.R, 1.0 / std::sqrt(double(s.R)));
  const std::vector<float> b2 = rng.normal_vec<float>(size_t(C), 0.5);
  const std::vector<float> dy = rng.normal_vec<float>(xs);

  std::vector<float> yr = poisoned(xs), pr = poisoned(size_t(N) * C), hr = poisoned(size_t(N) * s.R),
                     gr = poisoned(size_t(N) * C);
  t.ref.se_forward(yr.data(), pr.data(), hr.data(), gr.data(), x.data(), w1.data(), b1.data(), w2.data(), b2.data(), s);
  std::string title = t.title("se_forward", shape);
  if (t.h.selected(title)) {
    std::vector<float> yf = poisoned(xs), pf = poisoned(size_t(N) * C), hf = poisoned(size_t(N) * s.R),
                       gf = poisoned(size_t(N) * C);
    t.fast.se_forward(yf.data(), pf.data(), hf.data(), gf.data(), x.data(), w1.data(), b1.data(), w2.data(),
                      b2.data(), s);
    t.h.check(title, "y", rel_max_err(yf, yr), kTolForward);
    t.h.check(title, "pooled", rel_max_err(pf, pr), kTolReduce);
    t.h.check(title, "hidden", rel_max_err(hf, hr), kTolForward);
    t.h.check(title, "gate", rel_max_err(gf, gr), kTolForward);
  }
  // the gating alone, given the reference's gate: out of place, then in place (y = x)
  title = t.title("se_scale", shape);
  if (t.h.selected(title)) {
    std::vector<float> yf = poisoned(xs), yi = x;
    t.fast.se_scale(yf.data(), x.data(), gr.data(), s);
    t.fast.se_scale(yi.data(), yi.data(), gr.data(), s);
    t.h.check(title, "y", rel_max_err(yf, yr), kTolForward);
    t.h.check(title, "y (in place)", rel_max_err(yi, yr), kTolForward);
  }
  title = t.title("se_backward", shape);
  if (t.h.selected(title)) {
    std::vector<float> dxf = poisoned(xs), dxr = poisoned(xs);
    std::vector<float> dw1f = poisoned(w1.size()), dw1r = poisoned(w1.size()), db1f = poisoned(b1.size()),
                       db1r = poisoned(b1.size());
    std::vector<float> dw2f = poisoned(w2.size()), dw2r = poisoned(w2.size()), db2f = poisoned(b2.size()),
                       db2r = poisoned(b2.size());
    t.fast.se_backward(dxf.data(), dw1f.data(), db1f.data(), dw2f.data(), db2f.data(), dy.data(), x.data(), pr.data(),
                       hr.data(), gr.data(), w1.data(), w2.data(), s);
    t.ref.se_backward(dxr.data(), dw1r.data(), db1r.data(), dw2r.data(), db2r.data(), dy.data(), x.data(), pr.data(),
                      hr.data(), gr.data(), w1.data(), w2.data(), s);
    t.h.check(title, "dx", rel_max_err(dxf, dxr), kTolInputGrad);
    t.h.check(title, "dw1", rel_max_err(dw1f, dw1r), kTolParamGrad);
    t.h.check(title, "db1", rel_max_err(db1f, db1r), kTolParamGrad);
    t.h.check(title, "dw2", rel_max_err(dw2f, dw2r), kTolParamGrad);
    t.h.check(title, "db2", rel_max_err(db2f, db2r), kTolParamGrad);
  }
}

void se_tests(Ctx& t) {
  se_case(t, 2, 9, 16);
  se_case(t, 1, 49, 24);
  se_case(t, 2, 16, 40);
  se_case(t, 3, 4, 144);
  se_case(t, 1, 1, 3);
  se_case(t, 2, 25, 72);
  se_case(t, 1, 7, 17);
  se_case(t, 8, 196, 144);  // network-sized
}

// ---------------- elementwise, pooling, fc ----------------
void add_tests(Ctx& t) {
  for (int64_t n : {1, 7, 16, 33, 1031, 100000}) {
    const std::string title = t.title("add_inplace", fmt("n%lld", (long long)n));
    if (!t.h.selected(title)) continue;
    Rng rng = case_rng(title);
    const std::vector<float> y0 = rng.normal_vec<float>(static_cast<size_t>(n)), x = rng.normal_vec<float>(static_cast<size_t>(n));
    std::vector<float> yf = y0, yr = y0;
    t.fast.add_inplace(yf.data(), x.data(), n);
    t.ref.add_inplace(yr.data(), x.data(), n);
    t.h.check(title, "y", rel_max_err(yf, yr), kTolElementwise);
  }
}

void gap_tests(Ctx& t) {
  struct G { int N, HW, C; };
  const G cases[] = {{2, 49, 16}, {1, 1, 3}, {3, 16, 144}, {2, 9, 40}, {1, 64, 1280}, {5, 7, 24}, {32, 49, 1280}};
  for (const auto& g : cases) {
    const std::string shape = fmt("N%d HW%d C%d", g.N, g.HW, g.C);
    const size_t xs = size_t(g.N) * g.HW * g.C, ys = size_t(g.N) * g.C;
    Rng rng = case_rng("gap " + shape);
    const std::vector<float> x = rng.normal_vec<float>(xs, 1.0, 0.5);
    const std::vector<float> dy = rng.normal_vec<float>(ys);
    std::string title = t.title("gap_forward", shape);
    if (t.h.selected(title)) {
      std::vector<float> yf = poisoned(ys), yr = poisoned(ys);
      t.fast.gap_forward(yf.data(), x.data(), g.N, g.HW, g.C);
      t.ref.gap_forward(yr.data(), x.data(), g.N, g.HW, g.C);
      t.h.check(title, "y", rel_max_err(yf, yr), kTolReduce);
    }
    title = t.title("gap_backward", shape);
    if (t.h.selected(title)) {
      std::vector<float> dxf = poisoned(xs), dxr = poisoned(xs);
      t.fast.gap_backward(dxf.data(), dy.data(), g.N, g.HW, g.C);
      t.ref.gap_backward(dxr.data(), dy.data(), g.N, g.HW, g.C);
      t.h.check(title, "dx", rel_max_err(dxf, dxr), kTolElementwise);
    }
  }
}

void fc_tests(Ctx& t) {
  struct F { int N, C, K; };
  const F cases[] = {{8, 1280, 1000}, {3, 144, 10}, {1, 16, 3}, {5, 40, 17}, {2, 1, 1}, {16, 24, 100}};
  for (const auto& f : cases) {
    const std::string shape = fmt("N%d C%d K%d", f.N, f.C, f.K);
    Rng rng = case_rng("fc " + shape);
    const std::vector<float> x = rng.normal_vec<float>(size_t(f.N) * f.C);
    const std::vector<float> w = rng.normal_vec<float>(size_t(f.K) * f.C, 1.0 / std::sqrt(double(f.C)));
    const std::vector<float> b = rng.normal_vec<float>(size_t(f.K), 0.1);
    const std::vector<float> dy = rng.normal_vec<float>(size_t(f.N) * f.K);
    std::string title = t.title("fc_forward", shape);
    if (t.h.selected(title)) {
      std::vector<float> yf = poisoned(size_t(f.N) * f.K), yr = poisoned(size_t(f.N) * f.K);
      t.fast.fc_forward(yf.data(), x.data(), w.data(), b.data(), f.N, f.C, f.K);
      t.ref.fc_forward(yr.data(), x.data(), w.data(), b.data(), f.N, f.C, f.K);
      t.h.check(title, "y", rel_max_err(yf, yr), kTolForward);
    }
    title = t.title("fc_backward", shape);
    if (t.h.selected(title)) {
      std::vector<float> dxf = poisoned(x.size()), dxr = poisoned(x.size()), dwf = poisoned(w.size()),
                         dwr = poisoned(w.size()), dbf = poisoned(b.size()), dbr = poisoned(b.size());
      std::vector<float> dwf2 = poisoned(w.size()), dbf2 = poisoned(b.size());
      t.fast.fc_backward(dxf.data(), dwf.data(), dbf.data(), dy.data(), x.data(), w.data(), f.N, f.C, f.K);
      t.ref.fc_backward(dxr.data(), dwr.data(), dbr.data(), dy.data(), x.data(), w.data(), f.N, f.C, f.K);
      t.fast.fc_backward(nullptr, dwf2.data(), dbf2.data(), dy.data(), x.data(), w.data(), f.N, f.C, f.K);
      t.h.check(title, "dx", rel_max_err(dxf, dxr), kTolInputGrad);
      t.h.check(title, "dw", rel_max_err(dwf, dwr), kTolParamGrad);
      t.h.check(title, "db", rel_max_err(dbf, dbr), kTolParamGrad);
      t.h.check(title, "dw(dx=null)", rel_max_err(dwf2, dwr), kTolParamGrad);
    }
  }
}

// ---------------- loss, input, optimiser ----------------
void softmax_tests(Ctx& t) {
  struct S { int N, K; float smoothing; double scale; bool ties; };
  const S cases[] = {{8, 1000, 0.1f, 3.0, false}, {5, 10, 0.0f, 2.0, false}, {1, 2, 0.1f, 1.0, false},
                     {64, 17, 0.2f, 50.0, false}, {16, 10, 0.0f, 1.0, true}, {3, 1000, 0.0f, 200.0, false}};
  for (const auto& c : cases) {
    const std::string shape = fmt("N%d K%d ls%.1f scale%g%s", c.N, c.K, double(c.smoothing), c.scale, c.ties ? " ties" : "");
    const std::string title = t.title("softmax_xent", shape);
    if (!t.h.selected(title)) continue;
    Rng rng = case_rng(shape);
    std::vector<float> logits = rng.normal_vec<float>(size_t(c.N) * c.K, c.scale);
    if (c.ties)  // few distinct values: exact ties for the argmax
      for (auto& z : logits) z = std::round(z);
    std::vector<int32_t> labels(static_cast<size_t>(c.N));
    for (auto& l : labels) l = rng.integer(0, c.K - 1);
    if (c.ties)  // make some rows correct through a tie, some wrong through one
      for (int n = 0; n < c.N; ++n) {
        float* z = logits.data() + size_t(n) * c.K;
        z[0] = 5; z[3] = 5; labels[size_t(n)] = n % 2 == 0 ? 0 : 3;
      }
    std::vector<float> lf = poisoned(static_cast<size_t>(c.N)), lr = poisoned(static_cast<size_t>(c.N));
    std::vector<float> df = poisoned(logits.size()), dr = poisoned(logits.size()), lf2 = poisoned(static_cast<size_t>(c.N));
    std::vector<uint8_t> cf(size_t(c.N), 7), cr(size_t(c.N), 7), cf2(size_t(c.N), 7);
    t.fast.softmax_xent(lf.data(), cf.data(), df.data(), logits.data(), labels.data(), c.smoothing, c.N, c.K);
    t.ref.softmax_xent(lr.data(), cr.data(), dr.data(), logits.data(), labels.data(), c.smoothing, c.N, c.K);
    t.fast.softmax_xent(lf2.data(), cf2.data(), nullptr, logits.data(), labels.data(), c.smoothing, c.N, c.K);
    int wrong = 0, wrong2 = 0;
    for (int n = 0; n < c.N; ++n) {
      wrong += cf[size_t(n)] != cr[size_t(n)];
      wrong2 += cf2[size_t(n)] != cr[size_t(n)];
    }
    t.h.check(title, "loss", rel_max_err(lf, lr), kTolForward);
    t.h.check(title, "correct", double(wrong), 0);
    t.h.check(title, "dlogits", rel_max_err(df, dr), kTolForward);
    t.h.check(title, "loss(no d)", rel_max_err(lf2, lr), kTolForward);
    t.h.check(title, "correct(no d)", double(wrong2), 0);
  }
}

void normalize_tests(Ctx& t) {
  for (int64_t M : {1, 35, 1024, 1000}) {
    for (int C : {1, 3}) {
      const std::string shape = fmt("M%lld C%d", (long long)M, C);
      Rng rng = case_rng("normalize " + shape);
      const std::vector<float> mean = rng.uniform_vec<float>(size_t(C), 0.3, 0.6);
      const std::vector<float> sd = rng.uniform_vec<float>(size_t(C), 0.2, 0.3);
      std::vector<uint8_t> src8(size_t(M * C));
      for (auto& v : src8) v = uint8_t(rng.integer(0, 255));
      const std::vector<float> srcf = rng.uniform_vec<float>(size_t(M * C), 0.0, 1.0);
      std::string title = t.title("normalize_u8", shape);
      if (t.h.selected(title)) {
        std::vector<float> xf = poisoned(src8.size()), xr = poisoned(src8.size());
        t.fast.normalize_u8(xf.data(), src8.data(), mean.data(), sd.data(), M, C);
        t.ref.normalize_u8(xr.data(), src8.data(), mean.data(), sd.data(), M, C);
        t.h.check(title, "x", rel_max_err(xf, xr), kTolElementwise);
      }
      title = t.title("normalize_f32", shape);
      if (t.h.selected(title)) {
        std::vector<float> xf = poisoned(srcf.size()), xr = poisoned(srcf.size());
        t.fast.normalize_f32(xf.data(), srcf.data(), mean.data(), sd.data(), M, C);
        t.ref.normalize_f32(xr.data(), srcf.data(), mean.data(), sd.data(), M, C);
        t.h.check(title, "x", rel_max_err(xf, xr), kTolElementwise);
      }
    }
  }
}

void sgd_tests(Ctx& t) {
  struct S { int64_t n; float lr, momentum, wd; bool nesterov; };
  const S cases[] = {{1, 0.1f, 0.9f, 4e-5f, false}, {1031, 0.05f, 0.9f, 4e-5f, true}, {16, 0.5f, 0.0f, 0.0f, false},
                     {100003, 0.1f, 0.9f, 1e-4f, false}, {7, 0.2f, 0.5f, 1e-2f, true}};
  for (const auto& c : cases) {
    const std::string title = t.title("sgd_update", fmt("n%lld lr%g m%g wd%g%s", (long long)c.n, double(c.lr),
                                                        double(c.momentum), double(c.wd), c.nesterov ? " nesterov" : ""));
    if (!t.h.selected(title)) continue;
    Rng rng = case_rng(title.substr(title.find(' ')));
    std::vector<float> wf = rng.normal_vec<float>(static_cast<size_t>(c.n)), vf = rng.normal_vec<float>(size_t(c.n), 0.1);
    std::vector<float> wr = wf, vr = vf;
    std::vector<float> flag_f{0.0f}, flag_r{0.0f};
    for (int step = 0; step < 3; ++step) {  // several steps so the velocity carries over
      const std::vector<float> g = rng.normal_vec<float>(static_cast<size_t>(c.n));
      t.fast.sgd_update(wf.data(), vf.data(), g.data(), c.n, c.lr, c.momentum, c.wd, c.nesterov, flag_f.data());
      t.ref.sgd_update(wr.data(), vr.data(), g.data(), c.n, c.lr, c.momentum, c.wd, c.nesterov, flag_r.data());
    }
    t.h.check(title, "w", rel_max_err(wf, wr), kTolElementwise);
    t.h.check(title, "velocity", rel_max_err(vf, vr), kTolElementwise);
    // finite updates must leave the divergence flag down
    t.h.check(title, "nonfinite flag (fast)", double(flag_f[0]), 0.0);
    t.h.check(title, "nonfinite flag (ref)", double(flag_r[0]), 0.0);
  }
}

// The divergence flag goes up for an inf or NaN gradient anywhere (first vector, a middle chunk of
// a threaded update, the scalar tail) and for an update that overflows finite inputs.
void sgd_nonfinite_tests(Ctx& t) {
  struct S { const char* what; int64_t n, at; float w, g; };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const S cases[] = {{"inf gradient", 1031, 517, 0.5f, inf}, {"nan gradient", 100003, 99999, 0.5f, nan},
                     {"nan gradient", 100003, 50000, 0.5f, nan}, {"inf gradient", 7, 0, 0.5f, inf},
                     {"overflow", 7, 3, -3e38f, 3e38f}};
  for (const auto& c : cases) {
    const std::string title = t.title("sgd_update nonfinite", fmt("%s n%lld at%lld", c.what, (long long)c.n, (long long)c.at));
    if (!t.h.selected(title)) continue;
    for (Backend* be : {&t.fast, &t.ref}) {
      std::vector<float> w(size_t(c.n), 0.25f), v(size_t(c.n), 0.0f), g(size_t(c.n), 0.01f), flag{0.0f};
      w[size_t(c.at)] = c.w;
      g[size_t(c.at)] = c.g;
      be->sgd_update(w.data(), v.data(), g.data(), c.n, 1.0f, 0.0f, 0.0f, false, flag.data());
      t.h.check(title, be == &t.fast ? "flag raised (fast)" : "flag raised (ref)", double(1.0f - flag[0]), 0.0);
    }
  }
}

}  // namespace

void run_backend_vs_reference(Harness& h, const std::string& label, Backend& fast, Backend& ref) {
  Ctx t{h, fast, ref, label};
  conv_tests(t);
  dwconv_tests(t);
  bn_tests(t);
  se_tests(t);
  add_tests(t);
  gap_tests(t);
  fc_tests(t);
  softmax_tests(t);
  normalize_tests(t);
  sgd_tests(t);
  sgd_nonfinite_tests(t);
}

}  // namespace test
}  // namespace gnas
