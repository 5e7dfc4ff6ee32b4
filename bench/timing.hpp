// Timing for the benchmarks: the median of repeated runs after a warm-up, in seconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace bench {

template <class F>
double median_seconds(F&& f, int reps, int warmup = 3) {
    for (int i = 0; i < warmup; ++i) f();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        auto start = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
}

/// Steps of several sides taken in turn, one of each per round, `reps` rounds after a warm-up:
/// the median seconds of each side. On a shared host, whose speed drifts by tens of per cent
/// over seconds, both sides then see the same moments; timed one after the other, the same
/// binaries' ratio ranged 0.8-1.5.
inline std::vector<double> interleaved_medians(const std::vector<std::function<void()>>& sides, int reps,
                                               int warmup = 3) {
    for (int i = 0; i < warmup; ++i)
        for (auto& step : sides) step();
    std::vector<std::vector<double>> t(sides.size());
    for (int i = 0; i < reps; ++i)
        for (std::size_t k = 0; k < sides.size(); ++k) {
            auto start = std::chrono::steady_clock::now();
            sides[k]();
            t[k].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
    std::vector<double> medians;
    for (auto& times : t) {
        std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
        medians.push_back(times[times.size() / 2]);
    }
    return medians;
}

/// Seconds per step of a method whose every `every`-th step does more (K-FAC refreshing its
/// inverses), over `steps` steps after one warm-up: the mean of all (the refreshes at their
/// share), the median of the others, and the mean of the refreshing steps.
struct CycleTimes {
    double mean, between_refreshes, refresh;
};

template <class F>
CycleTimes cycle_seconds(F&& step, int steps = 30, int every = 10) {
    step();  // warm-up (a refreshing step)
    double total = 0, refresh = 0;
    std::vector<double> plain;
    for (int k = 1; k <= steps; ++k) {
        auto start = std::chrono::steady_clock::now();
        step();
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        total += t;
        if (k % every == 0)
            refresh += t;
        else
            plain.push_back(t);
    }
    std::nth_element(plain.begin(), plain.begin() + plain.size() / 2, plain.end());
    return {total / steps, plain[plain.size() / 2], refresh / (steps / every)};
}

}  // namespace bench
