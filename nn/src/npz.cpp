// .npz archives: a zip of .npy arrays (numpy.savez), written atomically and read with every
// declared size checked before it is trusted.
#include <fmt/format.h>

#include "files.hpp"
#include "npy.hpp"
#include "xtgrad/nn/checkpoint.hpp"
#include "zip.hpp"

namespace xtgrad::nn {

template <class T>
void save_npz(const std::string& path, const NamedArrays<T>& arrays) {
    std::vector<detail::ZipEntry> entries;
    for (auto& [name, a] : arrays) {
        if (name.empty()) throw ValueError("save_npz: an array has an empty name");
        entries.push_back({name + ".npy", detail::encode_npy(a)});
    }
    detail::write_atomically("save_npz", path, detail::encode_zip(entries, path));
}

template <class T>
NamedArrays<T> parse_npz(std::string_view bytes, const std::string& source, const LoadLimits& limits) {
    NamedArrays<T> out;
    detail::read_zip(bytes, "load_npz", source, limits.max_bytes, [&](const std::string& entry, std::string&& data) {
        std::string name = entry;
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
        auto where = fmt::format("load_npz: '{}': entry '{}'", source, entry);
        out.emplace_back(name, detail::decode_npy<T>(data, where));
    });
    return out;
}

template <class T>
NamedArrays<T> load_npz(const std::string& path, const LoadLimits& limits) {
    return parse_npz<T>(detail::read_file("load_npz", path, limits.max_bytes), path, limits);
}

template void save_npz(const std::string&, const NamedArrays<float>&);
template void save_npz(const std::string&, const NamedArrays<double>&);
template NamedArrays<float> parse_npz(std::string_view, const std::string&, const LoadLimits&);
template NamedArrays<double> parse_npz(std::string_view, const std::string&, const LoadLimits&);
template NamedArrays<float> load_npz(const std::string&, const LoadLimits&);
template NamedArrays<double> load_npz(const std::string&, const LoadLimits&);

}  // namespace xtgrad::nn
