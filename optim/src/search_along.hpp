// A strong-Wolfe line search from the current parameters along a direction, evaluating the
// loss with the user's closure; on return the parameters sit at the accepted point and
// their grad() holds the gradient there.
#pragma once

#include <limits>

#include "vector.hpp"
#include "xtgrad/optim/line_search.hpp"

namespace xtgrad::optim::detail {

template <class T>
LineSearchResult search_along(const Closure& closure, const TensorList<T>& params, const Vec<T>& x0,
                              const Vec<T>& direction, double value0, double slope0, double initial,
                              const LineSearchOptions& options, std::size_t& evaluations) {
    double evaluated_at = std::numeric_limits<double>::quiet_NaN();
    auto phi = [&](double a) -> std::pair<double, double> {
        Vec<T> x = x0;
        axpy(a, direction, x);
        assign(params, x);
        double f = closure();
        ++evaluations;
        evaluated_at = a;
        double slope = dot(grads_of(params), direction);
        if (!std::isfinite(f) || !std::isfinite(slope)) return {std::numeric_limits<double>::infinity(), 0.0};
        return {f, slope};
    };
    LineSearchResult r = strong_wolfe(phi, value0, slope0, initial, options);
    if (r.ok && evaluated_at != r.alpha) phi(r.alpha);  // leave parameters and gradients at the accepted point
    return r;
}

}  // namespace xtgrad::optim::detail
