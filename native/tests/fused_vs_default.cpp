// The fused conv methods of a fast backend (conv/dwconv forward with input BN+act and output
// statistics, backward with input BN gradients and output BN backward, bn_act_apply) against the
// reference backend, whose implementations are the Backend base class defaults composed of the
// plain ops, which backend_vs_reference.cpp checks against the reference kernels.
#include <cstdio>
#include <cstring>
#include <memory>
#include "core/backend.h"
#include "harness.h"
namespace gnas {
namespace test {
// moves x[m][c] so that z = gamma*(x-mean)*invstd+beta is >= 1e-3 from every kink of act
static void off_kinks(std::vector<float>& x, const std::vector<float>& mean, const std::vector<float>& invstd,
                      const std::vector<float>& gamma, const std::vector<float>& beta, Act act, int C) {
  for (size_t i = 0; i < x.size(); ++i) {
    const int c = int(i % size_t(C));
    for (int it = 0; it < 10; ++it) {
      const double z = double(gamma[c]) * (double(x[i]) - mean[c]) * invstd[c] + beta[c];
      if (kink_distance(z, act) >= 1e-3) break;
      x[i] = float(double(x[i]) + 4e-3 / (std::fabs(double(gamma[c]) * invstd[c]) + 1e-12));
    }
  }
}

// Random running statistics of C channels for a BnAct (the vectors live in `store`).
static BnAct random_bn(Rng& rng, std::vector<std::vector<float>>& store, int C, Act act) {
  store.push_back(rng.normal_vec<float>(size_t(C), 0.3));
  store.push_back(rng.uniform_vec<float>(size_t(C), 0.5, 2.0));
  store.push_back(rng.uniform_vec<float>(size_t(C), 0.5, 2.0));
  store.push_back(rng.normal_vec<float>(size_t(C), 1.0));
  const size_t n = store.size();
  BnAct b;
  b.mean = store[n - 4].data(); b.invstd = store[n - 3].data(); b.gamma = store[n - 2].data(); b.beta = store[n - 1].data();
  b.act = act;
  return b;
}

// An eval-mode MBConv block in one call (mbconv_forward_eval) against the same backend's unfused
// ops (the Backend default), bit for bit, and against the reference backend. The cases cover
// groups of images that do not divide N, channel counts off the vector width, no expand conv, a
// residual, stride 2 and a depthwise shape outside the fast kernels (the fallback).
static void run_mbconv_eval(Harness& h, Backend& fast, Backend& ref) {
  struct Case { int N, H, Cin, Ce, Ko, k, stride; bool expand, residual; int se_r; /* 0: no squeeze-excite */ };
  const Case cases[] = {
    {5, 7, 16, 48, 16, 3, 1, true, true, 0},  {7, 7, 24, 40, 24, 7, 1, true, true, 0},
    {3, 10, 8, 40, 24, 5, 2, true, false, 0}, {4, 9, 32, 32, 32, 7, 1, false, true, 0},
    {2, 14, 17, 51, 33, 3, 2, true, false, 0}, {9, 7, 80, 480, 80, 5, 1, true, true, 0},
    {2, 6, 8, 24, 8, 4, 1, true, true, 0} /* non-fast depthwise: the fallback */,
    // with squeeze-excite: groups of 3 images at 7x7 (7 and 9 images leave a partial group)
    {7, 7, 16, 48, 16, 3, 1, true, true, 12},  {3, 10, 8, 40, 24, 5, 2, true, false, 10},
    {9, 7, 80, 480, 80, 5, 1, true, true, 120}, {4, 9, 32, 32, 32, 7, 1, false, true, 8},
    {2, 14, 17, 51, 33, 3, 2, true, false, 13},
    {2, 6, 8, 24, 8, 4, 1, true, true, 6} /* non-fast depthwise: the fallback */,
  };
  int ci = 0;
  for (const Case& c : cases) {
    for (int a = 0; a < 4; ++a) {
      char title[160];
      std::snprintf(title, sizeof title, "mbconv_forward_eval N%d %dx%d Cin%d Ce%d Ko%d k%d s%d%s%s%s act%d", c.N, c.H,
                    c.H, c.Cin, c.Ce, c.Ko, c.k, c.stride, c.expand ? " +expand" : "", c.residual ? " +residual" : "",
                    c.se_r ? " +se" : "", a);
      if (!h.selected(title)) continue;
      Rng rng(uint64_t(3000000 + 10 * ci++ + a));
      std::vector<std::vector<float>> store;
      Backend::MbconvEval b;
      ConvShape es; es.N = c.N; es.H = es.W = c.H; es.C = c.Cin; es.K = c.Ce; es.finish();
      ConvShape ds; ds.N = c.N; ds.H = ds.W = c.H; ds.C = ds.K = c.Ce; ds.k = c.k; ds.stride = c.stride; ds.pad = c.k / 2; ds.finish();
      ConvShape ps; ps.N = c.N; ps.H = ds.P; ps.W = ds.Q; ps.C = c.Ce; ps.K = c.Ko; ps.finish();
      auto x = rng.normal_vec<float>(size_t(c.expand ? es.in_size() : ds.in_size()), 1.0, 0.2);
      auto we = rng.normal_vec<float>(size_t(c.Ce) * c.Cin, 0.3), wd = rng.normal_vec<float>(size_t(c.k) * c.k * c.Ce, 0.3),
           wp = rng.normal_vec<float>(size_t(c.Ko) * c.Ce, 0.2);
      auto res = rng.normal_vec<float>(size_t(ps.out_size()));
      if (c.expand) {
        b.expand_w = we.data(); b.expand = es; b.expand_bn = random_bn(rng, store, c.Ce, Act(a));
      }
      b.dw_w = wd.data(); b.dw = ds; b.dw_bn = random_bn(rng, store, c.Ce, Act((a + 1) % 4));
      b.project_w = wp.data(); b.project = ps; b.project_bn = random_bn(rng, store, c.Ko, Act((a + 2) % 4));
      if (c.residual) b.residual = res.data();
      // squeeze-excite weights, and per backend its pooled / hidden / gate outputs (se_forward's)
      const int R = c.se_r;
      auto w1 = rng.normal_vec<float>(size_t(R) * c.Ce, 0.3), b1 = rng.normal_vec<float>(size_t(R), 0.2),
           w2 = rng.normal_vec<float>(size_t(c.Ce) * R, 0.3), b2 = rng.normal_vec<float>(size_t(c.Ce), 0.5);
      const size_t se_floats = size_t(c.N) * (2 * c.Ce + R);
      std::vector<float> sef = poisoned(se_floats), sed = poisoned(se_floats), ser = poisoned(se_floats);
      auto with_se = [&](std::vector<float>& buf) {
        if (!R) return b;
        Backend::MbconvEval e = b;
        e.se_w1 = w1.data(); e.se_b1 = b1.data(); e.se_w2 = w2.data(); e.se_b2 = b2.data();
        e.se = SEShape{c.N, ds.P * ds.Q, c.Ce, R};
        e.se_pooled = buf.data();
        e.se_hidden = e.se_pooled + size_t(c.N) * c.Ce;
        e.se_gate = e.se_hidden + size_t(c.N) * R;
        return e;
      };
      std::vector<float> yf = poisoned(size_t(ps.out_size())), yd = poisoned(size_t(ps.out_size())),
                         yr = poisoned(size_t(ps.out_size()));
      std::vector<float> eb(size_t(es.out_size())), db(size_t(ds.out_size())), eb2 = eb, db2 = db, eb3 = eb, db3 = db;
      fast.mbconv_forward_eval(yf.data(), x.data(), with_se(sef), eb.data(), db.data());
      fast.Backend::mbconv_forward_eval(yd.data(), x.data(), with_se(sed), eb2.data(), db2.data());
      ref.mbconv_forward_eval(yr.data(), x.data(), with_se(ser), eb3.data(), db3.data());
      h.check(title, "y = the unfused ops (bits)", std::memcmp(yf.data(), yd.data(), yf.size() * sizeof(float)) ? 1.0 : 0.0, 0.0);
      h.check(title, "y", rel_max_err(yf, yr), 1e-4);
      if (R) {
        h.check(title, "se pooled / hidden / gate = the unfused ops (bits)",
                std::memcmp(sef.data(), sed.data(), se_floats * sizeof(float)) ? 1.0 : 0.0, 0.0);
        h.check(title, "se pooled / hidden / gate", rel_max_err(sef, ser), 1e-4);
      }
    }
  }
}

// The eval-mode head in one call (head_forward_eval) against the same backend's unfused ops, bit
// for bit, and against the reference backend; batch sizes that leave a partial group of images.
static void run_head_eval(Harness& h, Backend& fast, Backend& ref) {
  struct Case { int N, H, C, K; };
  const Case cases[] = {{5, 7, 24, 40}, {7, 7, 40, 160}, {2, 4, 17, 33}, {3, 14, 16, 64}};
  int ci = 0;
  for (const Case& c : cases)
    for (int a = 0; a < 4; ++a) {
      char title[128];
      std::snprintf(title, sizeof title, "head_forward_eval N%d %dx%d C%d K%d act%d", c.N, c.H, c.H, c.C, c.K, a);
      if (!h.selected(title)) continue;
      Rng rng(uint64_t(4000000 + 10 * ci++ + a));
      ConvShape s; s.N = c.N; s.H = s.W = c.H; s.C = c.C; s.K = c.K; s.finish();
      auto x = rng.normal_vec<float>(size_t(s.in_size()), 1.0, 0.2), w = rng.normal_vec<float>(size_t(c.K) * c.C, 0.3);
      auto gamma = rng.uniform_vec<float>(size_t(c.K), 0.5, 2.0), beta = rng.normal_vec<float>(size_t(c.K), 1.0);
      auto mean = rng.normal_vec<float>(size_t(c.K), 0.3), var = rng.uniform_vec<float>(size_t(c.K), 0.3, 3.0);
      std::vector<float> pf = poisoned(size_t(c.N) * c.K), pd = poisoned(size_t(c.N) * c.K), pr = poisoned(size_t(c.N) * c.K);
      std::vector<float> b1(size_t(s.out_size())), b2 = b1, b3 = b1;
      fast.head_forward_eval(pf.data(), x.data(), w.data(), s, gamma.data(), beta.data(), mean.data(), var.data(), 1e-5f, Act(a), b1.data());
      fast.Backend::head_forward_eval(pd.data(), x.data(), w.data(), s, gamma.data(), beta.data(), mean.data(), var.data(), 1e-5f, Act(a), b2.data());
      ref.head_forward_eval(pr.data(), x.data(), w.data(), s, gamma.data(), beta.data(), mean.data(), var.data(), 1e-5f, Act(a), b3.data());
      h.check(title, "pooled = the unfused ops (bits)", std::memcmp(pf.data(), pd.data(), pf.size() * sizeof(float)) ? 1.0 : 0.0, 0.0);
      h.check(title, "pooled", rel_max_err(pf, pr), 1e-4);
    }
}

void run_fused_vs_default(Harness& h, Backend& fast, Backend& reference) {
  run_mbconv_eval(h, fast, reference);
  run_head_eval(h, fast, reference);
  Backend* cpu = &fast;
  Backend* ref = &reference;
  struct Case { int N, H, W, C, K, k, stride; bool dw; };
  const Case cases[] = {
    {2, 8, 8, 16, 24, 1, 1, false}, {1, 5, 7, 24, 144, 1, 1, false}, {2, 4, 5, 144, 40, 1, 1, false},
    {3, 7, 7, 40, 17, 1, 1, false}, {1, 6, 6, 24, 40, 1, 2, false}, {2, 7, 5, 40, 144, 1, 2, false},
    {2, 9, 9, 1, 16, 3, 1, false}, {2, 9, 8, 3, 8, 3, 2, false}, {1, 6, 5, 16, 24, 3, 1, false},
    {2, 17, 16, 3, 32, 3, 2, false} /* the ImageNet stem */,
    {2, 9, 9, 16, 16, 3, 1, true}, {1, 10, 9, 24, 24, 3, 2, true}, {2, 7, 7, 40, 40, 5, 1, true},
    {1, 8, 11, 144, 144, 7, 2, true}, {2, 7, 7, 17, 17, 7, 1, true}, {1, 14, 14, 3, 3, 5, 2, true},
    {2, 4, 4, 7, 7, 4, 1, true} /* non-fast shape */, {3, 28, 28, 96, 96, 3, 2, true}, {2, 14, 14, 144, 144, 7, 1, true},
    {64, 7, 7, 480, 480, 7, 1, true}, {32, 28, 28, 96, 96, 3, 2, true},
  };
  int ci = 0;
  for (const Case& c : cases) {
    for (int a = 0; a < 4; ++a) {
      ConvShape s; s.N = c.N; s.H = c.H; s.W = c.W; s.C = c.C; s.K = c.dw ? c.C : c.K; s.k = c.k; s.stride = c.stride; s.pad = c.k / 2; s.finish();
      Rng rng(1000 + ci++);
      const size_t ws = c.dw ? size_t(s.k) * s.k * s.C : size_t(s.K) * s.k * s.k * s.C;
      auto x = rng.normal_vec<float>(size_t(s.in_size()), 1.3, 0.4);
      auto w = rng.normal_vec<float>(ws, 0.3);
      auto dy = rng.normal_vec<float>(size_t(s.out_size()));
      auto mean = rng.normal_vec<float>(size_t(s.C), 0.3), invstd = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0);
      auto gamma = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0), beta = rng.normal_vec<float>(size_t(s.C), 1.0);
      BnAct bn; bn.mean = mean.data(); bn.invstd = invstd.data(); bn.gamma = gamma.data(); bn.beta = beta.data(); bn.act = Act(a);
      char title[160];
      std::snprintf(title, sizeof title, "%s N%d H%d W%d C%d K%d k%d s%d act%d", c.dw ? "dw" : "conv", s.N, s.H, s.W, s.C, s.K, s.k, s.stride, a);
      for (int useb = 0; useb < 2; ++useb) {
        const BnAct* pb = useb ? &bn : nullptr;
        if (!h.selected(std::string(title) + (useb ? " +bn" : ""))) continue;
        std::vector<float> yf = poisoned(size_t(s.out_size())), yr = poisoned(size_t(s.out_size()));
        std::vector<float> mf = poisoned(size_t(s.K)), isf = poisoned(size_t(s.K)), mr = poisoned(size_t(s.K)), isr = poisoned(size_t(s.K));
        if (c.dw) { cpu->dwconv_forward_fused(yf.data(), mf.data(), isf.data(), 1e-5f, x.data(), pb, w.data(), s); ref->dwconv_forward_fused(yr.data(), mr.data(), isr.data(), 1e-5f, x.data(), pb, w.data(), s); }
        else { cpu->conv_forward_fused(yf.data(), mf.data(), isf.data(), 1e-5f, x.data(), pb, w.data(), s); ref->conv_forward_fused(yr.data(), mr.data(), isr.data(), 1e-5f, x.data(), pb, w.data(), s); }
        std::string t = std::string(title) + (useb ? " +bn" : "");
        h.check(t, "y", rel_max_err(yf, yr), 1e-4);
        h.check(t, "mean", rel_max_err(mf, mr), 1e-4);
        h.check(t, "invstd", rel_max_err(isf, isr), 1e-4);
        // no-stats variant writes y only
        std::vector<float> yf2 = poisoned(size_t(s.out_size()));
        if (c.dw) cpu->dwconv_forward_fused(yf2.data(), nullptr, nullptr, 1e-5f, x.data(), pb, w.data(), s);
        else cpu->conv_forward_fused(yf2.data(), nullptr, nullptr, 1e-5f, x.data(), pb, w.data(), s);
        h.check(t, "y(nostats)", rel_max_err(yf2, yr), 1e-4);
        if (c.dw) {
          // eval-mode unit in one call: conv, then its own (running) BN + act applied in place
          Rng erng(uint64_t(2000000 + 2 * ci + useb));
          auto em = erng.normal_vec<float>(size_t(s.K), 0.3), ei = erng.uniform_vec<float>(size_t(s.K), 0.5, 2.0);
          auto eg = erng.uniform_vec<float>(size_t(s.K), 0.5, 2.0), eb = erng.normal_vec<float>(size_t(s.K), 1.0);
          BnAct ob; ob.mean = em.data(); ob.invstd = ei.data(); ob.gamma = eg.data(); ob.beta = eb.data(); ob.act = Act((a + 1) % 4);
          std::vector<float> ye = poisoned(size_t(s.out_size())), yer = poisoned(size_t(s.out_size()));
          std::vector<float> yc = poisoned(size_t(s.out_size()));
          cpu->dwconv_forward_bn_act(ye.data(), x.data(), pb, w.data(), ob, s);
          ref->dwconv_forward_bn_act(yer.data(), x.data(), pb, w.data(), ob, s);
          h.check(t, "bn_act y", rel_max_err(ye, yer), 1e-4);
          // the same backend's two ops, bit for bit (what makes the supernet's eval mode unchanged)
          cpu->dwconv_forward_fused(yc.data(), nullptr, nullptr, 0.0f, x.data(), pb, w.data(), s);
          cpu->bn_act_apply(yc.data(), yc.data(), ob.mean, ob.invstd, ob.gamma, ob.beta, ob.act, int64_t(s.N) * s.P * s.Q, s.K);
          h.check(t, "bn_act y = fused + bn_act_apply (bits)",
                  std::memcmp(ye.data(), yc.data(), ye.size() * sizeof(float)) ? 1.0 : 0.0, 0.0);
        }
        std::vector<float> dxf = poisoned(size_t(s.in_size())), dxr = poisoned(size_t(s.in_size())), dwf = poisoned(ws), dwr = poisoned(ws), dwf2 = poisoned(ws);
        auto bwd = [&](Backend& be, float* dx, float* dw, float* dg, float* db, const BnGrad* ob, const BnAct* ib) {
          if (c.dw) be.dwconv_backward_fused(dx, dw, dg, db, dy.data(), ob, x.data(), ib, w.data(), s);
          else be.conv_backward_fused(dx, dw, dg, db, dy.data(), ob, x.data(), ib, w.data(), s);
        };
        bwd(*cpu, dxf.data(), dwf.data(), nullptr, nullptr, nullptr, pb);
        bwd(*ref, dxr.data(), dwr.data(), nullptr, nullptr, nullptr, pb);
        bwd(*cpu, nullptr, dwf2.data(), nullptr, nullptr, nullptr, pb);
        h.check(t, "dx", rel_max_err(dxf, dxr), 1e-4);
        h.check(t, "dw", rel_max_err(dwf, dwr), 1e-3);
        h.check(t, "dw(dx=null)", rel_max_err(dwf2, dwr), 1e-3);
        // out_bn (dy through the unit's own BN) and in-BN parameter gradients
        {
          // its own generator per (case, act, useb), so a case gets the same inputs under --filter
          Rng brng(uint64_t(1000000 + 2 * ci + useb));
          auto y0 = brng.normal_vec<float>(size_t(s.out_size()), 1.2, 0.3);
          auto om = brng.normal_vec<float>(size_t(s.K), 0.3), oi = brng.uniform_vec<float>(size_t(s.K), 0.5, 2.0);
          auto og = brng.uniform_vec<float>(size_t(s.K), 0.5, 2.0), ob_ = brng.normal_vec<float>(size_t(s.K), 1.0);
          off_kinks(y0, om, oi, og, ob_, Act((a + 1) % 4), s.K);
          std::vector<float> tmp(size_t(s.out_size())), odg(size_t(s.K)), odb(size_t(s.K));
          ref->bn_act_backward(tmp.data(), odg.data(), odb.data(), dy.data(), y0.data(), om.data(), oi.data(), og.data(), ob_.data(), Act((a + 1) % 4), int64_t(s.N) * s.P * s.Q, s.K);
          BnGrad gb; gb.x = y0.data(); gb.mean = om.data(); gb.invstd = oi.data(); gb.gamma = og.data(); gb.beta = ob_.data(); gb.act = Act((a + 1) % 4); gb.dgamma = odg.data(); gb.dbeta = odb.data();
          std::vector<float> dxf3 = poisoned(size_t(s.in_size())), dxr3 = poisoned(size_t(s.in_size())), dwf3 = poisoned(ws), dwr3 = poisoned(ws);
          std::vector<float> dgf = poisoned(size_t(s.C)), dbf = poisoned(size_t(s.C)), dgr = poisoned(size_t(s.C)), dbr = poisoned(size_t(s.C));
          std::vector<float> xk = x;
          if (pb) off_kinks(xk, mean, invstd, gamma, beta, Act(a), s.C);
          std::swap(x, xk);
          bwd(*cpu, dxf3.data(), dwf3.data(), pb ? dgf.data() : nullptr, pb ? dbf.data() : nullptr, &gb, pb);
          bwd(*ref, dxr3.data(), dwr3.data(), pb ? dgr.data() : nullptr, pb ? dbr.data() : nullptr, &gb, pb);
          std::vector<float> dwf4 = poisoned(ws);
          bwd(*cpu, nullptr, dwf4.data(), nullptr, nullptr, &gb, pb);
          std::swap(x, xk);
          h.check(t, "out_bn dx", rel_max_err(dxf3, dxr3), 1e-3);
          h.check(t, "out_bn dw", rel_max_err(dwf3, dwr3), 1e-3);
          h.check(t, "out_bn dw(dx=null)", rel_max_err(dwf4, dwr3), 1e-3);
          if (pb) {
            h.check(t, "in dgamma", rel_max_err(dgf, dgr), 1e-3);
            h.check(t, "in dbeta", rel_max_err(dbf, dbr), 1e-3);
          }
        }
      }
      if (a > 0 && c.k == 1 && c.C > 100) break;
    }
  }
  // bn_act_apply against the default
  for (int a = 0; a < 4; ++a)
    for (int C : {1, 3, 16, 24, 40, 144}) {
      const int64_t M = 37 + C;
      Rng rng(77 + C + a);
      auto x = rng.normal_vec<float>(size_t(M * C), 1.5, 0.5), mean = rng.normal_vec<float>(size_t(C), 0.3), invstd = rng.uniform_vec<float>(size_t(C), 0.5, 2.0), g = rng.normal_vec<float>(size_t(C), 1.0), b = rng.normal_vec<float>(size_t(C), 1.0);
      const std::string title = "bn_act_apply C" + std::to_string(C) + " act" + std::to_string(a);
      if (!h.selected(title)) continue;
      std::vector<float> yf = poisoned(size_t(M * C)), yr = poisoned(size_t(M * C));
      cpu->bn_act_apply(yf.data(), x.data(), mean.data(), invstd.data(), g.data(), b.data(), Act(a), M, C);
      ref->bn_act_apply(yr.data(), x.data(), mean.data(), invstd.data(), g.data(), b.data(), Act(a), M, C);
      h.check(title, "y", rel_max_err(yf, yr), 1e-5);
    }
}

}  // namespace test
}  // namespace gnas
