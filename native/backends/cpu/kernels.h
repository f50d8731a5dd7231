// The CPU backend's kernel table: one function pointer per op of core/backend.h, plus the context
// they run in. The table is filled three times, by isa_avx512.cpp, isa_avx2.cpp and
// isa_generic.cpp (the same kernel sources compiled for three instruction sets), and
// cpu_backend.cpp picks one table once, at construction, from what the CPU supports.
#pragma once
#include <cstdint>

#include "backends/cpu/thread_pool.h"
#include "backends/cpu/workspace.h"
#include "core/backend.h"

namespace gnas {
namespace cpu {

struct Ctx {
  ThreadPool* pool;
  Workspace* ws;
  int nthreads;  // pool->size(), cached so kernels need not call into the pool for it
  // An op whose operands add up to more than this many bytes cannot keep them in the last-level
  // cache, so it writes its large output with streaming stores (simd.h copy_streaming). The
  // last-level cache size; GNAS_CPU_STREAM_MIN_BYTES overrides it (the tests set 0 to take the
  // streaming path on small shapes).
  int64_t stream_min_bytes;
};

// Loops that add partial sums up across chunks and still hand their chunks to whichever thread
// asks next (ordered = false): chunk c (its begin / grain) adds into its own slot c, an index of a
// per-thread workspace array, and the reduction walks the slots in chunk order, so the sums depend
// on the chunking alone, not on which thread ran which chunk. (With chunk c on thread c % T, a
// thread that lost its core held up every such loop: docs/performance.md, "Chunk slots".) A loop
// has at most Workspace::kMaxThreads chunks: slot_grain() raises its grain to keep it so.
inline int64_t slot_grain(int64_t n, int64_t grain) {
  const int64_t g = (n + Workspace::kMaxThreads - 1) / Workspace::kMaxThreads;
  const int64_t r = grain > g ? grain : g;
  return r > 0 ? r : 1;  // an empty loop (n = 0) still gets a valid grain
}
// The grain that spreads n tasks over about `per_thread` chunks per thread (at most 256 chunks).
inline int64_t slot_grain_spread(int64_t n, int per_thread, int nthreads) {
  const int64_t k = int64_t(per_thread) * nthreads;
  return slot_grain(n, (n + k - 1) / k);
}
inline int slot_count(int64_t n, int64_t grain) { return int((n + grain - 1) / grain); }

struct KernelTable {
  const char* isa;  // "avx512", "avx2", "generic"
  int lanes;        // floats per vector

  void (*normalize_u8)(Ctx&, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C);
  void (*normalize_f32)(Ctx&, float* x, const float* src, const float* mean, const float* std, int64_t M, int C);

  // The fused forms of core/backend.h (conv_forward_fused ...); the plain ops pass null in_bn / mean.
  void (*conv_forward)(Ctx&, float* y, float* mean, float* invstd, float eps, const float* x, const BnAct* in_bn,
                       const float* w, const ConvShape& s);
  void (*conv_backward)(Ctx&, float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                        const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w, const ConvShape& s);
  // out_bn (null: none): y is activated through it in place, image by image (dwconv_forward_bn_act).
  void (*dwconv_forward)(Ctx&, float* y, float* mean, float* invstd, float eps, const float* x, const BnAct* in_bn,
                         const float* w, const ConvShape& s, const BnAct* out_bn);
  void (*dwconv_backward)(Ctx&, float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                          const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                          const ConvShape& s);

  // Backend::mbconv_forward_eval; false for a block outside the fast shapes (the caller falls back).
  bool (*mbconv_forward_eval)(Ctx&, float* out, const float* x, const Backend::MbconvEval& b);
  // Backend::head_forward_eval; false for a head outside the fast shapes (the caller falls back).
  bool (*head_forward_eval)(Ctx&, float* pooled, const float* x, const float* w, const ConvShape& s,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, int act);

  void (*bn_act_forward_train)(Ctx&, float* y, float* mean, float* invstd, const float* x, const float* gamma,
                               const float* beta, float eps, int act, int64_t M, int C);
  void (*bn_act_forward_eval)(Ctx&, float* y, const float* x, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, float eps, int act, int64_t M,
                              int C);
  void (*bn_act_apply)(Ctx&, float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                       const float* beta, int act, int64_t M, int C);
  void (*bn_act_residual_apply)(Ctx&, float* y, const float* x, const float* mean, const float* invstd,
                                const float* gamma, const float* beta, int act, const float* residual, int64_t M,
                                int C);
  void (*bn_act_backward)(Ctx&, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* mean, const float* invstd, const float* gamma, const float* beta, int act,
                          int64_t M, int C);

  void (*se_forward)(Ctx&, float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                     const float* b1, const float* w2, const float* b2, const SEShape& s);
  void (*se_scale)(Ctx&, float* y, const float* x, const float* gate, const SEShape& s);
  void (*se_backward)(Ctx&, float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                      const float* x, const float* pooled, const float* hidden, const float* gate, const float* w1,
                      const float* w2, const SEShape& s);

  void (*add_inplace)(Ctx&, float* y, const float* x, int64_t n);
  void (*gap_forward)(Ctx&, float* y, const float* x, int N, int HW, int C);
  void (*gap_backward)(Ctx&, float* dx, const float* dy, int N, int HW, int C);
  void (*fc_forward)(Ctx&, float* y, const float* x, const float* w, const float* b, int N, int C, int K);
  void (*fc_backward)(Ctx&, float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N,
                      int C, int K);
  void (*softmax_xent)(Ctx&, float* loss, uint8_t* correct, float* dlogits, const float* logits,
                       const int32_t* labels, float smoothing, int N, int K);
  void (*sgd_update)(Ctx&, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                     float weight_decay, bool nesterov, float* nonfinite);
};

// Defined in the ISA files. Call kernels_avx512() / kernels_avx2() only on a CPU that has them.
const KernelTable* kernels_avx512();
const KernelTable* kernels_avx2();
const KernelTable* kernels_generic();

// Backend::conv_forward_fused_bf16 for 1x1 stride-1 convs with AVX512-BF16 dot products
// (conv_bf16_avx512bf16.cpp). Call only on a CPU with avx512bf16 and the AVX-512 table.
void conv1x1_forward_bf16(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                          const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io);
// Backend::dwconv_forward_fused_bf16 (bfloat16 products by vdpbf16ps, float sums, bfloat16 storage
// per io) for the shapes of the fast depthwise kernels; false for any other (the caller falls
// back). Same conditions.
bool dwconv_forward_bf16(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                         const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io);
// Backend::bn_act_residual_apply with bfloat16 storage (io.in: the residual, io.out: y and x).
void bn_act_residual_bf16(Ctx& ctx, float* y, const float* x, const float* mean, const float* invstd,
                          const float* gamma, const float* beta, int act, const float* residual, int64_t M, int C,
                          Bf16Io io);

}  // namespace cpu
}  // namespace gnas
