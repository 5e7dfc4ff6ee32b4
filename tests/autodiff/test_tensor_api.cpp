// What a user meets first: making tensors from plain values, printing them, masks from
// comparisons, and a custom op whose dtype is deduced.
#include <sstream>

#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(tensors_from_values_and_a_shape) {
    std::vector<double> values = {1, 2, 3, 4, 5, 6};
    auto p = Tensor::parameter(values, {2, 3});
    BOOST_TEST(p.requires_grad());
    BOOST_TEST(p.value()(1, 0) == 4.0);
    float buffer[4] = {1, 2, 3, 4};
    auto c = Tensor32::constant(std::span<const float>(buffer, 4), {4});
    BOOST_TEST(!c.requires_grad());
    BOOST_TEST(c.value()(3) == 4.0f);
    auto l = Tensor::parameter({1.0, 2.0}, {2, 1});
    BOOST_TEST(l.shape() == (Shape{2, 1}));
    expect_error<ShapeError>(
        [&] {
            Tensor::parameter(values, {4, 2});
        },
        "parameter: 6 values given for shape [4,2] (8 elements)");
    expect_error<ValueError>([&] { Tensor::constant(std::span<const double>(), {0}); },
                             "constant: shape [0] has no elements");
}

BOOST_AUTO_TEST_CASE(is_same_tells_handles_to_one_tensor) {
    Tape tape;
    auto a = Tensor::parameter({1.0, 2.0}, {2});
    auto b = a;
    BOOST_TEST(a.is_same(b));
    BOOST_TEST(!a.is_same(a * 1.0));  // equal values, another tensor
    BOOST_TEST(!a.is_same(Tensor::parameter({1.0, 2.0}, {2})));
    BOOST_TEST(!Tensor().is_same(a));
}

BOOST_AUTO_TEST_CASE(index_array_from_values_and_a_shape) {
    IndexArray idx(std::vector<std::int64_t>{0, 2, 1, 1, 0, 2}, Shape{2, 3});
    BOOST_TEST(idx.shape() == (Shape{2, 3}));
    BOOST_TEST(idx[4] == 0);
    auto a = Tensor::constant({10.0, 20.0, 30.0, 40.0, 50.0, 60.0}, {2, 3});
    BOOST_TEST((take_along_axis(a, idx, 1).value() == Array<double>{{10, 30, 20}, {50, 40, 60}}));
    // containers are read from their memory, expressions through xtensor: the same indices
    xt::xarray<int, xt::layout_type::column_major> column_major{{0, 2, 1}, {1, 0, 2}};
    BOOST_TEST((take_along_axis(a, IndexArray(column_major), 1).value() == Array<double>{{10, 30, 20}, {50, 40, 60}}));
    expect_error<ValueError>([] { IndexArray(std::vector<std::int64_t>{1, 2, 3}, Shape{2, 2}); },
                             "IndexArray: 3 values for the shape [2,2], which holds 4");
}

BOOST_AUTO_TEST_CASE(set_grad_replaces_a_parameters_gradient) {
    auto p = Tensor::parameter(Array<double>{1, 2});
    p.set_grad(Array<double>{3, 4});  // PyTorch's p.grad = g
    BOOST_TEST((p.grad() == Array<double>{3, 4}));
    {
        Tape tape;
        sum(p * p).backward();  // accumulates onto it
    }
    BOOST_TEST((p.grad() == Array<double>{5, 8}));
    expect_error<ShapeError>([&] { p.set_grad(Array<double>{1, 2, 3}); }, "gradient of shape [3] for a parameter of shape [2]");
    auto c = Tensor::constant(Array<double>{1});
    expect_error<GradError>([&] { c.set_grad(Array<double>{1}); }, "is a constant");
}

BOOST_AUTO_TEST_CASE(printing_shows_values_shape_dtype_and_gradient) {
    std::ostringstream os;
    os << Tensor::parameter({1.0, 2.5, -3.0, 4.0}, {2, 2});
    BOOST_TEST(os.str() == "tensor([[  1, 2.5],\n        [ -3,   4]], shape=[2,2], dtype=float64, requires_grad=true)");
    os.str("");
    os << Tensor32::scalar(0.5f);
    BOOST_TEST(os.str() == "tensor(0.5, shape=[], dtype=float32, requires_grad=false)");
    os.str("");
    os << Tensor();
    BOOST_TEST(os.str() == "tensor(undefined)");
    // more than 1000 elements: three at each edge of every axis, as numpy
    os.str("");
    Array<double> big = xt::arange<double>(2000.0);
    os << Tensor::constant(big);
    BOOST_TEST(os.str() ==
               "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000], dtype=float64, "
               "requires_grad=false)");
    os.str("");
    Array<double> grid = xt::arange<double>(2000.0);
    grid.reshape({40, 50});
    os << Tensor::constant(grid);
    BOOST_TEST(os.str().find("[   0,    1,    2, ...,   47,   48,   49],\n        [  50,") != std::string::npos,
               os.str());
    BOOST_TEST(os.str().find(" ...,\n") != std::string::npos, os.str());
}

BOOST_AUTO_TEST_CASE(comparisons_give_masks_for_where_and_user_code) {
    Tape tape;
    auto x = Tensor::parameter({-2.0, -0.5, 0.0, 0.5, 2.0}, {5});
    Array<bool> positive = x > 0.0;
    BOOST_TEST(!positive(2));
    BOOST_TEST(positive(3));
    Array<bool> inside = (x > -1.0) && (x < 1.0);
    BOOST_TEST(inside(1));
    BOOST_TEST(!inside(4));
    BOOST_TEST(xt::any(!inside));
    // a leaky function built from a mask: the masked branch gets no gradient
    auto y = where(inside, x, 0.1 * x);
    sum(y).backward();
    BOOST_TEST(x.grad()(0) == 0.1);
    BOOST_TEST(x.grad()(2) == 1.0);
    // masks straight from expressions, and a number in a branch
    auto z = where((x >= 0.0) || (x == -2.0), x, 0.0);
    BOOST_TEST(z.value()(0) == -2.0);
    BOOST_TEST(z.value()(1) == 0.0);
    // broadcasting, all six comparisons, NaN compares false except with !=
    auto row = Tensor::constant({0.0, 1.0, std::nan("")}, {1, 3});
    auto col = Tensor::constant({0.0, 2.0}, {2, 1});
    Array<bool> lt = row<col, le = row <= col, gt = row> col, ge = row >= col, eq = row == col, ne = row != col;
    BOOST_TEST(lt.shape() == (Shape{2, 3}));
    BOOST_TEST(lt(1, 1));
    BOOST_TEST(le(0, 0));
    BOOST_TEST(gt(0, 1));
    BOOST_TEST(!ge(1, 1));
    BOOST_TEST(eq(0, 0));
    BOOST_TEST(!eq(0, 2));
    BOOST_TEST(ne(0, 2));
    BOOST_TEST(!(lt(0, 2) || le(0, 2) || gt(0, 2) || ge(0, 2)));
    BOOST_TEST((1.0 < row).array()(0, 2) == false);
    expect_error<ShapeError>(
        [&] {
            Array<bool> m = Tensor::constant({1.0, 2.0}, {2}) < Tensor::constant({1.0, 2.0, 3.0}, {3});
        },
        "less: shapes [2] and [3] cannot be broadcast");
}

BOOST_AUTO_TEST_CASE(custom_op_deduces_its_dtype) {
    Tape tape;
    auto x = Tensor::parameter({-1.5, 0.5, 2.0}, {3});
    // softsign x / (1 + |x|), derivative 1 / (1 + |x|)^2, written with differentiable ops
    auto softsign = [](const Tensor& t) {
        return custom_op(
            "softsign", {t},
            [](const TensorList<double>& in) { return Array<double>(in[0].value() / (1.0 + xt::abs(in[0].value()))); },
            [](const TensorList<double>& in, const Tensor&, const Tensor& g) -> TensorList<double> {
                return {g / square(1.0 + abs(in[0]))};
            });
    };
    check_both([&] { return softsign(x); }, {x});
    auto x32 = Tensor32::parameter({0.5f}, {1});
    auto y32 = custom_op(
        "double_it", std::vector<Tensor32>{x32},
        [](const TensorList<float>& in) { return Array<float>(2.0f * in[0].value()); },
        [](const TensorList<float>&, const Tensor32&, const Tensor32& g) -> TensorList<float> { return {2.0f * g}; });
    BOOST_TEST(y32.value()(0) == 1.0f);
}

BOOST_AUTO_TEST_CASE(masks_are_not_indices) {
    // bool is an integer type to C++, but a mask where indices are expected would silently
    // pick elements 0 and 1: IndexArray does not take one
    static_assert(!std::is_constructible_v<IndexArray, Array<bool>>);
    static_assert(!std::is_constructible_v<IndexArray, std::vector<bool>>);
    static_assert(std::is_constructible_v<IndexArray, Array<std::int64_t>>);
    static_assert(std::is_constructible_v<IndexArray, std::vector<int>>);
    BOOST_TEST(IndexArray(std::vector<int>{2, 0}).size() == 2u);
}
