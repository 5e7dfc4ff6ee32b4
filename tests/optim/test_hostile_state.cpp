// Forged optimizer state (issue 10): counters that are huge, negative, fractional or NaN,
// arrays where scalars belong, another optimizer's checkpoint. Each is a typed error naming
// the entry (and, through load_checkpoint, the file), and the optimizer is left as it was.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "helpers.hpp"
#include "xtgrad/optim.hpp"

using namespace xtgrad;
using namespace xtgrad::optim;
using namespace xtgrad::testing;

namespace {
Array<double> scalar(double v) {
    Array<double> a = Array<double>::from_shape({});
    a() = v;
    return a;
}

template <class Opt>
Closure closure_of(Opt& opt, const Tensor& p) {
    return [&opt, p] {
        opt.zero_grad();
        Tape tape;
        auto loss = sum(square(p - 3.0)) + sum(p * p * p * p) * 0.01;
        loss.backward();
        return loss.item();
    };
}
}  // namespace

BOOST_AUTO_TEST_CASE(lbfgs_counters_are_checked) {
    auto p = Tensor::parameter(Array<double>{1.0, 2.0});
    LBFGS<double> lbfgs(TensorList<double>{p}, {});
    for (int k = 0; k < 3; ++k) lbfgs.step(closure_of(lbfgs, p));
    auto good = lbfgs.state();
    auto with = [&](const std::string& key, const Array<double>& value) {
        auto s = good;
        for (auto& [name, a] : s)
            if (name == key) a = value;
        return s;
    };
    const char* range = "LBFGS.load_state: 'lbfgs.history' must be a whole number in [0, 10]";
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.history", scalar(2e8))); }, range);
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.history", scalar(1e15))); }, range);
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.history", scalar(-1))); }, range);
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.history", scalar(1.5))); }, range);
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.history", scalar(std::nan("")))); },
                             "'lbfgs.history' is nan, not a finite number");
    expect_error<ValueError>([&] { lbfgs.load_state(with("lbfgs.iterations", scalar(-3))); },
                             "'lbfgs.iterations' must be a whole number");
    expect_error<ValueError>(
        [&] { lbfgs.load_state(with("lbfgs.iterations", Array<double>(Array<double>::from_shape({0})))); },
        "'lbfgs.iterations' must be a scalar, got shape [0]");
    expect_error<ValueError>(
        [&] {
            lbfgs.load_state(with("0.s0", Array<double>{std::nan(""), 1.0}));
        },
        "'0.s0' holds nan at flat index 0");
    expect_error<ShapeError>([&] { lbfgs.load_state(with("0.y1", Array<double>{1.0})); },
                             "'0.y1' has shape [1], the parameter [2]");
    // a history that says more pairs than it holds
    auto missing = good;
    std::erase_if(missing, [](const auto& e) { return e.first == "0.s1"; });
    expect_error<ValueError>([&] { lbfgs.load_state(missing); }, "pair 1 is missing");
    // none of that changed the optimizer: it still saves what it had
    auto after = lbfgs.state();
    BOOST_TEST(after.size() == good.size());
    for (std::size_t i = 0; i < good.size(); ++i) BOOST_TEST((after[i].second == good[i].second), after[i].first);
    // and the good state loads and goes on
    BOOST_CHECK_NO_THROW(lbfgs.load_state(good));
    BOOST_CHECK_NO_THROW(lbfgs.step(closure_of(lbfgs, p)));
}

BOOST_AUTO_TEST_CASE(adam_state_is_checked) {
    auto p = Tensor::parameter(Array<double>{1.0, 2.0});
    Adam<double> adam(TensorList<double>{p}, {});
    adam.step(closure_of(adam, p));
    auto good = adam.state();
    auto with = [&](const std::string& key, const Array<double>& value) {
        auto s = good;
        for (auto& [name, a] : s)
            if (name == key) a = value;
        return s;
    };
    expect_error<ValueError>([&] { adam.load_state(with("0.step", scalar(std::nan("")))); },
                             "Adam.load_state: '0.step' is nan");
    expect_error<ValueError>([&] { adam.load_state(with("0.step", scalar(0.5))); }, "'0.step' must be a whole number");
    expect_error<ValueError>(
        [&] {
            adam.load_state(with("0.exp_avg_sq", Array<double>{-1.0, 1.0}));
        },
        "'0.exp_avg_sq' holds -1 at flat index 0");
    auto partial = good;
    std::erase_if(partial, [](const auto& e) { return e.first == "0.exp_avg"; });
    expect_error<ValueError>([&] { adam.load_state(partial); }, "the state of parameter '0' is incomplete");
    BOOST_CHECK_NO_THROW(adam.load_state(good));
}

BOOST_AUTO_TEST_CASE(another_optimizers_checkpoint_is_refused_naming_the_file) {
    std::mt19937_64 rng(1);
    nn::Linear<double> layer({.in = 2, .out = 1}, rng);
    Adam<double> adam(layer.named_parameters(), {});
    Tensor x = Tensor::constant(Array<double>{{1.0, 2.0}});
    auto loss_of = [&] {
        adam.zero_grad();
        Tape tape;
        auto l = sum(square(layer(x)));
        l.backward();
        return l.item();
    };
    adam.step(loss_of);
    std::string path = "/tmp/xtgrad_hostile_state_" + std::to_string(::getpid()) + ".npz";
    save_checkpoint(layer, adam, path);
    LBFGS<double> lbfgs(layer.named_parameters(), {});
    auto weight = layer.weight().value();
    expect_error<IoError>([&] { load_checkpoint(layer, lbfgs, path); }, "load_checkpoint: '" + path + "'");
    expect_error<IoError>([&] { load_checkpoint(layer, lbfgs, path); }, "unexpected entry 'weight.step'");
    BOOST_TEST(layer.weight().value() == weight);
    std::remove(path.c_str());
}
