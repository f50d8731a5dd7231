// Eval-mode chains: with running statistics no BN needs the whole batch before its consumer can
// start, so a chain of ops can run a group of images at a time in the thread's cache.
//
// An eval-mode MBConv block in one pass (Backend::mbconv_forward_eval): expand 1x1 conv ->
// depthwise conv with its running BN + act in the strips' epilogue -> squeeze-excite, if any ->
// project 1x1 conv with its BN and the residual, a group of images at a time. Unfused, the
// expand output and the depthwise output (the block's wide tensors: 7x7 x 480-768 channels x 128
// images, 12-19 MB each) are each written to memory by one op and read back by the next (the
// squeeze-excite reads the depthwise output twice and writes a gated copy); here a group's share
// of them (~150-300 KB) is made and consumed in the thread's cache. Squeeze-excite is per image
// (pool, two small FCs, gate), so a group holds everything it needs.
//
// Bit-identical to the unfused ops: every value is computed by the same kernels with the same
// operands as there (the GEMMs' tiles, the squeeze-excite FCs' included, are chosen for the whole
// batch, as the unfused convs choose them, and a rows-form output row does not depend on which
// rows share its block; the depthwise image kernel, the folded BNs and the squeeze-excite's
// pooling, bias, activation and gating are the unfused ops' own).
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// Images per group of a chain: about as many pixel rows as a block of the unfused 1x1 forward
// (rows_block: ~192), so that the GEMMs' partial last row tile is a small share of the group's;
// one image from 14x14 up. At 7x7 (3 images) a group's expand and depthwise outputs at 480
// channels are 282 KB each.
static int64_t eval_group_images(int64_t pixels) { return imax<int64_t>(1, 192 / pixels); }

template <int K, int S>
static void mbconv_eval_ks(Ctx& ctx, float* out, const float* x, const Backend::MbconvEval& b) {
  const ConvShape& ds = b.dw;
  const int N = ds.N, H = ds.H, W = ds.W, Ce = ds.C, P = ds.P, Q = ds.Q, Ko = b.project.K;
  const int Cin = b.expand_w ? b.expand.C : Ce;
  const int Cp = ceil_div(Ce, L) * L;
  const int Hp = H + 2 * ds.pad, Wp = W + 2 * ds.pad;
  const int64_t HW = int64_t(H) * W, PQ = int64_t(P) * Q;
  // the operands packed once, with the tiles the unfused convs pick for the whole batch
  PackedB Be{};
  if (b.expand_w) Be = pack_b(ctx, 0, b.expand_w, 1, Cin, Cin, Ce, choose_tile(int64_t(N) * HW, Ce));
  const PackedB Bp = pack_b(ctx, 1, b.project_w, 1, Ce, Ce, Ko, choose_tile(int64_t(N) * PQ, Ko));
  const float* wp = pack_dw_weights(ctx, 2, b.dw_w, K, Ce, Cp);
  InBn ie, od, opb;
  const InBn* in_e = make_in_bn(ctx, ie, b.expand_w ? &b.expand_bn : nullptr, Ce, /*slot=*/4);
  const InBn* out_d = make_in_bn(ctx, od, &b.dw_bn, Ce, /*slot=*/6);
  const InBn* bn_p = make_in_bn(ctx, opb, &b.project_bn, Ko, /*slot=*/8);
  // squeeze-excite's FCs: [N][Ce] -> [N][R] -> [N][Ce], tiles for N rows as se_forward's convs
  const int R = b.se.R;
  PackedB B1{}, B2{};
  if (b.se_w1) {
    B1 = pack_b(ctx, 3, b.se_w1, 1, Ce, Ce, R, choose_tile(N, R));
    B2 = pack_b(ctx, 5, b.se_w2, 1, R, R, Ce, choose_tile(N, Ce));
  }
  const ChanLayout cle(Ce);
  const int64_t G = eval_group_images(HW);
  const int64_t ngroups = ceil_div<int64_t>(N, G);
  int64_t tail_floats = imax<int64_t>(b.expand_w ? int64_t(Be.t.MR) * Cin : 0, int64_t(Bp.t.MR) * Ce);
  if (b.se_w1) tail_floats = imax<int64_t>(tail_floats, imax<int64_t>(int64_t(B1.t.MR) * Ce, int64_t(B2.t.MR) * R));
  parallel_for(*ctx.pool, ngroups, 1, [&](int64_t g0, int64_t g1, int tid) {
    float* ebuf = b.expand_w ? ctx.ws->thread(tid, 0, size_t(G * HW * Ce)) : nullptr;
    float* dbuf = ctx.ws->thread(tid, 2, size_t(G * PQ * Ce));
    float* tail = ctx.ws->thread(tid, 1, size_t(tail_floats));
    float* plane = pad_buffer(ctx, tid, 0, Ce, Hp, Wp);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t n0 = g * G, ni = imin(G, int64_t(N) - n0);
      const float* h = x + n0 * HW * Cin;
      if (b.expand_w) {
        gemm_rows_block(Be, h, Cin, ni * HW, ebuf, Ce, nullptr, nullptr, tail);
        h = ebuf;
      }
      for (int64_t i = 0; i < ni; ++i) {
        pad_to_blocked(plane, h + i * HW * Ce, H, W, Ce, ds.pad, ds.pad, Hp, Wp, in_e);
        NextImage none;
        dw_fwd_image<K, S>(plane, Hp, Wp, wp, Cp, dbuf + i * PQ * Ce, P, Q, Ce, nullptr, none, out_d);
      }
      if (b.se_w1) {
        float* pooled = b.se_pooled + n0 * Ce;
        float* hidden = b.se_hidden + n0 * R;
        float* gate = b.se_gate + n0 * Ce;
        for (int64_t i = 0; i < ni; ++i) gap_image(pooled + i * Ce, dbuf + i * PQ * Ce, int(PQ), cle);
        gemm_rows_block(B1, pooled, Ce, ni, hidden, R, nullptr, nullptr, tail);
        se_hidden_rows(hidden, b.se_b1, ni, R);
        gemm_rows_block(B2, hidden, R, ni, gate, Ce, nullptr, nullptr, tail);
        se_gate_rows(gate, b.se_b2, ni, Ce);
        for (int64_t i = 0; i < ni; ++i) {
          float* d = dbuf + i * PQ * Ce;
          se_scale_image(d, d, gate + i * Ce, int(PQ), cle);  // in place
        }
      }
      float* y = out + n0 * PQ * Ko;
      gemm_rows_block(Bp, dbuf, Ce, ni * PQ, y, Ko, nullptr, nullptr, tail);
      const float* r = b.residual ? b.residual + n0 * PQ * Ko : nullptr;
#define GNAS_CALL(a) bn_residual_rows<a, F32Io, F32Io>(y, y, bn_p->scale, bn_p->shift, r, ni * PQ, Ko)
      GNAS_ACT_SWITCH(bn_p->act, GNAS_CALL)
#undef GNAS_CALL
    }
  }, /*ordered=*/false);
}

// Backend::mbconv_forward_eval; false outside the fast shapes (1x1 stride-1 expand and project,
// a depthwise conv of the fast kernels, shapes that chain, a squeeze-excite on the depthwise
// output), where the caller runs the unfused ops.
static bool mbconv_forward_eval(Ctx& ctx, float* out, const float* x, const Backend::MbconvEval& b) {
  const ConvShape& s = b.dw;
  const auto pointwise = [](const ConvShape& c) { return c.k == 1 && c.stride == 1 && c.pad == 0; };
  if (s.pad != s.k / 2 || s.C != s.K || !pointwise(b.project) || b.project.N != s.N || b.project.C != s.K ||
      b.project.H != s.P || b.project.W != s.Q)
    return false;
  if (b.expand_w && (!pointwise(b.expand) || b.expand.N != s.N || b.expand.K != s.C || b.expand.H != s.H ||
                     b.expand.W != s.W))
    return false;
  if (b.se_w1 && (b.se.N != s.N || b.se.HW != s.P * s.Q || b.se.C != s.K || b.se.R < 1)) return false;
  GNAS_DW_DISPATCH(mbconv_eval_ks, ctx, out, x, b)
  return false;
}

// Backend::head_forward_eval: the head's 1x1 conv, its running BN + act and the global average
// pool, a group of images at a time; the head output (7x7 x 256-1280 channels x the batch) is
// pooled while in cache instead of being written, reread by the BN and reread by the pool. The
// conv tile is the whole batch's, the BN fold bn_act_forward_eval's and the pool gap_forward's
// per-image sum: bit-identical. false for a conv other than 1x1 stride 1.
static bool head_forward_eval(Ctx& ctx, float* pooled, const float* x, const float* w, const ConvShape& s,
                              const float* gamma, const float* beta, const float* running_mean,
                              const float* running_var, float eps, int act) {
  if (s.k != 1 || s.stride != 1 || s.pad != 0) return false;
  const int N = s.N, C = s.C, K = s.K;
  const int64_t HW = int64_t(s.H) * s.W;
  const PackedB B = pack_b(ctx, 0, w, 1, C, C, K, choose_tile(int64_t(N) * HW, K));
  const int Kp = ceil_div(K, L) * L;
  float* scale = ctx.ws->shared(3, size_t(Kp));
  float* shift = ctx.ws->shared(4, size_t(Kp));
  bn_fold_running_into(scale, shift, gamma, beta, running_mean, running_var, eps, K, Kp);
  const ChanLayout cl(K);
  const int64_t G = eval_group_images(HW);
  parallel_for(*ctx.pool, ceil_div<int64_t>(N, G), 1, [&](int64_t g0, int64_t g1, int tid) {
    float* hbuf = ctx.ws->thread(tid, 0, size_t(G * HW * K));
    float* tail = ctx.ws->thread(tid, 1, size_t(B.t.MR) * C);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t n0 = g * G, ni = imin(G, int64_t(N) - n0);
      gemm_rows_block(B, x + n0 * HW * C, C, ni * HW, hbuf, K, nullptr, nullptr, tail);
#define GNAS_CALL(a) bn_apply_rows<a>(hbuf, hbuf, scale, shift, ni * HW, cl)
      GNAS_ACT_SWITCH(act, GNAS_CALL)
#undef GNAS_CALL
      for (int64_t i = 0; i < ni; ++i) gap_image(pooled + (n0 + i) * K, hbuf + i * HW * K, int(HW), cl);
    }
  }, /*ordered=*/false);
  return true;
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
