// Stand-in when libtorch is not installed: the benchmark prints xtgrad's figures alone.
#include "torch_workloads.hpp"

namespace torch_side {
bool available() {
    return false;
}
void set_threads(int) {}
double op_chain(int, int) {
    return 0;
}
double mlp_step(bool, int, int) {
    return 0;
}
void mlp_hvp(int, int, double& g, double& h) {
    g = h = 0;
}
double sigmoid_sum(long, int) {
    return 0;
}
}  // namespace torch_side
