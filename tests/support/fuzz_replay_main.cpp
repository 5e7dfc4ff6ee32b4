// Runs fuzz inputs through a libFuzzer target with any compiler: every file given, and every
// file in every folder given (the seed corpus and the regressions found so far). Prints how
// many it ran; a crash or an unexpected exception ends the process with a failure.
//
// Outside AddressSanitizer (whose shadow memory would swamp the figure) each input runs in a
// forked child that measures how much its peak resident memory grew. Loading an input may
// grow it by at most 64 MiB plus 4 times the input's size: a file cannot make the loaders
// allocate what it does not hold. The largest growth is printed.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

// Under AddressSanitizer (XTGRAD_ADDRESS_SANITIZER: this file itself is not instrumented) the
// shadow memory makes peak RSS meaningless: memory is not measured there.
#if defined(XTGRAD_ADDRESS_SANITIZER) || defined(__SANITIZE_ADDRESS__)
constexpr bool kMeasureMemory = false;
#else
constexpr bool kMeasureMemory = true;
#endif

constexpr long kBaseAllowanceKiB = 64 * 1024;

long peak_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;  // KiB on Linux
}

bool run_one(const std::string& bytes, const std::filesystem::path& p) {
    try {
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: unexpected exception: %s\n", p.c_str(), e.what());
        return false;
    }
    return true;
}

// Runs one input in a forked child; the child's exit status says whether it passed and its
// growth of peak memory (KiB) comes back through a pipe.
bool run_measured(const std::string& bytes, const std::filesystem::path& p, long& growth_kib) {
    int fds[2];
    if (pipe(fds) != 0) return run_one(bytes, p);
    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return run_one(bytes, p);
    }
    if (child == 0) {
        close(fds[0]);
        long before = peak_kib();
        bool ok = run_one(bytes, p);
        long grown = peak_kib() - before;
        [[maybe_unused]] auto written = write(fds[1], &grown, sizeof grown);
        std::fflush(nullptr);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    long grown = 0;
    bool have = read(fds[0], &grown, sizeof grown) == static_cast<ssize_t>(sizeof grown);
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status)) {
        std::fprintf(stderr, "%s: the target ended abnormally (signal %d)\n", p.c_str(),
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return false;
    }
    growth_kib = have ? grown : 0;
    return WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        fs::path p(argv[i]);
        if (fs::is_directory(p)) {
            for (auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file()) inputs.push_back(e.path());
        } else {
            inputs.push_back(p);
        }
    }
    std::size_t ran = 0, over = 0;
    long largest_kib = 0;
    fs::path largest_input;
    for (auto& p : inputs) {
        std::ifstream in(p, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        if (!kMeasureMemory) {
            if (!run_one(bytes, p)) return 1;
        } else {
            long growth = 0;
            if (!run_measured(bytes, p, growth)) return 1;
            long allowed = kBaseAllowanceKiB + 4 * static_cast<long>(bytes.size() / 1024 + 1);
            if (growth > allowed) {
                std::fprintf(stderr, "%s (%zu bytes): peak memory grew by %ld KiB, over the %ld KiB allowed\n",
                             p.c_str(), bytes.size(), growth, allowed);
                ++over;
            }
            if (growth > largest_kib) {
                largest_kib = growth;
                largest_input = p;
            }
        }
        ++ran;
    }
    if (ran == 0) {
        std::fprintf(stderr, "no inputs found\n");
        return 1;
    }
    std::printf("%zu inputs ran through the target without a finding\n", ran);
    if (kMeasureMemory)
        std::printf("largest growth of peak memory: %ld KiB (%s); allowed: 64 MiB + 4 x input size\n", largest_kib,
                    largest_input.empty() ? "-" : largest_input.filename().c_str());
    return over == 0 ? 0 : 1;
}
