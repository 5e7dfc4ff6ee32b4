// A tour of the autodiff engine on a small softmax classifier: record a model on a tape,
// check its gradients and Hessian-vector products against finite differences, and train it
// by gradient descent. Every claim is checked and printed as `claim | measured | holds`;
// the exit status is non-zero when one does not hold.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <xtensor/xmath.hpp>

#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

namespace {
int failures = 0;

std::string sci(const char* label, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s %.2e", label, v);
    return buf;
}

void claim(const char* what, const std::string& measured, bool holds) {
    std::printf("%-62s | %-26s | %s\n", what, measured.c_str(), holds ? "holds" : "DOES NOT HOLD");
    failures += holds ? 0 : 1;
}

// Three Gaussian blobs in the plane, seeded.
void make_blobs(std::size_t n, Array<double>& x, std::vector<std::size_t>& labels) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(0.0, 0.6);
    const double centres[3][2] = {{0.0, 2.0}, {-2.0, -1.0}, {2.0, -1.0}};
    x = Array<double>::from_shape({n, 2});
    labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        labels[i] = i % 3;
        x(i, 0) = centres[i % 3][0] + noise(rng);
        x(i, 1) = centres[i % 3][1] + noise(rng);
    }
}
}  // namespace

int main() {
    Array<double> data;
    std::vector<std::size_t> labels;
    make_blobs(300, data, labels);
    Tensor x = Tensor::constant(data);

    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0.0, 0.5);
    auto init = [&](Shape shape) {
        Array<double> a = Array<double>::from_shape(shape);
        for (auto& v : a) v = normal(rng);
        return Tensor::parameter(a);
    };
    Tensor W1 = init({2, 8}), b1 = init({8}), W2 = init({8, 3});
    TensorList<double> params{W1, b1, W2};
    auto loss_fn = [&] {
        Tensor h = tanh(matmul(x, W1) + b1);
        return -mean(pick(log_softmax(matmul(h, W2), 1), labels));
    };

    // 1. Gradients agree with central differences.
    CheckReport first = gradcheck(loss_fn, params);
    double worst = 0;
    for (auto& in : first.inputs) worst = std::max(worst, std::abs(in.analytic - in.numeric));
    claim("gradient of an MLP loss = central differences", sci("worst |diff|", worst), first.ok);

    // 2. Hessian-vector products are exact: they agree with differences of gradients.
    CheckReport second = hvpcheck(loss_fn, params);
    claim("Hessian-vector product = differences of gradients", second.ok ? "agree" : second.message(), second.ok);

    // 3. The softmax gradient: d log p_k / d z_i = delta_ik - p_i.
    Tensor z = Tensor::parameter(Array<double>{1.0, -0.5, 2.0, 0.3});
    Array<double> J = jacobian([&] { return log_softmax(z, 0); }, {z})[0];
    Array<double> p;
    {
        NoGrad no_grad;  // outside a tape, parameters are used without recording
        p = softmax(z, 0).value();
    }
    double dev = 0;
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t i = 0; i < 4; ++i) dev = std::max(dev, std::abs(J(k, i) - ((i == k) - p(i))));
    claim("d log softmax_k / d z_i = delta_ik - p_i", sci("max deviation", dev), dev < 1e-14);

    // 4. Training by gradient descent on one tape per step; memory stays flat.
    double first_loss = 0, last_loss = 0;
    Tape tape;
    for (int step = 0; step < 300; ++step) {
        Tensor loss = loss_fn();
        if (step == 0) first_loss = loss.item();
        last_loss = loss.item();
        auto g = grad(loss, params);
        for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_value() -= 0.5 * g[i].value();
        tape.release();
    }
    Tensor logits;
    {
        NoGrad no_grad;
        logits = matmul(tanh(matmul(x, W1) + b1), W2);
    }
    std::size_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const double* row = logits.value().data() + 3 * i;
        correct += static_cast<std::size_t>(std::max_element(row, row + 3) - row) == labels[i];
    }
    double accuracy = double(correct) / double(labels.size());
    char buf[64];
    std::snprintf(buf, sizeof buf, "loss %.3f -> %.3f", first_loss, last_loss);
    claim("gradient descent lowers the cross entropy", buf, last_loss < 0.5 * first_loss);
    std::snprintf(buf, sizeof buf, "accuracy %.1f %%", 100 * accuracy);
    claim("a 2-8-3 MLP separates three blobs", buf, accuracy > 0.9);

    std::printf("%d claim(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}
