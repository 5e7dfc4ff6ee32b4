// Slide: "least squares is maximum likelihood under Gaussian noise". The negative
// log-likelihood of y under N(x w, sigma^2) is SSE / (2 sigma^2) + n log sigma + const, so its
// minimiser does not depend on sigma and is the least-squares solution (X^T X)^-1 X^T y.
#include <cmath>
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
// Minimises the mean Gaussian NLL over w by gradient descent with Nesterov momentum, steps
// tuned to the curvature X^T X / (n sigma^2); returns w.
Array<double> fit_gaussian_nll(const Array<double>& X, const Array<double>& y, double sigma, std::size_t iterations) {
    std::size_t n = X.shape()[0], d = X.shape()[1];
    Array<double> gram = xt::zeros<double>({d, d});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a)
            for (std::size_t b = 0; b < d; ++b) gram(a, b) += X(i, a) * X(i, b) / (double(n) * sigma * sigma);
    auto [mu, L] = eigen_range(gram);
    double kappa = L / mu;
    auto w = Tensor::parameter(xt::zeros<double>({d}));
    auto Xt = Tensor::constant(X), yt = Tensor::constant(y);
    optim::SGD<double> gd(TensorList<double>{w},
                          {.lr = 1 / L, .momentum = (std::sqrt(kappa) - 1) / (std::sqrt(kappa) + 1), .nesterov = true});
    Tape tape;
    for (std::size_t k = 0; k < iterations; ++k) {
        gd.zero_grad();
        nn::gaussian_nll(matmul(Xt, w), yt, sigma).backward();
        gd.step();
        tape.release();
    }
    return w.value();
}

Array<double> least_squares(const Array<double>& X, const Array<double>& y) {
    std::size_t n = X.shape()[0], d = X.shape()[1];
    Array<double> gram = xt::zeros<double>({d, d}), rhs = xt::zeros<double>({d});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a) {
            rhs(a) += X(i, a) * y(i);
            for (std::size_t b = 0; b < d; ++b) gram(a, b) += X(i, a) * X(i, b);
        }
    return solve_spd(gram, rhs);
}

double max_relative_difference(const Array<double>& a, const Array<double>& b) {
    return xt::amax(xt::abs(a - b))() / xt::amax(xt::abs(b))();
}
}  // namespace

void least_squares_is_gaussian_ml(Context& ctx) {
    // (a) a line through noisy points
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> ux(0.0, 10.0);
    std::normal_distribution<double> noise(0.0, 1.5);
    const std::size_t n = 60;
    Array<double> X = Array<double>::from_shape({n, 2}), y = Array<double>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) {
        X(i, 0) = ux(rng);
        X(i, 1) = 1.0;
        y(i) = 2.5 * X(i, 0) - 1.0 + noise(rng);
    }
    Array<double> w_ls = least_squares(X, y);
    double worst = 0;
    for (double sigma : {0.1, 1.0, 10.0})
        worst = std::max(worst, max_relative_difference(fit_gaussian_nll(X, y, sigma, 400), w_ls));
    ctx.claim("line: argmin Gaussian NLL = least squares, sigma 0.1/1/10", "max rel. diff " + sci(worst), worst < 1e-8);
    ctx.note("the NLL gradient scales as 1/sigma^2, so the step scales as sigma^2: the same path for every sigma");

    std::vector<std::vector<double>> rows;
    for (std::size_t i = 0; i < n; ++i) {
        double fit = w_ls(0) * X(i, 0) + w_ls(1);
        rows.push_back({X(i, 0), y(i), fit, y(i) - fit});
    }
    ctx.plot("least_squares_line", {"x", "y", "fit", "residual"}, rows,
             "set multiplot layout 1,2 title 'least squares = Gaussian maximum likelihood'\n"
             "set xlabel 'x'\nset ylabel 'y'\n"
             "plot csv using 1:2 with points pt 7 ps 0.6 title 'data', csv using 1:3 with lines lw 2 title 'fit'\n"
             "set ylabel 'residual'\nplot csv using 1:4 with impulses title 'residuals', 0 notitle\n"
             "unset multiplot");

    // (b) the diabetes regression: ten standardized features and an intercept
    Array<double> xd, yd;
    diabetes(ctx, xd, yd);
    Array<double> Xd = with_intercept(xd);
    Array<double> wd_ls = least_squares(Xd, yd);
    std::size_t iterations = 3000;
    double worst_d = 0;
    for (double sigma : {0.1, 1.0, 10.0})
        worst_d = std::max(worst_d, max_relative_difference(fit_gaussian_nll(Xd, yd, sigma, iterations), wd_ls));
    ctx.claim("diabetes: argmin Gaussian NLL = least squares, 3 sigmas", "max rel. diff " + sci(worst_d),
              worst_d < 1e-8);
    Array<double> pred = Array<double>::from_shape({yd.size()});
    for (std::size_t i = 0; i < yd.size(); ++i) {
        pred(i) = 0;
        for (std::size_t j = 0; j < Xd.shape()[1]; ++j) pred(i) += Xd(i, j) * wd_ls(j);
    }
    double r2 = nn::r2_score(pred, yd);
    ctx.claim("diabetes: least squares R^2 on all 442 rows is about 0.52", "R^2 " + fixed(r2),
              std::abs(r2 - 0.52) < 0.01);
}

}  // namespace lecture
