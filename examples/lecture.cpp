// The project's main job: runs every lecture example, prints `claim | measured | holds` for
// each, a summary table, writes lecture-output/index.html (every claim and plot on one page),
// and exits non-zero if any claim does not hold.
// Usage: lecture [--output DIR] [--only NAME-SUBSTRING]
#include <chrono>
#include <cstring>
#include <exception>

#include "support/lecture.hpp"

int main(int argc, char** argv) {
    std::string output = "lecture-output";
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--output") == 0 && i + 1 < argc)
            output = argv[++i];
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--output DIR] [--only NAME]\n", argv[0]);
            return 2;
        }
    }
    lecture::Context ctx(output, true);
    std::printf("Backprop variations: the lecture's claims, computed with xtgrad and checked\n");
    std::printf("  %-58s | %-34s | %s\n", "claim", "measured", "holds");
    auto started = std::chrono::steady_clock::now();
    int errors = 0;
    for (auto& e : lecture::examples()) {
        if (!only.empty() && std::string(e.name).find(only) == std::string::npos) continue;
        errors += !lecture::run(ctx, e);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto tallies = lecture::tally(ctx.claims());
    std::printf("\nSummary\n  %-60s %6s %6s\n", "example", "claims", "hold");
    for (auto& t : tallies) std::printf("  %-60s %6zu %6zu\n", t.example.c_str(), t.claims, t.hold);
    std::string index = ctx.write_index(seconds);
    if (ctx.gnuplot_available())
        std::printf("\nplots (PNG, SVG) and the CSV behind each: %s/\n", ctx.output_dir().c_str());
    else
        std::printf("\ngnuplot is not installed: plots were skipped; the CSV files are in %s/\n",
                    ctx.output_dir().c_str());
    std::printf("every claim and plot on one page: %s\n", index.c_str());
    const auto& all = tallies.back();
    std::printf("%zu of %zu claims hold (%.1f s)\n", all.hold, all.claims, seconds);
    return all.hold == all.claims && errors == 0 ? 0 : 1;
}
