// Uses an installed xtgrad (autodiff, nn, optim): one SGD step on x^2 from x = 3 with
// lr 0.25 lands at 3 - 0.25 * 6 = 1.5.
#include <xtgrad/optim.hpp>

int main() {
    using namespace xtgrad;
    Tensor x = Tensor::parameter(Array<double>{3.0});
    optim::SGD<double> sgd(TensorList<double>{x}, {.lr = 0.25});
    sgd.step([&] {
        sgd.zero_grad();
        Tape tape;
        auto loss = nn::sum_squared_error(x, Tensor::constant(Array<double>{0.0})) * 2.0;
        loss.backward();
        return loss.item();
    });
    return x.value()(0) == 1.5 ? 0 : 1;
}
