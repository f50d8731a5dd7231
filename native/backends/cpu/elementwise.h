// Elementwise ops over flat float arrays: add_inplace (residual add, gradient summation) and
// sgd_update (SGD with momentum, PyTorch semantics). Pure streams: vectorised, and split over the
// pool in chunks of kElemChunk floats once an array is big enough to be worth a hand-off.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

constexpr int64_t kElemChunk = 16384;  // 64 KB per task: long enough to amortise a hand-off

// Runs f(begin, end) over [0, n), in parallel when n is large.
template <class F>
static void elementwise_for(Ctx& ctx, int64_t n, F&& f) {
  if (n <= 4 * kElemChunk || ctx.nthreads == 1) {
    f(int64_t(0), n);
    return;
  }
  parallel_for(*ctx.pool, ceil_div(n, kElemChunk), 1, [&](int64_t b, int64_t e, int) {
    f(b * kElemChunk, imin(n, e * kElemChunk));
  });
}

static void add_inplace(Ctx& ctx, float* y, const float* x, int64_t n) {
  elementwise_for(ctx, n, [&](int64_t b, int64_t e) {
    int64_t i = b;
    for (; i + L <= e; i += L) store(y + i, add(load(y + i), load(x + i)));
    if (i < e) {
      const tmask m = tail_mask(int(e - i));
      store(y + i, add(load(y + i, m), load(x + i, m)), m);
    }
  });
}

// g' = g + wd * w; v = momentum * v + g'; step = nesterov ? g' + momentum * v : v; w -= lr * step.
// bad accumulates v * 0 and w * 0: it stays 0 while every value is finite and turns NaN at the
// first inf or NaN, so the divergence check costs two FMAs per vector of a memory-bound pass.
template <bool NESTEROV>
GNAS_INLINE void sgd_vec(float* w, float* vel, const float* g, vf lr, vf mo, vf wd, tmask m, bool tail, vf& bad) {
  const vf wv = tail ? load(w, m) : load(w);
  const vf gp = fmadd(wd, wv, tail ? load(g, m) : load(g));
  const vf v = fmadd(mo, tail ? load(vel, m) : load(vel), gp);
  const vf step = NESTEROV ? fmadd(mo, v, gp) : v;
  const vf wn = fnmadd(lr, step, wv);
  const vf zero = set1(0.0f);
  bad = fmadd(wn, zero, fmadd(v, zero, bad));
  if (tail) {
    store(vel, v, m);
    store(w, wn, m);
  } else {
    store(vel, v);
    store(w, wn);
  }
}

static void sgd_update(Ctx& ctx, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                       float weight_decay, bool nesterov, float* nonfinite) {
  const vf vlr = set1(lr), vmo = set1(momentum), vwd = set1(weight_decay);
  elementwise_for(ctx, n, [&](int64_t b, int64_t e) {
    int64_t i = b;
    const tmask full = tail_mask(L);
    vf bad = set1(0.0f);
    if (nesterov) {
      for (; i + L <= e; i += L) sgd_vec<true>(w + i, velocity + i, g + i, vlr, vmo, vwd, full, false, bad);
      if (i < e) sgd_vec<true>(w + i, velocity + i, g + i, vlr, vmo, vwd, tail_mask(int(e - i)), true, bad);
    } else {
      for (; i + L <= e; i += L) sgd_vec<false>(w + i, velocity + i, g + i, vlr, vmo, vwd, full, false, bad);
      if (i < e) sgd_vec<false>(w + i, velocity + i, g + i, vlr, vmo, vwd, tail_mask(int(e - i)), true, bad);
    }
    // Chunks may run on several threads: a relaxed atomic store of the same value is race-free.
    if (nonfinite && !(hsum(bad) == 0.0f)) {
      const float one = 1.0f;
      __atomic_store(nonfinite, &one, __ATOMIC_RELAXED);
    }
  });
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
