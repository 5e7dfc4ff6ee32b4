// Slide: "cross entropy is maximum likelihood for Bernoulli targets", and with a sigmoid
// output z = sigmoid(s), dE/ds = z - t.
#include <cmath>
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

void cross_entropy_is_bernoulli_ml(Context& ctx) {
    auto data = breast_cancer(ctx);
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal(0.0, 0.3);
    Array<double> w0 = Array<double>::from_shape({30, 1});
    for (auto& v : w0) v = normal(rng);
    auto w = Tensor::parameter(w0);
    auto b = Tensor::parameter(Array<double>{0.1});
    auto x = Tensor::constant(data.x_train);
    auto t = Tensor::constant(column(data.y_train));

    Tape tape;
    auto s = matmul(x, w) + b;
    auto z = sigmoid(s);
    auto E = nn::binary_cross_entropy(z, t, nn::Reduction::sum);
    // -log prod z^t (1 - z)^(1 - t), computed directly
    double nll = 0;
    for (std::size_t i = 0; i < z.size(); ++i) {
        double zi = z.value()(i, 0), ti = t.value()(i, 0);
        nll -= std::log(std::pow(zi, ti) * std::pow(1 - zi, 1 - ti));
    }
    double rel = std::abs(E.item() - nll) / nll;
    ctx.claim("cross entropy = -log Bernoulli likelihood", "rel. diff " + sci(rel), rel < 1e-12);

    auto dE_ds = grad(E, {s})[0].value();
    Array<double> z_minus_t = z.value() - t.value();
    double dev = xt::amax(xt::abs(dE_ds - z_minus_t))();
    ctx.claim("autodiff dE/ds = z - t (sigmoid + cross entropy)", "max |diff| " + sci(dev), dev < 1e-12);
    tape.release();

    auto check = gradcheck([&] { return nn::binary_cross_entropy(sigmoid(matmul(x, w) + b), t); }, {w, b});
    double worst = 0;
    for (auto& in : check.inputs) worst = std::max(worst, std::abs(in.analytic - in.numeric));
    ctx.claim("gradient = central differences (gradcheck)", "worst |diff| " + sci(worst), check.ok);

    // the maximum-likelihood fit: L-BFGS on the cross entropy
    optim::LBFGS<double> lbfgs(TensorList<double>{w, b}, {.stop = {.max_iterations = 60}});
    auto closure = [&] {
        lbfgs.zero_grad();
        Tape t2;
        auto loss = nn::binary_cross_entropy_with_logits(matmul(x, w) + b, t) + 1e-3 * sum(square(w));
        loss.backward();
        return loss.item();
    };
    auto fit = lbfgs.minimize(closure);
    ctx.note("L-BFGS: " + std::to_string(fit.iterations) + " iterations, " + std::to_string(fit.evaluations) +
             " loss evaluations; " + fit.message);
    Array<double> logits;
    {
        NoGrad no_grad;
        logits = (matmul(Tensor::constant(data.x_test), w) + b).value();
    }
    std::size_t correct = 0;
    for (std::size_t i = 0; i < data.y_test.size(); ++i) correct += (logits(i, 0) > 0) == (data.y_test[i] == 1);
    double acc = double(correct) / double(data.y_test.size());
    ctx.claim("maximum-likelihood logistic regression: test accuracy 95-98 %", "accuracy " + fixed(100 * acc, 1) + " %",
              acc >= 0.94);

    std::vector<std::vector<double>> rows;
    for (std::size_t i = 0; i < z_minus_t.size(); ++i) rows.push_back({z_minus_t(i, 0), dE_ds(i, 0)});
    ctx.plot("bernoulli_gradient", {"z_minus_t", "autodiff_dE_ds"}, rows,
             "set title 'sigmoid + cross entropy: dE/ds = z - t'\nset xlabel 'z - t'\nset ylabel 'autodiff dE/ds'\nset "
             "key top left\n"
             "plot csv using 1:2 with points pt 7 ps 0.5 title 'training rows', x with lines title 'y = x'");
}

}  // namespace lecture
