// The call arena (supernet/tensor_store.h, CallArena and the BackendBuffers it backs), on the CPU
// backend: buffers of one call never overlap; a buffer that grows within a call gives its own
// block back; the next call is one block of the largest call's size, from which each buffer takes
// its largest size at once; a buffer from an earlier call cannot be read; reset() gives the memory
// back. The supernet checks (lockstep, determinism) run whole networks on the arena.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "backends/registry.h"
#include "supernet/tensor_store.h"
#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
namespace {

// How far the arena's memory is from `floats` floats, in bytes (0: exactly that).
double held_off(const CallArena& arena, int64_t floats) {
  return std::fabs(double(arena.capacity_bytes() - floats * int64_t(sizeof(float))));
}

// Fills each buffer with its own value, then counts the floats that do not hold it (an overlap
// makes the later fill overwrite the earlier one).
double clobbered(std::initializer_list<std::pair<BackendBuffer*, int64_t>> bufs) {
  float tag = 1.0f;
  for (const auto& [b, n] : bufs) {
    for (int64_t i = 0; i < n; ++i) b->data()[i] = tag;
    tag += 1.0f;
  }
  tag = 1.0f;
  double bad = 0;
  for (const auto& [b, n] : bufs) {
    for (int64_t i = 0; i < n; ++i) bad += b->data()[i] != tag;
    tag += 1.0f;
  }
  return bad;
}

bool stale_read_throws(const BackendBuffer& b) {
  try {
    (void)b.data();
  } catch (const std::logic_error&) {
    return true;
  }
  return false;
}

}  // namespace

void call_arena_checks(Harness& h) {
  const std::string t = "call arena";
  auto be = make_backend("cpu", 1);
  CallArena arena(*be);
  BackendBuffer a(*be, &arena), b(*be, &arena), c(*be, &arena);
  // sizes in floats, whole cache lines (16 floats) as ensure() rounds them
  const int64_t A1 = 1008, B1 = 512, A2 = 3008, C1 = 2000;

  // call 1: nothing held yet, so every buffer spills into a block of its own; a grows
  arena.begin_call();
  a.ensure(A1);
  b.ensure(B1);
  a.ensure(A2);
  h.check(t, "call 1 no overlap", clobbered({{&a, A2}, {&b, B1}}), 0);
  // a's first block was the arena's first one: grown past it, a took a block of its own
  h.check(t, "call 1 held", held_off(arena, A1 + B1 + A2), 0);

  // call 2: one block of call 1's size (a counted once, at its final size); a takes that size at
  // its first, smaller request, so growing it again in the call takes nothing new
  arena.begin_call();
  h.check(t, "earlier buffer unreadable", stale_read_throws(a) ? 0 : 1, 0);
  h.check(t, "call 2 one block", held_off(arena, A2 + B1), 0);
  float* pa = a.ensure(100);
  b.ensure(B1);
  h.check(t, "size hint taken at once", a.ensure(A2) == pa ? 0 : 1, 0);
  h.check(t, "call 2 no overlap", clobbered({{&a, A2}, {&b, B1}}), 0);
  h.check(t, "call 2 nothing more", held_off(arena, A2 + B1), 0);

  // call 3: larger than the block: b fits it, a spills, the new c fills the block's rest; a grows
  // again, and gives its spilled block back instead of leaving it unused
  arena.begin_call();
  b.ensure(B1);
  a.ensure(A2 + 16);
  c.ensure(C1);
  a.ensure(2 * A2);
  h.check(t, "call 3 no overlap", clobbered({{&a, 2 * A2}, {&b, B1}, {&c, C1}}), 0);
  h.check(t, "call 3 grown block given back", held_off(arena, (A2 + B1) + 2 * A2), 0);

  // call 4: one block again, of call 3's size
  arena.begin_call();
  a.ensure(1);
  b.ensure(1);
  c.ensure(1);
  h.check(t, "call 4 one block", held_off(arena, 2 * A2 + B1 + C1), 0);
  h.check(t, "call 4 no overlap", clobbered({{&a, 2 * A2}, {&b, B1}, {&c, C1}}), 0);

  // reset: the memory goes back and every buffer is stale until sized again
  arena.reset();
  a.reset();
  h.check(t, "reset gives memory back", held_off(arena, 0), 0);
  h.check(t, "reset makes buffers stale", stale_read_throws(b) ? 0 : 1, 0);
  arena.begin_call();
  a.ensure(10);
  h.check(t, "after reset, sized afresh", held_off(arena, 16), 0);
}

}  // namespace test
}  // namespace gnas
