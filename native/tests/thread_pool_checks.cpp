// The CPU backend's thread pool (backends/cpu/thread_pool.h): every task of a loop runs exactly
// once in both hand-outs; an ordered loop runs chunk c on thread c % T (what makes per-thread
// partial sums reproducible); an exception thrown by a task reaches the caller in both. With one
// worker slowed (GNAS_CPU_SLOW_WORKER_US) the unordered hand-out gives the others its share, and
// sums kept per chunk (kernels.h, slot_grain) still come out bit for bit as added in order.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "harness.h"

namespace gnas {
namespace test {

void run_thread_pool_checks(Harness& h) {
  const std::string title = "thread pool hand-out";
  if (!h.selected(title)) return;
  cpu::ThreadPool pool(3);
  const int64_t n = 1000, grain = 7;
  for (bool ordered : {true, false}) {
    const std::string mode = ordered ? "ordered" : "unordered";
    double wrong_count = 0, wrong_thread = 0;
    std::atomic<int> bad_chunk{0};
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> runs(n);
      std::vector<int> tid_of(n, -1);
      cpu::parallel_for(
          pool, n, grain,
          [&](int64_t b, int64_t e, int tid) {
            if (b % grain != 0 || e - b > grain || e > n) bad_chunk += 1;
            for (int64_t i = b; i < e; ++i) {
              runs[size_t(i)].fetch_add(1);
              tid_of[size_t(i)] = tid;  // each index is written by the one thread that runs it
            }
          },
          ordered);
      for (int64_t i = 0; i < n; ++i) {
        wrong_count += runs[size_t(i)].load() != 1;
        if (ordered) wrong_thread += tid_of[size_t(i)] != int((i / grain) % pool.size());
      }
    }
    h.check(title, mode + " once", wrong_count + bad_chunk.load(), 0);
    if (ordered) h.check(title, "chunk c on c%T", wrong_thread, 0);
    std::string caught;
    try {
      cpu::parallel_for(
          pool, n, 1,
          [&](int64_t b, int64_t, int) {
            if (b == 500) throw std::runtime_error("task 500 failed");
          },
          ordered);
    } catch (const std::exception& e) {
      caught = e.what();
    }
    h.check(title, mode + " throws", caught == "task 500 failed" ? 0 : 1, 0);
  }
  // a slowed worker: per-chunk sums against the serial sum, and the hand-out it changed
  setenv("GNAS_CPU_SLOW_WORKER_US", "200", 1);
  cpu::ThreadPool slowed(3);
  unsetenv("GNAS_CPU_SLOW_WORKER_US");
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = 1.0f / float(i + 3) + (i % 7 == 0 ? 1e4f : 0.0f);
  float serial = 0.0f;
  for (int64_t b = 0; b < n; b += grain) {
    float part = 0.0f;
    for (int64_t i = b; i < b + grain && i < n; ++i) part += v[size_t(i)];
    serial += part;
  }
  const int nchunks = int((n + grain - 1) / grain);
  std::vector<float> slot(static_cast<size_t>(nchunks));
  std::vector<int> tid_of(static_cast<size_t>(nchunks));
  double differ = 0, moved = 0;
  for (int rep = 0; rep < 5; ++rep) {
    cpu::parallel_for(slowed, n, grain, [&](int64_t b, int64_t e, int tid) {
      float part = 0.0f;
      for (int64_t i = b; i < e; ++i) part += v[size_t(i)];
      slot[size_t(b / grain)] = part;
      tid_of[size_t(b / grain)] = tid;
    });
    float sum = 0.0f;
    for (int c = 0; c < nchunks; ++c) sum += slot[size_t(c)];
    differ += sum != serial;
    for (int c = 0; c < nchunks; ++c) moved += tid_of[size_t(c)] != c % slowed.size();
  }
  h.check(title, "slow worker: per-chunk sums", differ, 0);
  // the knob works: chunks left the slow worker (1 of its ~48 share per loop, at most, kept)
  h.check(title, "slow worker: hand-out moved", moved > 0 ? 0 : 1, 0);
}

}  // namespace test
}  // namespace gnas
