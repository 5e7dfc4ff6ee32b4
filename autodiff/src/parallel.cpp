// The worker pool behind run_parts (parallel.hpp says what and why).
#include "parallel.hpp"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xtgrad::detail {

namespace {

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
    bool try_run(std::size_t parts, void (*body)(void*, std::size_t), void* context) {
        std::unique_lock busy(busy_, std::try_to_lock);
        if (!busy) return false;
        {
            std::lock_guard lock(mutex_);
            while (workers_.size() + 1 < parts)  // worker k takes part k
                workers_.emplace_back([this, id = workers_.size() + 1, seen = generation_] { work(id, seen); });
            body_ = body;
            context_ = context;
            parts_ = parts;
            pending_ = parts - 1;
            error_ = nullptr;
            ++generation_;
        }
        start_.notify_all();
        std::exception_ptr error;
        try {
            body(context, 0);
        } catch (...) {
            error = std::current_exception();
        }
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return pending_ == 0; });
        if (!error) error = error_;
        lock.unlock();
        if (error) std::rethrow_exception(error);
        return true;
    }

private:
    Pool() = default;

    void work(std::size_t id, std::uint64_t seen) {
        std::unique_lock lock(mutex_);
        for (;;) {
            start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            if (id >= parts_) continue;  // this loop has fewer parts than there are workers
            lock.unlock();
            std::exception_ptr error;
            try {
                body_(context_, id);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            if (error && !error_) error_ = error;
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::mutex busy_;   // held by the loop being run
    std::mutex mutex_;  // guards everything below
    std::condition_variable start_, done_;
    std::vector<std::thread> workers_;
    std::uint64_t generation_ = 0;  // one more per loop: a worker runs each generation once
    void (*body_)(void*, std::size_t) = nullptr;
    void* context_ = nullptr;
    std::size_t parts_ = 0, pending_ = 0;
    std::exception_ptr error_;
    bool stopping_ = false;
};

}  // namespace

void run_parts(std::size_t parts, void (*body)(void*, std::size_t), void* context) {
    if (parts > 1 && Pool::instance().try_run(parts, body, context)) return;
    for (std::size_t part = 0; part < parts; ++part) body(context, part);
}

}  // namespace xtgrad::detail
