// Matrix products through BLAS. Two primitives with transpose flags carry the rules:
// gemm_flat (one product of operands viewed as matrices: 2-D, and [B, n, k] x [k, m]) and gemm
// (a batch of products); the backward products pass transposes as flags to BLAS instead of
// copying, and each primitive's rule is written with itself.
#include <cblas.h>

#include "kernels.hpp"
#include "xtgrad/autodiff/threads.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {

// c = op(a) op(b), or with `add` c += op(a) op(b)
void blas_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
               const float* b, std::size_t ldb, float* c, bool add = false) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                1.0f, a, int(lda), b, int(ldb), add ? 1.0f : 0.0f, c, int(n));
}
void blas_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, std::size_t lda,
               const double* b, std::size_t ldb, double* c, bool add = false) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                1.0, a, int(lda), b, int(ldb), add ? 1.0 : 0.0, c, int(n));
}

// op(A) op(B) for each matrix of two batches [B, ., .] of equal size; op is a transpose when
// the flag is set. Shapes are validated by the caller (matmul). 2-D products are gemm_flat.
template <class T>
TensorT<T> gemm(const TensorT<T>& a, const TensorT<T>& b, bool ta, bool tb) {
    return make_op<T>(
        "matmul", {a, b},
        [ta, tb](const TensorList<T>& in) {
            const Array<T>& x = in[0].value();
            const Array<T>& y = in[1].value();
            std::size_t batch = x.shape()[0], xr = x.shape()[1], xc = x.shape()[2], yr = y.shape()[1], yc = y.shape()[2];
            std::size_t m = ta ? xc : xr, k = ta ? xr : xc, n = tb ? yr : yc;
            Array<T> out = Array<T>::from_shape({batch, m, n});
            for (std::size_t i = 0; i < batch; ++i)
                blas_gemm(ta, tb, m, n, k, x.data() + i * xr * xc, xc, y.data() + i * yr * yc, yc,
                          out.data() + i * m * n);
            return out;
        },
        // C = op(A) op(B). With op(A) = A:  dA = g op(B)^T;  with op(A) = A^T: dA = op(B) g^T.
        // With op(B) = B:  dB = op(A)^T g;  with op(B) = B^T: dB = g^T op(A).
        [ta, tb](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            const TensorT<T>& A = in[0];
            const TensorT<T>& B = in[1];
            TensorT<T> dA, dB;
            if (wants(in, 0)) dA = ta ? gemm(B, g, tb, true) : gemm(g, B, false, !tb);
            if (wants(in, 1)) dB = tb ? gemm(g, A, true, ta) : gemm(A, g, !ta, false);
            return {dA, dB};
        });
}

// op(X) op(Y) with each operand viewed as the matrix [product of its leading extents, last
// extent], the result given `shape` (whose leading extents multiply to the rows, whose last
// is the columns). [B, n, k] x [k, m] is then one BLAS call on the operand's own memory, with
// no reshaped copy in or out; the rule is the same primitive again, each gradient taking its
// operand's shape, so it is differentiable to any order. With `c` (a vector of the result's
// columns) every row starts as c and BLAS adds the product to it (PyTorch's addmm): the bias
// of a layer costs no pass of its own, and BLAS no zeroing of the result.
template <class T>
TensorT<T> gemm_flat(const TensorT<T>& a, const TensorT<T>& b, bool ta, bool tb, Shape shape,
                     const TensorT<T>& c = {}) {
    TensorList<T> inputs{a, b};
    if (c.defined()) inputs.push_back(c);
    return make_op<T>(
        "matmul", std::move(inputs),
        [ta, tb, shape](const TensorList<T>& in) {
            const Array<T>& x = in[0].value();
            const Array<T>& y = in[1].value();
            std::size_t xc = x.shape().back(), xr = x.size() / xc, yc = y.shape().back(), yr = y.size() / yc;
            std::size_t m = ta ? xc : xr, k = ta ? xr : xc, n = tb ? yr : yc;
            Array<T> out = Array<T>::from_shape(shape);
            const bool add = in.size() == 3;
            if (add)
                for (std::size_t r = 0; r < m; ++r) std::copy_n(in[2].value().data(), n, out.data() + r * n);
            blas_gemm(ta, tb, m, n, k, x.data(), xc, y.data(), yc, out.data(), add);
            return out;
        },
        [ta, tb](const TensorList<T>& in, const TensorT<T>&, const TensorT<T>& g) -> TensorList<T> {
            const TensorT<T>& A = in[0];
            const TensorT<T>& B = in[1];
            TensorList<T> d(in.size());
            if (wants(in, 0)) d[0] = ta ? gemm_flat(B, g, tb, true, A.shape()) : gemm_flat(g, B, false, !tb, A.shape());
            if (wants(in, 1)) d[1] = tb ? gemm_flat(g, A, true, ta, B.shape()) : gemm_flat(A, g, !ta, false, B.shape());
            if (in.size() == 3 && wants(in, 2)) d[2] = sum_to(g, in[2].shape());
            return d;
        });
}

[[noreturn]] void inner_mismatch(const Shape& a, const Shape& b, std::size_t ka, std::size_t kb) {
    throw ShapeError(
        fmt::format("matmul: {} x {}: inner dimensions {} and {} differ", to_string(a), to_string(b), ka, kb));
}
}  // namespace

template <class T>
TensorT<T> matmul(const TensorT<T>& a, const TensorT<T>& b) {
    check_usable("matmul", a, 0);
    check_usable("matmul", b, 1);
    const Shape& sa = a.shape();
    const Shape& sb = b.shape();
    std::size_t da = sa.size(), db = sb.size();
    if (da == 0 || db == 0)
        throw ShapeError(fmt::format("matmul: {} x {}: a scalar operand has no matrix product (use mul)",
                                     to_string(sa), to_string(sb)));
    std::size_t ka = sa[da - 1], kb = db == 1 ? sb[0] : sb[db - 2];
    if (ka != kb) inner_mismatch(sa, sb, ka, kb);
    if (da == 1 && db == 1)
        return reshape(gemm_flat(reshape(a, {1, ka}), reshape(b, {kb, 1}), false, false, {1, 1}), {});
    if (da == 1) {
        TensorT<T> r = matmul(reshape(a, {1, ka}), b);  // [.., 1, m]
        Shape s = r.shape();
        s.erase(s.end() - 2);
        return reshape(r, s);
    }
    if (db == 1) {
        TensorT<T> r = matmul(a, reshape(b, {kb, 1}));  // [.., n, 1]
        Shape s = r.shape();
        s.pop_back();
        return reshape(r, s);
    }
    if (db == 2) {  // [..., n, k] x [k, m]: one product of [(...) n, k] x [k, m]
        Shape s(sa.begin(), sa.end());
        s.back() = sb[1];
        return gemm_flat(a, b, false, false, s);
    }
    // batch axes broadcast; each operand is laid out as [B, ., .] (a broadcast copy where its
    // batch is smaller, whose gradient sum_to adds back) for one BLAS call per matrix
    Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    std::size_t nb = std::max(batch_a.size(), batch_b.size());
    Shape batch(nb);
    for (std::size_t i = 0; i < nb; ++i) {
        std::size_t ea = i < nb - batch_a.size() ? 1 : batch_a[i - (nb - batch_a.size())];
        std::size_t eb = i < nb - batch_b.size() ? 1 : batch_b[i - (nb - batch_b.size())];
        if (ea != eb && ea != 1 && eb != 1)
            throw ShapeError(fmt::format("matmul: {} x {}: batch sizes {} and {} differ (batch axis {}; they "
                                         "broadcast only where one is 1)",
                                         to_string(sa), to_string(sb), ea, eb, i));
        batch[i] = std::max(ea, eb);
    }
    std::size_t count = 1;
    for (std::size_t e : batch) count *= e;
    auto reshaped = [](const TensorT<T>& x, const Shape& s) { return x.shape() == s ? x : reshape(x, s); };
    auto as_batch = [&](const TensorT<T>& x, std::size_t rows, std::size_t cols) {
        Shape full = batch;
        full.insert(full.end(), {rows, cols});
        return reshaped(x.shape() == full ? x : broadcast_to(x, full), {count, rows, cols});
    };
    Shape out = batch;
    out.insert(out.end(), {sa[da - 2], sb[db - 1]});
    return reshaped(gemm(as_batch(a, sa[da - 2], ka), as_batch(b, kb, sb[db - 1]), false, false), out);
}

// The shape of a b^T for a [..., k] and b [m, k]: [..., m]; ShapeError otherwise.
template <class T>
Shape nt_shape(const TensorT<T>& a, const TensorT<T>& b) {
    check_usable("matmul_nt", a, 0);
    check_usable("matmul_nt", b, 1);
    const Shape& sa = a.shape();
    const Shape& sb = b.shape();
    if (sa.empty() || sb.size() != 2 || sa.back() != sb[1])
        throw ShapeError(fmt::format("matmul_nt: {} x {}^T: expects [..., k] and [m, k]", to_string(sa),
                                     to_string(sb)));
    Shape s = sa;
    s.back() = sb[0];
    return s;
}

template <class T>
TensorT<T> matmul_nt(const TensorT<T>& a, const TensorT<T>& b) {
    return gemm_flat(a, b, false, true, nt_shape(a, b));
}

template <class T>
TensorT<T> matmul_nt(const TensorT<T>& a, const TensorT<T>& b, const TensorT<T>& c) {
    Shape s = nt_shape(a, b);
    check_usable("matmul_nt", c, 2);
    if (c.shape() != Shape{s.back()})
        throw ShapeError(fmt::format("matmul_nt: {} x {}^T + c: c has shape {}, expected [{}]", to_string(a.shape()),
                                     to_string(b.shape()), to_string(c.shape()), s.back()));
    return gemm_flat(a, b, false, true, std::move(s), c);
}

template <class T>
TensorT<T> trace(const TensorT<T>& a) {
    check_usable("trace", a, 0);
    if (a.dim() != 2)
        throw ShapeError(fmt::format("trace: expects a matrix, got shape {}", to_string(a.shape())));
    return sum(diag(a));
}

template <class T>
TensorT<T> dot(const TensorT<T>& a, const TensorT<T>& b) {
    check_usable("dot", a, 0);
    check_usable("dot", b, 1);
    if (a.dim() != 1 || b.dim() != 1 || a.size() != b.size())
        throw ShapeError(fmt::format("dot: {} . {}: expects two vectors of equal length", to_string(a.shape()),
                                     to_string(b.shape())));
    return sum(a * b);
}

template <class T>
TensorT<T> outer(const TensorT<T>& a, const TensorT<T>& b) {
    check_usable("outer", a, 0);
    check_usable("outer", b, 1);
    if (a.dim() != 1 || b.dim() != 1)
        throw ShapeError(
            fmt::format("outer: {} x {}: expects two vectors", to_string(a.shape()), to_string(b.shape())));
    return reshape(a, {a.size(), 1}) * reshape(b, {1, b.size()});
}

void set_num_threads(int n) {
    if (n < 1) throw ValueError(fmt::format("set_num_threads: {} threads requested; at least 1 is needed", n));
    openblas_set_num_threads(n);
}

int num_threads() {
    return openblas_get_num_threads();
}

#define XTGRAD_INSTANTIATE(T)                                            \
    template TensorT<T> matmul(const TensorT<T>&, const TensorT<T>&);    \
    template TensorT<T> dot(const TensorT<T>&, const TensorT<T>&);       \
    template TensorT<T> outer(const TensorT<T>&, const TensorT<T>&);     \
    template TensorT<T> trace(const TensorT<T>&);                        \
    template TensorT<T> matmul_nt(const TensorT<T>&, const TensorT<T>&); \
    template TensorT<T> matmul_nt(const TensorT<T>&, const TensorT<T>&, const TensorT<T>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
