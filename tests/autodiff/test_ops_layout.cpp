// PyTorch's shape ops (squeeze, flatten, narrow, split, expand, repeat, flip, roll, ...),
// matmul over batch axes of any rank, trace and triangular_solve's flags: values against
// xtensor or a direct computation, gradients to second order on broadcasting shapes, errors.
#include <xtensor/xmanipulation.hpp>

#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

namespace {
// A plain matrix product, the reference for BLAS.
Array<double> product(const Array<double>& a, const Array<double>& b) {
    std::size_t n = a.shape()[0], k = a.shape()[1], m = b.shape()[1];
    Array<double> c = xt::zeros<double>({n, m});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < m; ++j)
            for (std::size_t l = 0; l < k; ++l) c(i, j) += a(i, l) * b(l, j);
    return c;
}

// out[.., j, ..] = a[.., (j - shift) mod n, ..] along `axis` of a 3-D array, written out
// (xtensor 0.24's roll corrupts memory for shifts beyond the extent).
Array<double> rolled(const Array<double>& a, std::ptrdiff_t shift, std::size_t axis) {
    Array<double> out = a;
    auto n = static_cast<std::ptrdiff_t>(a.shape()[axis]);
    for (std::size_t i = 0; i < a.shape()[0]; ++i)
        for (std::size_t j = 0; j < a.shape()[1]; ++j)
            for (std::size_t k = 0; k < a.shape()[2]; ++k) {
                std::array<std::size_t, 3> from{i, j, k};
                from[axis] = static_cast<std::size_t>(((static_cast<std::ptrdiff_t>(from[axis]) - shift) % n + n) % n);
                out(i, j, k) = a(from[0], from[1], from[2]);
            }
    return out;
}

// `f` of `a`, multiplied by a weight that broadcasts against it, so the check sees every
// output's gradient scaled differently and the op's result broadcast.
Tensor weighted(const Tensor& out, std::uint64_t seed) {
    Shape last{out.dim() == 0 ? 1 : out.shape().back()};
    return sin(out) * Tensor::constant(uniform(last, seed));
}
}  // namespace

BOOST_AUTO_TEST_CASE(reshape_infers_one_size_and_refuses_what_does_not_fit) {
    Tape tape;
    auto a = param({2, 3, 4}, 1);
    std::size_t n = 2;
    BOOST_TEST(reshape(a, {n, -1}).shape() == Shape({2, 12}));
    BOOST_TEST(reshape(a, {-1}).shape() == Shape({24}));
    BOOST_TEST(reshape(a, {-1, 4, 1}).shape() == Shape({6, 4, 1}));
    check_both([&] { return weighted(reshape(a, {4, -1}), 2); }, {a});
    expect_error<ShapeError>([&] { reshape(a, {-1, -1}); }, "reshape: [-1,-1] for [2,3,4]: only one size may be -1");
    expect_error<ShapeError>([&] { reshape(a, {5, -1}); }, "the other sizes multiply to 5, which does not divide 24");
    expect_error<ShapeError>([&] { reshape(a, {-2, -12}); }, "size -2 of axis 0 is negative");
    expect_error<ShapeError>([&] { reshape(a, {std::size_t(-1) / 2 + 2, 1}); }, "size -2 of axis 0 is negative");
    expect_error<ShapeError>(
        [&] {
            reshape(a, {std::size_t(1) << 40, std::size_t(1) << 40});
        },
        "multiply beyond any tensor's");
    expect_error<ShapeError>([&] { reshape(a, {0, -1}); }, "multiply to 0");
}

BOOST_AUTO_TEST_CASE(squeeze_unsqueeze_flatten_unflatten) {
    Tape tape;
    auto a = param({2, 1, 3, 1}, 3);
    BOOST_TEST(squeeze(a).shape() == Shape({2, 3}));
    BOOST_TEST(squeeze(a, 1).shape() == Shape({2, 3, 1}));
    BOOST_TEST(squeeze(a, {1, -1}).shape() == Shape({2, 3}));
    BOOST_TEST(squeeze(a, 0).shape() == a.shape());  // an axis of another size stays, as in PyTorch
    BOOST_TEST(unsqueeze(a, 0).shape() == Shape({1, 2, 1, 3, 1}));
    BOOST_TEST(unsqueeze(a, -1).shape() == Shape({2, 1, 3, 1, 1}));
    BOOST_TEST(unsqueeze(a, 2).shape() == Shape({2, 1, 1, 3, 1}));
    check_both([&] { return weighted(squeeze(a), 4); }, {a});
    check_both([&] { return weighted(unsqueeze(squeeze(a), 1), 5); }, {a});
    expect_error<ValueError>([&] { unsqueeze(a, 5); }, "unsqueeze: axis 5 is out of range for a tensor with 5");
    expect_error<ValueError>([&] { squeeze(a, {1, 1}); }, "squeeze: axis 1 is repeated");

    auto b = param({2, 3, 4, 5}, 6);
    BOOST_TEST(flatten(b).shape() == Shape({120}));
    BOOST_TEST(flatten(b, 1).shape() == Shape({2, 60}));
    BOOST_TEST(flatten(b, 1, 2).shape() == Shape({2, 12, 5}));
    BOOST_TEST(flatten(b, -2).shape() == Shape({2, 3, 20}));
    BOOST_TEST(flatten(Tensor::scalar(2.0)).shape() == Shape({1}));
    BOOST_TEST((flatten(b, 1, 2).value() == Array<double>(xt::reshape_view(b.value(), {2, 12, 5}))));
    BOOST_TEST(unflatten(flatten(b, 1, 2), 1, {3, -1}).shape() == b.shape());
    BOOST_TEST((unflatten(flatten(b, 1, 2), 1, {3, 4}).value() == b.value()));
    check_both([&] { return weighted(unflatten(flatten(b, 0, 1), 0, {-1, 2}), 7); }, {b});
    expect_error<ValueError>([&] { flatten(b, 2, 1); }, "flatten: start axis 2 comes after end axis 1");
    expect_error<ShapeError>([&] { unflatten(b, 1, {2, 2}); }, "unflatten: cannot reshape [3] (3 elements) to [2,2]");
}

BOOST_AUTO_TEST_CASE(expand_and_repeat_against_their_definitions) {
    Tape tape;
    auto a = param({3, 1}, 8);
    BOOST_TEST(expand(a, {2, -1, 4}).shape() == Shape({2, 3, 4}));
    BOOST_TEST((expand(a, {-1, 4}).value() == Array<double>(xt::broadcast(a.value(), {3, 4}))));
    check_both([&] { return weighted(expand(a, {2, -1, 4}), 9); }, {a});
    expect_error<ShapeError>([&] { expand(a, {-1, 3, 4}); }, "expand: [3,1] to [-1,3,4]: a new leading axis (0)");
    expect_error<ShapeError>([&] { expand(a, {2, 4}); }, "axis 0 of extent 3 is not 1 and cannot become 2");
    expect_error<ShapeError>([&] { expand(a, {4}); }, "expand: [3,1] has 2 dimensions, more than the 1 sizes [4]");

    auto b = param({2, 3}, 10);
    auto r = repeat(b, {2, 1, 2});
    BOOST_TEST(r.shape() == Shape({2, 2, 6}));
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 2; ++j)
            for (std::size_t k = 0; k < 6; ++k) BOOST_TEST(r.value()(i, j, k) == b.value()(j, k % 3));
    check_both([&] { return weighted(repeat(b, {3, 2}), 11); }, {b});
    expect_error<ShapeError>([&] { repeat(b, {2}); }, "repeat: 1 repeats for a tensor of shape [2,3]");
    // sizes whose product overflows: refused, never an array whose shape claims more than it holds
    // (an Array made with such a shape is undefined behaviour inside xtensor already, its strides
    // overflow and the UBSan stage says so, so leaves are not tested that way)
    const std::size_t huge = std::size_t(1) << 33;
    expect_error<ShapeError>([&] { repeat(b, {huge, huge}); }, "repeat: shape [8589934592,2,8589934592,3] has more");
    expect_error<ShapeError>([&] { expand(a, {huge, 3, huge}); }, "expand: shape [8589934592,3,8589934592] has more");
    expect_error<ShapeError>(
        [&] {
            broadcast_to(a, {huge, 3, huge});
        },
        "broadcast_to: shape [8589934592,3,8589934592]");
}

BOOST_AUTO_TEST_CASE(transpose_swaps_two_axes) {
    Tape tape;
    auto a = param({2, 3, 4}, 30);
    auto t = transpose(a, -2, -1);
    BOOST_TEST(t.shape() == Shape({2, 4, 3}));
    BOOST_TEST((t.value() == Array<double>(xt::transpose(a.value(), {0, 2, 1}))));
    BOOST_TEST((transpose(a, 0, 2).value() == Array<double>(xt::transpose(a.value(), {2, 1, 0}))));
    check_both([&] { return weighted(transpose(a, 0, 1), 31); }, {a});
    expect_error<ValueError>([&] { transpose(a, 0, 3); }, "transpose: axis 3 is out of range");
}

BOOST_AUTO_TEST_CASE(flip_and_roll_against_xtensor) {
    Tape tape;
    auto a = param({3, 4, 5}, 12);
    BOOST_TEST((flip(a, 1).value() == Array<double>(xt::flip(a.value(), 1))));
    BOOST_TEST((flip(a, {0, -1}).value() == Array<double>(xt::flip(xt::flip(a.value(), 0), 2))));
    check_both([&] { return weighted(flip(a, {0, 2}), 13); }, {a});
    // flip is its own gradient: the gradient of sum(w * flip(a)) is flip(w)
    auto w = Tensor::constant(uniform({3, 4, 5}, 14));
    BOOST_TEST((grad(sum(w * flip(a, 2)), {a})[0].value() == Array<double>(xt::flip(w.value(), 2))));
    expect_error<ValueError>([&] { flip(a, {}); }, "flip: no axes to flip for shape [3,4,5]");
    expect_error<ValueError>([&] { flip(a, 3); }, "flip: axis 3 is out of range");

    for (std::ptrdiff_t shift : {-7, -1, 0, 1, 2, 4, 9}) {
        BOOST_TEST_CONTEXT("shift " << shift) {
            BOOST_TEST((roll(a, {shift}, {1}).value() == rolled(a.value(), shift, 1)));
            // without axes: the flat order rolled, the shape kept
            Array<double> flat = a.value();
            flat.reshape({1, 1, 60});
            Array<double> want = rolled(flat, shift, 2);
            want.reshape({3, 4, 5});
            BOOST_TEST((roll(a, {shift}).value() == want));
        }
    }
    BOOST_TEST((roll(a, {1, -2}, {0, 2}).value() == rolled(rolled(a.value(), 1, 0), -2, 2)));
    check_both([&] { return weighted(roll(a, {2, 1}, {1, 2}), 15); }, {a});
    check_both([&] { return weighted(roll(a, {-3}), 16); }, {a});
    expect_error<ValueError>([&] { roll(a, {1, 2}, {0}); }, "roll: 2 shifts for 1 axes");
    expect_error<ValueError>([&] { roll(a, {1, 2}); }, "roll: without axes one shift is needed");
}

BOOST_AUTO_TEST_CASE(narrow_split_chunk_unbind_as_pytorch_cuts) {
    Tape tape;
    auto a = param({4, 7}, 17);
    auto n = narrow(a, 1, 2, 3);
    BOOST_TEST((n.value() == Array<double>(xt::view(a.value(), xt::all(), xt::range(2, 5)))));
    BOOST_TEST((narrow(a, 1, -3, 3).value() == Array<double>(xt::view(a.value(), xt::all(), xt::range(4, 7)))));
    check_both([&] { return weighted(narrow(a, 0, 1, 2), 18); }, {a});
    expect_error<ValueError>([&] { narrow(a, 1, 5, 3); }, "narrow: 3 elements from 5 along axis 1 of shape [4,7]");
    expect_error<ValueError>([&] { narrow(a, 1, -8, 1); }, "narrow: 1 elements from -8");

    auto sizes = [](const std::vector<Tensor>& parts, std::size_t axis) {
        std::vector<std::size_t> out;
        for (auto& p : parts) out.push_back(p.shape()[axis]);
        return out;
    };
    BOOST_TEST(sizes(split(a, 3, 1), 1) == std::vector<std::size_t>({3, 3, 1}));
    BOOST_TEST(sizes(split(a, std::vector<std::size_t>{2, 4, 1}, 1), 1) == std::vector<std::size_t>({2, 4, 1}));
    BOOST_TEST(sizes(chunk(a, 3, 1), 1) == std::vector<std::size_t>({3, 3, 1}));
    BOOST_TEST(sizes(chunk(Tensor::constant(uniform({6}, 1)), 4), 0) == std::vector<std::size_t>({2, 2, 2}));
    BOOST_TEST(sizes(chunk(a, 10, 0), 0) == std::vector<std::size_t>({1, 1, 1, 1}));
    // the pieces put back together are the tensor, and each piece's gradient lands in its place
    BOOST_TEST((concat(split(a, 3, 1), 1).value() == a.value()));
    BOOST_TEST((stack(unbind(a, 1), 1).value() == a.value()));
    check_both(
        [&] {
            auto p = split(a, std::vector<std::size_t>{2, 5}, 1);
            return weighted(p[0], 19) + sum(p[1] * p[1]);
        },
        {a});
    check_both(
        [&] {
            auto p = unbind(a, 0);
            return weighted(p[3] * p[1], 20);
        },
        {a});
    check_both(
        [&] {
            auto p = chunk(a, 2, 1);
            return sum(square(p[0])) * sum(p[1]);
        },
        {a});
    BOOST_TEST((select(a, 1, 2).value() == Array<double>(xt::view(a.value(), xt::all(), 2))));
    BOOST_TEST((select(a, 0, -1).value() == Array<double>(xt::view(a.value(), 3))));
    check_both([&] { return weighted(select(a, 1, -2), 32); }, {a});
    expect_error<ValueError>([&] { select(a, 1, 7); }, "select: index 7 is out of range for axis 1 of shape [4,7]");
    BOOST_TEST(unbind(a, -1).size() == 7u);
    BOOST_TEST(unbind(a, -1)[6].shape() == Shape({4}));
    expect_error<ValueError>(
        [&] {
            split(a, std::vector<std::size_t>{2, 4}, 1);
        },
        "split: sizes [2,4] add up to 6, but axis 1 of shape [4,7] has 7 elements");
    expect_error<ValueError>([&] { split(a, 0, 1); }, "split: pieces of size 0");
    expect_error<ValueError>([&] { chunk(a, 0); }, "chunk: 0 chunks");
}

BOOST_AUTO_TEST_CASE(reductions_take_one_axis_as_pytorch_dim) {
    Tape tape;
    auto a = param({3, 4}, 21);
    BOOST_TEST((mean(a, 1).value() == mean(a, {1}).value()));
    BOOST_TEST((sum(a, -1, true).value() == sum(a, {1}, true).value()));
    BOOST_TEST((max(a, 0).value() == max(a, {0}).value()));
    BOOST_TEST((stddev(a, 1).value() == xtgrad::std(a, {1}).value()));
    BOOST_TEST((var(a, 0, 0).value() == var(a, {0}, 0).value()));
    BOOST_TEST(norm(a, 1).item() == sum(abs(a)).item());  // norm's second argument is still ord
}

BOOST_AUTO_TEST_CASE(matmul_broadcasts_batch_axes_of_any_rank) {
    Tape tape;
    // each product against a loop of 2-D products over the broadcast batch
    auto check = [&](Shape sa, Shape sb, Shape expected) {
        BOOST_TEST_CONTEXT(to_string(sa) << " x " << to_string(sb)) {
            auto a = param(sa, 22);
            auto b = param(sb, 23);
            auto c = matmul(a, b);
            BOOST_TEST(c.shape() == expected);
            std::size_t n = sa[sa.size() - 2], k = sa.back(), m = sb.back();
            Array<double> fa = xt::broadcast(a.value(), [&] {
                Shape s(expected.begin(), expected.end());
                s[s.size() - 1] = k;
                return s;
            }());
            Array<double> fb = xt::broadcast(b.value(), [&] {
                Shape s(expected.begin(), expected.end());
                s[s.size() - 2] = k;
                return s;
            }());
            std::size_t count = c.size() / (n * m);
            fa.reshape({count, n, k});
            fb.reshape({count, k, m});
            Array<double> fc = c.value();
            fc.reshape({count, n, m});
            for (std::size_t i = 0; i < count; ++i) {
                Array<double> want = product(xt::view(fa, i), xt::view(fb, i));
                BOOST_TEST(xt::allclose(xt::view(fc, i), want, 1e-13, 1e-13));
            }
            check_both([&] { return sin(matmul(a, b)); }, {a, b});
        }
    };
    check({2, 2, 4, 2}, {2, 2, 2, 4}, {2, 2, 4, 4});
    check({2, 1, 4, 3}, {5, 3, 2}, {2, 5, 4, 2});
    check({3, 2}, {2, 2, 2, 4}, {2, 2, 3, 4});
    check({2, 3, 2, 4}, {4, 3}, {2, 3, 2, 3});
    check({1, 3, 2}, {4, 2, 5}, {4, 3, 5});
    expect_error<ShapeError>(
        [&] {
            matmul(param({2, 3, 4, 5}, 1), param({3, 3, 5, 2}, 2));
        },
        "matmul: [2,3,4,5] x [3,3,5,2]: batch sizes 2 and 3 differ (batch axis 0");
    expect_error<ShapeError>([&] { matmul(param({2, 3}, 1), Tensor::scalar(2.0)); }, "a scalar operand");
}

BOOST_AUTO_TEST_CASE(trace_is_the_sum_of_the_diagonal) {
    Tape tape;
    auto a = param({4, 4}, 24);
    double want = 0;
    for (std::size_t i = 0; i < 4; ++i) want += a.value()(i, i);
    BOOST_TEST(trace(a).item() == want, boost::test_tools::tolerance(1e-14));
    check_both([&] { return square(trace(a * a)); }, {a});
    BOOST_TEST((grad(trace(a), {a})[0].value() == Array<double>(xt::eye<double>(4))));
    expect_error<ShapeError>([&] { trace(param({2, 2, 2}, 1)); }, "trace: expects a matrix, got shape [2,2,2]");
}

BOOST_AUTO_TEST_CASE(triangular_solve_transposed_and_with_a_unit_diagonal) {
    Tape tape;
    auto a = param({4, 4}, 25, 0.5, 1.5);
    auto b = param({4, 2}, 26);
    for (bool upper : {false, true})
        for (bool transposed : {false, true})
            for (bool unit : {false, true}) {
                BOOST_TEST_CONTEXT("upper " << upper << " transpose " << transposed << " unit " << unit) {
                    TriangularOptions o{.upper = upper, .transpose = transposed, .unit_diagonal = unit};
                    Array<double> t = upper ? Array<double>(xt::triu(a.value())) : Array<double>(xt::tril(a.value()));
                    if (unit)
                        for (std::size_t i = 0; i < 4; ++i) t(i, i) = 1;
                    if (transposed) t = xt::transpose(t);
                    auto x = triangular_solve(a, b, o);
                    Array<double> residual = product(t, x.value()) - b.value();
                    BOOST_TEST(xt::amax(xt::abs(residual))() < 1e-12);
                    check_both([&] { return sin(triangular_solve(a, b, o)); }, {a, b});
                    if (unit)  // the diagonal is not read, so it has no gradient
                        BOOST_TEST(xt::amax(xt::abs(xt::diagonal(grad(sum(x), {a})[0].value())))() == 0.0);
                }
            }
}

// A user's code under both using-directives: every call below is unqualified, and the user's
// own types named like xtgrad's former internals do not clash (this test is that it compiles).
namespace user_code {
using namespace xtgrad;
using namespace std;
enum class Comparison { worse, better };
struct Axis {};
inline double spread_and_count(const Tensor& x) {
    Mask above = gt(x, mean(x));
    return stddev(x, 0).item() + sum(where(above, 1.0, 0.0)).item() + (lt(x, x).array().size() > 0 ? 0.0 : 1.0);
}
}  // namespace user_code

BOOST_AUTO_TEST_CASE(names_do_not_collide_with_std_under_using_namespace) {
    Tape tape;
    auto x = Tensor::constant({1.0, 2.0, 3.0, 6.0}, {4});
    // stddev (correction 1) of 1, 2, 3, 6 is sqrt(14 / 3); one value lies above the mean 3
    BOOST_TEST(user_code::spread_and_count(x) == std::sqrt(14.0 / 3.0) + 1.0, boost::test_tools::tolerance(1e-14));
    BOOST_TEST((user_code::Comparison::better != user_code::Comparison::worse));
}
