// Optimizers beside libtorch, 1 and 2 threads:
//   1. one Adam step (forward, backward, update) of MLP 784-256-256-10, ReLU, batch 256, float32
//   2. one K-FAC step on the same model and batch (factors every step, their inverses every
//      tenth: timed over 30 steps, so the eigendecompositions count at their share), beside
//      the Adam step (libtorch has no K-FAC of its own); sampled and empirical Fisher
//   3. one second-order step on MLP 64-128-10 (tanh, cross entropy) at batch 512 in float64:
//      the gradient and 20 conjugate-gradient iterations on exact curvature-vector products
//      (libtorch: Hessian-vector products by double backward; xtgrad: the NaturalGradient
//      optimizer with the exact Hessian, and with the Fisher / Gauss-Newton product)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include <xtensor/xrandom.hpp>

#include "mlp64.hpp"
#include "mlp784.hpp"
#include "timing.hpp"
#include "torch_workloads.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;

namespace {
double adam_step(std::size_t batch, int reps) {
    bench::Mlp784 m(batch);
    optim::Adam<float> adam(m.net.parameters(), {});
    Tape tape;
    return bench::median_seconds(
        [&] {
            adam.zero_grad();
            nn::cross_entropy(m.net(m.x), m.labels).backward();
            adam.step();
            tape.release();
        },
        reps);
}

bench::CycleTimes kfac_step(std::size_t batch, optim::FisherEstimate fisher) {
    bench::Mlp784 m(batch);
    optim::CurvatureModel<float> model{[&] { return m.net(m.x); },
                                       [&](const Tensor32& z) { return nn::cross_entropy(z, m.labels); }};
    optim::KFAC<float> kfac(m.net.parameters(), model,
                            {.lr = 0.01, .factor_every = 1, .inverse_every = 10, .fisher = fisher});
    return bench::cycle_seconds([&] { kfac.step(); });
}

struct SecondOrder {
    double seconds;
    std::size_t cg_iterations;  // of the last step
};

// Damping of the second-order steps, on both sides. Large enough that H + damping I is positive
// definite on this model, so that conjugate gradients never stop at negative curvature and
// every step, xtgrad's and libtorch's, does all 20 iterations: the same work on both sides.
constexpr double kDamping = 1.0;

SecondOrder second_order_step(std::size_t batch, optim::Curvature curvature, int reps) {
    bench::Mlp64 m(batch);
    // cg_rtol 0: always the full 20 iterations, as on the libtorch side
    optim::NaturalGradient<double> ng(
        m.net.parameters(), m.model,
        {.damping = kDamping, .adapt_damping = false, .cg_iterations = 20, .cg_rtol = 0, .curvature = curvature});
    double t = bench::median_seconds([&] { ng.step(); }, reps, 1);
    return {t, ng.last_report().cg.iterations};
}
}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 5 : 21;
    std::printf("optimizer benchmarks (median of %d runs in one process)%s\n", reps,
                torch_side::available() ? ", beside libtorch" : "");
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        torch_side::set_threads(threads);
        std::printf("\n%d thread%s\n", threads, threads > 1 ? "s" : "");
        double adam = adam_step(256, reps * 2);
        std::printf("  %-58s %9.3f ms", "Adam step, MLP 784-256-256-10, batch 256, f32", adam * 1e3);
        if (torch_side::available()) {
            double t = torch_side::adam784_step(256, reps * 2);
            std::printf("   libtorch %9.3f ms   xtgrad faster %5.2fx", t * 1e3, t / adam);
        }
        std::printf("\n");
        auto k = kfac_step(256, optim::FisherEstimate::sampled);
        std::printf("  %-58s %9.3f ms   / Adam step %5.2f\n",
                    "K-FAC step (mean of 30: factors each, inverses every 10)", k.mean * 1e3, k.mean / adam);
        std::printf("  %-58s %9.3f ms   refresh step %9.3f ms\n", "  K-FAC step between refreshes (median)",
                    k.between_refreshes * 1e3, k.refresh * 1e3);
        // the empirical Fisher's output gradients come from the gradient's own sweep
        auto e = kfac_step(256, optim::FisherEstimate::empirical);
        std::printf("  %-58s %9.3f ms   / Adam step %5.2f   between refreshes %9.3f ms\n",
                    "  the same, empirical Fisher (no second sweep)", e.mean * 1e3, e.mean / adam,
                    e.between_refreshes * 1e3);
        auto [hess, hess_its] = second_order_step(512, optim::Curvature::hessian, reps);
        auto [fisher, fisher_its] = second_order_step(512, optim::Curvature::fisher, reps);
        std::printf("  %-58s %9.3f ms", "Newton-CG step (Hessian), 20 CG its, MLP 64-128-10, b 512", hess * 1e3);
        if (torch_side::available()) {
            double t = torch_side::newton_cg_step(512, 20, kDamping, reps);
            std::printf("   libtorch %9.3f ms   xtgrad faster %5.2fx", t * 1e3, t / hess);
        }
        std::printf("\n  %-58s %9.3f ms   Fisher / Hessian step %5.2f\n",
                    "natural-gradient step (Fisher = Gauss-Newton), same", fisher * 1e3, fisher / hess);
        std::printf("  (CG iterations in the last step: Hessian %zu, Fisher %zu)\n", hess_its, fisher_its);
    }
    return 0;
}
