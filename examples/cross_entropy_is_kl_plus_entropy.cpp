// Slide: "cross entropy = KL divergence + entropy of the targets":
//   -sum t log q = sum t log(t / q) - sum t log t,
// and since the entropy of the targets does not depend on the model, minimising either
// gives the same parameters.
#include <random>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

void cross_entropy_is_kl_plus_entropy(Context& ctx) {
    std::mt19937_64 rng(5);
    std::normal_distribution<double> normal(0.0, 1.0);
    const std::size_t n = 40, features = 4, classes = 5;
    Array<double> xv = Array<double>::from_shape({n, features}), logits_t = Array<double>::from_shape({n, classes});
    for (auto& v : xv) v = normal(rng);
    for (auto& v : logits_t) v = 2 * normal(rng);
    Tensor t;
    {
        NoGrad no_grad;
        t = Tensor::constant(softmax(Tensor::constant(logits_t), 1).value());  // soft targets
    }
    auto x = Tensor::constant(xv);
    Array<double> w0 = Array<double>::from_shape({features, classes});
    for (auto& v : w0) v = 0.1 * normal(rng);

    double worst_identity = 0, worst_params = 0;
    bool decreasing = true;
    std::vector<std::vector<double>> rows;
    auto w_ce = Tensor::parameter(w0), w_kl = Tensor::parameter(w0);
    // The losses sum over the 40 samples; a step of 0.02 is below 2 / L (L <= lambda_max(X^T X) / 2
    // for softmax regression), so gradient descent decreases the loss at every step.
    optim::SGD<double> sgd_ce(TensorList<double>{w_ce}, {.lr = 0.02}), sgd_kl(TensorList<double>{w_kl}, {.lr = 0.02});
    double entropy_t = 0;
    const std::size_t steps = 100;
    for (std::size_t k = 0; k <= steps; ++k) {
        Tape tape;
        auto ce = nn::cross_entropy(matmul(x, w_ce), t, nn::Reduction::sum);
        auto q = softmax(matmul(x, w_kl), 1);
        auto kl = nn::kl_divergence(t, q);
        entropy_t = nn::entropy(t).item();
        // the identity at the CE run's current parameters
        auto kl_at_ce = nn::kl_divergence(t, softmax(matmul(x, w_ce), 1)).item();
        worst_identity = std::max(worst_identity, std::abs(ce.item() - (kl_at_ce + entropy_t)) / ce.item());
        if (!rows.empty()) decreasing = decreasing && ce.item() < rows.back()[1];
        rows.push_back({double(k), ce.item(), kl.item() + entropy_t, kl.item(), entropy_t});
        if (k == steps) break;
        sgd_ce.zero_grad();
        sgd_kl.zero_grad();
        ce.backward();
        kl.backward();
        sgd_ce.step();
        sgd_kl.step();
        worst_params = std::max(worst_params, xt::amax(xt::abs(w_ce.value() - w_kl.value()))());
    }
    ctx.claim("CE = KL(t || q) + H(t) for soft targets", "max rel. diff " + sci(worst_identity),
              worst_identity < 1e-12);
    ctx.claim("minimising CE or KL gives the same parameters", "max |W_CE - W_KL| " + sci(worst_params),
              worst_params < 1e-12);
    const auto& last = rows.back();
    ctx.claim("gradient descent lowers CE at every step, towards its floor H(t)",
              "CE " + fixed(rows.front()[1], 2) + " -> " + fixed(last[1], 2) + ", H(t) " + fixed(entropy_t, 2),
              decreasing && last[1] > entropy_t);
    ctx.note("H(t) = " + fixed(entropy_t) + " nats is the floor of the cross entropy: KL >= 0");
    ctx.plot("cross_entropy_kl_entropy", {"step", "cross_entropy", "kl_plus_entropy", "kl", "entropy"}, rows,
             "set title 'cross entropy = KL + entropy of the targets (gradient descent on either)'\n"
             "set xlabel 'gradient step'\nset ylabel 'nats'\nset yrange [0:*]\nset key right bottom\n"
             "plot csv using 1:2 with lines lw 4 lc rgb '#8000a0' title 'cross entropy', "
             "csv using 1:3 with lines dt 2 lw 2 lc rgb '#00a070' title 'KL + H(t)', "
             "csv using 1:4 with lines lw 2 lc rgb '#3070d0' title 'KL(t || q)', "
             "csv using 1:5 with lines dt 3 lw 2 lc rgb '#000000' title 'H(t): the floor'");
}

}  // namespace lecture
