// Every lecture example's claims, run at reduced sizes: CI fails when one stops holding.
#define BOOST_TEST_MODULE lecture
#include <filesystem>

#include <boost/test/unit_test.hpp>

#include "support/lecture.hpp"

namespace {
struct Output {
    std::string dir =
        (std::filesystem::temp_directory_path() / ("xtgrad_lecture_" + std::to_string(::getpid()))).string();
    ~Output() { std::filesystem::remove_all(dir); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(every_claim_holds) {
    Output out;
    lecture::Context ctx(out.dir, /*reduced=*/true, /*verbose=*/false);
    for (auto& e : lecture::examples()) {
        BOOST_TEST_CONTEXT(e.name) {
            std::size_t before = ctx.claims().size();
            BOOST_CHECK_NO_THROW(e.run(ctx));
            BOOST_TEST(ctx.claims().size() > before, "the example checked no claim");
        }
    }
    for (auto& c : ctx.claims())
        BOOST_TEST(c.holds, c.example << ": " << c.statement << " (measured " << c.measured << ")");
    // the CSV behind every plot is written whether or not gnuplot is installed
    std::size_t csv = 0;
    for (auto& f : std::filesystem::directory_iterator(out.dir)) csv += f.path().extension() == ".csv";
    BOOST_TEST(csv >= 8u);
}
