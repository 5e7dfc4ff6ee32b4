// Shape ops and matrix products: first and second order, and their values.
#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(reshape_broadcast_sum_to) {
    Tape tape;
    auto a = param({2, 3}, 1);
    check_both([&] { return sin(reshape(a, {3, 2})); }, {a});
    check_both([&] { return sin(reshape(a, {6})); }, {a});
    auto c = param({3, 1}, 2);
    check_both([&] { return sin(broadcast_to(c, {2, 3, 4})); }, {c});
    auto d = param({2, 3, 4}, 3);
    check_both([&] { return sin(sum_to(d, {3, 1})); }, {d});
    check_both([&] { return sin(sum_to(d, {1, 4})); }, {d});
    BOOST_TEST(sum_to(d, {3, 1}).shape() == Shape({3, 1}));
}

BOOST_AUTO_TEST_CASE(transpose_permute) {
    Tape tape;
    auto a = param({2, 3, 4}, 4);
    check_both([&] { return sin(permute(a, {2, 0, 1})); }, {a});
    check_both([&] { return sin(transpose(a)); }, {a});
    auto p = permute(a, {2, 0, 1});
    BOOST_TEST(p.shape() == Shape({4, 2, 3}));
    BOOST_TEST(p.value()(3, 1, 2) == a.value()(1, 2, 3));
    // larger than the 16 x 16 tiles of the copy, every permutation of three and four axes
    auto big = param({3, 20, 37}, 40);
    for (std::vector<std::size_t> perm : {std::vector<std::size_t>{0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}})
        BOOST_TEST((permute(big, perm).value() == Array<double>(xt::transpose(big.value(), perm))));
    auto four = param({2, 3, 17, 5}, 41);
    BOOST_TEST((permute(four, {3, 1, 0, 2}).value() == Array<double>(xt::transpose(four.value(), {3, 1, 0, 2}))));
    BOOST_TEST((permute(four, {0, 1, 3, 2}).value() == Array<double>(xt::transpose(four.value(), {0, 1, 3, 2}))));
}

BOOST_AUTO_TEST_CASE(slice_concat_stack) {
    Tape tape;
    auto a = param({4, 5}, 5);
    check_both([&] { return sin(slice(a, 1, 1, 4)); }, {a});
    check_both([&] { return sin(slice(a, 0, -3, 4, 2)); }, {a});
    auto s = slice(a, 1, 0, 5, 2);
    BOOST_TEST(s.shape() == Shape({4, 3}));
    BOOST_TEST(s.value()(2, 2) == a.value()(2, 4));
    auto b = param({4, 2}, 6);
    check_both([&] { return sin(concat<double>({a, b, a}, 1)); }, {a, b});
    auto c = param({4, 5}, 7);
    check_both([&] { return sin(stack<double>({a, c}, 1)); }, {a, c});
    BOOST_TEST(stack<double>({a, c}, 0).shape() == Shape({2, 4, 5}));
    BOOST_TEST(stack<double>({a, c}, -1).value()(3, 4, 1) == c.value()(3, 4));
}

BOOST_AUTO_TEST_CASE(pick_one_index_per_row) {
    Tape tape;
    auto a = param({4, 3}, 8);
    std::vector<std::size_t> labels{2, 0, 1, 2};
    check_both([&] { return sin(pick(a, labels)); }, {a});
    auto p = pick(a, labels);
    for (std::size_t n = 0; n < 4; ++n) BOOST_TEST(p.value()(n) == a.value()(n, labels[n]));
}

BOOST_AUTO_TEST_CASE(matmul_all_cases) {
    Tape tape;
    auto check = [&](Shape sa, Shape sb, Shape expected) {
        BOOST_TEST_CONTEXT(to_string(sa) << " x " << to_string(sb)) {
            auto a = param(sa, 11);
            auto b = param(sb, 12);
            BOOST_TEST(matmul(a, b).shape() == expected);
            check_both([&] { return sin(matmul(a, b)); }, {a, b});
        }
    };
    check({3, 4}, {4, 2}, {3, 2});
    check({4}, {4, 2}, {2});
    check({3, 4}, {4}, {3});
    check({4}, {4}, {});
    check({2, 3, 4}, {2, 4, 5}, {2, 3, 5});
    check({2, 3, 4}, {4, 5}, {2, 3, 5});
    check({3, 4}, {2, 4, 5}, {2, 3, 5});
    check({2, 3, 4}, {4}, {2, 3});
    {  // [B, n, k] x [k, m] is one product over the B n rows: each batch against its own product
        auto a3 = param({2, 3, 4}, 18);
        auto b2 = param({4, 5}, 19);
        auto c3 = matmul(a3, b2).value();
        for (std::size_t i = 0; i < 2; ++i)
            BOOST_TEST(xt::amax(xt::abs(xt::view(c3, i) -
                                        matmul(Tensor::constant(Array<double>(xt::view(a3.value(), i))), b2).value()))() <
                       1e-14);
    }
    // values against a plain loop
    auto a = param({3, 4}, 13);
    auto b = param({4, 2}, 14);
    auto c = matmul(a, b);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 2; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < 4; ++k) s += a.value()(i, k) * b.value()(k, j);
            BOOST_TEST(std::abs(c.value()(i, j) - s) < 1e-14);
        }
}

BOOST_AUTO_TEST_CASE(dot_outer) {
    Tape tape;
    auto a = param({4}, 15);
    auto b = param({4}, 16);
    auto c = param({3}, 17);
    check_both([&] { return sin(dot(a, b)); }, {a, b});
    check_both([&] { return sin(outer(a, c)); }, {a, c});
    BOOST_TEST(outer(a, c).value()(2, 1) == a.value()(2) * c.value()(1));
}

BOOST_AUTO_TEST_CASE(hessian_of_quadratic_form_is_a_plus_a_transpose) {
    Tape tape;
    auto A = Tensor::constant(uniform({4, 4}, 20));
    auto x = param({4}, 21);
    Array<double> H = hessian([&] { return dot(x, matmul(A, x)); }, {x});
    Array<double> expected = A.value() + xt::transpose(A.value());
    BOOST_TEST(xt::amax(xt::abs(H - expected))() < 1e-13);
}

BOOST_AUTO_TEST_CASE(tril_triu_on_matrices_and_batches) {
    for (std::ptrdiff_t k : {-1, 0, 2}) {
        Tape tape;
        auto a = param({4, 3}, 60);
        auto b = param({2, 3, 3}, 61);
        check_both([&] { return square(tril(a, k)); }, {a});
        check_both([&] { return square(triu(b, k)); }, {b});
    }
    Tape tape;
    auto x = Tensor::constant({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0}, {3, 3});
    auto l = tril(x).value();
    BOOST_TEST(l(0, 1) == 0.0);
    BOOST_TEST(l(2, 1) == 8.0);
    auto u = triu(x, 1).value();
    BOOST_TEST(u(1, 1) == 0.0);
    BOOST_TEST(u(1, 2) == 6.0);
    expect_error<ShapeError>([&] { tril(Tensor::constant({1.0, 2.0}, {2})); }, "tril: needs a matrix");
}

BOOST_AUTO_TEST_CASE(diag_embeds_and_extracts) {
    for (std::ptrdiff_t k : {-2, 0, 1}) {
        Tape tape;
        auto v = param({3}, 62);
        auto m = param({3, 4}, 63);
        check_both([&] { return square(diag(v, k)); }, {v});
        check_both([&] { return square(diag(m, k)); }, {m});
    }
    Tape tape;
    auto v = Tensor::constant({1.0, 2.0}, {2});
    auto d = diag(v, 1).value();
    BOOST_TEST(d.shape()[0] == 3u);
    BOOST_TEST(d(0, 1) == 1.0);
    BOOST_TEST(d(1, 2) == 2.0);
    auto m = Tensor::constant({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    auto e = diag(m, 1).value();
    BOOST_TEST(e.size() == 2u);
    BOOST_TEST(e(1) == 6.0);
    expect_error<ValueError>([&] { diag(m, 3); }, "diag: diagonal 3 of a matrix of shape [2,3] is empty");
}

BOOST_AUTO_TEST_CASE(einsum_matches_the_ops_it_names) {
    Tape tape;
    auto a = param({3, 4}, 64);
    auto b = param({4, 5}, 65);
    auto c = param({2, 3, 4}, 66);
    auto d = param({2, 4, 5}, 67);
    auto v = param({4}, 68);
    auto w = param({4}, 69);
    auto close = [](const Tensor& x, const Tensor& y) {
        BOOST_TEST(x.shape() == y.shape());
        BOOST_TEST(xt::amax(xt::abs(x.value() - y.value()))() < 1e-13);
    };
    close(einsum("ij,jk->ik", a, b), matmul(a, b));
    close(einsum("ij,jk", a, b), matmul(a, b));  // implicit output: the letters seen once, sorted
    close(einsum("bij,bjk->bik", c, d), matmul(c, d));
    close(einsum("i,i->", v, w), dot(v, w));
    close(einsum("i,j->ij", v, w), outer(v, w));
    close(einsum("ij->ji", a), transpose(a));
    close(einsum("ij->", a), sum(a));
    close(einsum("bij,jk->bki", c, b), permute(matmul(c, b), {0, 2, 1}));
    close(einsum("ij,kj->ik", a, transpose(b)), matmul(a, b));
    close(einsum("ij,j->i", a, v), matmul(a, v));
    close(einsum("bij,bjk->", c, d), sum(matmul(c, d)));
    close(einsum("ij,kl->ijkl", a, b), reshape(outer(reshape(a, {12}), reshape(b, {20})), {3, 4, 4, 5}));
    close(einsum("ij,jk->k", a, b), sum(matmul(a, b), {0}));
}

BOOST_AUTO_TEST_CASE(einsum_to_second_order) {
    Tape tape;
    auto a = param({3, 4}, 70);
    auto b = param({4, 2}, 71);
    auto c = param({2, 3, 4}, 72);
    check_both([&] { return sin(einsum("ij,jk->ik", a, b)); }, {a, b});
    check_both([&] { return sin(einsum("bij,jk->bk", c, b)); }, {c, b});
    check_both([&] { return square(einsum("bij,ij->b", c, a)); }, {c, a});
    check_both([&] { return square(einsum("ij->ji", a)); }, {a});
}

BOOST_AUTO_TEST_CASE(einsum_errors_name_the_subscripts) {
    Tape tape;
    auto a = param({3, 4}, 73);
    auto b = param({5, 2}, 74);
    expect_error<ShapeError>([&] { einsum("ij,jk->ik", a, b); }, "subscript 'j' has extent 4 in operand 0 and 5");
    expect_error<ShapeError>([&] { einsum("ijk,jk->i", a, b); }, "operand 0 has shape [3,4] but \"ijk\"");
    expect_error<ValueError>([&] { einsum("ii->i", a); }, "repeats within operand");
    expect_error<ValueError>([&] { einsum("ij,jk->iz", a, b); }, "output subscript 'z'");
    expect_error<ValueError>([&] { einsum("...j,jk", a, b); }, "'...'");
    expect_error<ValueError>([&] { einsum("ij->ij", a, b); }, "names 1 operand(s), 2 given");
}

BOOST_AUTO_TEST_CASE(indices_from_vectors_arrays_and_lists) {
    Tape tape;
    auto a = param({3, 4}, 80);
    std::vector<int> vi = {3, 0, 1};
    Array<std::int64_t> ai = {3, 0, 1};
    std::vector<std::size_t> vs = {3, 0, 1};
    auto expected = pick(a, {3, 0, 1}).value();
    BOOST_TEST(pick(a, vi).value() == expected);
    BOOST_TEST(pick(a, ai).value() == expected);
    BOOST_TEST(pick(a, vs).value() == expected);
    expect_error<ValueError>([&] { pick(a, {0, -1, 1}); }, "pick: index -1 at row 1 is out of range for 4 classes");
    expect_error<ValueError>(
        [&] {
            pick(a, std::vector<std::uint64_t>{0, std::uint64_t(1) << 63, 1});
        },
        "does not fit a signed 64-bit index");
}

BOOST_AUTO_TEST_CASE(take_along_axis_and_scatter_add_to_second_order) {
    Tape tape;
    auto a = param({3, 4}, 81);
    Array<std::int64_t> rows = {{2, 0, 0, 1}, {1, 1, 2, -1}};  // [2, 4] along axis 0, repeats, negative
    Array<std::int64_t> cols = {{3, 3}, {0, 1}, {-1, 2}};      // [3, 2] along axis 1
    check_both([&] { return square(take_along_axis(a, rows, 0)); }, {a});
    check_both([&] { return square(gather(a, 1, cols)); }, {a});
    auto src = param({2, 4}, 82);
    check_both([&] { return square(scatter_add(a, 0, rows, src)); }, {a, src});
    // values: out[i, j] = a[idx[i, j], j] along axis 0
    auto t = take_along_axis(a, rows, 0).value();
    BOOST_TEST(t(0, 0) == a.value()(2, 0));
    BOOST_TEST(t(1, 3) == a.value()(2, 3));
    auto s = scatter_add(Tensor::constant(Array<double>(xt::zeros<double>({3, 4}))), 0, rows,
                         Tensor::constant(Array<double>(xt::ones<double>({2, 4}))))
                 .value();
    BOOST_TEST(s(0, 1) == 1.0);  // (0,1) once, from rows(0, 1)
    BOOST_TEST(s(1, 1) == 1.0);
    BOOST_TEST(s(2, 3) == 1.0);
    BOOST_TEST(s(1, 0) == 1.0);
    BOOST_TEST(xt::sum(s)() == 8.0);
    // 3-D, along the middle axis, the labels case of take_along_axis: [N, C] with [N, 1]
    auto b = param({2, 3, 2}, 83);
    Array<std::int64_t> mid = Array<std::int64_t>::from_shape({2, 2, 2});
    for (std::size_t i = 0; i < mid.size(); ++i) mid.data()[i] = static_cast<std::int64_t>((i * 7) % 3);
    check_both([&] { return sin(take_along_axis(b, mid, 1)); }, {b});
    Array<std::int64_t> labels = {1, 3, 0};
    labels.reshape({3, 1});
    BOOST_TEST(take_along_axis(a, labels, 1).value()(1, 0) == a.value()(1, 3));
}

BOOST_AUTO_TEST_CASE(index_select_and_index_add_to_second_order) {
    Tape tape;
    auto a = param({4, 3}, 84);
    std::vector<int> batch = {3, 1, 1, -4};
    check_both([&] { return square(index_select(a, 0, batch)); }, {a});
    check_both([&] { return square(index_select(a, 1, {2, 0})); }, {a});
    auto src = param({4, 2}, 85);
    check_both([&] { return square(index_add(a, 1, {2, 2}, src)); }, {a, src});
    auto rows = index_select(a, 0, batch).value();
    BOOST_TEST(rows(0, 2) == a.value()(3, 2));
    BOOST_TEST(rows(3, 1) == a.value()(0, 1));
    auto sum_back = index_add(Tensor::constant(Array<double>(xt::zeros<double>({4, 3}))), 0, batch,
                              Tensor::constant(Array<double>(xt::ones<double>({4, 3}))))
                        .value();
    BOOST_TEST(sum_back(1, 0) == 2.0);  // row 1 selected twice: its gradient adds up
    BOOST_TEST(sum_back(2, 0) == 0.0);
}

BOOST_AUTO_TEST_CASE(indexing_errors_name_the_index_and_the_shapes) {
    Tape tape;
    auto a = param({3, 4}, 86);
    Array<std::int64_t> bad = {{0, 1, 4, 0}};
    expect_error<ValueError>(
        [&] { take_along_axis(a, bad, 0); },
        "take_along_axis: index 4 at [0,2] of the indices (shape [1,4]) is out of range for axis 0 "
        "of extent 3 (shape [3,4])");
    Array<std::int64_t> wide = {{0, 1, 2, 0, 1}};
    expect_error<ShapeError>([&] { gather(a, 0, wide); },
                             "take_along_axis: indices of shape [1,5] for an array of shape [3,4]");
    expect_error<ShapeError>([&] { index_select(a, 0, Array<std::int64_t>{{0, 1}}); }, "one-dimensional");
    expect_error<ValueError>([&] { index_select(a, 1, {5}); }, "index_select: index 5 at [0]");
    expect_error<ShapeError>(
        [&] {
            index_add(a, 0, {0, 1}, param({2, 3}, 87));
        },
        "index_add: src of shape [2,3] for 2 indices into shape [3,4] along axis 0 (expected [2,4])");
    Array<std::int64_t> one = {1};
    one.reshape({1, 1});
    expect_error<ShapeError>([&] { scatter_add(a, 1, one, param({2}, 88)); }, "scatter_add: src of shape [2]");
}

BOOST_AUTO_TEST_CASE(unfold2d_is_im2col_and_fold2d_its_adjoint) {
    Tape tape;
    // a direct 2-D cross-correlation against matmul(unfold2d(x), w)
    auto x = param({2, 3, 5, 6}, 90);
    auto w = param({3 * 2 * 3}, 91);  // one filter, kernel 2 x 3
    for (Patches2d p :
         {Patches2d{{2, 3}}, Patches2d{{2, 3}, {2, 1}, {1, 2}, {1, 1}}, Patches2d{{2, 3}, {1, 2}, {0, 1}, {2, 1}},
          Patches2d{{2, 3}, {1, 3}, {2, 3}, {1, 2}}}) {  // whole patch rows in the padding
        auto cols = unfold2d(x, p);
        auto out = matmul(cols, w).value();  // [N, L]
        std::size_t oh = (5 + 2 * p.padding[0] - p.dilation[0] * 1 - 1) / p.stride[0] + 1;
        std::size_t ow = (6 + 2 * p.padding[1] - p.dilation[1] * 2 - 1) / p.stride[1] + 1;
        BOOST_TEST(cols.shape() == (Shape{2, oh * ow, 18}));
        double worst = 0;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t oy = 0; oy < oh; ++oy)
                for (std::size_t ox = 0; ox < ow; ++ox) {
                    double s = 0;
                    for (std::size_t c = 0; c < 3; ++c)
                        for (std::size_t ky = 0; ky < 2; ++ky)
                            for (std::size_t kx = 0; kx < 3; ++kx) {
                                long yy = long(oy * p.stride[0] + ky * p.dilation[0]) - long(p.padding[0]);
                                long xx = long(ox * p.stride[1] + kx * p.dilation[1]) - long(p.padding[1]);
                                if (yy < 0 || yy >= 5 || xx < 0 || xx >= 6) continue;
                                s += x.value()(n, c, yy, xx) * w.value()((c * 2 + ky) * 3 + kx);
                            }
                    worst = std::max(worst, std::abs(s - out(n, oy * ow + ox)));
                }
        BOOST_TEST(worst < 1e-13);
        check_both([&] { return square(matmul(unfold2d(x, p), w)); }, {x, w});
        // adjoint: <unfold(x), c> = <x, fold(c)>
        auto c = Tensor::constant(uniform(cols.shape(), 92));
        double lhs = sum(cols * c).item(), rhs = sum(x * fold2d(c, x.shape(), p)).item();
        BOOST_TEST(std::abs(lhs - rhs) < 1e-12 * std::abs(lhs));
        check_both([&] { return square(fold2d(Tensor::constant(c.value()) * sum(x), x.shape(), p)); }, {x});
    }
    expect_error<ShapeError>(
        [&] {
            unfold2d(param({3, 5, 6}, 93), Patches2d{{2, 2}});
        },
        "unfold2d: expects images [N, C, H, W]");
    expect_error<ShapeError>([&] { unfold2d(x, Patches2d{{6, 2}}); }, "does not fit");
    expect_error<ValueError>([&] { unfold2d(x, Patches2d{{2, 2}, {0, 1}}); }, "must be >= 1");
}

// The ends of an axis, from both sides: extent - 1 and -extent are taken, extent and
// -extent - 1 refused, by every indexing op with indices as an IndexArray and as a tensor.
BOOST_AUTO_TEST_CASE(every_indexing_op_takes_the_ends_of_its_axis_and_refuses_one_past_them) {
    Tape tape;
    auto a = param({3, 4}, 89);
    const auto& av = a.value();
    for (std::size_t axis : {0, 1}) {
        const std::int64_t extent = std::int64_t(av.shape()[axis]);
        Shape column = axis == 0 ? Shape{1, 4} : Shape{3, 1};
        for (std::int64_t index : {extent - 1, -extent, extent, -extent - 1}) {
            const bool inside = index >= -extent && index < extent;
            const std::size_t at = std::size_t(index < 0 ? index + extent : index);
            BOOST_TEST_CONTEXT("axis " << axis << ", index " << index) {
                Array<std::int64_t> along = Array<std::int64_t>::from_shape(column);
                along.fill(index);
                Array<double> along_values = xt::cast<double>(along);
                auto by_tensor = Tensor::constant(along_values);
                auto src = Tensor::constant(Array<double>(xt::ones<double>(column)));
                Array<double> one_row = xt::ones<double>(axis == 0 ? Shape{1, 4} : Shape{3, 1});
                auto row_src = Tensor::constant(one_row);
                const std::vector<std::function<Tensor()>> ops{
                    [&] { return take_along_axis(a, IndexArray(along), std::ptrdiff_t(axis)); },
                    [&] { return take_along_axis(a, by_tensor, std::ptrdiff_t(axis)); },
                    [&] { return scatter_add(a, std::ptrdiff_t(axis), IndexArray(along), src); },
                    [&] { return scatter_add(a, std::ptrdiff_t(axis), by_tensor, src); },
                    [&] { return index_select(a, std::ptrdiff_t(axis), IndexArray({index})); },
                    [&] { return index_select(a, std::ptrdiff_t(axis), Tensor::constant(Array<double>{double(index)})); },
                    [&] { return index_add(a, std::ptrdiff_t(axis), IndexArray({index}), row_src); },
                    [&] { return index_add(a, std::ptrdiff_t(axis), Tensor::constant(Array<double>{double(index)}), row_src); },
                };
                for (std::size_t k = 0; k < ops.size(); ++k) {
                    if (!inside) {
                        expect_error<ValueError>([&] { ops[k](); }, "is out of range");
                        continue;
                    }
                    auto out = ops[k]().value();
                    // the value at the end of the axis: taken (ops 0, 1, 4, 5) or added to (2, 3, 6, 7)
                    const bool taken = k == 0 || k == 1 || k == 4 || k == 5;
                    const double got = taken ? (axis == 0 ? out(0, 1) : out(1, 0)) : (axis == 0 ? out(at, 1) : out(1, at));
                    const double want = (axis == 0 ? av(at, 1) : av(1, at)) + (taken ? 0.0 : 1.0);
                    BOOST_TEST(got == want, "op " << k);
                }
            }
        }
    }
}
