// libFuzzer target: fuzzed matrices through the linear-algebra ops. The first byte picks the
// order n (1 to 6) and the dtype; then n*n + n entries of A and b follow, each a raw 8-byte
// double (any bit pattern: NaN, infinities, subnormals, 1e308) or, for one in four, a small
// integer (singular and rank-deficient matrices come from those). Each op must either throw a
// typed error (ShapeError, ValueError, DomainError) or return finite values that satisfy its
// defining equation within a stated bound; anything else aborts, which libFuzzer reports.
//
//   solve        ||A x - b|| <= g (||A|| ||x|| + ||b||) + u     (LU's backward error)
//   inverse      ||Y A - I|| <= g ||Y|| ||A|| + u               (the left residual: getri's)
//   cholesky     ||L L^T - S|| <= 64 n eps ||L|| ||L^T|| + u, L lower with a positive diagonal
//   slogdet      sign in {-1, 0, 1}; logabsdet finite unless sign is 0 (then -inf)
//   logdet       for S = sym(A): logdet(S) = slogdet(S).logabsdet within 64 n^2 eps (1 + cond S) max(1, |.|)
// in the infinity norm, with g = 64 n^2 2^(n-1) eps (partial pivoting's growth factor is at
// most 2^(n-1)) and u = 64 n (1 + max |A|) times the smallest subnormal: the rounding of
// results that underflow (x = 3e-312 / -7.5 keeps only a few bits). Matrices scaled from 1e-308
// to 1e308 meet these normwise bounds, not entrywise ones.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

namespace {

struct Bytes {
    const std::uint8_t* data;
    std::size_t size, at = 0;
    std::uint8_t byte() { return at < size ? data[at++] : 0; }
    double value() {
        std::uint8_t kind = byte();
        if (kind % 4 == 0) return double(int(byte()) - 128) / 16;  // small, often equal or zero
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits |= std::uint64_t(byte()) << (8 * i);
        double v;
        std::memcpy(&v, &bits, sizeof v);
        return v;
    }
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_linalg: %s\n", what);
    std::abort();
}

template <class T>
double max_abs(const Array<T>& a) {
    double m = 0;
    for (T v : a) m = std::max(m, std::abs(double(v)));
    return m;
}

template <class T>
bool finite(const Array<T>& a) {
    for (T v : a)
        if (!std::isfinite(v)) return false;
    return true;
}

// The infinity norm (the largest row sum of magnitudes), in long double: residuals and bounds
// of matrices near 1e308 must not overflow in the check itself.
using Wide = long double;
template <class A>
Wide norm_inf(const A& a) {
    const std::size_t rows = a.shape()[0], cols = a.dimension() > 1 ? a.shape()[1] : 1;
    Wide worst = 0;
    for (std::size_t i = 0; i < rows; ++i) {
        Wide s = 0;
        for (std::size_t j = 0; j < cols; ++j) s += std::abs(Wide(a.data()[i * cols + j]));
        worst = std::max(worst, s);
    }
    return worst;
}

template <class T>
xt::xarray<Wide> product(const Array<T>& a, const Array<T>& b) {
    const std::size_t n = a.shape()[0], k = a.shape()[1], m = b.shape()[1];
    xt::xarray<Wide> out = xt::zeros<Wide>({n, m});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < m; ++j)
            for (std::size_t t = 0; t < k; ++t) out(i, j) += Wide(a(i, t)) * Wide(b(t, j));
    return out;
}

template <class F>
void typed_or(F f) {
    try {
        f();
    } catch (const ShapeError&) {
    } catch (const ValueError&) {
    } catch (const DomainError&) {
    }
}

template <class T>
void run(Bytes& in, std::size_t n) {
    const double eps = std::numeric_limits<T>::epsilon(), bound = 64 * double(n) * eps,
                 growth = 64 * double(n * n) * double(1 << (n - 1)) * eps;
    Array<T> a = Array<T>::from_shape({n, n}), b = Array<T>::from_shape({n, 1});
    for (auto& v : a) v = T(in.value());
    for (auto& v : b) v = T(in.value());
    const double underflow = 64 * double(n) * (1 + max_abs(a)) * double(std::numeric_limits<T>::denorm_min());
    Tape tape;
    auto A = BasicTensor<T>::constant(a), B = BasicTensor<T>::constant(b);
    typed_or([&] {
        Array<T> x = solve(A, B).value();
        if (!finite(x)) fail("solve returned a non-finite value without an error");
        xt::xarray<Wide> r = product(a, x) - xt::cast<Wide>(b);
        if (norm_inf(r) > growth * (norm_inf(a) * norm_inf(x) + norm_inf(b)) + underflow)
            fail("solve: ||A x - b|| beyond LU's backward error");
    });
    typed_or([&] {
        Array<T> y = inverse(A).value();
        if (!finite(y)) fail("inverse returned a non-finite value without an error");
        xt::xarray<Wide> r = product(y, a);
        for (std::size_t i = 0; i < n; ++i) r(i, i) -= 1;
        if (norm_inf(r) > growth * norm_inf(y) * norm_inf(a) + underflow) fail("inverse: ||Y A - I|| beyond its bound");
    });
    Array<T> s = Array<T>::from_shape({n, n});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) s(i, j) = T(0.5) * a(i, j) + T(0.5) * a(j, i);
    auto S = BasicTensor<T>::constant(s);
    typed_or([&] {
        Array<T> l = cholesky(S).value();
        if (!finite(l)) fail("cholesky returned a non-finite value without an error");
        for (std::size_t i = 0; i < n; ++i) {
            if (!(l(i, i) > 0)) fail("cholesky: a diagonal entry is not positive");
            for (std::size_t j = i + 1; j < n; ++j)
                if (l(i, j) != 0) fail("cholesky: the factor is not lower triangular");
        }
        Array<T> lt = xt::transpose(l);
        xt::xarray<Wide> r = product(l, lt) - xt::cast<Wide>(s);
        if (norm_inf(r) > bound * norm_inf(l) * norm_inf(lt) + underflow)
            fail("cholesky: ||L L^T - S|| beyond its bound");
    });
    typed_or([&] {
        auto r = slogdet(A);
        const double sign = double(r.sign.item()), log_abs = double(r.logabsdet.item());
        if (sign != -1 && sign != 0 && sign != 1) fail("slogdet: the sign is not -1, 0 or 1");
        if (sign == 0 ? log_abs != -std::numeric_limits<double>::infinity() : !std::isfinite(log_abs))
            fail("slogdet: log|det| does not match its sign");
    });
    typed_or([&] {
        const double ld = double(logdet(S).item());
        if (!std::isfinite(ld)) fail("logdet returned a non-finite value without an error");
        // two factorizations of S agree to the conditioning of log det: each pivot's relative
        // error is at most about n eps cond(S)
        const double reference = double(slogdet(S).logabsdet.item());
        const double cond = double(norm_inf(s) * norm_inf(inverse(S).value()));
        const double allowed = bound * double(n) * (1 + cond) * std::max(1.0, std::abs(reference));
        if (std::isfinite(cond) && std::abs(ld - reference) > allowed)
            fail("logdet and slogdet disagree beyond the conditioning of S");
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in{data, size};
    const std::uint8_t head = in.byte();
    const std::size_t n = 1 + head % 6;
    if (head & 0x80)
        run<float>(in, n);
    else
        run<double>(in, n);
    return 0;
}
