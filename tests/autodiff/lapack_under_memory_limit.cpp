// Runs one linear-algebra op on an n x n system under an address-space limit a little above
// what the process holds, and checks its answer against the op's defining equation. With too
// little memory the op must throw MemoryError, never return a wrong answer as success
// (LAPACKE reports a failed workspace allocation as a negative info code, which once passed as
// success: solve returned b, inverse A, cholesky tril(A)).
//
// The op runs once before the limit is set, so that OpenBLAS has its own buffers: OpenBLAS
// 0.3.21 retries a failed buffer allocation forever (docs/design.md), which no caller can
// stop, and that is not what this checks.
// Usage: lapack_under_memory_limit <solve|inverse|cholesky|slogdet> <n> <KiB above the current size>
// Exit status: 0 a right answer, 3 MemoryError, 1 a wrong answer, 2 any other exception.
#include <sys/resource.h>

#include <fstream>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "xtgrad/autodiff.hpp"

using namespace xtgrad;

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const std::string op = argv[1];
    const std::size_t n = std::strtoul(argv[2], nullptr, 10), extra_kib = std::strtoul(argv[3], nullptr, 10);
    bool limited = false;
    try {
        Tape tape;
        // S = I n + a small symmetric part: positive definite, well conditioned
        Array<double> s = Array<double>::from_shape({n, n});
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) s(i, j) = (i == j ? double(n) : 0.0) + 1.0 / double(1 + i + j);
        Array<double> b = Array<double>::from_shape({n, 1});
        for (std::size_t i = 0; i < n; ++i) b(i, 0) = double(i % 7) - 3.0;
        auto a = Tensor::constant(s);
        if (!limited) {
            (void)solve(a, Tensor::constant(b));  // OpenBLAS's buffers and threads, before the limit
            (void)slogdet(a);
            (void)cholesky(a);
            (void)inverse(a);
            std::ifstream status("/proc/self/status");
            std::string line;
            std::size_t size_kib = 0;
            while (std::getline(status, line))
                if (line.rfind("VmSize:", 0) == 0) size_kib = std::strtoul(line.c_str() + 7, nullptr, 10);
            struct rlimit limit {};
            limit.rlim_cur = limit.rlim_max = (size_kib + extra_kib) * 1024;
            if (setrlimit(RLIMIT_AS, &limit) != 0) return 2;
            limited = true;
        }
        double error = 0;
        if (op == "solve") {
            auto x = solve(a, Tensor::constant(b));
            error = xt::amax(xt::abs(matmul(a, x).value() - b))();
        } else if (op == "inverse") {
            auto y = matmul(a, inverse(a)).value();
            for (std::size_t i = 0; i < n; ++i) y(i, i) -= 1.0;
            error = xt::amax(xt::abs(y))();
        } else if (op == "cholesky") {
            auto l = cholesky(a);
            error = xt::amax(xt::abs(matmul(l, transpose(l)).value() - s))() / double(n);
        } else if (op == "slogdet") {
            // against the diagonal product of cholesky's factor, computed without LAPACK's getrf
            auto l = cholesky(a).value();
            double expected = 0;
            for (std::size_t i = 0; i < n; ++i) expected += 2 * std::log(l(i, i));
            auto r = slogdet(a);
            error = std::abs(r.logabsdet.item() - expected) + std::abs(r.sign.item() - 1.0);
        } else {
            return 2;
        }
        std::printf("%s %zu: error %.3g\n", op.c_str(), n, error);
        return error < 1e-8 ? 0 : 1;
    } catch (const MemoryError& e) {
        std::printf("MemoryError: %s\n", e.what());
        return 3;
    } catch (const std::exception& e) {
        std::printf("other exception: %s\n", e.what());
        return 2;
    }
}
