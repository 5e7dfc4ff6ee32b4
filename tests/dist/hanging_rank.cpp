// A job in which the ranks stop meeting in their collectives, as issue 25 found them hang
// until killed. Modes (argv[1]): "stall" (rank 1 computes for ten minutes while rank 0 waits
// in all_reduce), "mismatch" (rank 0 calls barrier, rank 1 all_reduce), "early" (rank 1
// returns from dist::run while rank 0 waits in all_reduce). With a collective timeout of
// argv[2] seconds each must end the whole job with a message naming the collective.
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <xtgrad/dist.hpp>

using namespace xtgrad;

int main(int argc, char** argv) {
    if (argc < 3) return 2;
    const std::string mode = argv[1];
    const dist::EnvironmentOptions options{.timeout = std::chrono::duration<double>(std::atof(argv[2]))};
    return dist::run(
        argc, argv,
        [&](dist::Communicator& world) {
            Array<double> g = Array<double>::from_shape({100});
            g.fill(1.0);
            world.all_reduce(g);  // every rank gets here: the job is up
            if (mode == "stall") {
                if (world.rank() == 1) std::this_thread::sleep_for(std::chrono::minutes(10));
                world.all_reduce(g);
            } else if (mode == "mismatch") {
                if (world.rank() == 0)
                    world.barrier();
                else
                    world.all_reduce(g);
            } else if (mode == "early") {
                if (world.rank() == 1) return 0;
                world.all_reduce(g);
            }
            return 0;
        },
        options);
}
