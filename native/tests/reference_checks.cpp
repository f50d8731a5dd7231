// Checks of the reference ops themselves, in double precision (the T = double instantiations):
//  - every backward against central finite differences of L = sum(y * r) for a random r (for the
//    loss: L = mean loss), for dx and every weight/parameter gradient, on points kept away from the
//    activations' kinks;
//  - hand-computed values: activation table and derivative conventions, conv/dwconv tap
//    orientation and padding, layouts cross-checked between ops, BN statistics, softmax loss and
//    argmax ties, the input normalisation and PyTorch's SGD (momentum, nesterov, weight decay).
//
// Finite differences use h = 1e-5; in double the truncation and rounding errors are ~1e-9 relative,
// so the tolerance 1e-6 (relative to the largest finite-difference gradient) only fails on a
// wrong formula. Hand-computed values are checked to 1e-12.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <functional>
#include <string>
#include <vector>

#include "backends/reference/reference_ops.h"
#include "harness.h"

namespace gnas {
namespace test {
namespace {

using Vec = std::vector<double>;
constexpr double kFdStep = 1e-5;
constexpr double kTolFd = 1e-6;
constexpr double kTolExact = 1e-12;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Max relative error of `analytic` against central differences of loss() in every element of v.
double fd_error(Vec& v, const Vec& analytic, const std::function<double()>& loss) {
  Vec fd(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double saved = v[i];
    v[i] = saved + kFdStep;
    const double lp = loss();
    v[i] = saved - kFdStep;
    const double lm = loss();
    v[i] = saved;
    fd[i] = (lp - lm) / (2 * kFdStep);
  }
  return rel_max_err(analytic, fd);
}

// ---------------- finite differences ----------------
void fd_conv(Harness& h, int N, int H, int W, int C, int K, int k, int stride, int pad, bool depthwise) {
  ConvShape s;
  s.N = N; s.H = H; s.W = W; s.C = C; s.K = depthwise ? C : K; s.k = k; s.stride = stride; s.pad = pad;
  s.finish();
  const std::string title =
      depthwise ? fmt("reference fd dwconv_backward N%d H%d W%d C%d k%d s%d p%d", N, H, W, C, k, stride, pad)
                : fmt("reference fd conv_backward N%d H%d W%d C%d K%d k%d s%d p%d", N, H, W, C, K, k, stride, pad);
  if (!h.selected(title)) return;
  Rng rng(uint64_t(N * 1000003 + H * 10007 + W * 1009 + C * 101 + K * 11 + k * 3 + stride + pad * 7 + depthwise));
  const size_t ws = depthwise ? size_t(k) * k * C : size_t(K) * k * k * C;
  Vec x = rng.normal_vec<double>(size_t(s.in_size())), w = rng.normal_vec<double>(ws);
  const Vec r = rng.normal_vec<double>(size_t(s.out_size()));
  Vec y(size_t(s.out_size())), dx(x.size()), dw(ws);
  auto loss = [&] {
    if (depthwise) ref::dwconv_forward<double>(y.data(), x.data(), w.data(), s);
    else ref::conv_forward<double>(y.data(), x.data(), w.data(), s);
    return dot(y, r);
  };
  if (depthwise) ref::dwconv_backward<double>(dx.data(), dw.data(), r.data(), x.data(), w.data(), s);
  else ref::conv_backward<double>(dx.data(), dw.data(), r.data(), x.data(), w.data(), s);
  h.check(title, "dx", fd_error(x, dx, loss), kTolFd);
  h.check(title, "dw", fd_error(w, dw, loss), kTolFd);
  // dx = null must leave dw unchanged
  Vec dw2(ws, 123.0);
  if (depthwise) ref::dwconv_backward<double>(nullptr, dw2.data(), r.data(), x.data(), w.data(), s);
  else ref::conv_backward<double>(nullptr, dw2.data(), r.data(), x.data(), w.data(), s);
  h.check(title, "dw(dx=null)", rel_max_err(dw2, dw), kTolExact);
}

void fd_bn(Harness& h, int64_t M, int C, Act act) {
  const std::string title = fmt("reference fd bn_act_backward M%lld C%d %s", (long long)M, C, act_name(act));
  if (!h.selected(title)) return;
  Rng rng(uint64_t(M * 131 + C * 7 + int(act)));
  const double eps = 1e-5;
  Vec x = rng.normal_vec<double>(size_t(M * C), 1.5, 0.5);
  Vec gamma = rng.uniform_vec<double>(size_t(C), 0.5, 3.0), beta = rng.uniform_vec<double>(size_t(C), -2.0, 3.0);
  gamma[0] = -gamma[0];
  const Vec r = rng.normal_vec<double>(size_t(M * C));
  if (!push_bn_off_kinks(x, gamma, beta, act, M, C, eps, 1e-3)) {
    h.check(title, "setup", std::numeric_limits<double>::infinity(), 0);
    return;
  }
  Vec y(x.size()), mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
  auto loss = [&] {
    ref::bn_act_forward_train<double>(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), eps,
                                      act, M, C);
    return dot(y, r);
  };
  loss();  // saves mean and invstd at the unperturbed point
  const Vec mean0 = mean, invstd0 = invstd;
  Vec dx(x.size()), dgamma(static_cast<size_t>(C)), dbeta(static_cast<size_t>(C));
  ref::bn_act_backward<double>(dx.data(), dgamma.data(), dbeta.data(), r.data(), x.data(), mean0.data(),
                               invstd0.data(), gamma.data(), beta.data(), act, M, C);
  h.check(title, "dx", fd_error(x, dx, loss), kTolFd);
  h.check(title, "dgamma", fd_error(gamma, dgamma, loss), kTolFd);
  h.check(title, "dbeta", fd_error(beta, dbeta, loss), kTolFd);
}

void fd_se(Harness& h, int N, int HW, int C, int R) {
  const std::string title = fmt("reference fd se_backward N%d HW%d C%d R%d", N, HW, C, R);
  if (!h.selected(title)) return;
  SEShape s;
  s.N = N; s.HW = HW; s.C = C; s.R = R;
  Rng rng(uint64_t(N * 17 + HW * 5 + C * 3 + R));
  Vec x = rng.normal_vec<double>(size_t(N) * HW * C, 1.0, 0.3);
  Vec w1 = rng.normal_vec<double>(size_t(R) * C, 0.7), b1 = rng.normal_vec<double>(size_t(R), 0.3);
  Vec w2 = rng.normal_vec<double>(size_t(C) * R, 0.7), b2 = rng.normal_vec<double>(size_t(C), 0.5);
  const Vec r = rng.normal_vec<double>(x.size());
  // keep the hidden pre-activations away from relu's kink at 0
  for (int iter = 0; iter < 100; ++iter) {
    bool moved = false;
    for (int n = 0; n < N; ++n)
      for (int rr = 0; rr < R; ++rr) {
        double pre = b1[size_t(rr)];
        for (int c = 0; c < C; ++c) {
          double pool = 0;
          for (int i = 0; i < HW; ++i) pool += x[(size_t(n) * HW + i) * C + c];
          pre += w1[size_t(rr) * C + c] * pool / HW;
        }
        if (std::fabs(pre) < 1e-3) { b1[size_t(rr)] += 0.01; moved = true; }
      }
    if (!moved) break;
  }
  Vec y(x.size()), pooled(size_t(N) * C), hidden(size_t(N) * R), gate(size_t(N) * C);
  auto loss = [&] {
    ref::se_forward<double>(y.data(), pooled.data(), hidden.data(), gate.data(), x.data(), w1.data(), b1.data(),
                            w2.data(), b2.data(), s);
    return dot(y, r);
  };
  loss();
  const Vec p0 = pooled, h0 = hidden, g0 = gate;
  Vec dx(x.size()), dw1(w1.size()), db1(b1.size()), dw2(w2.size()), db2(b2.size());
  ref::se_backward<double>(dx.data(), dw1.data(), db1.data(), dw2.data(), db2.data(), r.data(), x.data(), p0.data(),
                           h0.data(), g0.data(), w1.data(), w2.data(), s);
  // at least one hidden unit must be active, or the fc1 gradients are trivially zero
  const bool some_active = std::any_of(h0.begin(), h0.end(), [](double v) { return v > 0; });
  h.check(title, "active", some_active ? 0.0 : 1.0, 0);
  h.check(title, "dx", fd_error(x, dx, loss), kTolFd);
  h.check(title, "dw1", fd_error(w1, dw1, loss), kTolFd);
  h.check(title, "db1", fd_error(b1, db1, loss), kTolFd);
  h.check(title, "dw2", fd_error(w2, dw2, loss), kTolFd);
  h.check(title, "db2", fd_error(b2, db2, loss), kTolFd);
}

void fd_gap(Harness& h, int N, int HW, int C) {
  const std::string title = fmt("reference fd gap_backward N%d HW%d C%d", N, HW, C);
  if (!h.selected(title)) return;
  Rng rng(uint64_t(N * 7 + HW * 3 + C));
  Vec x = rng.normal_vec<double>(size_t(N) * HW * C);
  const Vec r = rng.normal_vec<double>(size_t(N) * C);
  Vec y(r.size()), dx(x.size());
  auto loss = [&] {
    ref::gap_forward<double>(y.data(), x.data(), N, HW, C);
    return dot(y, r);
  };
  ref::gap_backward<double>(dx.data(), r.data(), N, HW, C);
  h.check(title, "dx", fd_error(x, dx, loss), kTolFd);
}

void fd_fc(Harness& h, int N, int C, int K) {
  const std::string title = fmt("reference fd fc_backward N%d C%d K%d", N, C, K);
  if (!h.selected(title)) return;
  Rng rng(uint64_t(N * 7 + C * 3 + K));
  Vec x = rng.normal_vec<double>(size_t(N) * C), w = rng.normal_vec<double>(size_t(K) * C),
      b = rng.normal_vec<double>(static_cast<size_t>(K));
  const Vec r = rng.normal_vec<double>(size_t(N) * K);
  Vec y(r.size()), dx(x.size()), dw(w.size()), db(b.size());
  auto loss = [&] {
    ref::fc_forward<double>(y.data(), x.data(), w.data(), b.data(), N, C, K);
    return dot(y, r);
  };
  ref::fc_backward<double>(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, C, K);
  h.check(title, "dx", fd_error(x, dx, loss), kTolFd);
  h.check(title, "dw", fd_error(w, dw, loss), kTolFd);
  h.check(title, "db", fd_error(b, db, loss), kTolFd);
}

void fd_softmax(Harness& h, int N, int K, double smoothing, double scale) {
  const std::string title = fmt("reference fd softmax_xent N%d K%d ls%.2f scale%g", N, K, smoothing, scale);
  if (!h.selected(title)) return;
  Rng rng(uint64_t(N * 7 + K * 3) + uint64_t(smoothing * 100));
  Vec z = rng.normal_vec<double>(size_t(N) * K, scale);
  std::vector<int32_t> labels(static_cast<size_t>(N));
  for (auto& l : labels) l = rng.integer(0, K - 1);
  Vec loss_v(static_cast<size_t>(N)), dz(z.size());
  std::vector<uint8_t> correct(static_cast<size_t>(N));
  auto loss = [&] {
    ref::softmax_xent<double>(loss_v.data(), correct.data(), nullptr, z.data(), labels.data(), smoothing, N, K);
    double s = 0;
    for (double l : loss_v) s += l;
    return s / N;
  };
  ref::softmax_xent<double>(loss_v.data(), correct.data(), dz.data(), z.data(), labels.data(), smoothing, N, K);
  h.check(title, "dlogits", fd_error(z, dz, loss), kTolFd);
}

// ---------------- hand-computed values ----------------
void hand_activations(Harness& h) {
  const std::string title = "reference hand activations";
  if (!h.selected(title)) return;
  struct A { Act act; double z, y, dy; };
  const A table[] = {
      {Act::None, -2.5, -2.5, 1},   {Act::ReLU, -1, 0, 0},          {Act::ReLU, 0, 0, 0},
      {Act::ReLU, 2, 2, 1},         {Act::ReLU6, -1, 0, 0},         {Act::ReLU6, 0, 0, 0},
      {Act::ReLU6, 3, 3, 1},        {Act::ReLU6, 6, 6, 0},          {Act::ReLU6, 7.5, 6, 0},
      {Act::HSwish, -4, 0, 0},      {Act::HSwish, -3, 0, 0},        {Act::HSwish, -1.5, -0.375, 0},
      {Act::HSwish, 0, 0, 0.5},     {Act::HSwish, 1, 4.0 / 6, 5.0 / 6}, {Act::HSwish, 3, 3, 1},
      {Act::HSwish, 10, 10, 1},
  };
  double err_y = 0, err_d = 0;
  for (const auto& a : table) {
    err_y = std::max(err_y, std::fabs(ref::act_apply(a.z, a.act) - a.y));
    err_d = std::max(err_d, std::fabs(ref::act_grad(a.z, a.act) - a.dy));
  }
  h.check(title, "act(z)", err_y, kTolExact);
  h.check(title, "act'(z)", err_d, kTolExact);
  // the eval-mode BN with identity statistics applies exactly the activation
  Vec y(1);
  double err_bn = 0;
  for (const auto& a : table) {
    const double zero = 0, one = 1, var = 1;
    ref::bn_act_forward_eval<double>(y.data(), &a.z, &one, &zero, &zero, &var, 0.0, a.act, 1, 1);
    err_bn = std::max(err_bn, std::fabs(y[0] - a.y));
  }
  h.check(title, "bn_eval act", err_bn, kTolExact);
}

void hand_conv(Harness& h) {
  const std::string title = "reference hand conv/dwconv taps";
  if (!h.selected(title)) return;
  // 3x3 single-channel image 1..9, 3x3 kernel, stride 2, pad 1 -> 2x2 output
  ConvShape s;
  s.N = 1; s.H = 3; s.W = 3; s.C = 1; s.K = 1; s.k = 3; s.stride = 2; s.pad = 1;
  s.finish();
  const Vec x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Vec w(9, 0.0), y(4);
  w[0] = 1;  // top-left tap only: y[p][q] = x[2p-1][2q-1] (cross-correlation, no kernel flip)
  ref::conv_forward<double>(y.data(), x.data(), w.data(), s);
  h.check(title, "conv top-left tap", rel_max_err(y, Vec{0, 0, 0, 5}), kTolExact);
  std::fill(w.begin(), w.end(), 1.0);
  ref::conv_forward<double>(y.data(), x.data(), w.data(), s);
  h.check(title, "conv ones", rel_max_err(y, Vec{12, 16, 24, 28}), kTolExact);
  // depthwise with two channels: channel 0 top-left tap, channel 1 bottom-right tap (w[k][k][C])
  ConvShape d = s;
  d.C = 2; d.K = 2;
  Vec x2(18), w2(18, 0.0), y2(8);
  for (int i = 0; i < 9; ++i) { x2[size_t(2 * i)] = i + 1; x2[size_t(2 * i + 1)] = 10 * (i + 1); }
  w2[(0 * 3 + 0) * 2 + 0] = 1;
  w2[(2 * 3 + 2) * 2 + 1] = 1;
  ref::dwconv_forward<double>(y2.data(), x2.data(), w2.data(), d);
  // channel 1: y[p][q] = x[2p+1][2q+1] -> only (0,0) is inside: x[1][1] = 50
  h.check(title, "dwconv taps", rel_max_err(y2, Vec{0, 50, 0, 0, 0, 0, 5, 0}), kTolExact);
}

// Layouts cross-checked between ops: a dense conv whose weight is block-diagonal equals the
// depthwise conv, and a 1x1 conv equals fc over the N*H*W rows.
void cross_layouts(Harness& h) {
  const std::string title = "reference cross conv==dwconv, conv1x1==fc";
  if (!h.selected(title)) return;
  Rng rng(99);
  ConvShape s;
  s.N = 2; s.H = 6; s.W = 5; s.C = 4; s.K = 4; s.k = 5; s.stride = 2; s.pad = 2;
  s.finish();
  const Vec x = rng.normal_vec<double>(size_t(s.in_size())), wd = rng.normal_vec<double>(size_t(s.k * s.k * s.C));
  Vec wc(size_t(s.K) * s.k * s.k * s.C, 0.0);
  for (int o = 0; o < s.K; ++o)
    for (int ij = 0; ij < s.k * s.k; ++ij) wc[(size_t(o) * s.k * s.k + ij) * s.C + o] = wd[size_t(ij) * s.C + o];
  Vec yd(size_t(s.out_size())), yc(size_t(s.out_size()));
  ref::dwconv_forward<double>(yd.data(), x.data(), wd.data(), s);
  ref::conv_forward<double>(yc.data(), x.data(), wc.data(), s);
  h.check(title, "dw vs dense", rel_max_err(yc, yd), kTolExact);

  ConvShape p;
  p.N = 2; p.H = 3; p.W = 4; p.C = 5; p.K = 3; p.k = 1;
  p.finish();
  const Vec xp = rng.normal_vec<double>(size_t(p.in_size())), wp = rng.normal_vec<double>(size_t(p.K * p.C));
  const Vec zero(size_t(p.K), 0.0);
  Vec y1(size_t(p.out_size())), y2(size_t(p.out_size()));
  ref::conv_forward<double>(y1.data(), xp.data(), wp.data(), p);
  ref::fc_forward<double>(y2.data(), xp.data(), wp.data(), zero.data(), p.N * p.H * p.W, p.C, p.K);
  h.check(title, "1x1 vs fc", rel_max_err(y1, y2), kTolExact);
}

void hand_bn(Harness& h) {
  const std::string title = "reference hand bn_act_forward_train stats";
  if (!h.selected(title)) return;
  // x[4][2]: column 0 = 1,2,3,4 (mean 2.5, biased var 1.25); column 1 constant 7 (var 0)
  const double eps = 1e-3;
  const Vec x = {1, 7, 2, 7, 3, 7, 4, 7};
  const Vec gamma = {2, 1.5}, beta = {0.5, -1};
  Vec y(8), mean(2), invstd(2);
  ref::bn_act_forward_train<double>(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), eps,
                                    Act::None, 4, 2);
  h.check(title, "mean", rel_max_err(mean, Vec{2.5, 7}), kTolExact);
  h.check(title, "invstd", rel_max_err(invstd, Vec{1 / std::sqrt(1.25 + eps), 1 / std::sqrt(eps)}), kTolExact);
  const double is = 1 / std::sqrt(1.25 + eps);
  const Vec want = {2 * -1.5 * is + 0.5, -1, 2 * -0.5 * is + 0.5, -1, 2 * 0.5 * is + 0.5, -1, 2 * 1.5 * is + 0.5, -1};
  h.check(title, "y", rel_max_err(y, want), kTolExact);

  // float reference backend: the saved statistics of a larger random batch against a two-pass
  // double computation, and y's per-channel mean = beta, biased var = gamma^2 var / (var + eps)
  Rng rng(5);
  const int64_t M = 300;
  const int C = 5;
  const float epsf = 1e-5f;
  const std::vector<float> xf = rng.normal_vec<float>(size_t(M * C), 2.0, 3.0);
  const std::vector<float> gf = rng.uniform_vec<float>(size_t(C), 0.5, 2.0), bf = rng.uniform_vec<float>(size_t(C), -1, 1);
  std::vector<float> yf(xf.size()), mf(static_cast<size_t>(C)), sf(static_cast<size_t>(C));
  ref::bn_act_forward_train<float>(yf.data(), mf.data(), sf.data(), xf.data(), gf.data(), bf.data(), epsf, Act::None, M, C);
  Vec want_m(static_cast<size_t>(C)), want_s(static_cast<size_t>(C)), got_ym(static_cast<size_t>(C)), got_yv(static_cast<size_t>(C)), want_yv(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) {
    double s1 = 0, s2 = 0;
    for (int64_t m = 0; m < M; ++m) s1 += xf[size_t(m * C + c)];
    const double mu = s1 / M;
    for (int64_t m = 0; m < M; ++m) s2 += (xf[size_t(m * C + c)] - mu) * (xf[size_t(m * C + c)] - mu);
    const double var = s2 / M;
    want_m[size_t(c)] = mu;
    want_s[size_t(c)] = 1 / std::sqrt(var + epsf);
    double t1 = 0, t2 = 0;
    for (int64_t m = 0; m < M; ++m) t1 += yf[size_t(m * C + c)];
    got_ym[size_t(c)] = t1 / M - bf[size_t(c)];
    for (int64_t m = 0; m < M; ++m) t2 += (yf[size_t(m * C + c)] - t1 / M) * (yf[size_t(m * C + c)] - t1 / M);
    got_yv[size_t(c)] = t2 / M;
    want_yv[size_t(c)] = double(gf[size_t(c)]) * gf[size_t(c)] * var / (var + epsf);
  }
  h.check(title, "float mean", rel_max_err(mf, want_m), 1e-6);
  h.check(title, "float invstd", rel_max_err(sf, want_s), 1e-6);
  h.check(title, "y mean-beta", rel_max_err(got_ym, Vec(size_t(C), 0.0)), 1e-5);
  h.check(title, "y var", rel_max_err(got_yv, want_yv), 1e-5);

  // eval mode with running statistics equal to the batch statistics reproduces train mode
  Rng rng2(6);
  const Vec x3 = rng2.normal_vec<double>(40 * 3, 1.0, 0.5);
  const Vec g3 = {1.5, -0.7, 2.0}, b3 = {0.2, 1.0, -0.3};
  Vec yt(x3.size()), ye(x3.size()), m3(3), s3(3), var3(3);
  ref::bn_act_forward_train<double>(yt.data(), m3.data(), s3.data(), x3.data(), g3.data(), b3.data(), 1e-5,
                                    Act::HSwish, 40, 3);
  for (int c = 0; c < 3; ++c) var3[size_t(c)] = 1 / (s3[size_t(c)] * s3[size_t(c)]) - 1e-5;
  ref::bn_act_forward_eval<double>(ye.data(), x3.data(), g3.data(), b3.data(), m3.data(), var3.data(), 1e-5,
                                   Act::HSwish, 40, 3);
  h.check(title, "eval==train", rel_max_err(ye, yt), 1e-10);
}

void hand_softmax(Harness& h) {
  const std::string title = "reference hand softmax_xent";
  if (!h.selected(title)) return;
  // rows (K = 3): uniform, ordinary, huge logit (stability), two rows with an argmax tie
  const int N = 5, K = 3;
  const Vec z = {0, 0, 0,  1, 2, 3,  1000, 0, 0,  2, 5, 5,  2, 5, 5};
  const std::vector<int32_t> labels = {0, 2, 1, 2, 1};
  for (double ls : {0.0, 0.1}) {
    Vec loss(N), dz(z.size());
    std::vector<uint8_t> correct(N, 9);
    ref::softmax_xent<double>(loss.data(), correct.data(), dz.data(), z.data(), labels.data(), ls, N, K);
    auto xent = [&](const double* row, int label) {  // direct formula, log-sum-exp of small numbers
      const double lse = std::log(std::exp(row[0]) + std::exp(row[1]) + std::exp(row[2]));
      double l = 0;
      for (int k = 0; k < K; ++k) l += ((k == label ? 1 - ls : 0) + ls / K) * (lse - row[k]);
      return l;
    };
    const Vec want = {std::log(3.0), xent(&z[3], 2), (1 - ls + ls / K) * 1000 + (ls / K) * 1000,
                      xent(&z[9], 2), xent(&z[12], 1)};
    h.check(title, fmt("loss ls%.1f", ls), rel_max_err(loss, want), kTolExact);
    // argmax ties go to the lowest index: row 3 argmax = 1 (label 2: wrong), row 4 (label 1: right)
    const std::vector<uint8_t> want_c = {1, 1, 0, 0, 1};
    int wrong = 0;
    for (int n = 0; n < N; ++n) wrong += correct[size_t(n)] != want_c[size_t(n)];
    h.check(title, fmt("correct ls%.1f", ls), wrong, 0);
    // gradient of the mean loss, row 0: (1/3 - target) / N
    const Vec want_d0 = {(1.0 / 3 - (1 - ls + ls / 3)) / N, (1.0 / 3 - ls / 3) / N, (1.0 / 3 - ls / 3) / N};
    h.check(title, fmt("dlogits ls%.1f", ls), rel_max_err(Vec(dz.begin(), dz.begin() + 3), want_d0), kTolExact);
  }
}

// Row 2 above: logits [1000, 0, 0] with label 1: lse = 1000 + log(1 + 2e-1000) = 1000, so
// loss = sum_k target_k (1000 - z_k) = target_1 * 1000 + target_2 * 1000.

void hand_misc(Harness& h) {
  std::string title = "reference hand normalize/add/gap";
  if (h.selected(title)) {
    const uint8_t src[4] = {255, 0, 51, 204};  // C = 2
    const double mean[2] = {0.5, 0.2}, sd[2] = {0.25, 0.4};
    Vec x(4);
    ref::normalize_u8<double>(x.data(), src, mean, sd, 2, 2);
    h.check(title, "normalize_u8", rel_max_err(x, Vec{2, -0.5, (0.2 - 0.5) / 0.25, (0.8 - 0.2) / 0.4}), kTolExact);
    const double srcf[4] = {0.75, 0.2, 0.0, 1.0};
    ref::normalize_f32<double>(x.data(), srcf, mean, sd, 2, 2);
    h.check(title, "normalize_f32", rel_max_err(x, Vec{1, 0, -2, 2}), kTolExact);
    Vec y = {1, 2, -3};
    const Vec a = {3, -5, 3};
    ref::add_inplace<double>(y.data(), a.data(), 3);
    h.check(title, "add_inplace", rel_max_err(y, Vec{4, -3, 0}), kTolExact);
    const Vec g = {1, 10, 2, 20, 3, 30, 6, 60};  // N=1, HW=4, C=2
    Vec gy(2), gdx(8);
    ref::gap_forward<double>(gy.data(), g.data(), 1, 4, 2);
    h.check(title, "gap_forward", rel_max_err(gy, Vec{3, 30}), kTolExact);
    const Vec gdy = {4, -8};
    ref::gap_backward<double>(gdx.data(), gdy.data(), 1, 4, 2);
    h.check(title, "gap_backward", rel_max_err(gdx, Vec{1, -2, 1, -2, 1, -2, 1, -2}), kTolExact);
  }

  title = "reference hand sgd_update";
  if (h.selected(title)) {
    // two steps by hand: w = 1, g = 0.5, lr 0.1, momentum 0.9, weight decay 0.01
    //  plain:    g' = 0.51, v = 0.51, w = 0.949; g' = 0.50949, v = 0.96849, w = 0.852151
    //  nesterov: step = 0.51 + 0.9 * 0.51 = 0.969, w = 0.9031;
    //            g' = 0.509031, v = 0.968031, step = 1.3802589, w = 0.76507411
    for (bool nesterov : {false, true}) {
      Vec w = {1}, v = {0};
      const Vec g = {0.5};
      ref::sgd_update<double>(w.data(), v.data(), g.data(), 1, 0.1, 0.9, 0.01, nesterov);
      ref::sgd_update<double>(w.data(), v.data(), g.data(), 1, 0.1, 0.9, 0.01, nesterov);
      const double want_w = nesterov ? 0.76507411 : 0.852151;
      const double want_v = nesterov ? 0.968031 : 0.96849;
      h.check(title, nesterov ? "2 steps nest" : "2 steps", std::max(std::fabs(w[0] - want_w), std::fabs(v[0] - want_v)),
              kTolExact);
    }
    // PyTorch's loop written as torch.optim.SGD does it (buffer cloned from d_p on the first
    // step, dampening 0) against the reference starting from a zero velocity, 5 steps
    Rng rng(8);
    for (bool nesterov : {false, true})
      for (double momentum : {0.0, 0.9}) {
        const size_t n = 13;
        Vec w = rng.normal_vec<double>(n), v(n, 0.0), wt = w, buf(n, 0.0);
        const double lr = 0.05, wd = 4e-5;
        for (int step = 0; step < 5; ++step) {
          const Vec g = rng.normal_vec<double>(n);
          ref::sgd_update<double>(w.data(), v.data(), g.data(), int64_t(n), lr, momentum, wd, nesterov);
          for (size_t i = 0; i < n; ++i) {
            double d_p = g[i] + wd * wt[i];
            if (momentum != 0) {
              buf[i] = step == 0 ? d_p : momentum * buf[i] + d_p;
              d_p = nesterov ? d_p + momentum * buf[i] : buf[i];
            }
            wt[i] -= lr * d_p;
          }
        }
        h.check(title, fmt("torch m%.1f%s", momentum, nesterov ? " n" : ""), rel_max_err(w, wt), kTolExact);
      }
  }
}

}  // namespace

void run_reference_checks(Harness& h) {
  // finite differences: conv (stem kxk, 1x1, strided 1x1, general padding), depthwise k3/5/7
  fd_conv(h, 2, 5, 4, 3, 4, 3, 2, 1, false);
  fd_conv(h, 1, 4, 5, 2, 3, 1, 1, 0, false);
  fd_conv(h, 2, 5, 5, 3, 2, 1, 2, 0, false);
  fd_conv(h, 1, 6, 6, 2, 2, 5, 2, 2, false);
  fd_conv(h, 1, 7, 6, 1, 2, 7, 1, 3, false);
  fd_conv(h, 2, 5, 5, 3, 2, 3, 1, 0, false);
  fd_conv(h, 2, 5, 4, 3, 3, 3, 1, 1, true);
  fd_conv(h, 1, 6, 5, 4, 4, 3, 2, 1, true);
  fd_conv(h, 2, 6, 6, 2, 2, 5, 2, 2, true);
  fd_conv(h, 1, 5, 6, 3, 3, 7, 1, 3, true);
  fd_conv(h, 1, 4, 4, 2, 2, 3, 1, 0, true);
  for (Act a : {Act::None, Act::ReLU, Act::ReLU6, Act::HSwish}) {
    fd_bn(h, 12, 3, a);
    fd_bn(h, 5, 2, a);
  }
  fd_se(h, 2, 5, 6, 2);
  fd_se(h, 1, 3, 4, 1);
  fd_gap(h, 2, 5, 3);
  fd_fc(h, 3, 5, 4);
  fd_fc(h, 1, 1, 1);
  fd_softmax(h, 4, 5, 0.0, 1.0);
  fd_softmax(h, 3, 7, 0.1, 3.0);
  fd_softmax(h, 2, 4, 0.2, 30.0);

  hand_activations(h);
  hand_conv(h);
  cross_layouts(h);
  hand_bn(h);
  hand_softmax(h);
  hand_misc(h);
}

}  // namespace test
}  // namespace gnas
