// When the supernet gives its scratch memory back. Activation buffers and the backend's
// workspace grow to the largest batch seen and are kept, so a training loop allocates nothing
// after its first step; but one oversized call (a batch of 4,000 scored once) would otherwise pin
// gigabytes for the life of the supernet. The rule: after a call, if the buffers were last grown
// for more than twice the largest batch of the recent calls, they are freed and regrow to the
// sizes now in use. Steady loops (train at 64, score at 250) never trigger it.
#pragma once
#include <algorithm>
#include <array>

namespace gnas {

class WorkspacePolicy {
 public:
  static constexpr int kWindow = 16;  // calls that must stay small before memory is given back

  // Records a call on a batch of n images; true when the buffers should be trimmed now.
  bool after_call(int n) {
    recent_[size_t(next_++ % kWindow)] = n;
    sized_for_ = std::max(sized_for_, n);
    if (next_ < kWindow) return false;
    const int in_use = *std::max_element(recent_.begin(), recent_.end());
    if (sized_for_ <= 2 * in_use) return false;
    sized_for_ = 0;  // the next calls regrow the buffers to what they need
    return true;
  }
  // The buffers were freed for another reason (an out-of-memory error).
  void trimmed() { sized_for_ = 0; }

 private:
  std::array<int, kWindow> recent_{};
  long next_ = 0;
  int sized_for_ = 0;
};

}  // namespace gnas
