// Loading and preparing the shipped data sets for the examples.
#include "datasets.hpp"

#include <cmath>

namespace lecture {

namespace {
Classification split(const xtgrad::nn::Table& table, double test_fraction, std::uint64_t seed) {
    auto [train, test] = xtgrad::nn::train_test_split(table, test_fraction, seed);
    xtgrad::nn::Standardizer s;
    s.fit(train.features);
    Classification c;
    c.x_train = s.transform(train.features);
    c.x_test = s.transform(test.features);
    c.y_train = xtgrad::nn::to_labels(train.target);
    c.y_test = xtgrad::nn::to_labels(test.target);
    for (auto l : c.y_train) c.classes = std::max(c.classes, l + 1);
    return c;
}
}  // namespace

Classification breast_cancer(const Context& ctx, std::uint64_t seed) {
    return split(xtgrad::nn::load_csv(ctx.data("breast_cancer.csv"), {.header_lines = 1}), 0.25, seed);
}

Classification digits(const Context& ctx, std::uint64_t seed) {
    return split(xtgrad::nn::load_csv(ctx.data("digits.csv.gz")), 0.2, seed);
}

void diabetes(const Context& ctx, Array<double>& x, Array<double>& y) {
    auto raw = xtgrad::nn::load_csv(ctx.data("diabetes_data_raw.csv"), {.delimiter = ' ', .has_label = false});
    auto target = xtgrad::nn::load_csv(ctx.data("diabetes_target.csv"), {.delimiter = ' ', .has_label = false});
    xtgrad::nn::Standardizer s;
    s.fit(raw.features);
    x = s.transform(raw.features);
    y = target.features;
    y.reshape({y.size()});
}

Array<double> column(const std::vector<std::size_t>& labels) {
    Array<double> c = Array<double>::from_shape({labels.size(), 1});
    for (std::size_t i = 0; i < labels.size(); ++i) c(i, 0) = double(labels[i]);
    return c;
}

std::pair<double, double> eigen_range(const Array<double>& A) {
    std::size_t n = A.shape()[0];
    auto power = [&](const Array<double>& M) {
        Array<double> v = xt::ones<double>({n});
        double lambda = 0;
        for (int it = 0; it < 5000; ++it) {
            Array<double> w = xt::zeros<double>({n});
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j) w(i) += M(i, j) * v(j);
            double norm = std::sqrt(xt::sum(w * w)());
            double next = xt::sum(w * v)() / xt::sum(v * v)();
            v = w / norm;
            if (std::abs(next - lambda) <= 1e-14 * std::abs(next)) return next;
            lambda = next;
        }
        return lambda;
    };
    double top = power(A);
    Array<double> shifted = -A;
    for (std::size_t i = 0; i < n; ++i) shifted(i, i) += top;
    double bottom = top - power(shifted);
    return {bottom, top};
}

Array<double> with_intercept(const Array<double>& x) {
    std::size_t n = x.shape()[0], d = x.shape()[1];
    Array<double> out = Array<double>::from_shape({n, d + 1});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) out(i, j) = x(i, j);
        out(i, d) = 1.0;
    }
    return out;
}

}  // namespace lecture
