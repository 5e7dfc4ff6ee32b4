// Slide: "checking gradients". A user model with a custom op whose backward rule has a
// mistake: the finite-difference check fails and its report names that op; with the rule
// fixed, the same check passes, to first and second order.
#include "support/lecture.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
// log(1 + x^2), with a correct rule 2x / (1 + x^2) or a wrong one x / (1 + x^2).
Tensor log1p_square(const Tensor& x, bool correct) {
    return custom_op<double>(
        correct ? "log1p_square" : "log1p_square_wrong", {x},
        [](const TensorList<double>& in) { return Array<double>(xt::log1p(in[0].value() * in[0].value())); },
        [correct](const TensorList<double>& in, const Tensor&, const Tensor& g) -> TensorList<double> {
            return {g * (correct ? 2.0 : 1.0) * in[0] / (1.0 + square(in[0]))};
        });
}
}  // namespace

void checking_gradients(Context& ctx) {
    auto W1 = Tensor::parameter(Array<double>{{0.3, -0.7, 0.5}, {0.9, 0.2, -0.4}});
    Array<double> w2 = {0.6, -0.8, 0.25};
    w2.reshape({3, 1});
    auto W2 = Tensor::parameter(w2);
    auto x = Tensor::constant(Array<double>{{1.0, 2.0}, {-0.5, 0.3}, {0.7, -1.2}, {0.1, 0.4}});
    auto model = [&](bool correct) { return sum(tanh(matmul(log1p_square(matmul(x, W1), correct), W2))); };

    auto wrong = gradcheck([&] { return model(false); }, {W1, W2});
    bool named = !wrong.ok && !wrong.faulty_nodes.empty() && wrong.faulty_nodes[0].op == "log1p_square_wrong";
    ctx.claim("a wrong rule fails the check, and the report names the op",
              named ? "names '" + wrong.faulty_nodes[0].op + "'" : "not named", named);
    const std::string report = wrong.message();
    for (std::size_t start = 0; start < report.size();) {
        std::size_t end = std::min(report.find('\n', start), report.size());
        ctx.note(report.substr(start, end - start));
        start = end + 1;
    }
    auto right = gradcheck([&] { return model(true); }, {W1, W2});
    auto right2 = hvpcheck([&] { return model(true); }, {W1, W2});
    ctx.claim("the fixed rule passes to first and second order", right.ok && right2.ok ? "both pass" : right.message(),
              right.ok && right2.ok);
}

}  // namespace lecture
