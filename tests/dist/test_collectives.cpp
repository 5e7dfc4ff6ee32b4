// The communicator's collectives on arrays, alone and under `mpirun -np 2`, and their errors:
// a collective called with different shapes on different ranks is the same typed error on
// every rank, naming the collective and the ranks.
#include <boost/test/unit_test.hpp>

#include <string>

#include <xtensor/xview.hpp>

#include "mpi_fixture.hpp"

using namespace xtgrad;
using dist::CommunicationError;
using dist::ReduceOp;
using Dtypes = std::tuple<float, double>;

using test::MpiFixture;
BOOST_TEST_GLOBAL_FIXTURE(MpiFixture);

namespace {
bool message_has(const std::exception& e, const std::string& part) {
    return std::string(e.what()).find(part) != std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_CASE(rank_and_size) {
    auto& w = test::world();
    BOOST_TEST(w.size() >= 1);
    BOOST_TEST(w.rank() >= 0);
    BOOST_TEST(w.rank() < w.size());
    BOOST_TEST(w.all_reduce(1.0) == double(w.size()));
    w.barrier();
}

BOOST_AUTO_TEST_CASE_TEMPLATE(broadcast_gives_every_rank_the_roots_array_and_shape, T, Dtypes) {
    auto& w = test::world();
    for (int root : {0, w.size() - 1}) {
        Array<T> a = w.rank() == root ? Array<T>{{1.5, -2, 3}, {4, 5, 6}} : Array<T>::from_shape({7});
        w.broadcast(a, root);
        BOOST_TEST((a == Array<T>{{1.5, -2, 3}, {4, 5, 6}}));
    }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(all_reduce_sum_mean_max_min, T, Dtypes) {
    auto& w = test::world();
    const T r = static_cast<T>(w.rank()), n = static_cast<T>(w.size());
    Array<T> base{{1, 2}, {3, 4}};
    Array<T> s = base + r;
    w.all_reduce(s);
    BOOST_TEST((s == Array<T>(n * base + n * (n - 1) / 2)));
    Array<T> m = base * (r + 1);
    w.all_reduce(m, ReduceOp::mean);
    BOOST_TEST((m == Array<T>(base * (n + 1) / 2)));
    Array<T> hi = base - r, lo = base - r;
    w.all_reduce(hi, ReduceOp::max);
    w.all_reduce(lo, ReduceOp::min);
    BOOST_TEST((hi == base));
    BOOST_TEST((lo == Array<T>(base - (n - 1))));
    BOOST_TEST(w.all_reduce(double(w.rank()), ReduceOp::max) == double(w.size() - 1));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(all_gather_stacks_along_a_new_first_axis, T, Dtypes) {
    auto& w = test::world();
    Array<T> mine{T(w.rank()), T(10 * w.rank())};
    Array<T> all = w.all_gather(mine);
    BOOST_TEST((all.shape() == Shape{std::size_t(w.size()), 2}));
    for (int r = 0; r < w.size(); ++r) {
        BOOST_TEST(all(r, 0) == T(r));
        BOOST_TEST(all(r, 1) == T(10 * r));
    }
}

BOOST_AUTO_TEST_CASE(shapes_that_differ_across_ranks_are_one_error_on_every_rank) {
    auto& w = test::world();
    if (w.size() < 2) return;  // needs two ranks to disagree
    Array<double> a = Array<double>::from_shape({std::size_t(3 + w.rank())});
    a.fill(1);
    try {
        w.all_reduce(a);
        BOOST_ERROR("all_reduce accepted shapes [3] and [4]");
    } catch (const CommunicationError& e) {
        BOOST_TEST(message_has(e, "dist::all_reduce on rank " + std::to_string(w.rank())), e.what());
        BOOST_TEST(message_has(e, "rank 0 float64 [3], rank 1 float64 [4]"), e.what());
    }
    try {
        (void)w.all_gather(a);
        BOOST_ERROR("all_gather accepted different shapes");
    } catch (const CommunicationError& e) {
        BOOST_TEST(message_has(e, "dist::all_gather"), e.what());
    }
    // the communicator is still usable after the refusals
    BOOST_TEST(w.all_reduce(1.0) == double(w.size()));
}

// Issue 25: a dtype mismatch named no dtypes ("rank 0 [3], rank 1 [3]").
BOOST_AUTO_TEST_CASE(dtypes_that_differ_across_ranks_are_named) {
    auto& w = test::world();
    if (w.size() < 2) return;
    try {
        if (w.rank() == 0) {
            Array<float> a{1, 2, 3};
            w.all_reduce(a);
        } else {
            Array<double> a{1, 2, 3};
            w.all_reduce(a);
        }
        BOOST_ERROR("all_reduce accepted float32 on rank 0 and float64 on rank 1");
    } catch (const CommunicationError& e) {
        BOOST_TEST(message_has(e, "rank 0 float32 [3], rank 1 float64 [3]"), e.what());
    }
    BOOST_TEST(w.all_reduce(1.0) == double(w.size()));
}

BOOST_AUTO_TEST_CASE(a_root_that_is_not_a_rank_is_refused) {
    auto& w = test::world();
    Array<float> a{1, 2};
    try {
        w.broadcast(a, w.size());
        BOOST_ERROR("broadcast from a root beyond the last rank");
    } catch (const CommunicationError& e) {
        BOOST_TEST(message_has(e, "dist::broadcast on rank"), e.what());
        BOOST_TEST(message_has(e, "is not a rank"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(different_operations_on_different_ranks_are_refused) {
    auto& w = test::world();
    if (w.size() < 2) return;
    Array<double> a{1, 2};
    try {
        w.all_reduce(a, w.rank() == 0 ? ReduceOp::sum : ReduceOp::max);
        BOOST_ERROR("sum on one rank, max on the other");
    } catch (const CommunicationError& e) {
        BOOST_TEST(message_has(e, "disagree on the arguments"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(a_negative_or_nan_collective_timeout_is_refused) {
    auto& suite = boost::unit_test::framework::master_test_suite();
    for (double seconds : {-1.0, std::nan("")}) {
        try {
            dist::Environment again(suite.argc, suite.argv, {.timeout = std::chrono::duration<double>(seconds)});
            BOOST_ERROR("a collective timeout of " << seconds << " s was accepted");
        } catch (const ValueError& e) {
            BOOST_TEST(std::string(e.what()).find("the collective timeout must be >= 0 seconds") != std::string::npos,
                       e.what());
        }
    }
}

// The scalar all_reduce, each operation: rank r passes r + 1.
BOOST_AUTO_TEST_CASE(scalar_reductions) {
    auto& w = test::world();
    const double n = double(w.size()), mine = double(w.rank() + 1);
    BOOST_TEST(w.all_reduce(mine, ReduceOp::sum) == n * (n + 1) / 2);
    BOOST_TEST(w.all_reduce(mine, ReduceOp::mean) == (n + 1) / 2);
    BOOST_TEST(w.all_reduce(mine, ReduceOp::max) == n);
    BOOST_TEST(w.all_reduce(mine, ReduceOp::min) == 1.0);
}
