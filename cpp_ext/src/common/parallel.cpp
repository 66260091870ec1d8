#include "mmedge/common/parallel.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MMEDGE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MMEDGE_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define MMEDGE_CPU_RELAX() ((void)0)
#endif

namespace mmedge::parallel {
namespace {

constexpr int kMaxThreads = 64;
// Polls a worker makes for new work before it sleeps (~50 us): back-to-back kernel calls find
// the workers awake, a pipeline idling between frames does not burn a core.
constexpr int kSpinPolls = 2000;

// One parallel_for call. Workers that arrive late hold a reference to the job they saw, so
// a finished job's counters are never confused with the next one's.
struct Job {
  const std::function<void(int64_t, int64_t)>* body = nullptr;
  int64_t n = 0;
  int64_t chunk = 1;
  int64_t num_chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  void run_chunks() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= num_chunks) return;
      const int64_t begin = c * chunk;
      const int64_t end = std::min(n, begin + chunk);
      try {
        (*body)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }
};

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads), pid_(getpid()) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int threads() const { return threads_; }
  pid_t pid() const { return pid_; }

  // Runs the job on the pool; false when another call holds the pool.
  bool try_run(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& body) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    auto job = std::make_shared<Job>();
    job->body = &body;
    job->n = n;
    job->chunk = chunk;
    job->num_chunks = (n + chunk - 1) / chunk;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    job->run_chunks();
    for (int polls = 0; job->done.load(std::memory_order_acquire) < job->num_chunks; ++polls) {
      if (polls < kSpinPolls) {
        MMEDGE_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
    return true;
  }

 private:
  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      for (int polls = 0; polls < kSpinPolls; ++polls) {
        if (generation_.load(std::memory_order_acquire) != seen) break;
        MMEDGE_CPU_RELAX();
      }
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        if (stop_) return;
        seen = generation_.load();
        job = job_;
      }
      if (job) job->run_chunks();
    }
  }

  const int threads_;
  const pid_t pid_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // held by the one call using the pool
  std::mutex mutex_;      // guards job_, stop_ and sleeping
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Job> job_;
  bool stop_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("MMEDGE_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return std::min(n, kMaxThreads);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(hw == 0 ? 1u : hw, 1u, 4u));
}

std::mutex g_pool_mutex;
int g_requested = 0;  // 0 = default
// Never destroyed: the process may exit while workers sleep, and a child of fork() inherits a
// pool whose threads do not exist in it (joining them would crash).
auto* const g_pool = new std::shared_ptr<Pool>();

// The current pool. Callers keep their reference for the whole call, so set_num_threads() can
// replace the pool while another thread still runs on the old one; the old one is joined when
// its last user lets go. In a child of fork() the inherited pool is leaked and replaced.
std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  const int want = g_requested > 0 ? g_requested : default_threads();
  if (*g_pool && (*g_pool)->pid() != getpid()) {
    new std::shared_ptr<Pool>(std::move(*g_pool));  // deliberate leak, see above
  }
  if (!*g_pool || (*g_pool)->threads() != want) *g_pool = std::make_shared<Pool>(want);
  return *g_pool;
}

}  // namespace

int num_threads() { return pool()->threads(); }

void set_num_threads(int n) {
  {
    std::lock_guard<std::mutex> lock(g_pool_mutex);
    g_requested = n <= 0 ? 0 : std::min(n, kMaxThreads);
  }
  pool();
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  if (max_chunks <= 1) {
    body(0, n);
    return;
  }
  const std::shared_ptr<Pool> p = pool();
  if (p->threads() <= 1) {
    body(0, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(max_chunks, p->threads());
  const int64_t chunk = (n + chunks - 1) / chunks;
  if (!p->try_run(n, chunk, body)) body(0, n);
}

}  // namespace mmedge::parallel
