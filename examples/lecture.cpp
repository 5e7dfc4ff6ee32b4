// The project's main job: runs every lecture example, prints `claim | measured | holds` for
// each, a summary table, where the plots went, and exits non-zero if any claim does not hold.
// Usage: lecture [--output DIR] [--reduced] [--only NAME-SUBSTRING]
#include <chrono>
#include <cstring>
#include <exception>

#include "support/lecture.hpp"

int main(int argc, char** argv) {
    std::string output = "lecture-output";
    bool reduced = false;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--output") == 0 && i + 1 < argc)
            output = argv[++i];
        else if (std::strcmp(argv[i], "--reduced") == 0)
            reduced = true;
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--output DIR] [--reduced] [--only NAME]\n", argv[0]);
            return 2;
        }
    }
    lecture::Context ctx(output, reduced, true);
    std::printf("Backprop variations: the lecture's claims, computed with xtgrad and checked\n");
    std::printf("  %-58s | %-34s | %s\n", "claim", "measured", "holds");
    auto started = std::chrono::steady_clock::now();
    int errors = 0;
    for (auto& e : lecture::examples()) {
        if (!only.empty() && std::string(e.name).find(only) == std::string::npos) continue;
        try {
            e.run(ctx);
        } catch (const std::exception& ex) {
            ctx.claim(std::string("the example runs (") + e.name + ")", ex.what(), false);
            ++errors;
        }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("\nSummary\n  %-60s %6s %6s\n", "example", "claims", "hold");
    std::size_t total = 0, held = 0;
    for (auto& e : lecture::examples()) {
        std::size_t n = 0, h = 0;
        for (auto& c : ctx.claims())
            if (c.example == e.name) {
                ++n;
                h += c.holds;
            }
        if (n == 0) continue;
        std::printf("  %-60s %6zu %6zu\n", e.name, n, h);
        total += n;
        held += h;
    }
    std::printf("  %-60s %6zu %6zu\n", "all", total, held);
    if (ctx.gnuplot_available())
        std::printf("\nplots (PNG, SVG) and the CSV behind each: %s/\n", ctx.output_dir().c_str());
    else
        std::printf("\ngnuplot is not installed: plots were skipped; the CSV files are in %s/\n",
                    ctx.output_dir().c_str());
    std::printf("%zu of %zu claims hold (%.1f s)\n", held, total, seconds);
    return held == total && errors == 0 ? 0 : 1;
}
