// SGD, Adam, AdamW: updates against the published equations computed by hand; option
// validation; non-finite gradients; state save/restore; schedules; clipping.
#include <filesystem>

#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::optim;
using namespace xtgrad::testing;

namespace {
// Sets p.grad() = c (constant): the gradient of sum(c * p).
void set_grad(const Tensor& p, const Array<double>& c) {
    Tape tape;
    Tensor q = p;
    q.zero_grad();
    sum(Tensor::constant(c) * p).backward();
}

const Array<double> kG = {0.5, -1.0, 2.0};
const Array<double> kP0 = {1.0, -2.0, 0.25};
}  // namespace

BOOST_AUTO_TEST_CASE(sgd_momentum_dampening_weight_decay) {
    auto p = Tensor::parameter(kP0);
    SGD<double> opt(TensorList<double>{p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    std::vector<double> x(kP0.begin(), kP0.end()), buf(3);
    for (int step = 0; step < 3; ++step) {
        set_grad(p, kG);
        opt.step();
        for (std::size_t i = 0; i < 3; ++i) {
            double g = kG(i) + 0.01 * x[i];
            buf[i] = step == 0 ? g : 0.9 * buf[i] + 0.9 * g;
            x[i] -= 0.1 * buf[i];
        }
        for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(std::abs(p.value()(i) - x[i]) < 1e-15);
    }
}

BOOST_AUTO_TEST_CASE(sgd_nesterov) {
    auto p = Tensor::parameter(kP0);
    SGD<double> opt(TensorList<double>{p}, {.lr = 0.05, .momentum = 0.8, .nesterov = true});
    std::vector<double> x(kP0.begin(), kP0.end()), buf(3);
    for (int step = 0; step < 3; ++step) {
        set_grad(p, kG);
        opt.step();
        for (std::size_t i = 0; i < 3; ++i) {
            double g = kG(i);
            buf[i] = step == 0 ? g : 0.8 * buf[i] + g;
            x[i] -= 0.05 * (g + 0.8 * buf[i]);
        }
    }
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(std::abs(p.value()(i) - x[i]) < 1e-15);
}

BOOST_AUTO_TEST_CASE(adam_amsgrad_adamw_match_the_equations) {
    // 3 elements (shorter than a SIMD register) and 37 (whole registers and a ragged end)
    Array<double> long_p0 = xt::sin(xt::arange<double>(37.0)), long_g = xt::cos(xt::arange<double>(37.0));
    for (auto [p0, g0] : {std::pair<Array<double>, Array<double>>{kP0, kG}, {long_p0, long_g}})
        for (int variant = 0; variant < 3; ++variant) {
            AdamOptions o{.lr = 0.01,
                          .beta1 = 0.8,
                          .beta2 = 0.95,
                          .eps = 1e-6,
                          .weight_decay = 0.1,
                          .amsgrad = variant == 1,
                          .decoupled_weight_decay = variant == 2};
            auto p = Tensor::parameter(p0);
            Adam<double> opt(TensorList<double>{p}, o);
            const std::size_t n = p0.size();
            std::vector<double> x(p0.begin(), p0.end()), m(n), v(n), vmax(n);
            for (int t = 1; t <= 4; ++t) {
                Array<double> g = g0 * (t % 2 ? 1.0 : -0.5);  // changing gradients exercise AMSGrad's max
                set_grad(p, g);
                opt.step();
                for (std::size_t i = 0; i < n; ++i) {
                    double gi = g(i);
                    if (o.decoupled_weight_decay)
                        x[i] *= 1 - o.lr * o.weight_decay;
                    else
                        gi += o.weight_decay * x[i];
                    m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
                    v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
                    vmax[i] = std::max(vmax[i], v[i]);
                    double vhat = (o.amsgrad ? vmax[i] : v[i]) / (1 - std::pow(o.beta2, t));
                    x[i] -= o.lr * (m[i] / (1 - std::pow(o.beta1, t))) / (std::sqrt(vhat) + o.eps);
                }
                for (std::size_t i = 0; i < n; ++i)
                    BOOST_TEST(std::abs(p.value()(i) - x[i]) < 1e-14,
                               "variant " << variant << " step " << t << " element " << i << " of " << n);
            }
        }
    auto q = Tensor::parameter(kP0);
    AdamW<double> w(TensorList<double>{q});
    BOOST_TEST(w.groups()[0].options.decoupled_weight_decay);
    BOOST_TEST(w.groups()[0].options.weight_decay == 0.01);
}

// As PyTorch's optimizers skip a parameter whose grad is None: one that no gradient reached
// since zero_grad keeps its value, its momentum and its step count, whatever the decay.
BOOST_AUTO_TEST_CASE(a_parameter_without_a_gradient_is_left_as_it_is) {
    auto check = [](auto& opt, Tensor& p, Tensor& q, const char* who) {
        set_grad(p, kG);
        set_grad(q, kG);
        opt.step();  // both move, and both have a momentum (or moments) now
        const Array<double> q_after_one = q.value(), p_after_one = p.value();
        q.zero_grad();
        set_grad(p, kG);
        opt.step();
        BOOST_TEST(xt::all(xt::equal(q.value(), q_after_one)), who);
        BOOST_TEST(!xt::all(xt::equal(p.value(), p_after_one)), who);
        const auto names = opt.parameter_names();
        for (auto& [name, a] : opt.state())  // Adam's step counts: 2 for p, still 1 for q
            if (name == names[1] + ".step" || name == names[0] + ".step")
                BOOST_TEST(a() == (name == names[1] + ".step" ? 1.0 : 2.0), who << " " << name);
    };
    auto p = Tensor::parameter(kP0), q = Tensor::parameter(kP0);
    SGD<double> sgd(TensorList<double>{p, q}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    check(sgd, p, q, "SGD");
    p = Tensor::parameter(kP0), q = Tensor::parameter(kP0);
    Adam<double> adam(TensorList<double>{p, q}, {.lr = 0.1, .weight_decay = 0.1});
    check(adam, p, q, "Adam");
    p = Tensor::parameter(kP0), q = Tensor::parameter(kP0);
    AdamW<double> adamw(TensorList<double>{p, q}, {.lr = 0.1});
    check(adamw, p, q, "AdamW");
}

// Adam's update trusts its moments' shapes: AMSGrad turned on after some steps starts its
// maximum at zero, and a parameter whose shape changed after a step is refused.
BOOST_AUTO_TEST_CASE(adam_keeps_its_moments_in_step_with_the_parameters) {
    auto p = Tensor::parameter(kP0);
    Adam<double> adam(TensorList<double>{p}, {.lr = 0.1});
    set_grad(p, kG);
    adam.step();
    adam.groups()[0].options.amsgrad = true;
    set_grad(p, kG);
    adam.step();
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(std::isfinite(p.value()(i)));
    BOOST_TEST(adam.state().size() == 4u);  // step, exp_avg, exp_avg_sq, max_exp_avg_sq
    p.mutable_value() = Array<double>{1.0, 2.0, 3.0, 4.0};
    set_grad(p, Array<double>{1.0, 1.0, 1.0, 1.0});
    expect_error<ShapeError>([&] { adam.step(); },
                             "Adam.step: parameter '0' has shape [4], its gradient [4] and its moments [3]");
}

BOOST_AUTO_TEST_CASE(options_are_validated) {
    auto p = Tensor::parameter(kP0);
    TensorList<double> ps{p};
    expect_error<ValueError>([&] { SGD<double>(ps, {.lr = -0.1}); }, "SGD: learning rate must be >= 0, got -0.1");
    expect_error<ValueError>([&] { SGD<double>(ps, {.nesterov = true}); }, "Nesterov momentum needs momentum > 0");
    expect_error<ValueError>([&] { Adam<double>(ps, {.beta1 = 1.0}); }, "Adam: beta1 must be in [0, 1), got 1");
    expect_error<ValueError>([&] { Adam<double>(ps, {.beta2 = -0.5}); }, "Adam: beta2 must be in [0, 1), got -0.5");
    expect_error<ValueError>([&] { Adam<double>(ps, {.eps = -1}); }, "Adam: eps must be >= 0");
    auto c = Tensor::constant(kP0);
    expect_error<ValueError>([&] { SGD<double>(TensorList<double>{c}, {}); }, "every parameter must be a leaf");
}

BOOST_AUTO_TEST_CASE(parameter_groups_have_their_own_options) {
    auto a = Tensor::parameter(kP0), b = Tensor::parameter(kP0);
    SGD<double> opt({{{a}, {.lr = 0.1}, {"a"}}, {{b}, {.lr = 0.0}, {"b"}}});
    set_grad(a, kG);
    set_grad(b, kG);
    opt.step();
    BOOST_TEST(a.value() != kP0);
    BOOST_TEST(b.value() == kP0);
    set_learning_rate(opt, 0.2);
    BOOST_TEST(opt.groups()[1].options.lr == 0.2);
}

BOOST_AUTO_TEST_CASE(non_finite_gradients_and_losses_are_reported) {
    auto p = Tensor::parameter(kP0);
    Adam<double> opt(nn::NamedTensors<double>{{"layer.weight", p}}, {});
    set_grad(p, Array<double>{0.0, std::nan(""), 1.0});
    expect_error<NonFiniteError>([&] { opt.step(); },
                                 "Adam.step: gradient of parameter 'layer.weight' (shape [3]) is nan at flat index 1");
    BOOST_TEST(p.value() == kP0);
    expect_error<NonFiniteError>([&] { opt.step([] { return std::numeric_limits<double>::infinity(); }); },
                                 "the loss is inf");
    BOOST_TEST(p.value() == kP0);
    // past the first SIMD batches (the scan is vectorised), float, and infinities of either sign
    for (std::size_t bad : {0u, 17u, 36u})
        for (auto [value, text] : {std::pair{std::numeric_limits<float>::infinity(), "inf"},
                                   std::pair{-std::numeric_limits<float>::infinity(), "-inf"},
                                   std::pair{std::numeric_limits<float>::quiet_NaN(), "nan"}}) {
            auto q = BasicTensor<float>::parameter(Array<float>(xt::ones<float>({37})));
            SGD<float> sgd(nn::NamedTensors<float>{{"w", q}}, {});
            Array<float> g = xt::zeros<float>({37});
            g(bad) = value;
            {
                Tape tape;
                sum(BasicTensor<float>::constant(g) * q).backward();  // the gradient is g
            }
            expect_error<NonFiniteError>([&] { sgd.step(); }, "SGD.step: gradient of parameter 'w' (shape [37]) is " +
                                                                  std::string(text) + " at flat index " +
                                                                  std::to_string(bad));
            BOOST_TEST(q.value() == Array<float>(xt::ones<float>({37})));
        }
    // a closure that throws (after moving the parameters) leaves them as they were
    expect_error<std::runtime_error>(
        [&] {
            opt.step([&]() -> double {
                p.mutable_value() += 1.0;
                throw std::runtime_error("data loader failed");
            });
        },
        "data loader failed");
    BOOST_TEST(p.value() == kP0);
}

BOOST_AUTO_TEST_CASE(state_round_trips_with_the_checkpoint) {
    namespace fs = std::filesystem;
    std::string path = (fs::temp_directory_path() / ("xtgrad_optim_" + std::to_string(::getpid()) + ".npz")).string();
    std::mt19937_64 rng(1);
    nn::MLP<double> a({3, 4, 2}, nn::Activation::tanh, rng);
    auto x = Tensor::constant(uniform({5, 3}, 2));
    std::vector<std::size_t> labels{0, 1, 1, 0, 1};
    auto closure_for = [&](nn::Layer<double>& m, Optimizer<double>& opt) {
        return [&] {
            opt.zero_grad();
            Tape tape;
            auto loss = nn::cross_entropy(m(x), labels);
            loss.backward();
            return loss.item();
        };
    };
    Adam<double> opt_a(a.named_parameters(), {.lr = 0.05, .amsgrad = true});
    for (int i = 0; i < 3; ++i) opt_a.step(closure_for(a, opt_a));
    save_checkpoint(a, opt_a, path);
    nn::MLP<double> b({3, 4, 2}, nn::Activation::tanh, rng);
    Adam<double> opt_b(b.named_parameters(), {.lr = 0.05, .amsgrad = true});
    load_checkpoint(b, opt_b, path);
    for (int i = 0; i < 3; ++i) {
        opt_a.step(closure_for(a, opt_a));
        opt_b.step(closure_for(b, opt_b));
    }
    for (std::size_t i = 0; i < a.parameters().size(); ++i)
        BOOST_TEST(a.parameters()[i].value() == b.parameters()[i].value());
    // SGD momentum buffers too; and a mismatched state leaves the optimizer unchanged
    SGD<double> sgd(a.named_parameters(), {.lr = 0.1, .momentum = 0.9});
    sgd.step(closure_for(a, sgd));
    auto st = sgd.state();
    BOOST_TEST(st.size() == 4u);
    BOOST_TEST(st[0].first == "0.weight.momentum_buffer");
    expect_error<ShapeError>(
        [&] {
            sgd.load_state({{"0.weight.momentum_buffer", Array<double>{1.0}}});
        },
        "'0.weight.momentum_buffer' has shape [1], the parameter [4,3]");
    BOOST_TEST(sgd.state()[0].second == st[0].second);
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(schedules_and_clipping) {
    BOOST_TEST(step_decay(0.1, 25, 10, 0.5) == 0.025);
    BOOST_TEST(std::abs(exponential_decay(1.0, 3, 0.9) - 0.729) < 1e-15);
    BOOST_TEST(cosine_annealing(1.0, 0, 10) == 1.0);
    BOOST_TEST(std::abs(cosine_annealing(1.0, 5, 10, 0.1) - 0.55) < 1e-15);
    BOOST_TEST(cosine_annealing(1.0, 10, 10, 0.1) == 0.1);
    BOOST_TEST(linear_warmup(0.4, 0, 4) == 0.1);
    BOOST_TEST(linear_warmup(0.4, 7, 4) == 0.4);
    auto p = Tensor::parameter(Array<double>{0.0, 0.0});
    set_grad(p, Array<double>{3.0, 4.0});
    BOOST_TEST(clip_grad_norm<double>({p}, 1.0) == 5.0);
    BOOST_TEST(xt::allclose(p.grad(), Array<double>{0.6, 0.8}));
    set_grad(p, Array<double>{3.0, -4.0});
    clip_grad_value<double>({p}, 3.5);
    BOOST_TEST(p.grad() == (Array<double>{3.0, -3.5}));
    expect_error<ValueError>([&] { clip_grad_norm<double>({p}, 0.0); }, "clip_grad_norm: max_norm must be > 0");
}

// the same parameter twice would be updated twice per step (issue 10): refused
BOOST_AUTO_TEST_CASE(a_parameter_given_twice_is_refused) {
    auto w = Tensor::parameter(Array<double>{1.0, 2.0});
    auto b = Tensor::parameter(Array<double>{0.5});
    expect_error<ValueError>(
        [&] {
            SGD<double>(TensorList<double>{w, b, w}, {.lr = 0.1});
        },
        "add_param_group: parameter '2' is given twice (as '0' in the same group)");
    Adam<double> adam(nn::NamedTensors<double>{{"w", w}}, {});
    expect_error<ValueError>(
        [&] {
            adam.add_param_group({{b, w}, {}, {"b", "w again"}});
        },
        "parameter 'w again' is given twice (as 'w' in an earlier group)");
    // a copy of the value is another parameter: fine
    auto w2 = Tensor::parameter(w.value());
    BOOST_CHECK_NO_THROW(SGD<double>(TensorList<double>{w, w2}, {.lr = 0.1}));
}

// A compiled loss is the closure the optimizers take: SGD over changing batches and L-BFGS
// end where the eager closure ends, bit for bit, with one recording each.
BOOST_AUTO_TEST_CASE(optimizers_take_a_compiled_loss) {
    auto run = [](bool compiled, bool lbfgs) {
        std::mt19937_64 rng(3);
        nn::MLP<double> model({4, 8, 3}, nn::Activation::tanh, rng);
        auto loss_of = [&](const TensorList<double>& data) { return nn::cross_entropy(model(data[0]), data[1]); };
        CompiledLoss<double> compiled_loss(model.parameters(), loss_of);
        auto batch = [](int step) {
            Array<double> x = uniform({5, 4}, 100 + std::uint64_t(step % 3));
            Array<double> t = xt::zeros<double>({5, 3});
            for (std::size_t r = 0; r < 5; ++r) t(r, (r + std::size_t(step)) % 3) = 1.0;
            return std::vector<Array<double>>{x, t};
        };
        auto closure_for = [&](Optimizer<double>& opt, const std::vector<Array<double>>& data) -> Closure {
            if (compiled) return [&compiled_loss, data] { return compiled_loss(data); };
            return [&opt, &loss_of, data] {
                opt.zero_grad();
                Tape tape;
                auto loss = loss_of({Tensor::constant(data[0]), Tensor::constant(data[1])});
                loss.backward();
                return loss.item();
            };
        };
        if (lbfgs) {
            LBFGS<double> opt(model.parameters(), {});
            auto data = batch(0);
            for (int k = 0; k < 20; ++k) opt.step(closure_for(opt, data));
        } else {
            SGD<double> opt(model.parameters(), {.lr = 0.3, .momentum = 0.9});
            for (int k = 0; k < 30; ++k) opt.step(closure_for(opt, batch(k)));
        }
        if (compiled) BOOST_TEST(compiled_loss.traces() == 1u);
        std::vector<Array<double>> out;
        for (auto& p : model.parameters()) out.push_back(p.value());
        return out;
    };
    for (bool lbfgs : {false, true}) {
        auto eager = run(false, lbfgs), compiled = run(true, lbfgs);
        for (std::size_t i = 0; i < eager.size(); ++i) BOOST_TEST((compiled[i] == eager[i]), (lbfgs ? "L-BFGS" : "SGD"));
    }
    expect_error<ValueError>([] {
        CompiledLoss<double>({Tensor::constant(Array<double>{1})}, [](const TensorList<double>& d) { return sum(d[0]); });
    },
                             "compile_loss: parameter 0 is not a parameter");
}
