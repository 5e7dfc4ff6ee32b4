// One dist::Environment for a Boost.Test program that runs alone or under mpirun: every rank
// runs every test case, in the same order, so the collectives of a case meet.
#pragma once

#include <boost/test/unit_test.hpp>

#include <memory>
#include <optional>

#include "xtgrad/dist.hpp"

namespace test {

struct MpiFixture {
    MpiFixture() {
        auto& suite = boost::unit_test::framework::master_test_suite();
        environment = std::make_unique<xtgrad::dist::Environment>(suite.argc, suite.argv);
        world.emplace(environment->world());
    }
    ~MpiFixture() {
        world.reset();
        environment.reset();
    }
    static inline std::unique_ptr<xtgrad::dist::Environment> environment;
    static inline std::optional<xtgrad::dist::Communicator> world;
};

inline xtgrad::dist::Communicator& world() {
    return *MpiFixture::world;
}

}  // namespace test
