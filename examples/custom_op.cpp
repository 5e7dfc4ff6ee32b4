// "Write your own op" of docs/tutorial.md, as a program (run by the tests): softsign
// x / (1 + |x|) defined by its forward and its backward rule, checked to first and second
// order, then used in a model like any built-in op. Exits with 1 if a check fails.
#include <cstdio>
#include <iostream>

#include <xtensor/xmath.hpp>
#include <xtgrad/autodiff.hpp>

using namespace xtgrad;

// The forward works on plain arrays; the rule on tensors, with xtgrad's ops, so that
// differentiating it again (Hessian-vector products) is exact.
Tensor softsign(const Tensor& x) {
    return custom_op(
        "softsign", {x},
        [](const TensorList<double>& in) {
            const auto& v = in[0].value();
            return Array<double>(v / (1.0 + xt::abs(v)));
        },
        [](const TensorList<double>& in, const Tensor& /*output*/, const Tensor& g) -> TensorList<double> {
            return {g / square(1.0 + abs(in[0]))};  // d/dx softsign = 1 / (1 + |x|)^2
        });
}

int main() {
    Tape tape;
    auto x = Tensor::parameter({-2.0, -0.5, 0.25, 1.0, 3.0}, {5});
    std::cout << "x = " << x << "\nsoftsign(x) = " << softsign(x) << "\n";

    auto first = gradcheck([&] { return softsign(x); }, {x});
    auto second = hvpcheck([&] { return softsign(x); }, {x});
    std::printf("gradcheck: %s\nhvpcheck: %s\n", first.message().c_str(), second.message().c_str());

    // A rule written with raw arrays instead of ops would be a constant to the second sweep:
    // hvpcheck catches it and names the op.
    auto careless = [](const Tensor& t) {
        return custom_op(
            "softsign_careless", {t},
            [](const TensorList<double>& in) {
                const auto& v = in[0].value();
                return Array<double>(v / (1.0 + xt::abs(v)));
            },
            [](const TensorList<double>& in, const Tensor&, const Tensor& g) -> TensorList<double> {
                Array<double> d = 1.0 / xt::square(1.0 + xt::abs(in[0].value()));
                return {g * Tensor::constant(d)};
            });
    };
    auto caught = hvpcheck([&] { return careless(x); }, {x});
    std::printf("hvpcheck of a rule written with raw arrays: %s\n", caught.message().c_str());

    // in a model, like a built-in op
    auto w = Tensor::parameter({0.5, -1.0, 2.0, 0.1, 1.5}, {5});
    auto loss = sum(square(softsign(w * x) - 0.3));
    loss.backward();
    std::cout << "loss = " << loss.item() << ", d loss / d w = " << Tensor::constant(w.grad()) << "\n";

    bool ok = first.ok && second.ok && !caught.ok;
    std::printf("%s\n", ok ? "custom op checked to second order" : "CHECK FAILED");
    return ok ? 0 : 1;
}
