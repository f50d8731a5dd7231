// Consistency checks of a search-space description (supernet/space_desc.h).
#include <stdexcept>
#include <string>

#include "supernet/space_desc.h"

namespace gnas {

void SpaceDesc::validate() const {
  auto fail = [](const std::string& m) { throw std::invalid_argument("space: " + m); };
  if (height <= 0 || width <= 0 || channels <= 0) fail("input size must be positive");
  if (classes < 2) fail("at least 2 classes");
  if (int(mean.size()) != channels || int(std.size()) != channels) fail("normalization needs one mean/std per channel");
  if (stem.cin != channels || stem.cout <= 0) fail("stem widths do not fit the input");
  if (layers.empty()) fail("the space has no searchable layers");
  int c = stem.cout, h = stem.out_height, w = stem.out_width;
  auto check_layer = [&](const LayerDesc& l, const std::string& where, bool fixed) {
    if (l.cin != c) fail(where + ": cin " + std::to_string(l.cin) + " != previous width " + std::to_string(c));
    if (l.height != h || l.width != w) fail(where + ": input size does not follow the previous layer");
    if (l.stride != 1 && l.stride != 2) fail(where + ": stride must be 1 or 2");
    if (l.ops.empty()) fail(where + ": no ops");
    if (fixed && l.ops.size() != 1) fail(where + ": a fixed block has exactly one op");
    for (const OpDesc& op : l.ops) {
      if (op.kind == OpKind::MBConv) {
        if (op.kernel != 3 && op.kernel != 5 && op.kernel != 7) fail(where + ": kernel must be 3, 5 or 7");
        if (op.expansion < 1 || op.mid != l.cin * op.expansion) fail(where + ": mid must be cin * expansion");
        if (op.se && op.se_width < 1) fail(where + ": SE width must be >= 1");
      } else if (op.kind == OpKind::Skip) {
        if (l.stride != 1 || l.cin != l.cout) fail(where + ": a skip needs stride 1 and cin == cout");
      }
    }
    c = l.cout;
    h = l.out_height;
    w = l.out_width;
  };
  for (size_t i = 0; i < fixed.size(); i++) check_layer(fixed[i], "fixed block " + std::to_string(i), true);
  size_t nops = layers[0].ops.size();
  for (size_t i = 0; i < layers.size(); i++) {
    if (layers[i].ops.size() != nops) fail("every searchable layer needs the same number of ops");
    check_layer(layers[i], "layer " + std::to_string(i), false);
  }
  if (head_cin != c || head_height != h || head_width != w) fail("head does not fit the last layer");
  if (head_cout <= 0) fail("head width must be positive");
}

}  // namespace gnas
