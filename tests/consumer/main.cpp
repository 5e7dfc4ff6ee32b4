// Differentiates x^2 through an installed xtgrad; exits 0 when d/dx at 3 is 6.
#include <xtgrad/autodiff.hpp>

int main() {
    using namespace xtgrad;
    Tape tape;
    Tensor x = Tensor::parameter(Array<double>{3.0});
    sum(x * x).backward();
    return x.grad()(0) == 6.0 ? 0 : 1;
}
