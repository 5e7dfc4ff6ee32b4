// Weight decay generalised: MAP estimation with a full prior covariance. With y ~ N(X w, sigma^2)
// and the prior w ~ N(0, Sigma_0), the negative log-posterior is
//   SSE / (2 sigma^2) + 1/2 w^T Sigma_0^-1 w,
// minimised by the posterior mean (X^T X / sigma^2 + Sigma_0^-1)^-1 X^T y / sigma^2. The prior
// term is computed as 1/2 |L_0^-1 w|^2 with L_0 = cholesky(Sigma_0) (a triangular solve, no
// inverse). Sigma_0 = sigma_0^2 I is the lecture's weight decay, lambda = sigma^2 / sigma_0^2;
// Zellner's g-prior Sigma_0 = g sigma^2 (X^T X)^-1 shrinks least squares by exactly g / (1 + g).
#include <cmath>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
// 1/2 w^T Sigma_0^-1 w through the Cholesky factor of Sigma_0.
Tensor prior_term(const Tensor& w, const Tensor& prior_cov) {
    auto z = triangular_solve(cholesky(prior_cov), w, false);
    return sum(square(z)) * 0.5;
}

// The MAP weights by Newton-CG: exact Hessian-vector products, three steps on a quadratic.
Array<double> map_by_newton(const Tensor& X, const Tensor& y, double sigma, const Tensor& prior_cov) {
    std::size_t d = X.shape()[1];
    auto w = Tensor::parameter(xt::zeros<double>({d}));
    optim::CurvatureModel<double> model{
        [&] { return matmul(X, w); },
        [&](const Tensor& z) { return nn::sum_squared_error(z, y) * (1 / (sigma * sigma)); },
        [&] { return prior_term(w, prior_cov); }};
    newton_cg(TensorList<double>{w}, model, 3);
    return w.value();
}

double relative_difference(const Array<double>& a, const Array<double>& b) {
    return xt::amax(xt::abs(a - b))() / xt::amax(xt::abs(b))();
}
}  // namespace

void map_full_prior(Context& ctx) {
    Array<double> x, y;
    diabetes(ctx, x, y);
    Array<double> yc = y - xt::mean(y)();
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    auto X = Tensor::constant(x), Y = Tensor::constant(yc);
    Array<double> gram = matmul(transpose(X), X).value();
    Array<double> xty = matmul(transpose(X), Y).value();
    Array<double> ols = solve(Tensor::constant(gram), Tensor::constant(xty)).value();
    Array<double> residual = yc - matmul(X, Tensor::constant(ols)).value();
    double sigma = std::sqrt(xt::sum(residual * residual)() / double(n - d));  // noise from the OLS fit
    ctx.note("diabetes, standardized features, centred target; noise sigma = " + fixed(sigma, 2) +
             " from the least-squares residuals");

    auto posterior_mean = [&](const Array<double>& prior_cov) {
        Array<double> precision = gram / (sigma * sigma) + inverse(Tensor::constant(prior_cov)).value();
        return solve(Tensor::constant(precision), Tensor::constant(Array<double>(xty / (sigma * sigma)))).value();
    };

    // the prior term's derivatives, in w and in the prior covariance itself
    {
        Tape tape;
        auto w = Tensor::parameter(ols);
        Array<double> start = gram / double(n);
        auto cov = Tensor::parameter(start);
        auto f = [&] { return prior_term(w, (cov + transpose(cov)) * 0.5); };
        auto first = gradcheck(f, {w, cov});
        auto second = hvpcheck(f, {w, cov});
        ctx.claim("1/2 |cholesky(Sigma_0)^-1 w|^2: derivatives in w and Sigma_0 exact to second order",
                  first.message() + "; " + second.message(), first.ok && second.ok);
    }

    // (a) isotropic: the lecture's weight decay, through the full-covariance code
    double worst_iso = 0;
    for (double sigma0 : {100.0, 10.0, 2.0}) {
        Array<double> cov = xt::eye<double>(d) * (sigma0 * sigma0);
        Array<double> w = map_by_newton(X, Y, sigma, Tensor::constant(cov));
        double lambda = sigma * sigma / (sigma0 * sigma0);
        Array<double> ridge =
            solve(Tensor::constant(Array<double>(gram + lambda * xt::eye<double>(d))), Tensor::constant(xty)).value();
        worst_iso = std::max(worst_iso, relative_difference(w, ridge));
    }
    ctx.claim("Sigma_0 = sigma_0^2 I gives weight decay with lambda = sigma^2 / sigma_0^2",
              "max rel. diff " + sci(worst_iso), worst_iso < 1e-8);

    // (b) Zellner's g-prior: a full covariance, shaped like the data's
    double worst_map = 0, worst_g = 0;
    Array<double> gram_inverse = inverse(Tensor::constant(gram)).value();
    for (double g : {0.1, 1.0, 10.0}) {
        Array<double> cov = gram_inverse * (g * sigma * sigma);
        cov = 0.5 * (cov + xt::transpose(cov));  // symmetric to the last bit
        Array<double> w = map_by_newton(X, Y, sigma, Tensor::constant(cov));
        worst_map = std::max(worst_map, relative_difference(w, posterior_mean(cov)));
        worst_g = std::max(worst_g, relative_difference(w, Array<double>(ols * (g / (1 + g)))));
    }
    ctx.claim("with a full Sigma_0, the MAP weights are the posterior mean", "max rel. diff " + sci(worst_map),
              worst_map < 1e-8);
    ctx.claim("g-prior Sigma_0 = g sigma^2 (X^T X)^-1: MAP = g / (1 + g) x least squares",
              "max rel. diff " + sci(worst_g), worst_g < 1e-8);

    // the two shrinkage paths, from the closed form: ridge bends, the g-prior goes straight
    double ols_norm = std::sqrt(xt::sum(ols * ols)());
    std::vector<std::vector<double>> rows;
    for (double e = -3; e <= 3.0001; e += 0.1) {
        double g = std::pow(10.0, e);
        Array<double> w = ols * (g / (1 + g));
        std::vector<double> row{1, std::sqrt(xt::sum(w * w)()) / ols_norm};
        for (auto v : w) row.push_back(v);
        rows.push_back(row);
    }
    for (double e = -1; e <= 5.0001; e += 0.1) {
        double lambda = std::pow(10.0, e);
        Array<double> w =
            solve(Tensor::constant(Array<double>(gram + lambda * xt::eye<double>(d))), Tensor::constant(xty)).value();
        std::vector<double> row{0, std::sqrt(xt::sum(w * w)()) / ols_norm};
        for (auto v : w) row.push_back(v);
        rows.push_back(row);
    }
    ctx.plot(
        "map_full_prior", {"prior", "shrinkage", "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}, rows,
        "set multiplot layout 1,2 title 'diabetes: MAP coefficients as the prior tightens (|w| / |w_OLS| from 1 to "
        "0)'\n"
        "set xlabel '|w_{MAP}| / |w_{OLS}|'\nset ylabel 'coefficient'\nset xrange [1:0]\n"
        "array colour[10] = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', "
        "'#7f7f7f', '#bcbd22', '#17becf']\n"
        "set key top right font ',9'\n"
        "set title 'isotropic prior sigma_0^2 I (weight decay)'\n"
        "plot for [k=3:12] csv using ($1 == 0 ? $2 : 1/0):k with lines lw 2 lc rgb colour[k - 2] title columnhead(k)\n"
        "set title 'g-prior g sigma^2 (X^T X)^{-1}: straight to 0'\n"
        "plot for [k=3:12] csv using ($1 == 1 ? $2 : 1/0):k with lines lw 2 lc rgb colour[k - 2] notitle\n"
        "unset multiplot",
        1200);
}

}  // namespace lecture
