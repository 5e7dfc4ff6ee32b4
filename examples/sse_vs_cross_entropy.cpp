// Slide: "SSE versus cross entropy". A sigmoid unit trained with the sum-squared error has
// gradient (z - t) z (1 - z): it vanishes for points whose output is confidently wrong, so
// gradient descent with SSE hardly moves them, while cross entropy's gradient z - t keeps
// pulling. The lecture's claim: cross entropy keeps outliers correctly classified more often,
// and copes better with unbalanced classes. Both are trained by the same gradient descent from
// a start that predicts the majority class with confidence (the situation the argument is
// about); checked on seeded synthetic data, measured and reported as it comes out on the
// breast cancer data.
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

namespace {
struct Fit {
    Array<double> w;  // [d, 1]
    double b = 0;
};

Fit train(const Array<double>& x, const Array<double>& t, bool cross_entropy, std::size_t steps, double majority) {
    std::size_t d = x.shape()[1];
    auto w = Tensor::parameter(xt::zeros<double>({d, std::size_t(1)}));
    // every output starts at sigmoid(+-6): 0.25 % away from the majority label
    auto b = Tensor::parameter(Array<double>{majority == 1 ? 6.0 : -6.0});
    auto xt_ = Tensor::constant(x), tt = Tensor::constant(t);
    optim::SGD<double> gd(TensorList<double>{w, b}, {.lr = 1.0});
    Tape tape;
    for (std::size_t k = 0; k < steps; ++k) {
        gd.zero_grad();
        auto s = matmul(xt_, w) + b;
        auto loss = cross_entropy ? nn::binary_cross_entropy_with_logits(s, tt)
                                  : nn::sum_squared_error(sigmoid(s), tt, nn::Reduction::mean);
        loss.backward();
        gd.step();
        tape.release();
    }
    return {w.value(), b.value()(0)};
}

std::vector<bool> predict(const Fit& f, const Array<double>& x) {
    std::vector<bool> out;
    for (std::size_t i = 0; i < x.shape()[0]; ++i) {
        double s = f.b;
        for (std::size_t j = 0; j < x.shape()[1]; ++j) s += x(i, j) * f.w(j, 0);
        out.push_back(s > 0);
    }
    return out;
}

// recall of class `positive` among rows with that label
double recall(const std::vector<bool>& predicted_one, const Array<double>& t, bool positive_is_one) {
    double hit = 0, total = 0;
    for (std::size_t i = 0; i < predicted_one.size(); ++i)
        if ((t(i, 0) == 1) == positive_is_one) {
            ++total;
            hit += predicted_one[i] == positive_is_one;
        }
    return hit / total;
}
}  // namespace

void sse_vs_cross_entropy(Context& ctx) {
    // 400 points of class 0, 40 of class 1 (10:1), and 10 class-1 outliers that sit between
    // the clusters, nearer the minority one.
    std::mt19937_64 rng(21);
    std::normal_distribution<double> normal(0.0, 1.0);
    const std::size_t n0 = 400, n1 = 40, outliers = 10, n = n0 + n1 + outliers;
    Array<double> x = Array<double>::from_shape({n, 2}), t = xt::zeros<double>({n, std::size_t(1)});
    for (std::size_t i = 0; i < n; ++i) {
        if (i < n0) {
            x(i, 0) = -1.5 + 0.8 * normal(rng);
            x(i, 1) = 0.8 * normal(rng);
        } else if (i < n0 + n1) {
            x(i, 0) = 1.5 + 0.6 * normal(rng);
            x(i, 1) = 0.6 * normal(rng);
            t(i, 0) = 1;
        } else {
            x(i, 0) = 0.8 + 0.2 * normal(rng);
            x(i, 1) = 1.2 * normal(rng);
            t(i, 0) = 1;
        }
    }
    std::size_t steps = 300;
    Fit ce = train(x, t, true, steps, 0), sse = train(x, t, false, steps, 0);
    auto pce = predict(ce, x), psse = predict(sse, x);
    std::size_t out_ce = 0, out_sse = 0;
    for (std::size_t i = n0 + n1; i < n; ++i) {
        out_ce += !pce[i];
        out_sse += !psse[i];
    }
    double rec_ce = recall(pce, t, true), rec_sse = recall(psse, t, true);
    ctx.note("same start (every output 0.25 % from the majority label), same step size, " + std::to_string(steps) +
             " gradient-descent steps for both losses");
    ctx.claim("synthetic: CE misclassifies fewer outliers than SSE",
              "CE " + std::to_string(out_ce) + ", SSE " + std::to_string(out_sse) + " of " + std::to_string(outliers),
              out_ce < out_sse);
    ctx.claim("synthetic (10:1): CE minority recall > SSE's", "CE " + fixed(rec_ce, 3) + ", SSE " + fixed(rec_sse, 3),
              rec_ce > rec_sse);

    // breast cancer, 212 malignant (label 0, the minority) / 357 benign
    auto data = breast_cancer(ctx);
    Array<double> ttrain = column(data.y_train), ttest = column(data.y_test);
    // the majority class is benign (label 1): start there with confidence
    Fit bce = train(data.x_train, ttrain, true, steps, 1), bsse = train(data.x_train, ttrain, false, steps, 1);
    double mal_ce = recall(predict(bce, data.x_test), ttest, false);
    double mal_sse = recall(predict(bsse, data.x_test), ttest, false);
    ctx.note("breast cancer, " + std::to_string(steps) +
             " steps of the same gradient descent: malignant (minority) "
             "recall on the test split: CE " +
             fixed(mal_ce, 3) + ", SSE " + fixed(mal_sse, 3) +
             (mal_ce >= mal_sse ? " (agrees with the lecture)" : " (disagrees with the lecture on this data)"));

    // Left: the data and both decision boundaries. Right: each model's P(class 1) along the
    // line x2 = 0 through both clusters, which shows the SSE model's outputs even where its
    // boundary lies outside the window.
    double sse_crossing = -sse.b / sse.w(0, 0);  // where the SSE boundary meets x2 = 0
    bool sse_inside = std::isfinite(sse_crossing) && sse_crossing > -4.5 && sse_crossing < 4;
    if (!sse_inside)
        ctx.note(
            fmt::format("the SSE boundary meets x2 = 0 at x1 = {:.1f}, outside the window: its outputs stay "
                        "on the majority side for all the data (right panel)",
                        sse_crossing));
    std::vector<std::vector<double>> rows;
    for (std::size_t i = 0; i < n; ++i) rows.push_back({x(i, 0), x(i, 1), t(i, 0), i >= n0 + n1 ? 1.0 : 0.0});
    auto line = [](const Fit& f) {  // x2 as a function of x1 on the boundary w1 x1 + w2 x2 + b = 0
        return fmt::format("(-({}) * x - ({})) / ({})", f.w(0, 0), f.b, f.w(1, 0));
    };
    auto probability = [](const Fit& f) { return fmt::format("1 / (1 + exp(-(({}) * x + ({}))))", f.w(0, 0), f.b); };
    std::string sse_title =
        sse_inside ? "sum-squared error"
                   : fmt::format("sum-squared error (boundary at x1 = {:.0f}, off the plot)", sse_crossing);
    ctx.plot(
        "sse_vs_cross_entropy", {"x1", "x2", "label", "outlier"}, rows,
        "set multiplot layout 1,2 title 'cross entropy vs sum-squared error: 400 class-0 points, 40 class-1, 10 "
        "class-1 outliers'\n"
        "set title 'decision boundaries'\nset xlabel 'x1'\nset ylabel 'x2'\nset xrange [-4.5:4]\nset yrange "
        "[-3.5:4.5]\n"
        "set key top left Left reverse\n"
        "plot csv using ($3 == 0 ? $1 : 1/0):2 with points pt 7 ps 0.4 lc rgb '#8888cc' title 'class 0', "
        "csv using ($3 == 1 && $4 == 0 ? $1 : 1/0):2 with points pt 7 ps 0.6 lc rgb '#cc4444' title 'class 1', "
        "csv using ($4 == 1 ? $1 : 1/0):2 with points pt 9 ps 1.2 lc rgb '#aa0000' title 'class-1 outliers', " +
            line(ce) + " with lines lw 3 lc rgb '#007700' title 'cross entropy', " + line(sse) +
            " with lines lw 3 dt 2 lc rgb '#000000' title '" + sse_title +
            "'\n"
            "set title 'P(class 1) along x2 = 0'\nset ylabel 'P(class 1)'\nset yrange [-0.05:1.05]\n"
            "set key at graph 0.02, graph 0.95 left top Left reverse\n"
            "set samples 400\n"
            "plot csv using ($4 == 1 ? $1 : 1/0):(1.0) with points pt 9 ps 1.2 lc rgb '#aa0000' title 'outliers (label "
            "1)', " +
            probability(ce) + " with lines lw 3 lc rgb '#007700' title 'cross entropy', " + probability(sse) +
            " with lines lw 3 dt 2 lc rgb '#000000' title 'sum-squared error', 0.5 with lines dt 3 lc rgb '#888888' "
            "title 'threshold'\nunset multiplot",
        1300);
}

}  // namespace lecture
