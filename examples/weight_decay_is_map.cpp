// Slide: "weight decay is MAP estimation with a Gaussian prior". With y ~ N(X w, sigma^2) and
// the prior w ~ N(0, sigma_0^2 I), maximising the posterior means minimising
//   1/2 sum (y - X w)^2 + lambda/2 |w|^2   with   lambda = sigma^2 / sigma_0^2,
// whose minimiser is the posterior mean (X^T X + lambda I)^-1 X^T y.
#include <cmath>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

void weight_decay_is_map(Context& ctx) {
    Array<double> x, y;
    diabetes(ctx, x, y);
    double mean = xt::mean(y)();
    Array<double> yc = y - mean;  // centred target: no intercept, the prior covers every weight
    const std::size_t n = x.shape()[0], d = x.shape()[1];
    Array<double> gram = xt::zeros<double>({d, d}), rhs = xt::zeros<double>({d});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a) {
            rhs(a) += x(i, a) * yc(i);
            for (std::size_t b = 0; b < d; ++b) gram(a, b) += x(i, a) * x(i, b);
        }
    auto X = Tensor::constant(x), Y = Tensor::constant(yc);
    std::vector<std::vector<double>> rows;
    double worst = 0;
    std::vector<std::pair<double, double>> settings = {{50.0, 100.0}, {50.0, 10.0}, {50.0, 2.0}, {10.0, 0.5}};
    for (auto [sigma, sigma0] : settings) {
        double lambda = sigma * sigma / (sigma0 * sigma0);
        Array<double> A = gram;
        for (std::size_t a = 0; a < d; ++a) A(a, a) += lambda;
        Array<double> posterior_mean = solve_spd(A, rhs);
        // minimise SSE + weight decay by Newton-CG: exact Hessian-vector products, linear CG
        auto w = Tensor::parameter(xt::zeros<double>({d}));
        optim::CurvatureModel<double> model{[&] { return matmul(X, w); },
                                            [&](const Tensor& z) { return nn::sum_squared_error(z, Y); },
                                            [&] { return (lambda / 2) * sum(square(w)); }};
        newton_cg(TensorList<double>{w}, model, 3);
        double rel = xt::amax(xt::abs(w.value() - posterior_mean))() / xt::amax(xt::abs(posterior_mean))();
        worst = std::max(worst, rel);
        std::vector<double> row{sigma, sigma0, lambda};
        for (auto v : posterior_mean) row.push_back(v);
        rows.push_back(row);
        ctx.note("sigma " + fixed(sigma, 1) + ", sigma_0 " + fixed(sigma0, 1) + ": lambda " + fixed(lambda, 2) +
                 ", |w_MAP| " + fixed(std::sqrt(xt::sum(posterior_mean * posterior_mean)()), 2) + ", rel. diff " +
                 sci(rel));
    }
    ctx.note("each minimiser found by three Newton-CG steps (exact Hessian-vector products)");
    ctx.claim("argmin SSE + lambda/2|w|^2 = posterior mean, lambda = s^2/s0^2", "max rel. diff " + sci(worst),
              worst < 1e-8);
    // the whole path from the closed form, the four settings above checked by Newton-CG on it
    std::vector<std::vector<double>> path;
    for (double e = -2; e <= 4.0001; e += 0.125) {
        double lambda = std::pow(10.0, e);
        Array<double> A = gram;
        for (std::size_t a = 0; a < d; ++a) A(a, a) += lambda;
        std::vector<double> row{0, 0, lambda};
        for (auto v : solve_spd(A, rhs)) row.push_back(v);
        path.push_back(row);
    }
    for (auto& r : rows) path.push_back(r);  // sigma > 0 marks the Newton-CG points
    ctx.plot("map_shrinkage",
             {"sigma", "sigma0", "lambda", "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}, path,
             "set title 'diabetes: posterior mean = ridge solution, lambda = sigma^2 / sigma_0^2 (points: Newton-CG)'\n"
             "set logscale x\nset xlabel 'lambda'\nset ylabel 'coefficient'\nset key outside right\n"
             "array colour[10] = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', "
             "'#7f7f7f', '#bcbd22', '#17becf']\n"
             "plot for [k=4:13] csv using ($1 == 0 ? $3 : 1/0):k with lines lw 2 lc rgb colour[k - 3] title "
             "columnhead(k), for [k=4:13] csv using ($1 > 0 ? $3 : 1/0):k with points pt 7 ps 1.2 lc rgb "
             "colour[k - 3] notitle");
}

}  // namespace lecture
