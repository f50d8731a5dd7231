// The resolved search space as the native engine sees it: plain data copied from the
// TypeScript ResolvedSpace (src/space/types.ts) by the binding. TypeScript derives every size
// (src/space/resolve.ts); the engine only checks that the pieces fit together.
#pragma once
#include <string>
#include <vector>

#include "core/backend.h"

namespace gnas {

enum class OpKind : int { MBConv = 0, Skip = 1, Conv1x1 = 2 };

struct OpDesc {
  OpKind kind = OpKind::MBConv;
  int kernel = 3;
  int expansion = 1;  // 1 means no expand conv (MobileNetV2's t = 1 block)
  bool se = false;
  int mid = 0;        // expanded channels (cin * expansion)
  int se_width = 0;   // squeeze-excite hidden width
  std::string name;
};

struct LayerDesc {
  int cin = 0, cout = 0, stride = 1;
  int height = 0, width = 0;         // input spatial size
  int out_height = 0, out_width = 0;
  std::vector<OpDesc> ops;
};

struct StemDesc {
  int cin = 0, cout = 0, kernel = 3, stride = 1;
  int height = 0, width = 0, out_height = 0, out_width = 0;
};

struct SpaceDesc {
  std::string name;
  int height = 0, width = 0, channels = 0, classes = 0;
  Act act = Act::ReLU6;
  float bn_eps = 1e-5f, bn_momentum = 0.1f;
  std::vector<float> mean, std;
  StemDesc stem;
  std::vector<LayerDesc> fixed;   // each with exactly one op
  std::vector<LayerDesc> layers;  // searchable
  int head_cin = 0, head_cout = 0, head_height = 0, head_width = 0;

  // Throws std::invalid_argument when the pieces do not fit (widths, sizes, op kinds).
  void validate() const;
};

}  // namespace gnas
