// Triangles and diagonals of matrices. tril/triu are linear masks, their own rules; diag's
// two forms (vector to matrix, matrix to vector) are each other's rules.
#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
// Keeps entries (i, j) of the last two dimensions with j - i <= k (lower) or >= k (upper).
template <class T>
TensorT<T> triangle(std::string_view name, const TensorT<T>& a, std::ptrdiff_t k, bool lower) {
    check_usable(name, a, 0);
    if (a.dim() < 2)
        throw ShapeError(
            fmt::format("{}: needs a matrix (at least 2 dimensions), got shape {}", name, to_string(a.shape())));
    return make_op<T>(
        name, {a},
        [k, lower](const TensorList<T>& in) {
            Array<T> out = in[0].value();
            std::size_t d = out.dimension(), rows = out.shape()[d - 2], cols = out.shape()[d - 1];
            for (std::size_t start = 0; start < out.size(); start += rows * cols)
                for (std::size_t i = 0; i < rows; ++i)
                    for (std::size_t j = 0; j < cols; ++j) {
                        auto offset = static_cast<std::ptrdiff_t>(j) - static_cast<std::ptrdiff_t>(i);
                        if (lower ? offset > k : offset < k) out.data()[start + i * cols + j] = T(0);
                    }
            return out;
        },
        [name, k, lower](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {triangle(name, g, k, lower)};
        });
}

// First (row, column) of diagonal k and its length in a rows x cols matrix.
struct Diagonal {
    std::size_t row, col, length;
};
Diagonal diagonal_of(std::size_t rows, std::size_t cols, std::ptrdiff_t k) {
    std::size_t row = k < 0 ? static_cast<std::size_t>(-k) : 0, col = k > 0 ? static_cast<std::size_t>(k) : 0;
    if (row >= rows || col >= cols) return {row, col, 0};
    return {row, col, std::min(rows - row, cols - col)};
}

template <class T>
TensorT<T> extract_diagonal(const TensorT<T>& a, std::ptrdiff_t k);

// A vector placed on diagonal k of a rows x cols matrix of zeros.
template <class T>
TensorT<T> embed_diagonal(const TensorT<T>& v, std::ptrdiff_t k, std::size_t rows, std::size_t cols) {
    Diagonal d = diagonal_of(rows, cols, k);
    return make_op<T>(
        "diag", {v},
        [d, rows, cols](const TensorList<T>& in) {
            Array<T> out = xt::zeros<T>({rows, cols});
            for (std::size_t i = 0; i < d.length; ++i) out(d.row + i, d.col + i) = in[0].value()(i);
            return out;
        },
        [k](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {extract_diagonal(g, k)};
        });
}

template <class T>
TensorT<T> extract_diagonal(const TensorT<T>& a, std::ptrdiff_t k) {
    std::size_t rows = a.shape()[0], cols = a.shape()[1];
    Diagonal d = diagonal_of(rows, cols, k);
    if (d.length == 0)
        throw ValueError(fmt::format("diag: diagonal {} of a matrix of shape {} is empty", k, to_string(a.shape())));
    return make_op<T>(
        "diag", {a},
        [d](const TensorList<T>& in) {
            Array<T> out = Array<T>::from_shape({d.length});
            for (std::size_t i = 0; i < d.length; ++i) out(i) = in[0].value()(d.row + i, d.col + i);
            return out;
        },
        [k, rows, cols](const TensorList<T>&, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            return {embed_diagonal(g, k, rows, cols)};
        });
}
}  // namespace

template <class T>
TensorT<T> tril(const TensorT<T>& a, std::ptrdiff_t k) {
    return triangle("tril", a, k, true);
}

template <class T>
TensorT<T> triu(const TensorT<T>& a, std::ptrdiff_t k) {
    return triangle("triu", a, k, false);
}

template <class T>
TensorT<T> diag(const TensorT<T>& a, std::ptrdiff_t k) {
    check_usable("diag", a, 0);
    if (a.dim() == 1) {
        std::size_t n = a.size() + static_cast<std::size_t>(k < 0 ? -k : k);
        return embed_diagonal(a, k, n, n);
    }
    if (a.dim() == 2) return extract_diagonal(a, k);
    throw ShapeError(fmt::format("diag: expects a vector or a matrix, got shape {}", to_string(a.shape())));
}

#define XTGRAD_INSTANTIATE(T)                                    \
    template TensorT<T> tril(const TensorT<T>&, std::ptrdiff_t); \
    template TensorT<T> triu(const TensorT<T>&, std::ptrdiff_t); \
    template TensorT<T> diag(const TensorT<T>&, std::ptrdiff_t);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
