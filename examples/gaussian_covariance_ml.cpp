// Beyond the slide on least squares: maximum likelihood for a Gaussian with a full covariance.
// The negative log-likelihood per sample of y_n ~ N(mu, Sigma),
//   1/N sum_n 1/2 (y_n - mu)^T Sigma^-1 (y_n - mu) + 1/2 logdet Sigma   (+ d/2 log 2 pi),
// is minimised by the sample mean and the biased sample covariance 1/N sum (y - ybar)(y - ybar)^T,
// where it equals 1/2 (logdet S + d). Sigma = L L^T with L lower triangular and its diagonal
// exp of free parameters (log-Cholesky): every point the optimizer tries is positive definite.
#include <cmath>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
// p holds L below the diagonal and log(diag L) on it.
Tensor covariance(const Tensor& p) {
    auto l = tril(p, -1) + diag(exp(diag(p)));
    return matmul(l, transpose(l));
}

Tensor mean_nll(const Tensor& y, const Tensor& mu, const Tensor& sigma) {
    auto centred = transpose(y - mu);                          // [d, N]
    auto whitened = cholesky_solve(centred, cholesky(sigma));  // Sigma^-1 (y_n - mu), every n
    double n = double(y.shape()[0]);
    return sum(centred * whitened) * (0.5 / n) + logdet(sigma) * 0.5;
}

// Points of the k-sigma ellipse of N(m, C) for a 2 x 2 covariance C: m + k chol(C) (cos t, sin t).
void ellipse(std::vector<std::vector<double>>& rows, double series, double mx, double my, double cxx, double cxy,
             double cyy, double k) {
    double l11 = std::sqrt(cxx), l21 = cxy / l11, l22 = std::sqrt(cyy - l21 * l21);
    for (int i = 0; i <= 96; ++i) {
        double t = 2 * M_PI * i / 96.0, u = k * std::cos(t), v = k * std::sin(t);
        rows.push_back({mx + l11 * u, my + l21 * u + l22 * v, series});
    }
}
}  // namespace

void gaussian_covariance_ml(Context& ctx) {
    auto iris = nn::load_csv(ctx.data("iris.csv"), {.header_lines = 1});
    const Array<double>& y = iris.features;  // 150 flowers x 4 lengths in cm
    const std::size_t n = y.shape()[0], d = y.shape()[1];
    Array<double> ybar = xt::zeros<double>({d}), s = xt::zeros<double>({d, d});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a) ybar(a) += y(i, a) / double(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a)
            for (std::size_t b = 0; b < d; ++b) s(a, b) += (y(i, a) - ybar(a)) * (y(i, b) - ybar(b)) / double(n);

    auto Y = Tensor::constant(y);
    auto mu = Tensor::parameter(xt::zeros<double>({d}));
    auto p = Tensor::parameter(xt::zeros<double>({d, d}));  // Sigma = I to start
    auto nll = [&] { return mean_nll(Y, mu, covariance(p)); };
    {
        Tape tape;
        auto first = gradcheck(nll, {mu, p});
        auto second = hvpcheck(nll, {mu, p});
        ctx.claim("the NLL through cholesky, cholesky_solve and logdet: gradient and Hessian-vector products exact",
                  first.message() + "; " + second.message(), first.ok && second.ok);
    }

    optim::LBFGS<double> lbfgs(TensorList<double>{mu, p},
                               {.stop = {.tolerance_grad = 1e-10, .tolerance_change = 0, .max_iterations = 2000}});
    auto fit = lbfgs.minimize([&] {
        lbfgs.zero_grad();
        Tape tape;
        auto loss = nll();
        loss.backward();
        return loss.item();
    });
    ctx.note("L-BFGS from mu = 0, Sigma = I: " + fit.message + " after " + std::to_string(fit.iterations) +
             " iterations");
    Array<double> sigma;
    {
        NoGrad no_grad;
        sigma = covariance(p).value();
    }
    double mean_error = xt::amax(xt::abs(mu.value() - ybar))() / xt::amax(xt::abs(ybar))();
    double cov_error = xt::amax(xt::abs(sigma - s))() / xt::amax(xt::abs(s))();
    ctx.claim("the maximum-likelihood mean is the sample mean", "max rel. diff " + sci(mean_error),
              fit.converged && mean_error < 1e-6);
    ctx.claim("the maximum-likelihood covariance is the biased sample covariance (1/N)",
              "max rel. diff " + sci(cov_error), fit.converged && cov_error < 1e-6);
    double logdet_s = logdet(Tensor::constant(s)).item();
    double at_minimum = 0.5 * (logdet_s + double(d));
    ctx.claim("the minimum NLL per sample is (logdet S + d) / 2", fixed(fit.loss, 6) + " vs " + fixed(at_minimum, 6),
              std::abs(fit.loss - at_minimum) < 1e-8 * std::abs(at_minimum) + 1e-10);
    // what the correlations are worth: a diagonal Gaussian's minimum is (sum log S_aa + d) / 2
    double diagonal = 0.5 * double(d);
    for (std::size_t a = 0; a < d; ++a) diagonal += 0.5 * std::log(s(a, a));
    ctx.note("NLL per flower: full covariance " + fixed(at_minimum, 3) + " nats, diagonal covariance " +
             fixed(diagonal, 3) + " nats (petal length and width correlate at " +
             fixed(s(2, 3) / std::sqrt(s(2, 2) * s(3, 3)), 3) + ")");
    ctx.claim("modelling the correlations lowers the NLL: full < diagonal",
              fixed(at_minimum, 3) + " < " + fixed(diagonal, 3), at_minimum < diagonal);

    std::vector<std::vector<double>> rows;
    for (std::size_t i = 0; i < n; ++i) rows.push_back({y(i, 2), y(i, 3), iris.target(i)});
    for (double k : {1.0, 2.0, 3.0}) {
        ellipse(rows, 10 + k, mu.value()(2), mu.value()(3), sigma(2, 2), sigma(2, 3), sigma(3, 3), k);
        ellipse(rows, 20 + k, mu.value()(2), mu.value()(3), sigma(2, 2), 0.0, sigma(3, 3), k);
    }
    ctx.plot("gaussian_full_covariance", {"petal_length", "petal_width", "series"}, rows,
             "set title 'iris: maximum-likelihood Gaussian, full covariance (solid) vs diagonal (dashed)'\n"
             "set xlabel 'petal length (cm)'\nset ylabel 'petal width (cm)'\nset key top left\n"
             "set xrange [-1:9]\nset yrange [-1.5:4]\n"
             "plot csv using ($3 == 0 ? $1 : 1/0):2 with points pt 7 ps 0.8 lc rgb '#1f77b4' title 'setosa', "
             "csv using ($3 == 1 ? $1 : 1/0):2 with points pt 7 ps 0.8 lc rgb '#ff7f0e' title 'versicolor', "
             "csv using ($3 == 2 ? $1 : 1/0):2 with points pt 7 ps 0.8 lc rgb '#2ca02c' title 'virginica', "
             "for [k=1:3] csv using ($3 == 10 + k ? $1 : 1/0):2 with lines lw 2 lc rgb 'black' "
             "title (k == 1 ? 'full covariance: 1, 2, 3 sigma' : ''), "
             "for [k=1:3] csv using ($3 == 20 + k ? $1 : 1/0):2 with lines lw 2 dt 2 lc rgb '#d62728' "
             "title (k == 1 ? 'diagonal covariance: 1, 2, 3 sigma' : '')");
}

}  // namespace lecture
