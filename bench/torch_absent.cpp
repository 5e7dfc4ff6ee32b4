// Built instead of torch_workloads.cpp when libtorch is not installed: the benchmarks ask
// available() first and print xtgrad's figures alone; the workloads must not be called.
#include <stdexcept>

#include "torch_workloads.hpp"

namespace torch_side {

namespace {
[[noreturn]] void absent() {
    throw std::logic_error("libtorch is not built into this benchmark");
}
}  // namespace

bool available() {
    return false;
}
void set_threads(int) {}
double op_chain(int, int) {
    absent();
}
double mlp_step(bool, int, int) {
    absent();
}
void mlp_hvp(int, int, double&, double&) {
    absent();
}
double sigmoid_sum(long, int) {
    absent();
}
double mlp784_step(int, int) {
    absent();
}
double adam784_step(int, int) {
    absent();
}
double newton_cg_step(int, int, double, int) {
    absent();
}

double cnn_adam_step(int, int) {
    absent();
}

std::function<void()> lstm_adam_stepper() {
    absent();
}
std::function<void()> encoder_adam_stepper() {
    absent();
}

void linalg(const char*, int, int, double&, double&) {
    absent();
}

}  // namespace torch_side
