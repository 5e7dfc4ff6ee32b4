// Under AddressSanitizer, a pooled block is as guarded as malloc's: this program touches a
// tensor's storage one element past its end (inside the block's rounding: 3 doubles take a
// 64-byte block) or after the tensor is gone (the block waiting in the pool's cache), and the
// ctest entries pass only when ASan reports it (tests/CMakeLists.txt, sanitizer builds only).
// Built instrumented itself: ASan checks the accesses of instrumented code alone.
#include <cstdio>
#include <cstring>

#include "xtgrad/autodiff.hpp"

int main(int argc, char** argv) {
    using namespace xtgrad;
    if (argc != 2) return 2;
    volatile double* p = nullptr;
    if (std::strcmp(argv[1], "past-end") == 0) {
        Array<double> a = Array<double>::from_shape({3});
        p = a.data();
        p[3] = 1.0;
    } else if (std::strcmp(argv[1], "after-release") == 0) {
        {
            Array<double> a = Array<double>::from_shape({3});
            p = a.data();
        }
        p[0] = 1.0;
    } else {
        return 2;
    }
    std::puts("the access was not reported");
    return 1;
}
