// The worker pool behind run_parts (parallel.hpp says what and why).
#include "parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xtgrad::detail {

namespace {

using Body = void (*)(void*, std::size_t, std::size_t);

class Pool {
public:
    static Pool& instance() {
        static Pool pool;
        return pool;
    }

    ~Pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        start_.notify_all();
        for (auto& worker : workers_) worker.join();
    }

    /// Runs the loop on the pool; false (nothing run) when another loop holds it.
    bool try_run(std::size_t parts, std::size_t threads, Body body, void* context) {
        std::unique_lock busy(busy_, std::try_to_lock);
        if (!busy) return false;
        {
            std::lock_guard lock(mutex_);
            while (workers_.size() + 1 < threads)  // (only the first loops with more threads)
                workers_.emplace_back([this, id = workers_.size() + 1, seen = generation_] { work(id, seen); });
            body_ = body;
            context_ = context;
            parts_ = parts;
            next_ = 0;
            threads_ = threads;
            done_.store(0, std::memory_order_relaxed);
            error_ = nullptr;
            ++generation_;
        }
        start_.notify_all();
        std::unique_lock lock(mutex_);
        run_taken(lock, 0);
        lock.unlock();
        // Parts a worker is running: the caller's core has nothing else to do meanwhile.
        for (unsigned spins = 0; done_.load(std::memory_order_acquire) != parts; ++spins)
            if (spins > 64) std::this_thread::yield();
        lock.lock();
        std::exception_ptr error = error_;
        lock.unlock();
        if (error) std::rethrow_exception(error);
        return true;
    }

private:
    Pool() = default;

    /// Takes parts of the current loop, one at a time, until none is left; `lock` holds
    /// mutex_ on entry and on return.
    void run_taken(std::unique_lock<std::mutex>& lock, std::size_t thread) {
        while (next_ < parts_) {
            const std::size_t part = next_++;
            Body body = body_;
            void* context = context_;
            lock.unlock();
            std::exception_ptr error;
            try {
                body(context, part, thread);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            if (error && !error_) error_ = error;
            done_.fetch_add(1, std::memory_order_release);
        }
    }

    void work(std::size_t id, std::uint64_t seen) {
        std::unique_lock lock(mutex_);
        for (;;) {
            start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            if (id < threads_) run_taken(lock, id);  // (a loop may use fewer threads than exist)
        }
    }

    std::mutex busy_;   // held by the loop being run
    std::mutex mutex_;  // guards everything below but done_
    std::condition_variable start_;
    std::vector<std::thread> workers_;
    std::uint64_t generation_ = 0;  // one more per loop: a worker wakes for each once
    Body body_ = nullptr;
    void* context_ = nullptr;
    std::size_t parts_ = 0, next_ = 0, threads_ = 0;
    std::atomic<std::size_t> done_{0};  // parts finished (written under mutex_, read by the spinning caller)
    std::exception_ptr error_;
    bool stopping_ = false;
};

}  // namespace

void run_parts(std::size_t parts, std::size_t threads, Body body, void* context) {
    if (threads > 1 && parts > 1 && Pool::instance().try_run(parts, threads, body, context)) return;
    for (std::size_t part = 0; part < parts; ++part) body(context, part, 0);
}

}  // namespace xtgrad::detail
