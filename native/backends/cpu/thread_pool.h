// The CPU backend's own persistent worker pool: T - 1 worker threads plus the calling thread run
// one parallel loop at a time, handing out chunks of a task range [0, n) to whichever thread is
// free, or, for loops that keep per-thread partial sums, statically (chunk c to thread c % T, so
// that their reductions are reproducible: see work()). Workers spin briefly after each loop,
// because a training step issues hundreds of short loops back to back, and then sleep on a
// condition variable, so an idle pool costs nothing.
//
// The pool is compiled for plain x86-64 (it is shared by the ISA-specific kernel files), and its
// entry point takes a plain function pointer: parallel_for() below is the typed front end.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace gnas {
namespace cpu {

// Number of CPUs this process may run on (sched_getaffinity), at least 1.
int available_cpus();

class ThreadPool {
 public:
  using TaskFn = void (*)(void* ctx, int64_t begin, int64_t end, int tid);

  explicit ThreadPool(int threads);  // 0 = available_cpus()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  void resize(int threads);  // 0 = available_cpus(); joins and restarts the workers

  // Calls fn(ctx, b, e, tid) for consecutive chunks [b, e) of [0, n) of at most `grain` tasks,
  // tid in [0, size()), until the range is exhausted; returns when every chunk is done. A thread
  // id is never active in two chunks at once, so per-tid scratch needs no locking. Calls from
  // different threads are serialised; a call from inside a task runs inline on that thread. An
  // exception thrown by a task (std::bad_alloc from scratch growth) stops the hand-out of further
  // chunks and is rethrown here, on the calling thread, once every worker is out of the loop.
  // ordered = false (the default): chunks go to whichever thread asks next (an atomic counter),
  // for loops whose result does not depend on which thread ran a chunk (no per-thread partial
  // sums; per-chunk ones are fine: kernels.h, slot_grain): on a machine shared with other work, a
  // thread that loses its core no longer holds up the whole loop. ordered = true: chunk c on thread
  // c % T, for loops with per-thread partial sums.
  void run(int64_t n, int64_t grain, TaskFn fn, void* ctx, bool ordered = false);

 private:
  void start(int threads);
  void stop();
  void worker_main(int tid, uint64_t seen);
  void work(int tid);

  int nthreads_ = 1;
  int slow_worker_us_ = 0;  // GNAS_CPU_SLOW_WORKER_US (tests only): see start()
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one loop at a time

  // the current loop
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  bool ordered_ = true;
  alignas(64) std::atomic<int64_t> next_chunk_{0};  // the next chunk of an unordered loop
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // first exception of the current loop (guarded by failed_)
  alignas(64) std::atomic<int> pending_{0};     // workers still inside the current loop
  alignas(64) std::atomic<uint64_t> epoch_{0};  // bumped once per loop; workers wait for a change
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> quit_{false};
};

// Typed front end: f(begin, end, tid) over chunks of [0, n), each on whichever thread asks next;
// with ordered = true (a loop with per-thread partial sums), chunk c on thread c % T.
template <class F>
void parallel_for(ThreadPool& pool, int64_t n, int64_t grain, F&& f, bool ordered = false) {
  if (n <= 0) return;
  using Fn = typename std::remove_reference<F>::type;
  pool.run(n, grain < 1 ? 1 : grain,
           [](void* c, int64_t b, int64_t e, int tid) { (*static_cast<Fn*>(c))(b, e, tid); },
           const_cast<void*>(static_cast<const void*>(&f)), ordered);
}


}  // namespace cpu
}  // namespace gnas
