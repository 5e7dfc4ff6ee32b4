// Preconditioned conjugate gradients (Hestenes & Stiefel 1952; Nocedal & Wright Alg. 5.3).
#include "xtgrad/optim/linear_cg.hpp"

#include "vector.hpp"

namespace xtgrad::optim {

template <class T>
LinearCGResult linear_cg(const LinearOperator<T>& A, const ParamVector<T>& b, ParamVector<T>& x,
                         const LinearCGOptions<T>& o) {
    if (!A) throw ValueError("linear_cg: the operator is empty");
    if (x.empty()) x = detail::zeros_like(b);
    if (x.size() != b.size()) throw ShapeError(fmt::format("linear_cg: x has {} parts, b has {}", x.size(), b.size()));
    for (std::size_t i = 0; i < b.size(); ++i)
        if (x[i].shape() != b[i].shape())
            throw ShapeError(fmt::format("linear_cg: part {} of x has shape {}, of b {}", i, to_string(x[i].shape()),
                                         to_string(b[i].shape())));
    LinearCGResult result;
    double b_norm = detail::norm(b);
    // The operator and the preconditioner are the caller's: a part of the wrong shape would
    // make the dot products below read past its end, so check every result.
    auto checked = [](const char* what, const ParamVector<T>& out, const ParamVector<T>& in) {
        if (out.size() != in.size())
            throw ShapeError(fmt::format("linear_cg: the {} returned {} parts for {}", what, out.size(), in.size()));
        for (std::size_t i = 0; i < in.size(); ++i)
            if (out[i].shape() != in[i].shape())
                throw ShapeError(fmt::format("linear_cg: the {} returned part {} of shape {} for one of shape {}", what,
                                             i, to_string(out[i].shape()), to_string(in[i].shape())));
        return out;
    };
    auto apply = [&](const ParamVector<T>& v) { return checked("operator", A(v), v); };
    ParamVector<T> r = b;
    if (detail::norm(x) > 0) detail::axpy(-1.0, apply(x), r);
    auto precondition = [&](const ParamVector<T>& v) {
        return o.preconditioner ? checked("preconditioner", o.preconditioner(v), v) : v;
    };
    ParamVector<T> z = precondition(r);
    ParamVector<T> p = z;
    double rz = detail::dot(r, z);
    auto finish = [&](bool converged) {
        result.residual_norm = detail::norm(r);
        result.relative_residual = b_norm > 0 ? result.residual_norm / b_norm : result.residual_norm;
        result.converged = converged;
        return result;
    };
    auto done = [&] {
        double rn = detail::norm(r);
        return rn <= o.rtol * b_norm || rn <= o.atol;
    };
    if (done()) return finish(true);
    for (; result.iterations < o.max_iterations; ++result.iterations) {
        ParamVector<T> ap = apply(p);
        double pap = detail::dot(p, ap);
        if (!(pap > 0)) {
            result.negative_curvature = true;
            return finish(false);
        }
        double alpha = rz / pap;
        detail::axpy(alpha, p, x);
        detail::axpy(-alpha, ap, r);
        if (done()) {
            ++result.iterations;
            return finish(true);
        }
        z = precondition(r);
        double rz_next = detail::dot(r, z);
        ParamVector<T> next = z;
        detail::axpy(rz_next / rz, p, next);
        p = std::move(next);
        rz = rz_next;
    }
    return finish(false);
}

template LinearCGResult linear_cg(const LinearOperator<float>&, const ParamVector<float>&, ParamVector<float>&,
                                  const LinearCGOptions<float>&);
template LinearCGResult linear_cg(const LinearOperator<double>&, const ParamVector<double>&, ParamVector<double>&,
                                  const LinearCGOptions<double>&);

}  // namespace xtgrad::optim
