// Slides on softmax: Prob(k) = exp(z_k) / sum_i exp(z_i); d log Prob(k) / d z_i = delta_ik -
// Prob(i); adding a constant to all z changes nothing; z / T is the Boltzmann distribution at
// temperature T; the sigmoid is a two-class softmax with the other input fixed at 0. Then
// multinomial logistic regression and a small MLP trained on the digits.
#include <cmath>
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
double train_digits(Context& ctx, const Classification& d, const std::vector<std::size_t>& widths, std::size_t epochs,
                    const char* label) {
    std::mt19937_64 rng(1);
    nn::MLP<double> model(widths, nn::Activation::tanh, rng);
    optim::Adam<double> adam(model.parameters(), {.lr = 1e-2});
    auto x_test = Tensor::constant(d.x_test);
    std::size_t n = d.y_train.size();
    Tape tape;
    for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
        double total = 0;
        for (auto& batch : nn::batches(n, 64, true, epoch)) {
            Array<double> xb = Array<double>::from_shape({batch.size(), d.x_train.shape()[1]});
            std::vector<std::size_t> yb;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                for (std::size_t j = 0; j < xb.shape()[1]; ++j) xb(i, j) = d.x_train(batch[i], j);
                yb.push_back(d.y_train[batch[i]]);
            }
            adam.zero_grad();
            auto loss = nn::cross_entropy(model(Tensor::constant(xb)), yb) + nn::l2_penalty(model, 1e-4);
            loss.backward();
            adam.step();
            total += loss.item() * double(batch.size());
            tape.release();
        }
        NoGrad no_grad;
        ctx.progress(label, epoch, epochs, total / double(n), nn::accuracy(model(x_test).value(), d.y_test));
    }
    NoGrad no_grad;
    return nn::accuracy(model(x_test).value(), d.y_test);
}
// Invariance, temperature and the two-class case (no recording needed).
void check_softmax_identities(Context& ctx, const Tensor& z, const Array<double>& p) {
    NoGrad no_grad;
    const std::size_t K = z.size();
    double shift = xt::amax(xt::abs(softmax(z + 100.0, 0).value() - p))();
    // z + 100 itself is rounded to a multiple of 2^-46 (1.4e-14): that is the limit of the check
    ctx.claim("softmax(z + c) = softmax(z)  (c = 100)", "max |diff| " + sci(shift), shift < 1e-13);

    std::vector<std::vector<double>> rows;
    double previous_entropy = -1;
    bool entropy_grows = true;
    double t_small_max = 0, t_large_dev = 0;
    for (double logT = -1.5; logT <= 2.0001; logT += 0.05) {
        double T = std::pow(10.0, logT);
        Array<double> pt = softmax(z * (1.0 / T), 0).value();
        double h = 0;
        for (auto v : pt) h -= v > 0 ? v * std::log(v) : 0.0;
        entropy_grows = entropy_grows && h >= previous_entropy - 1e-15;
        previous_entropy = h;
        if (std::abs(logT + 1.5) < 1e-9) t_small_max = xt::amax(pt)();
        if (std::abs(logT - 2.0) < 1e-9) t_large_dev = xt::amax(xt::abs(pt - 1.0 / double(K)))();
        std::vector<double> row{T};
        for (auto v : pt) row.push_back(v);
        row.push_back(h);
        rows.push_back(row);
    }
    ctx.claim("Boltzmann: entropy grows with the temperature T",
              entropy_grows ? "monotone over T in [0.03, 100]" : "not monotone", entropy_grows);
    ctx.claim("T -> 0 picks the arg-max; T -> inf is uniform",
              "max p at T=0.03: " + fixed(t_small_max, 6) + "; |p - 1/K| at T=100: " + sci(t_large_dev),
              t_small_max > 0.999 && t_large_dev < 0.01);
    ctx.plot(
        "softmax_temperature", {"T", "p1", "p2", "p3", "p4", "p5", "p6", "entropy"}, rows,
        "set title 'softmax(z / T): the Boltzmann distribution'\nset logscale x\nset xlabel 'temperature T'\n"
        "set xrange [*:*] noextend\nset key right center\n"
        "set ylabel 'probability'\nset y2label 'entropy (nats)'\nset y2tics\n"
        "plot for [k=2:7] csv using 1:k with lines lw 2 title columnhead(k), csv using 1:8 axes x1y2 with lines dt 2 "
        "lw 2 title 'entropy'");

    // sigmoid(s) = softmax([s, 0])_0
    double worst = 0;
    for (double s = -30; s <= 30; s += 0.25) {
        auto pair = Tensor::constant(Array<double>{s, 0.0});
        double two_class = softmax(pair, 0).value()(0);
        double sig = sigmoid(Tensor::constant(Array<double>{s})).value()(0);
        worst = std::max(worst, std::abs(two_class - sig));
    }
    ctx.claim("sigmoid is two-class softmax with the other output 0", "max |diff| over s in [-30,30] " + sci(worst),
              worst <= 1e-15);
}
}  // namespace

void softmax_and_its_gradient(Context& ctx) {
    auto z = Tensor::parameter(Array<double>{1.5, -0.3, 0.8, 2.2, -1.0, 0.1});
    const std::size_t K = z.size();
    Array<double> J = jacobian([&] { return log_softmax(z, 0); }, {z})[0];
    Array<double> p;
    {
        NoGrad no_grad;
        p = softmax(z, 0).value();
    }
    double dev = 0;
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t i = 0; i < K; ++i) dev = std::max(dev, std::abs(J(k, i) - ((i == k ? 1.0 : 0.0) - p(i))));
    ctx.claim("d log Prob(k) / d z_i = delta_ik - Prob(i)", "max |diff| " + sci(dev), dev < 1e-12);

    check_softmax_identities(ctx, z, p);

    auto d = digits(ctx);
    std::size_t epochs = 30;
    double acc_lr = train_digits(ctx, d, {64, 10}, epochs, "multinomial logistic reg.");
    double acc_mlp = train_digits(ctx, d, {64, 32, 10}, epochs, "MLP 64-32-10");
    double floor = 0.95;
    ctx.claim("digits: multinomial logistic regression (expect 96-97 %)",
              "test accuracy " + fixed(100 * acc_lr, 1) + " %", acc_lr >= floor);
    ctx.claim("digits: MLP 64-32-10 (expect 97-98 %)", "test accuracy " + fixed(100 * acc_mlp, 1) + " %",
              acc_mlp >= floor);
}

}  // namespace lecture
