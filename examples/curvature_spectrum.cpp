// Beyond the slides: what the curvature of a trained network looks like (PyHessian, Yao et al.
// 2020; Sagun et al. 2017; Papyan 2019). The digits MLP's Hessian, at its initialisation and
// after training, seen through products only: its largest eigenvalues by Lanczos, its trace by
// Hutchinson, its spectral density by stochastic Lanczos quadrature. The observation checked:
// after training, a bulk concentrated near zero (it holds here) and a few outlier eigenvalues,
// about one per class (it does not on this small model trained to interpolation: said in a
// note, with the numbers).
#include <algorithm>
#include <cmath>

#include "support/datasets.hpp"

namespace lecture {

using namespace xtgrad;

void curvature_spectrum(Context& ctx) {
    auto dg = digits(ctx);
    std::mt19937_64 rng(4);
    nn::MLP<double> mlp({64, 32, 10}, nn::Activation::tanh, rng);
    auto x = Tensor::constant(dg.x_train);
    optim::CurvatureModel<double> model{[&] { return mlp(x); },
                                        [&](const Tensor& z) { return nn::cross_entropy(z, dg.y_train); },
                                        [&] { return nn::l2_penalty(mlp, 1e-4); }};
    auto params = mlp.parameters();
    std::size_t p = 0;
    for (auto& t : params) p += t.size();

    struct Seen {
        std::vector<double> top;
        optim::Estimate trace;
        optim::SpectralDensity density;
    };
    auto look = [&] {
        Seen s;
        s.top = optim::top_eigenpairs(params, model, 20, optim::Curvature::hessian, {.lanczos_steps = 100}).values;
        s.trace = optim::curvature_trace(params, model, optim::Curvature::hessian, {.probes = 32});
        s.density =
            optim::spectral_density(params, model, optim::Curvature::hessian, {.lanczos_steps = 80, .probes = 16});
        return s;
    };
    Seen before = look();
    {  // full-batch L-BFGS to a small training loss
        optim::LBFGS<double> lbfgs(params, {.stop = {.max_iterations = 400}});
        std::size_t step = 0;
        lbfgs.minimize([&] {
            lbfgs.zero_grad();
            Tape tape;
            auto loss = model.loss(model.outputs()) + model.penalty();
            loss.backward();
            if (++step % 50 == 0) ctx.progress("L-BFGS on digits", step, 400, loss.item(), std::nan(""), "evaluation");
            return loss.item();
        });
        ctx.end_progress();
    }
    double trained_loss, accuracy;
    {
        NoGrad no_grad;
        auto z = mlp(x);
        trained_loss = nn::cross_entropy(z, dg.y_train).item();
        auto zt = mlp(Tensor::constant(dg.x_test));
        std::size_t right = 0;
        for (std::size_t i = 0; i < dg.y_test.size(); ++i) {
            std::size_t best = 0;
            for (std::size_t c = 1; c < 10; ++c)
                if (zt.value()(i, c) > zt.value()(i, best)) best = c;
            right += best == dg.y_test[i];
        }
        accuracy = double(right) / double(dg.y_test.size());
    }
    Seen after = look();

    // the outliers: eigenvalues above a tenth of the largest; the bulk: the spectral mass
    // within 1 % of the largest eigenvalue around zero
    auto outliers = [](const Seen& s) {
        return std::count_if(s.top.begin(), s.top.end(), [&](double v) { return v > 0.1 * s.top.front(); });
    };
    auto bulk = [](const Seen& s) {
        double mass = 0;
        for (std::size_t k = 0; k < s.density.nodes.size(); ++k)
            if (std::abs(s.density.nodes[k]) <= 0.01 * s.top.front()) mass += s.density.weights[k];
        return mass;
    };
    ctx.note("digits MLP 64-32-10 (tanh, " + std::to_string(p) + " parameters), full batch: training loss " +
             fixed(trained_loss, 4) + " after L-BFGS, test accuracy " + fixed(100 * accuracy, 1) + " %");
    for (const auto* s : {&before, &after})
        ctx.note(std::string(s == &before ? "at initialisation" : "after training") + ": largest eigenvalue " +
                 fixed(s->top.front(), 3) + ", 2nd-5th " + fixed(s->top[1], 3) + ", " + fixed(s->top[2], 3) + ", " +
                 fixed(s->top[3], 3) + ", " + fixed(s->top[4], 3) + "; trace " + fixed(s->trace.value, 2) + " +- " +
                 fixed(s->trace.standard_error, 2) + " (Hutchinson, 32 probes); " + std::to_string(outliers(*s)) +
                 " eigenvalues above a tenth of the largest; " + fixed(100 * bulk(*s), 1) +
                 " % of the spectral mass within 1 % of it around 0");
    ctx.claim("training moves the curvature towards zero: the trace falls at least fivefold",
              fixed(before.trace.value, 2) + " -> " + fixed(after.trace.value, 2),
              after.trace.value * 5 <= before.trace.value);
    ctx.claim(
        "after training more of the spectrum lies near zero: the mass within 1 % of the largest "
        "eigenvalue grows by at least 15 points",
        fixed(100 * bulk(before), 1) + " % -> " + fixed(100 * bulk(after), 1) + " %",
        bulk(after) >= bulk(before) + 0.15);
    // how many of the largest stand apart: those above the widest relative gap among the top ten
    std::size_t apart = 1;
    for (std::size_t j = 1; j < 10; ++j)
        if (after.top[j - 1] / after.top[j] > after.top[apart - 1] / after.top[apart]) apart = j;
    ctx.note(
        "PyHessian's other observation, a few outliers (about one per class) above the bulk, shows only "
        "partly: after training the largest eigenvalues are " +
        fixed(after.top[0], 4) + ", " + fixed(after.top[1], 4) + ", " + fixed(after.top[2], 4) + ", " +
        fixed(after.top[3], 4) + ": the widest gap among the top ten leaves " + std::to_string(apart) +
        " above it (the isolated peaks of the density), not one per class. The network interpolates its 1437 "
        "training digits (loss " +
        fixed(trained_loss, 4) +
        ") and its curvature collapses with the loss; "
        "the outliers are reported for larger networks at a non-zero training loss");
    const double moment = after.density.moment(1) * double(p);
    ctx.claim(
        "the density's first moment times p is the trace: SLQ (16 probes) and Hutchinson (32) agree "
        "within 4 standard errors",
        fixed(moment, 2) + " vs " + fixed(after.trace.value, 2) + " +- " + fixed(after.trace.standard_error, 2),
        std::abs(moment - after.trace.value) <= 4 * after.trace.standard_error);

    // each density on its own range (the trained spectrum is 30 times narrower), smoothed by
    // Gaussians of 1/60 of that range: wide enough to merge the Ritz values of the 16 probes
    auto curve = [](const Seen& s, std::vector<double>& grid) {
        const double lo = *std::min_element(s.density.nodes.begin(), s.density.nodes.end());
        const double hi = *std::max_element(s.density.nodes.begin(), s.density.nodes.end());
        const double margin = 0.1 * (hi - lo);
        grid.clear();
        for (int i = 0; i <= 600; ++i) grid.push_back(lo - margin + (hi - lo + 2 * margin) * double(i) / 600.0);
        return s.density.smoothed(grid, (hi - lo) / 60);
    };
    std::vector<double> g0, g1;
    auto d0 = curve(before, g0), d1 = curve(after, g1);
    std::vector<std::vector<double>> rows;
    for (std::size_t i = 0; i < g0.size(); ++i)
        rows.push_back({g0[i], std::max(d0[i], 1e-6), g1[i], std::max(d1[i], 1e-6)});
    ctx.plot("curvature_spectrum", {"eigenvalue_init", "density_init", "eigenvalue_trained", "density_trained"}, rows,
             "set multiplot layout 1,2 title 'Hessian spectral density of the digits MLP (stochastic Lanczos "
             "quadrature, 16 probes x 80 steps)'\n"
             "set logscale y\nset format y '%.0e'\nset yrange [1e-4:*]\nset ylabel 'density'\n"
             "set xlabel 'eigenvalue'\nset key top right\n"
             "set title 'at initialisation (trace " +
                 fixed(before.trace.value, 1) +
                 ")'\n"
                 "plot csv using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle\n"
                 "set title 'after training (trace " +
                 fixed(after.trace.value, 2) +
                 ")'\n"
                 "plot csv using 3:4 with lines lw 2 lc rgb '#d62728' notitle\nunset multiplot",
             1200);
}

}  // namespace lecture
