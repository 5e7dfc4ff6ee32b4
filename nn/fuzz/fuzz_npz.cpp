// libFuzzer target: any bytes through the .npz reader, as float64 and as float32. Only
// IoError may come out; anything else (another exception, a crash, a sanitizer report, a
// large allocation) is a finding. The loader's limit is set low so that memory stays small.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "xtgrad/nn/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const xtgrad::nn::LoadLimits limits{.max_bytes = 16u << 20};
    try {
        auto arrays = xtgrad::nn::parse_npz<double>(bytes, "fuzz.npz", limits);
        for (auto& [name, a] : arrays)  // touch every element: a wrong size would show here
            for (double v : a) (void)v;
    } catch (const xtgrad::IoError&) {
    }
    try {
        xtgrad::nn::parse_npz<float>(bytes, "fuzz.npz", limits);
    } catch (const xtgrad::IoError&) {
    }
    return 0;
}
