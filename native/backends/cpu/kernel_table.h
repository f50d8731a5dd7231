// Builds the kernel table of one instruction set: included once by each of kernels_avx512.cpp,
// kernels_avx2.cpp and kernels_generic.cpp after it has chosen the ISA (see simd.h). Every op
// header below is compiled in that ISA's namespace.
#pragma once
#include <stdexcept>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"
// ops, one per file (the same names as the reference backend's ops)
#include "backends/cpu/gemm.h"
#include "backends/cpu/batchnorm.h"
#include "backends/cpu/conv_dense.h"
#include "backends/cpu/depthwise.h"
#include "backends/cpu/depthwise_backward.h"
#include "backends/cpu/conv_stem.h"
#include "backends/cpu/pooling.h"
#include "backends/cpu/squeeze_excite.h"
#include "backends/cpu/eval_chains.h"  // chains gemm, depthwise, batchnorm, pooling, squeeze-excite
#include "backends/cpu/fully_connected.h"
#include "backends/cpu/softmax_xent.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/normalize.h"

#define GNAS_STR2(x) #x
#define GNAS_STR(x) GNAS_STR2(x)

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// Constant-initialised (no code runs at load time, so the table of an ISA the CPU lacks is inert).
static const KernelTable kTable = {
    GNAS_STR(GNAS_ISA),
    L,
    &normalize_u8,
    &normalize_f32,
    &conv_forward,
    &conv_backward,
    &dwconv_forward,
    &dwconv_backward,
    &mbconv_forward_eval,
    &head_forward_eval,
    &bn_act_forward_train,
    &bn_act_forward_eval,
    &bn_act_apply,
    &bn_act_residual_apply,
    &bn_act_backward,
    &se_forward,
    &se_scale,
    &se_backward,
    &add_inplace,
    &gap_forward,
    &gap_backward,
    &fc_forward,
    &fc_backward,
    &softmax_xent,
    &sgd_update,
};

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
