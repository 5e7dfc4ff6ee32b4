// The main job exactly as users run it: every lecture example at full size, every claim
// must hold, and the page that shows them is complete. XTGRAD_LECTURE_SHARD=k/n runs the
// examples whose position is k modulo n (ctest runs the shards side by side).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "support/lecture.hpp"

namespace {
struct Output {
    std::string dir =
        (std::filesystem::temp_directory_path() / ("xtgrad_lecture_" + std::to_string(::getpid()))).string();
    ~Output() { std::filesystem::remove_all(dir); }
};

struct Shard {
    std::size_t index = 0, count = 1;
};

Shard shard_from_environment() {
    Shard s;
    const char* v = std::getenv("XTGRAD_LECTURE_SHARD");
    if (v && std::sscanf(v, "%zu/%zu", &s.index, &s.count) != 2) s = {0, 0};
    return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_claim_holds_at_full_size) {
    const Shard shard = shard_from_environment();
    BOOST_TEST_REQUIRE(shard.index < shard.count, "XTGRAD_LECTURE_SHARD must be k/n with k < n");
    Output out;
    lecture::Context ctx(out.dir, /*verbose=*/false);
    const auto& examples = lecture::examples();
    BOOST_TEST_REQUIRE(shard.index < examples.size(), "shard " << shard.index << " of " << shard.count
                                                               << " would run none of the " << examples.size()
                                                               << " examples");
    for (std::size_t i = shard.index; i < examples.size(); i += shard.count) {
        const auto& e = examples[i];
        std::size_t before = ctx.claims().size();
        const bool ran = lecture::run(ctx, e);  // (the message is built even when it passes: no back() of nothing)
        BOOST_TEST(ran, e.name << " threw: " << (ctx.claims().empty() ? std::string() : ctx.claims().back().measured));
        BOOST_TEST(ctx.claims().size() > before, e.name << ": the example checked no claim");
    }
    for (auto& c : ctx.claims())
        BOOST_TEST(c.holds, c.example << ": " << c.statement << " (measured " << c.measured << ")");
    // the CSV behind every plot is written whether or not gnuplot is installed
    std::size_t csv = 0, plots = 0;
    for (auto& f : std::filesystem::directory_iterator(out.dir)) csv += f.path().extension() == ".csv";
    for (auto& s : ctx.sections()) plots += s.plots.size();
    BOOST_TEST(csv == plots);
    BOOST_TEST(plots >= 9u / shard.count);
    // index.html names every claim and shows or links every plot
    std::ifstream in(ctx.write_index(1.0));
    std::stringstream page;
    page << in.rdbuf();
    auto tallies = lecture::tally(ctx.claims());
    BOOST_TEST(page.str().find(std::to_string(tallies.back().hold) + " of " + std::to_string(tallies.back().claims) +
                               " claims hold") != std::string::npos);
    for (auto& s : ctx.sections())
        for (auto& p : s.plots) BOOST_TEST(page.str().find(p + ".csv") != std::string::npos, p);
    BOOST_TEST(page.str().find("does not hold") == std::string::npos);
}
