// libtorch versions of the benchmark workloads: the same shapes, data sizes and steps.
#include "torch_workloads.hpp"

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "timing.hpp"

namespace torch_side {

bool available() {
    return true;
}
void set_threads(int n) {
    torch::set_num_threads(n);
}

double op_chain(int ops, int reps) {
    auto x = torch::full({1}, 0.5, torch::kFloat64).requires_grad_(true);
    auto c1 = torch::full({1}, 0.999, torch::kFloat64), c2 = torch::full({1}, 0.001, torch::kFloat64);
    return bench::median_seconds(
        [&] {
            auto y = x;
            for (int i = 0; i < ops; i += 3) {
                y = y * c1;
                y = y + c2;
                y = torch::sin(y);
            }
            y.sum().backward();
            x.mutable_grad().reset();
        },
        reps);
}

namespace {
struct Mlp {
    torch::Tensor x, labels, W1, b1, W2, b2;
    Mlp(torch::Dtype dtype, int batch) {
        torch::manual_seed(0);
        auto opt = torch::TensorOptions().dtype(dtype);
        x = torch::randn({batch, 64}, opt);
        labels = torch::randint(0, 10, {batch}, torch::kLong);
        W1 = (torch::randn({64, 128}, opt) * 0.1).requires_grad_(true);
        b1 = torch::zeros({128}, opt).requires_grad_(true);
        W2 = (torch::randn({128, 10}, opt) * 0.1).requires_grad_(true);
        b2 = torch::zeros({10}, opt).requires_grad_(true);
    }
    torch::Tensor loss() {
        auto h = torch::tanh(torch::matmul(x, W1) + b1);
        return torch::nn::functional::cross_entropy(torch::matmul(h, W2) + b2, labels);
    }
    std::vector<torch::Tensor> params() { return {W1, b1, W2, b2}; }
};
}  // namespace

double mlp_step(bool f32, int batch, int reps) {
    Mlp m(f32 ? torch::kFloat32 : torch::kFloat64, batch);
    return bench::median_seconds(
        [&] {
            for (auto& p : m.params()) p.mutable_grad() = torch::Tensor();
            m.loss().backward();
            torch::NoGradGuard no_grad;
            for (auto& p : m.params()) p.sub_(p.grad(), 0.01);
        },
        reps);
}

void mlp_hvp(int batch, int reps, double& grad_seconds, double& hvp_seconds) {
    Mlp m(torch::kFloat64, batch);
    auto params = m.params();
    std::vector<torch::Tensor> v;
    for (auto& p : params) v.push_back(torch::randn_like(p));
    grad_seconds = bench::median_seconds([&] { torch::autograd::grad({m.loss()}, params); }, reps);
    hvp_seconds = bench::median_seconds(
        [&] {
            auto g = torch::autograd::grad({m.loss()}, params, {}, true, true);
            auto s = torch::zeros({}, torch::kFloat64);
            for (std::size_t i = 0; i < g.size(); ++i) s = s + (g[i] * v[i]).sum();
            torch::autograd::grad({s}, params);
        },
        reps);
}

double sigmoid_sum(long n, int reps) {
    auto x = torch::randn({n}, torch::kFloat64).requires_grad_(true);
    return bench::median_seconds(
        [&] {
            (torch::sigmoid(x) * x).sum().backward();
            x.mutable_grad() = torch::Tensor();
        },
        reps);
}

namespace {
template <class Opt, class Options>
double mlp784(int batch, int reps, Options options) {
    torch::manual_seed(0);
    auto x = torch::randn({batch, 784});
    auto labels = torch::randint(0, 10, {batch}, torch::kLong);
    torch::nn::Sequential net(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 256),
                              torch::nn::ReLU(), torch::nn::Linear(256, 10));
    Opt opt(net->parameters(), options);
    return bench::median_seconds(
        [&] {
            opt.zero_grad();
            torch::nn::functional::cross_entropy(net->forward(x), labels).backward();
            opt.step();
        },
        reps);
}
}  // namespace

double mlp784_step(int batch, int reps) {
    return mlp784<torch::optim::SGD>(batch, reps, torch::optim::SGDOptions(0.01));
}

double adam784_step(int batch, int reps) {
    return mlp784<torch::optim::Adam>(batch, reps, torch::optim::AdamOptions(1e-3));
}

double cnn_adam_step(int batch, int reps) {
    torch::manual_seed(0);
    auto x = torch::randn({batch, 1, 8, 8});
    auto labels = torch::randint(0, 10, {batch}, torch::kLong);
    namespace tnn = torch::nn;
    tnn::Sequential net(tnn::Conv2d(tnn::Conv2dOptions(1, 16, 3).padding(1)), tnn::ReLU(), tnn::MaxPool2d(2),
                        tnn::Conv2d(tnn::Conv2dOptions(16, 32, 3).padding(1)), tnn::ReLU(), tnn::MaxPool2d(2),
                        tnn::Flatten(), tnn::Linear(128, 10));
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
    return bench::median_seconds(
        [&] {
            opt.zero_grad();
            torch::nn::functional::cross_entropy(net->forward(x), labels).backward();
            opt.step();
        },
        reps);
}

double newton_cg_step(int batch, int iterations, double damping, int reps) {
    Mlp m(torch::kFloat64, batch);
    auto params = m.params();
    return bench::median_seconds(
        [&] {
            auto g = torch::autograd::grad({m.loss()}, params, {}, true, true);
            auto hvp = [&](const std::vector<torch::Tensor>& v) {
                auto s = torch::zeros({}, torch::kFloat64);
                for (std::size_t i = 0; i < g.size(); ++i) s = s + (g[i] * v[i]).sum();
                return torch::autograd::grad({s}, params, {}, true);
            };
            std::vector<torch::Tensor> x, r, p;
            for (auto& gi : g) {
                x.push_back(torch::zeros_like(gi));
                r.push_back(gi.detach().clone());
                p.push_back(gi.detach().clone());
            }
            auto dot = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
                double s = 0;
                for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] * b[i]).sum().item<double>();
                return s;
            };
            double rr = dot(r, r);
            for (int k = 0; k < iterations; ++k) {
                auto ap = hvp(p);
                for (std::size_t i = 0; i < ap.size(); ++i) ap[i] = ap[i] + damping * p[i];
                double alpha = rr / dot(p, ap);
                for (std::size_t i = 0; i < x.size(); ++i) {
                    x[i] += alpha * p[i];
                    r[i] -= alpha * ap[i];
                }
                double rr_next = dot(r, r);
                for (std::size_t i = 0; i < p.size(); ++i) p[i] = r[i] + (rr_next / rr) * p[i];
                rr = rr_next;
            }
        },
        reps);
}

std::function<void()> lstm_adam_stepper() {
    torch::manual_seed(0);
    namespace tnn = torch::nn;
    struct State {
        tnn::LSTM lstm{tnn::LSTMOptions(32, 128).num_layers(2).batch_first(true)};
        tnn::Linear head{128, 1};
        torch::Tensor x = torch::randn({32, 50, 32}), y = torch::randn({32, 1});
        std::vector<torch::Tensor> params = [this] {
            auto p = lstm->parameters();
            for (auto& q : head->parameters()) p.push_back(q);
            return p;
        }();
        torch::optim::Adam opt{params, torch::optim::AdamOptions(1e-3)};
    };
    auto s = std::make_shared<State>();
    return [s] {
        s->opt.zero_grad();
        auto out = std::get<0>(s->lstm->forward(s->x));
        auto last = out.select(1, -1);
        (s->head->forward(last) - s->y).square().mean().backward();
        s->opt.step();
    };
}

std::function<void()> encoder_adam_stepper() {
    torch::manual_seed(0);
    namespace tnn = torch::nn;
    struct State {
        tnn::TransformerEncoderLayer layer{
            tnn::TransformerEncoderLayerOptions(128, 4).dim_feedforward(512).dropout(0.0)};
        torch::Tensor x = torch::randn({64, 32, 128});  // libtorch 1.13's C++ layer has no batch_first: [T, B, E]
        torch::optim::Adam opt{layer->parameters(), torch::optim::AdamOptions(1e-3)};
    };
    auto s = std::make_shared<State>();
    return [s] {
        s->opt.zero_grad();
        s->layer->forward(s->x).square().mean().backward();
        s->opt.step();
    };
}

void linalg(const char* op, int n, int reps, double& forward_seconds, double& backward_seconds) {
    torch::manual_seed(0);
    auto opt = torch::TensorOptions().dtype(torch::kFloat64);
    auto a0 = torch::randn({n, n}, opt) + std::sqrt(double(n)) * torch::eye(n, opt);
    auto s0 = a0.mm(a0.t()) / double(n) + torch::eye(n, opt);
    auto a = a0.clone().requires_grad_(true), s = s0.clone().requires_grad_(true);
    auto b = torch::randn({n}, opt).requires_grad_(true);
    std::string name = op;
    std::vector<double> f, g;
    for (int i = 0; i < reps + 1; ++i) {  // the first run warms up
        auto start = std::chrono::steady_clock::now();
        torch::Tensor out;
        if (name == "solve") out = torch::linalg::solve(a, b, true);
        else if (name == "inverse") out = torch::linalg::inv(a);
        else if (name == "logdet") out = torch::logdet(s);
        else if (name == "cholesky_solve") out = torch::cholesky_solve(b.unsqueeze(1), torch::linalg::cholesky(s));
        else throw std::invalid_argument("linalg: unknown op " + name);
        auto mid = std::chrono::steady_clock::now();
        out.sum().backward();
        auto end = std::chrono::steady_clock::now();
        for (auto* t : {&a, &s, &b})
            if (t->grad().defined()) t->mutable_grad().reset();
        if (i > 0) {
            f.push_back(std::chrono::duration<double>(mid - start).count());
            g.push_back(std::chrono::duration<double>(end - mid).count());
        }
    }
    std::nth_element(f.begin(), f.begin() + f.size() / 2, f.end());
    std::nth_element(g.begin(), g.begin() + g.size() / 2, g.end());
    forward_seconds = f[f.size() / 2];
    backward_seconds = g[g.size() / 2];
}

}  // namespace torch_side
