// A job whose rank `argv[1]` throws while the others wait in a collective. Modes (argv[2]):
// "escape" lets the exception leave main, "run" throws inside dist::run, "unwind" throws past
// an Environment on the stack. Each must end every rank within seconds with the message.
#include <cstring>
#include <stdexcept>
#include <string>

#include <xtgrad/dist.hpp>

using namespace xtgrad;

namespace {
int work(dist::Communicator& world, int failing) {
    Array<double> g = Array<double>::from_shape({1000});
    g.fill(1.0);
    for (int step = 0;; ++step) {
        if (world.rank() == failing && step == 3)
            throw ValueError("the failing rank's loss is not finite (a test of the abort path)");
        world.all_reduce(g);  // the other ranks wait here for the failing one
        g /= double(world.size());
        if (step > 1000000) return 0;
    }
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return 2;
    int failing = std::atoi(argv[1]);
    std::string mode = argv[2];
    if (mode == "run") return dist::run(argc, argv, [&](dist::Communicator& world) { return work(world, failing); });
    if (mode == "unwind") {
        try {
            dist::Environment environment(argc, argv);
            auto world = environment.world();
            return work(world, failing);
        } catch (const std::exception&) {
            return 0;  // never reached on the failing rank: the Environment aborted the job
        }
    }
    dist::Environment environment(argc, argv);
    auto world = environment.world();
    return work(world, failing);
}
