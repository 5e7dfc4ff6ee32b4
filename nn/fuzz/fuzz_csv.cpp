// libFuzzer target: any bytes as a CSV (or gzipped CSV) file, read with the comma and the
// space delimiter, with and without a label column. Only ValueError and IoError may come out.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/nn/data.hpp"

namespace {
// The input as a file without touching the disk: an anonymous memory file, by its /proc path.
class MemoryFile {
public:
    MemoryFile(const std::uint8_t* data, std::size_t size) : fd_(::memfd_create("fuzz.csv", 0)) {
        if (fd_ < 0) std::abort();
        for (std::size_t done = 0; done < size;) {
            ssize_t n = ::write(fd_, data + done, size - done);
            if (n <= 0) std::abort();
            done += static_cast<std::size_t>(n);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemoryFile() { ::close(fd_); }
    const std::string& path() const { return path_; }

private:
    int fd_;
    std::string path_;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    MemoryFile file(data, size);
    for (char delimiter : {',', ' '})
        for (bool label : {true, false}) {
            try {
                auto table = xtgrad::nn::load_csv(file.path(), {.delimiter = delimiter, .has_label = label});
                for (double v : table.features) (void)v;
                for (double v : table.target) (void)v;
            } catch (const xtgrad::ValueError&) {
            } catch (const xtgrad::IoError&) {
            }
        }
    return 0;
}
