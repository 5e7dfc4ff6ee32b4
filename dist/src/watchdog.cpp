// The watchdog thread and the state it reads. One waiting call at a time per process (the
// collectives are called from one thread: MPI_THREAD_FUNNELED), so the state is a handful of
// atomics; the thread starts with the first watched call and sleeps between checks.
#include "watchdog.hpp"

#include <mpi.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

namespace xtgrad::dist::detail {

namespace {

using Clock = std::chrono::steady_clock;

struct State {
    std::atomic<double> timeout_seconds{300.0};
    std::atomic<const char*> collective{nullptr};  // the call waiting now, or none
    std::atomic<Clock::rep> since{0};              // when it began
    std::atomic<std::time_t> since_wall{0};        // the same, for the message
    std::atomic<int> rank{0}, size{1};
    std::once_flag started;
};

State& state() {
    static State s;
    return s;
}

[[noreturn]] void expire(const char* collective, double waited, double timeout) {
    State& s = state();
    char when[32] = "?";
    std::time_t wall = s.since_wall.load();
    if (std::tm tm{}; localtime_r(&wall, &tm) != nullptr) std::strftime(when, sizeof when, "%H:%M:%S", &tm);
    std::fprintf(stderr,
                 "xtgrad::dist: rank %d of %d has waited %.0f s in %s (since %s), longer than the collective "
                 "timeout of %.0f s: another rank has stalled, has left the job, or waits in another collective; "
                 "aborting every process of the job (EnvironmentOptions::timeout)\n",
                 s.rank.load(), s.size.load(), waited, collective, when, timeout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);  // (MPI_Abort does not return)
}

// Checks a few times per timeout, at least once a second; never ends (a detached thread: it
// holds nothing to release, and the process's exit takes it down).
void watch_forever() {
    State& s = state();
    for (;;) {
        const double timeout = s.timeout_seconds.load();
        const double period = timeout > 0 ? std::min(1.0, timeout / 4) : 1.0;
        std::this_thread::sleep_for(std::chrono::duration<double>(period));
        const char* collective = s.collective.load();
        if (collective == nullptr || !(timeout > 0)) continue;
        const double waited =
            std::chrono::duration<double>(Clock::now() - Clock::time_point(Clock::duration(s.since.load()))).count();
        // the same call still waiting (not a new one that began since): it has waited `waited`
        if (waited > timeout && s.collective.load() == collective) expire(collective, waited, timeout);
    }
}

}  // namespace

void set_collective_timeout(std::chrono::duration<double> timeout) {
    state().timeout_seconds = timeout.count();
}

Watch::Watch(const char* collective, int rank, int size) {
    State& s = state();
    if (s.collective.load() != nullptr) return;  // inside another watched call
    outermost_ = true;
    std::call_once(s.started, [] { std::thread(watch_forever).detach(); });
    s.rank = rank;
    s.size = size;
    s.since = Clock::now().time_since_epoch().count();
    s.since_wall = std::time(nullptr);
    s.collective = collective;
}

Watch::~Watch() {
    if (outermost_) state().collective = nullptr;
}

}  // namespace xtgrad::dist::detail
