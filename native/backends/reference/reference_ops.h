// The reference ops: every op of core/backend.h as a naive, single-threaded function template over
// the scalar type T (float for the ReferenceBackend, double for the finite-difference checks in
// native/tests). Every sum is accumulated in double. These functions are the executable
// specification: they are written to be obviously correct, not fast. Forward and backward of an op
// sit next to each other under paired names (<op>_forward / <op>_backward).
//
// Layouts and dimension letters are those of core/backend.h: NHWC tensors, dense conv weight
// w[K][k][k][C], depthwise weight w[k][k][C], fc weight w[K][C]. Gradient outputs are overwritten.
// A null dx in a backward means "the input gradient is not needed".
//
// Activation derivatives at the non-differentiable points are a convention: relu'(z) = 1 iff z > 0
// and relu6'(z) = 1 iff 0 < z < 6 (as PyTorch); hswish'(z) = 0 for z <= -3, (2z + 3) / 6 for
// -3 < z < 3, 1 for z >= 3 (PyTorch differs only at exactly z = -3 and z = 3, where it uses the
// inner formula: -0.5 and 1.5).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- activations (in double) ----
inline double act_apply(double z, Act act) {
  switch (act) {
    case Act::None: return z;
    case Act::ReLU: return z > 0 ? z : 0.0;
    case Act::ReLU6: return z <= 0 ? 0.0 : (z >= 6 ? 6.0 : z);
    case Act::HSwish: {
      const double r6 = z + 3 <= 0 ? 0.0 : (z + 3 >= 6 ? 6.0 : z + 3);
      return z * r6 / 6.0;
    }
  }
  return z;
}

// d act(z) / dz with the conventions of the file header.
inline double act_grad(double z, Act act) {
  switch (act) {
    case Act::None: return 1.0;
    case Act::ReLU: return z > 0 ? 1.0 : 0.0;
    case Act::ReLU6: return (z > 0 && z < 6) ? 1.0 : 0.0;
    case Act::HSwish:
      if (z <= -3) return 0.0;
      if (z >= 3) return 1.0;
      return (2 * z + 3) / 6.0;
  }
  return 1.0;
}

// ---- input normalisation (no backward: images are not trained) ----
template <typename T>
void normalize_u8(T* x, const uint8_t* src, const T* mean, const T* std, int64_t M, int C) {
  for (int64_t m = 0; m < M; ++m)
    for (int c = 0; c < C; ++c) {
      const int64_t i = m * C + c;
      x[i] = T((double(src[i]) / 255.0 - double(mean[c])) / double(std[c]));
    }
}

template <typename T>
void normalize_f32(T* x, const T* src, const T* mean, const T* std, int64_t M, int C) {
  for (int64_t m = 0; m < M; ++m)
    for (int c = 0; c < C; ++c) {
      const int64_t i = m * C + c;
      x[i] = T((double(src[i]) - double(mean[c])) / double(std[c]));
    }
}

// ---- dense convolution: y[n][p][q][o] = sum_{i,j,c} x[n][p*stride-pad+i][q*stride-pad+j][c] * w[o][i][j][c]
// (taps outside the input are zero padding) ----
template <typename T>
void conv_forward(T* y, const T* x, const T* w, const ConvShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int o = 0; o < s.K; ++o) {
          double acc = 0;
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const T* xp = x + ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
              const T* wp = w + ((int64_t(o) * s.k + i) * s.k + j) * s.C;
              for (int c = 0; c < s.C; ++c) acc += double(xp[c]) * double(wp[c]);
            }
          }
          y[((int64_t(n) * s.P + p) * s.Q + q) * s.K + o] = T(acc);
        }
}

// Scatters every output gradient back along the same taps as the forward.
template <typename T>
void conv_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvShape& s) {
  std::vector<double> gx(dx ? size_t(s.in_size()) : 0, 0.0);
  std::vector<double> gw(size_t(s.K) * s.k * s.k * s.C, 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int o = 0; o < s.K; ++o) {
          const double g = double(dy[((int64_t(n) * s.P + p) * s.Q + q) * s.K + o]);
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const int64_t xi = ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
              const int64_t wi = ((int64_t(o) * s.k + i) * s.k + j) * s.C;
              for (int c = 0; c < s.C; ++c) {
                gw[size_t(wi + c)] += g * double(x[xi + c]);
                if (dx) gx[size_t(xi + c)] += g * double(w[wi + c]);
              }
            }
          }
        }
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = T(gw[i]);
  if (dx)
    for (size_t i = 0; i < gx.size(); ++i) dx[i] = T(gx[i]);
}

// ---- depthwise convolution: y[n][p][q][c] = sum_{i,j} x[n][p*stride-pad+i][q*stride-pad+j][c] * w[i][j][c] ----
template <typename T>
void dwconv_forward(T* y, const T* x, const T* w, const ConvShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int c = 0; c < s.C; ++c) {
          double acc = 0;
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              acc += double(x[((int64_t(n) * s.H + h) * s.W + ww) * s.C + c]) *
                     double(w[(int64_t(i) * s.k + j) * s.C + c]);
            }
          }
          y[((int64_t(n) * s.P + p) * s.Q + q) * s.C + c] = T(acc);
        }
}

template <typename T>
void dwconv_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvShape& s) {
  std::vector<double> gx(dx ? size_t(s.in_size()) : 0, 0.0);
  std::vector<double> gw(size_t(s.k) * s.k * s.C, 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int c = 0; c < s.C; ++c) {
          const double g = double(dy[((int64_t(n) * s.P + p) * s.Q + q) * s.C + c]);
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const int64_t xi = ((int64_t(n) * s.H + h) * s.W + ww) * s.C + c;
              const int64_t wi = (int64_t(i) * s.k + j) * s.C + c;
              gw[size_t(wi)] += g * double(x[xi]);
              if (dx) gx[size_t(xi)] += g * double(w[wi]);
            }
          }
        }
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = T(gw[i]);
  if (dx)
    for (size_t i = 0; i < gx.size(); ++i) dx[i] = T(gx[i]);
}

// ---- batch norm + activation over x[M][C]: y = act(gamma * (x - mean) * invstd + beta) ----
// Train mode: batch mean and biased variance (two passes, double); saves mean and invstd.
template <typename T>
void bn_act_forward_train(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, T eps, Act act,
                          int64_t M, int C) {
  for (int c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t m = 0; m < M; ++m) sum += double(x[m * C + c]);
    const double mu = sum / double(M);
    double sq = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double d = double(x[m * C + c]) - mu;
      sq += d * d;
    }
    const double var = sq / double(M);
    const double is = 1.0 / std::sqrt(var + double(eps));
    mean[c] = T(mu);
    invstd[c] = T(is);
    for (int64_t m = 0; m < M; ++m) {
      const double z = double(gamma[c]) * (double(x[m * C + c]) - mu) * is + double(beta[c]);
      y[m * C + c] = T(act_apply(z, act));
    }
  }
}

// Eval mode: running statistics, invstd = 1 / sqrt(running_var + eps).
template <typename T>
void bn_act_forward_eval(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                         const T* running_var, T eps, Act act, int64_t M, int C) {
  for (int c = 0; c < C; ++c) {
    const double is = 1.0 / std::sqrt(double(running_var[c]) + double(eps));
    for (int64_t m = 0; m < M; ++m) {
      const double z =
          double(gamma[c]) * (double(x[m * C + c]) - double(running_mean[c])) * is + double(beta[c]);
      y[m * C + c] = T(act_apply(z, act));
    }
  }
}

// Backward of the train-mode forward, including the dependence of the batch statistics on x:
// dz = dy * act'(z), xhat = (x - mean) * invstd,
// dbeta = sum dz, dgamma = sum dz * xhat, dx = gamma * invstd * (dz - mean(dz) - xhat * mean(dz * xhat)).
template <typename T>
void bn_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                     const T* gamma, const T* beta, Act act, int64_t M, int C) {
  std::vector<double> dz(static_cast<size_t>(M));
  for (int c = 0; c < C; ++c) {
    const double mu = double(mean[c]), is = double(invstd[c]), g = double(gamma[c]), b = double(beta[c]);
    double sum_dz = 0, sum_dz_xhat = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double xhat = (double(x[m * C + c]) - mu) * is;
      const double z = g * xhat + b;
      dz[size_t(m)] = double(dy[m * C + c]) * act_grad(z, act);
      sum_dz += dz[size_t(m)];
      sum_dz_xhat += dz[size_t(m)] * xhat;
    }
    dgamma[c] = T(sum_dz_xhat);
    dbeta[c] = T(sum_dz);
    if (dx) {
      const double mean_dz = sum_dz / double(M), mean_dz_xhat = sum_dz_xhat / double(M);
      for (int64_t m = 0; m < M; ++m) {
        const double xhat = (double(x[m * C + c]) - mu) * is;
        dx[m * C + c] = T(g * is * (dz[size_t(m)] - mean_dz - xhat * mean_dz_xhat));
      }
    }
  }
}

// ---- squeeze-excite on x[N][HW][C] (see SEShape in core/backend.h) ----
template <typename T>
void se_forward(T* y, T* pooled, T* hidden, T* gate, const T* x, const T* w1, const T* b1, const T* w2,
                const T* b2, const SEShape& s) {
  std::vector<double> pd(size_t(s.C)), hd(size_t(s.R));
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + int64_t(n) * s.HW * s.C;
    for (int c = 0; c < s.C; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < s.HW; ++i) acc += double(xn[i * s.C + c]);
      pd[size_t(c)] = acc / double(s.HW);
      pooled[int64_t(n) * s.C + c] = T(pd[size_t(c)]);
    }
    for (int r = 0; r < s.R; ++r) {
      double acc = double(b1[r]);
      for (int c = 0; c < s.C; ++c) acc += double(w1[int64_t(r) * s.C + c]) * pd[size_t(c)];
      hd[size_t(r)] = acc > 0 ? acc : 0.0;
      hidden[int64_t(n) * s.R + r] = T(hd[size_t(r)]);
    }
    for (int c = 0; c < s.C; ++c) {
      double acc = double(b2[c]);
      for (int r = 0; r < s.R; ++r) acc += double(w2[int64_t(c) * s.R + r]) * hd[size_t(r)];
      const double gt = 1.0 / (1.0 + std::exp(-acc));
      gate[int64_t(n) * s.C + c] = T(gt);
      for (int64_t i = 0; i < s.HW; ++i) {
        const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
        y[xi] = T(double(x[xi]) * gt);
      }
    }
  }
}

// dx = dy * gate + (d pooled) / HW, where the gate's gradient flows back through fc2, the relu
// (mask hidden > 0) and fc1 to pooled.
template <typename T>
void se_backward(T* dx, T* dw1, T* db1, T* dw2, T* db2, const T* dy, const T* x, const T* pooled,
                 const T* hidden, const T* gate, const T* w1, const T* w2, const SEShape& s) {
  std::vector<double> gw1(size_t(s.R) * s.C, 0.0), gb1(size_t(s.R), 0.0);
  std::vector<double> gw2(size_t(s.C) * s.R, 0.0), gb2(size_t(s.C), 0.0);
  std::vector<double> dlogit(size_t(s.C)), dpre(size_t(s.R)), dpool(size_t(s.C));
  for (int n = 0; n < s.N; ++n) {
    // d gate logit = (sum over pixels of dy * x) * gate * (1 - gate)
    for (int c = 0; c < s.C; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < s.HW; ++i) {
        const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
        acc += double(dy[xi]) * double(x[xi]);
      }
      const double g = double(gate[int64_t(n) * s.C + c]);
      dlogit[size_t(c)] = acc * g * (1.0 - g);
      gb2[size_t(c)] += dlogit[size_t(c)];
      for (int r = 0; r < s.R; ++r) gw2[size_t(c) * s.R + r] += dlogit[size_t(c)] * double(hidden[int64_t(n) * s.R + r]);
    }
    for (int r = 0; r < s.R; ++r) {
      double acc = 0;
      for (int c = 0; c < s.C; ++c) acc += dlogit[size_t(c)] * double(w2[int64_t(c) * s.R + r]);
      dpre[size_t(r)] = double(hidden[int64_t(n) * s.R + r]) > 0 ? acc : 0.0;
      gb1[size_t(r)] += dpre[size_t(r)];
      for (int c = 0; c < s.C; ++c) gw1[size_t(r) * s.C + c] += dpre[size_t(r)] * double(pooled[int64_t(n) * s.C + c]);
    }
    if (dx) {
      for (int c = 0; c < s.C; ++c) {
        double acc = 0;
        for (int r = 0; r < s.R; ++r) acc += dpre[size_t(r)] * double(w1[int64_t(r) * s.C + c]);
        dpool[size_t(c)] = acc / double(s.HW);
      }
      for (int64_t i = 0; i < s.HW; ++i)
        for (int c = 0; c < s.C; ++c) {
          const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
          dx[xi] = T(double(dy[xi]) * double(gate[int64_t(n) * s.C + c]) + dpool[size_t(c)]);
        }
    }
  }
  for (size_t i = 0; i < gw1.size(); ++i) dw1[i] = T(gw1[i]);
  for (size_t i = 0; i < gb1.size(); ++i) db1[i] = T(gb1[i]);
  for (size_t i = 0; i < gw2.size(); ++i) dw2[i] = T(gw2[i]);
  for (size_t i = 0; i < gb2.size(); ++i) db2[i] = T(gb2[i]);
}

// ---- elementwise: y[i] += x[i] ----
template <typename T>
void add_inplace(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(double(y[i]) + double(x[i]));
}

// ---- global average pool x[N][HW][C] -> y[N][C] ----
template <typename T>
void gap_forward(T* y, const T* x, int N, int HW, int C) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      double acc = 0;
      for (int i = 0; i < HW; ++i) acc += double(x[(int64_t(n) * HW + i) * C + c]);
      y[int64_t(n) * C + c] = T(acc / double(HW));
    }
}

template <typename T>
void gap_backward(T* dx, const T* dy, int N, int HW, int C) {
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < HW; ++i)
      for (int c = 0; c < C; ++c) dx[(int64_t(n) * HW + i) * C + c] = T(double(dy[int64_t(n) * C + c]) / double(HW));
}

// ---- fully connected: y[n][o] = sum_c x[n][c] * w[o][c] + b[o] ----
template <typename T>
void fc_forward(T* y, const T* x, const T* w, const T* b, int N, int C, int K) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < K; ++o) {
      double acc = double(b[o]);
      for (int c = 0; c < C; ++c) acc += double(x[int64_t(n) * C + c]) * double(w[int64_t(o) * C + c]);
      y[int64_t(n) * K + o] = T(acc);
    }
}

template <typename T>
void fc_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int N, int C, int K) {
  for (int o = 0; o < K; ++o) {
    double acc = 0;
    for (int n = 0; n < N; ++n) acc += double(dy[int64_t(n) * K + o]);
    db[o] = T(acc);
    for (int c = 0; c < C; ++c) {
      double a = 0;
      for (int n = 0; n < N; ++n) a += double(dy[int64_t(n) * K + o]) * double(x[int64_t(n) * C + c]);
      dw[int64_t(o) * C + c] = T(a);
    }
  }
  if (dx)
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        double a = 0;
        for (int o = 0; o < K; ++o) a += double(dy[int64_t(n) * K + o]) * double(w[int64_t(o) * C + c]);
        dx[int64_t(n) * C + c] = T(a);
      }
}

// ---- softmax cross-entropy with label smoothing ----
// target = (1 - smoothing) * onehot(label) + smoothing / K; loss[n] = sum_k target_k * (lse - z_k)
// with lse = log sum_k exp(z_k) computed after subtracting the row max. correct[n] = 1 iff the first
// index of the row maximum equals the label. dlogits (optional) = (softmax - target) / N.
template <typename T>
void softmax_xent(T* loss, uint8_t* correct, T* dlogits, const T* logits, const int32_t* labels, T smoothing, int N,
                  int K) {
  const double sm = double(smoothing);
  for (int n = 0; n < N; ++n) {
    const T* z = logits + int64_t(n) * K;
    const int label = labels[n];
    int best = 0;
    for (int k = 1; k < K; ++k)
      if (z[k] > z[best]) best = k;
    const double zmax = double(z[best]);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(double(z[k]) - zmax);
    const double lse = zmax + std::log(sum);
    double l = 0;
    for (int k = 0; k < K; ++k) {
      const double target = (k == label ? 1.0 - sm : 0.0) + sm / double(K);
      l += target * (lse - double(z[k]));
      if (dlogits) dlogits[int64_t(n) * K + k] = T((std::exp(double(z[k]) - lse) - target) / double(N));
    }
    loss[n] = T(l);
    correct[n] = uint8_t(best == label ? 1 : 0);
  }
}

// ---- SGD with momentum, PyTorch semantics (dampening 0) ----
// g' = g + weight_decay * w; v = momentum * v + g'; step = nesterov ? g' + momentum * v : v; w -= lr * step.
// nonfinite (may be null) is set to 1 when an updated w or velocity is not finite.
template <typename T>
void sgd_update(T* w, T* velocity, const T* g, int64_t n, T lr, T momentum, T weight_decay, bool nesterov,
                T* nonfinite = nullptr) {
  const double mo = double(momentum), wd = double(weight_decay), eta = double(lr);
  for (int64_t i = 0; i < n; ++i) {
    const double gp = double(g[i]) + wd * double(w[i]);
    const double v = mo * double(velocity[i]) + gp;
    const double step = nesterov ? gp + mo * v : v;
    velocity[i] = T(v);
    w[i] = T(double(w[i]) - eta * step);
    if (nonfinite && !(std::isfinite(double(w[i])) && std::isfinite(double(velocity[i])))) *nonfinite = T(1);
  }
}

}  // namespace ref
}  // namespace gnas
