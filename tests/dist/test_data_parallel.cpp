// Data-parallel training gives the model one process gives: SGD, Adam, L-BFGS, nonlinear CG
// and the natural-gradient step over the ranks of `mpirun -np 2` end with the parameters of a
// single-process run on the same global batches (float64, to 1e-12 relative). Every rank
// computes that single-process run itself, on all the data, to compare with.
//
// Where the two differ: a global batch's gradient is summed per shard and then over the
// shards, instead of over all rows at once; that reorders additions only.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <optional>

#include <xtensor/xview.hpp>
#include <xtgrad/nn.hpp>
#include <xtgrad/optim.hpp>

#include "mpi_fixture.hpp"

using namespace xtgrad;

using test::MpiFixture;
BOOST_TEST_GLOBAL_FIXTURE(MpiFixture);

namespace {

constexpr double tolerance = 1e-12;
using Model = nn::MLP<double>;

// 201 digits: with batches of 50 the last global batch has one row, so one of two ranks gets
// none; with 40 it has one row too. Features scaled to [0, 1].
const nn::Table& digits() {
    static nn::Table table = [] {
        auto all = nn::load_csv(std::string(XTGRAD_DATA_DIR) + "/digits.csv.gz");
        std::vector<std::size_t> rows(201);
        for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
        auto t = nn::take_rows(all, rows);
        t.features /= 16.0;
        return t;
    }();
    return table;
}

// The same initial model on every rank only after DataParallel's broadcast: a rank other
// than 0 starts from other values on purpose.
std::unique_ptr<Model> make_model(int seed_offset) {
    std::mt19937_64 rng(42 + std::uint64_t(seed_offset));
    return std::make_unique<Model>(std::vector<std::size_t>{64, 16, 10}, nn::Activation::tanh, rng);
}

double relative_difference(const nn::Module<double>& a, const nn::Module<double>& b) {
    double worst = 0;
    auto pa = a.parameters(), pb = b.parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        double scale = xt::amax(xt::abs(pb[i].value()))(), diff = xt::amax(xt::abs(pa[i].value() - pb[i].value()))();
        worst = std::max(worst, diff / std::max(scale, 1e-300));
    }
    return worst;
}

// Mini-batch training; distributed: each rank its shard, gradients summed by DataParallel.
template <class Optimizer, class Options>
std::unique_ptr<Model> train(bool distributed, const Options& options, std::size_t batch_size, int epochs) {
    auto& w = test::world();
    auto model = make_model(distributed ? w.rank() : 0);
    std::optional<dist::DataParallel<double>> ddp;
    if (distributed) ddp.emplace(w, *model);
    Optimizer optimizer(model->named_parameters(), options);
    nn::LoaderOptions lo{.batch_size = batch_size, .seed = 3};
    if (distributed) lo.shards = std::size_t(w.size()), lo.shard = std::size_t(w.rank());
    nn::DataLoader<double> loader(digits(), lo);
    for (int epoch = 0; epoch < epochs; ++epoch)
        for (const auto& batch : loader) {
            optimizer.zero_grad();
            if (!batch.empty()) {
                Tape tape;
                auto loss = nn::cross_entropy((*model)(batch.x), batch.labels(), {.reduction = nn::Reduction::sum}) /
                            double(batch.global_rows);
                loss.backward();
            }
            if (ddp) ddp->reduce_gradients();
            optimizer.step();
        }
    if (ddp) ddp->check_replicas();
    return model;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_loader_shards_every_global_batch_and_some_shards_are_empty) {
    auto& w = test::world();
    nn::DataLoader<double> loader(digits(), {.batch_size = 50, .seed = 3, .shards = std::size_t(w.size()),
                                             .shard = std::size_t(w.rank())});
    double rows = 0, empty = 0, batches = 0;
    for (const auto& batch : loader) {
        rows += double(batch.rows.size());
        empty += batch.empty();
        batches += 1;
        BOOST_TEST(batch.global_rows == (batches <= 4 ? 50u : 1u));
    }
    BOOST_TEST(w.all_reduce(rows) == 201.0);
    BOOST_TEST(batches == 5.0);
    BOOST_TEST(w.all_reduce(empty) == double(w.size() - 1));  // the one-row last batch
}

BOOST_AUTO_TEST_CASE(sgd_over_ranks_equals_one_process) {
    optim::SGDOptions o{.lr = 0.5, .momentum = 0.9};
    auto one = train<optim::SGD<double>>(false, o, 50, 3);
    auto many = train<optim::SGD<double>>(true, o, 50, 3);
    double d = relative_difference(*many, *one);
    BOOST_TEST_MESSAGE("SGD, " << test::world().size() << " ranks: relative difference " << d);
    BOOST_TEST(d <= tolerance);
    BOOST_TEST(d < 1e-2 * relative_difference(*make_model(0), *one));  // it trained at all
}

BOOST_AUTO_TEST_CASE(adam_over_ranks_equals_one_process_and_rank_0s_checkpoint_loads_alone) {
    auto& w = test::world();
    optim::AdamOptions o{.lr = 0.01};
    auto one = train<optim::Adam<double>>(false, o, 40, 3);
    auto many = train<optim::Adam<double>>(true, o, 40, 3);
    double d = relative_difference(*many, *one);
    BOOST_TEST_MESSAGE("Adam, " << w.size() << " ranks: relative difference " << d);
    BOOST_TEST(d <= tolerance);

    // rank 0 writes; every rank can read it back into a single-process model
    double pid = w.all_reduce(w.rank() == 0 ? double(getpid()) : 0.0);
    auto path = std::filesystem::temp_directory_path() / ("xtgrad_dist_test_" + std::to_string(long(pid)) + ".npz");
    optim::Adam<double> optimizer(many->named_parameters(), o);
    dist::save_checkpoint(w, *many, optimizer, path.string());
    auto fresh = make_model(7);
    optim::Adam<double> fresh_optimizer(fresh->named_parameters(), o);
    optim::load_checkpoint(*fresh, fresh_optimizer, path.string());
    BOOST_TEST(relative_difference(*fresh, *many) == 0.0);
    w.barrier();
    if (w.rank() == 0) std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_rank_0_cannot_write_is_an_error_on_every_rank) {
    auto& w = test::world();
    auto model = make_model(0);
    dist::DataParallel<double> ddp(w, *model);
    optim::SGD<double> optimizer(model->named_parameters(), {.lr = 0.1});
    BOOST_CHECK_THROW(dist::save_checkpoint(w, *model, optimizer, "/nonexistent-directory/x.npz"), IoError);
}

BOOST_AUTO_TEST_CASE(buffers_come_from_rank_0_too) {
    auto& w = test::world();
    nn::BatchNorm<double> norm(3, 2);  // BatchNorm1d on [N, 3]
    {  // running statistics that differ between the ranks
        Tape tape;
        norm(Tensor::constant(Array<double>(xt::ones<double>({4, 3}) * double(w.rank() + 1) +
                                            xt::arange<double>(12).reshape({4, 3}))));
    }
    dist::DataParallel<double> ddp(w, norm);
    for (auto& [name, b] : norm.named_buffers()) {
        Array<double> all = w.all_gather(b.value());
        for (int r = 1; r < w.size(); ++r)
            BOOST_TEST((xt::view(all, r) == xt::view(all, 0)), "buffer '" << name << "' of rank " << r);
    }
}

BOOST_AUTO_TEST_CASE(replicas_that_drift_apart_are_named) {
    auto& w = test::world();
    auto model = make_model(0);
    dist::DataParallel<double> ddp(w, *model);
    ddp.check_replicas();
    if (w.size() < 2) return;
    auto p = model->named_parameters()[2];
    if (w.rank() == 1) p.second.mutable_value()(0) += 1e-15;
    try {
        ddp.check_replicas();
        BOOST_ERROR("replicas differ by one bit and pass");
    } catch (const dist::CommunicationError& e) {
        BOOST_TEST(std::string(e.what()).find("parameter '" + p.first + "'") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(different_models_on_different_ranks_are_refused) {
    auto& w = test::world();
    if (w.size() < 2) return;
    std::mt19937_64 rng(1);
    Model model({64, std::size_t(16 + w.rank()), 10}, nn::Activation::tanh, rng);
    BOOST_CHECK_THROW(dist::DataParallel<double>(w, model), dist::CommunicationError);
}

BOOST_AUTO_TEST_CASE(weighted_reduction_of_shard_means_and_missing_gradients) {
    auto& w = test::world();
    auto a = Tensor::parameter(Array<double>{1, 2}), b = Tensor::parameter(Array<double>{3});
    dist::DataParallel<double> ddp(w, {{"a", a}, {"b", b}}, {}, {.bucket_bytes = 8});  // a bucket per parameter
    {
        Tape tape;
        (sum(a * a) * double(w.rank() + 1)).backward();  // b has no gradient here
    }
    ddp.reduce_gradients(0.5);
    double n = w.size(), weight_sum = n * (n + 1) / 2;
    BOOST_TEST((a.grad() == Array<double>{weight_sum, 2 * weight_sum}));
    BOOST_TEST((b.grad() == Array<double>{0.0}));
    BOOST_TEST(ddp.stats().messages == 2u);
    BOOST_TEST(ddp.stats().bytes == 3 * sizeof(double));
}

namespace {

struct FullBatch {
    BasicTensor<double> x;
    IndexArray labels;
};

// All 201 rows; this rank's part of them; or all rows with the second half first (a single
// process that only sums in another order).
enum class Rows { all, shard, all_reordered };
FullBatch rows_of(Rows which) {
    auto& w = test::world();
    auto [first, last] = which == Rows::shard ? nn::shard_range(201, std::size_t(w.rank()), std::size_t(w.size()))
                                              : std::pair<std::size_t, std::size_t>{0, 201};
    std::vector<std::size_t> rows;
    for (std::size_t i = first; i < last; ++i) rows.push_back(i);
    if (which == Rows::all_reordered) std::rotate(rows.begin(), rows.begin() + 101, rows.end());
    auto t = nn::take_rows(digits(), rows);
    std::vector<std::int64_t> labels;
    for (auto v : t.target) labels.push_back(std::int64_t(v));
    return {Tensor::constant(t.features), IndexArray(labels)};
}

std::unique_ptr<Model> natural_gradient(Rows rows, optim::Curvature curvature, std::size_t cg_iterations) {
    auto& w = test::world();
    const bool distributed = rows == Rows::shard;
    auto model = make_model(distributed ? w.rank() : 0);
    if (distributed) dist::DataParallel<double>(w, *model);  // rank 0's start everywhere
    auto data = rows_of(rows);
    optim::CurvatureModel<double> cm{
        .outputs = [&] { return (*model)(data.x); },
        .loss = [&](const Tensor& z) { return nn::cross_entropy(z, data.labels, {.reduction = nn::Reduction::sum}) / 201.0; },
        .penalty = [&] { return nn::l2_penalty(*model, 1e-3); },
    };
    if (distributed) cm.shards = dist::shard_sum<double>(w);
    optim::NaturalGradient<double> ng(model->named_parameters(), cm,
                                      {.cg_iterations = cg_iterations, .curvature = curvature});
    for (int k = 0; k < 6; ++k) ng.step();
    return model;
}

// K-FAC with the exact Fisher (no sampled targets, which differ between the processes): its
// factors are sums over the rows, so over the processes they are all-reduced
std::unique_ptr<Model> kfac(Rows rows) {
    auto& w = test::world();
    const bool distributed = rows == Rows::shard;
    auto model = make_model(distributed ? w.rank() : 0);
    if (distributed) dist::DataParallel<double>(w, *model);
    auto data = rows_of(rows);
    optim::CurvatureModel<double> cm{
        .outputs = [&] { return (*model)(data.x); },
        .loss = [&](const Tensor& z) { return nn::cross_entropy(z, data.labels, {.reduction = nn::Reduction::sum}) / 201.0; },
        .penalty = [&] { return nn::l2_penalty(*model, 1e-3); },
    };
    if (distributed) cm.shards = dist::shard_sum<double>(w);
    optim::KFAC<double> k(model->named_parameters(), cm,
                          {.lr = 0.1, .inverse_every = 2, .fisher = optim::FisherEstimate::exact});
    for (int s = 0; s < 6; ++s) k.step();
    return model;
}

template <class Method>
std::unique_ptr<Model> line_search_method(Rows rows) {
    auto& w = test::world();
    const bool distributed = rows == Rows::shard;
    auto model = make_model(distributed ? w.rank() : 0);
    if (distributed) dist::DataParallel<double>(w, *model);
    auto data = rows_of(rows);
    Method method(model->named_parameters(), {});
    optim::Closure local = [&] {
        method.zero_grad();
        Tape tape;
        auto loss = nn::cross_entropy((*model)(data.x), data.labels, {.reduction = nn::Reduction::sum}) / 201.0;
        loss.backward();
        return loss.item();
    };
    std::function<Tensor()> penalty = [&] { return nn::l2_penalty(*model, 1e-3); };
    optim::Closure closure = distributed ? dist::sharded_closure<double>(w, model->parameters(), local, penalty)
                                         : optim::Closure([&] {
                                               double f = local();
                                               Tape tape;
                                               auto p = penalty();
                                               p.backward();
                                               return f + p.item();
                                           });
    for (int k = 0; k < 15; ++k) method.step(closure);
    return model;
}

}  // namespace

BOOST_AUTO_TEST_CASE(kfac_over_sharded_data_equals_one_process) {
    auto one = kfac(Rows::all);
    auto many = kfac(Rows::shard);
    double d = relative_difference(*many, *one);
    BOOST_TEST_MESSAGE("K-FAC, " << test::world().size() << " ranks: relative difference " << d);
    BOOST_TEST(d <= tolerance);
    BOOST_TEST(d < 1e-2 * relative_difference(*make_model(0), *one));  // it moved
}

// A few CG iterations per step: equal to 1e-12. Many iterations on an ill-conditioned
// system (damping 1e-3) amplify the reordered additions, in two processes as in one that only
// sums its rows in another order: the differences are then of the same size.
BOOST_AUTO_TEST_CASE(natural_gradient_and_newton_cg_over_sharded_data_equal_one_process) {
    auto one = natural_gradient(Rows::all, optim::Curvature::fisher, 5);
    auto many = natural_gradient(Rows::shard, optim::Curvature::fisher, 5);
    double d = relative_difference(*many, *one);
    BOOST_TEST_MESSAGE("natural gradient, 5 CG iterations per step, " << test::world().size()
                                                                      << " ranks: relative difference " << d);
    BOOST_TEST(d <= tolerance);
    BOOST_TEST(d < 1e-2 * relative_difference(*make_model(0), *one));  // it moved

    for (auto curvature : {optim::Curvature::fisher, optim::Curvature::hessian}) {
        auto one20 = natural_gradient(Rows::all, curvature, 20);
        auto many20 = natural_gradient(Rows::shard, curvature, 20);
        auto reordered20 = natural_gradient(Rows::all_reordered, curvature, 20);
        double ranks = relative_difference(*many20, *one20), order = relative_difference(*reordered20, *one20);
        BOOST_TEST_MESSAGE((curvature == optim::Curvature::fisher ? "natural gradient" : "Newton-CG")
                           << ", 20 CG iterations per step: " << test::world().size() << " ranks differ by " << ranks
                           << ", one process summing in another order by " << order);
        BOOST_TEST(ranks <= std::max(tolerance, 10 * order));
    }
}

BOOST_AUTO_TEST_CASE(lbfgs_and_conjugate_gradient_over_sharded_data_equal_one_process) {
    auto one = line_search_method<optim::LBFGS<double>>(Rows::all);
    auto many = line_search_method<optim::LBFGS<double>>(Rows::shard);
    auto reordered = line_search_method<optim::LBFGS<double>>(Rows::all_reordered);
    double d = relative_difference(*many, *one), order = relative_difference(*reordered, *one);
    BOOST_TEST_MESSAGE("L-BFGS, " << test::world().size() << " ranks: relative difference " << d
                                  << " (one process summing in another order: " << order << ")");
    BOOST_TEST(d <= tolerance);
    auto one_cg = line_search_method<optim::ConjugateGradient<double>>(Rows::all);
    auto many_cg = line_search_method<optim::ConjugateGradient<double>>(Rows::shard);
    auto reordered_cg = line_search_method<optim::ConjugateGradient<double>>(Rows::all_reordered);
    double d_cg = relative_difference(*many_cg, *one_cg), order_cg = relative_difference(*reordered_cg, *one_cg);
    BOOST_TEST_MESSAGE("nonlinear CG, " << test::world().size() << " ranks: relative difference " << d_cg
                                        << " (one process summing in another order: " << order_cg << ")");
    BOOST_TEST(d_cg <= std::max(tolerance, 10 * order_cg));
}
