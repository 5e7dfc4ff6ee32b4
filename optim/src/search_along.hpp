// A strong-Wolfe line search from the current parameters along a direction, evaluating the
// loss with the user's closure. On success the parameters sit at the accepted point and
// `gradient` holds the gradient there (also left in the parameters' grad()), without a
// second evaluation of the closure at that point. On failure the parameters are wherever
// the last evaluation left them (the caller's snapshot restores them).
#pragma once

#include <array>
#include <functional>
#include <limits>
#include <optional>

#include "vector.hpp"
#include "xtgrad/optim/line_search.hpp"

namespace xtgrad::optim::detail {

template <class T>
LineSearchResult search_along(const Closure& closure, const TensorList<T>& params, const Vec<T>& x0,
                              const Vec<T>& direction, double value0, double slope0, double initial,
                              const LineSearchOptions& options, std::size_t& evaluations, Vec<T>& gradient,
                              const std::function<void(Vec<T>&)>& make_feasible = {}) {
    // The gradients of the last two points evaluated: the accepted point is one of them,
    // except after a rejected refinement (the line search's `refine`), which is two back at most.
    struct Evaluated {
        double alpha = std::numeric_limits<double>::quiet_NaN();
        Vec<T> grad;
    };
    std::array<Evaluated, 2> recent;
    std::size_t next = 0;
    auto move_to = [&](double a) {
        Vec<T> x = x0;
        axpy(a, direction, x);
        if (make_feasible) make_feasible(x);
        assign(params, x);
    };
    auto phi = [&](double a) -> std::pair<double, double> {
        move_to(a);
        double f = closure();
        ++evaluations;
        Evaluated& e = recent[next];
        next = 1 - next;
        e.alpha = a;
        e.grad = grads_of(params);
        double slope = dot(e.grad, direction);
        if (!std::isfinite(f) || !std::isfinite(slope)) return {std::numeric_limits<double>::infinity(), 0.0};
        return {f, slope};
    };
    LineSearchResult r = strong_wolfe(phi, value0, slope0, initial, options);
    double taken = r.ok ? r.alpha : r.best_alpha;
    if (r.ok || taken > 0) {
        const Evaluated* hit = nullptr;
        for (auto& e : recent)
            if (e.alpha == taken) hit = &e;
        if (hit != nullptr) {
            move_to(taken);
            gradient = hit->grad;
            for (std::size_t i = 0; i < params.size(); ++i) {
                BasicTensor<T> p = params[i];
                if (p.has_grad()) p.mutable_grad() = gradient[i];
            }
        } else {  // further back than the two kept: evaluate it again
            phi(taken);
            gradient = recent[1 - next].grad;
        }
    }
    return r;
}

}  // namespace xtgrad::optim::detail
