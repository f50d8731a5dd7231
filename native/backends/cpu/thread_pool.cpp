// See thread_pool.h.
#include "backends/cpu/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <chrono>
#include <cstdlib>

namespace gnas {
namespace cpu {

namespace {
// Set while a thread runs a task, so that a nested run() executes inline instead of deadlocking.
thread_local bool t_in_task = false;
// How long a worker polls for the next loop before it sleeps. Loops of one training step follow
// each other within microseconds; a sleeping worker takes tens of microseconds to wake.
constexpr int kSpinIterations = 20000;
}  // namespace

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? int(h) : 1;
}

ThreadPool::ThreadPool(int threads) { start(threads); }
ThreadPool::~ThreadPool() { stop(); }
int ThreadPool::size() const { return nthreads_; }

void ThreadPool::resize(int threads) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  stop();
  start(threads);
}

void ThreadPool::start(int threads) {
  nthreads_ = threads > 0 ? threads : available_cpus();
  if (nthreads_ > 256) nthreads_ = 256;
  // A test knob: worker 1 sleeps this long before each chunk it takes, as a thread that keeps
  // losing its core would, so that the tests can check that no result depends on which thread ran
  // which chunk (native/tests: thread pool hand-out, determinism).
  const char* slow = std::getenv("GNAS_CPU_SLOW_WORKER_US");
  slow_worker_us_ = slow ? std::atoi(slow) : 0;
  quit_.store(false);
  workers_.reserve(size_t(nthreads_ - 1));
  // a worker starts from the epoch of its creation, so a loop posted before the thread first runs
  // is not missed
  const uint64_t e0 = epoch_.load();
  for (int t = 1; t < nthreads_; ++t) workers_.emplace_back([this, t, e0] { worker_main(t, e0); });
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    quit_.store(true);
    epoch_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

void ThreadPool::work(int tid) {
  t_in_task = true;
  // Dynamic hand-out (ordered = false, the default): chunks first come, first served, so a thread
  // that lost its core does not hold up the loop; a loop that adds partial sums up across chunks
  // keeps them per chunk (kernels.h, slot_grain), so its result does not depend on the hand-out.
  // Static round-robin hand-out (ordered = true): chunk c runs on thread c % T, in increasing c,
  // for loops that keep per-thread partials (the 1x1 and im2col convs' backward): they hold the same
  // numbers added in the same order on every run. Either way results are bit-reproducible for a
  // given thread count: a resumed run equals an uninterrupted one.
  const int64_t chunks = (n_ + grain_ - 1) / grain_;
  for (int64_t c = ordered_ ? tid : next_chunk_.fetch_add(1, std::memory_order_relaxed); c < chunks;
       c = ordered_ ? c + nthreads_ : next_chunk_.fetch_add(1, std::memory_order_relaxed)) {
    if (failed_.load(std::memory_order_relaxed)) break;
    if (slow_worker_us_ > 0 && tid == 1) std::this_thread::sleep_for(std::chrono::microseconds(slow_worker_us_));
    const int64_t b = c * grain_;
    const int64_t e = b + grain_ < n_ ? b + grain_ : n_;
    try {
      fn_(ctx_, b, e, tid);
    } catch (...) {
      if (!failed_.exchange(true)) error_ = std::current_exception();
      break;
    }
  }
  t_in_task = false;
}

void ThreadPool::worker_main(int tid, uint64_t seen) {
  for (;;) {
    // wait for a new loop: spin first, then sleep
    uint64_t e = epoch_.load(std::memory_order_acquire);
    for (int i = 0; e == seen && i < kSpinIterations; ++i) {
      _mm_pause();
      e = epoch_.load(std::memory_order_acquire);
    }
    if (e == seen) {
      std::unique_lock<std::mutex> lock(sleep_mutex_);
      wake_.wait(lock, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
      e = epoch_.load(std::memory_order_acquire);
    }
    seen = e;
    if (quit_.load()) return;
    work(tid);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n, int64_t grain, TaskFn fn, void* ctx, bool ordered) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (nthreads_ == 1 || n <= grain || t_in_task) {
    // one chunk or one thread: no hand-off (the flag is restored even if fn throws)
    struct Restore {
      bool prev;
      ~Restore() { t_in_task = prev; }
    } restore{t_in_task};
    t_in_task = true;
    for (int64_t b = 0; b < n; b += grain) fn(ctx, b, b + grain < n ? b + grain : n, 0);
    return;
  }
  std::lock_guard<std::mutex> lock(run_mutex_);
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  grain_ = grain;
  ordered_ = ordered;
  next_chunk_.store(0, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  pending_.store(nthreads_ - 1, std::memory_order_relaxed);
  {
    // the mutex orders the epoch bump against a worker that is about to sleep
    std::lock_guard<std::mutex> sl(sleep_mutex_);
    epoch_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work(0);
  // wait for the workers; yield if one of them was descheduled (more threads than free cores)
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
    if (i < kSpinIterations) _mm_pause(); else std::this_thread::yield();
  }
  if (failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
}

}  // namespace cpu
}  // namespace gnas
