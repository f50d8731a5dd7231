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
//
// One header per op, with the file stems of the other backends (cpu/, cuda/); this header includes
// them all.
#pragma once
#include "backends/reference/activation.h"
#include "backends/reference/batchnorm.h"
#include "backends/reference/conv_dense.h"
#include "backends/reference/depthwise.h"
#include "backends/reference/elementwise.h"
#include "backends/reference/fully_connected.h"
#include "backends/reference/normalize.h"
#include "backends/reference/pooling.h"
#include "backends/reference/softmax_xent.h"
#include "backends/reference/squeeze_excite.h"
