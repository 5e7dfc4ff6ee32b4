// A module's parameters to and from an .npz archive.
#include "xtgrad/nn/checkpoint.hpp"

#include <cmath>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "xtgrad/nn/linear.hpp"

namespace xtgrad::nn {

namespace {
// The names of the weights of every Linear layer in `module`, qualified as named_parameters's.
template <class T>
void linear_weights(const Module<T>& module, const std::string& prefix, std::vector<std::string>& out) {
    if (dynamic_cast<const Linear<T>*>(&module) != nullptr) out.push_back(prefix + "weight");
    for (auto& [name, child] : module.children()) linear_weights(*child, prefix + name + ".", out);
}

template <class T>
std::vector<std::string> linear_weights(const Module<T>& module) {
    std::vector<std::string> out;
    linear_weights(module, "", out);
    return out;
}

template <class T>
Array<T> version_array() {
    return Array<T>({T(checkpoint_format_version)});
}

// The file's format version (1 when it has none), its entry removed from `stored`.
template <class T>
int take_format_version(NamedArrays<T>& stored, const std::string& source) {
    for (auto it = stored.begin(); it != stored.end(); ++it) {
        if (it->first != format_version_entry) continue;
        const Array<T>& v = it->second;
        if (v.size() != 1 || v.data()[0] != std::floor(v.data()[0]) || !(v.data()[0] >= 1))
            throw IoError(fmt::format("load_parameters: '{}': the entry '{}' is not a format version", source,
                                      format_version_entry));
        const double version = double(v.data()[0]);
        stored.erase(it);
        if (version > checkpoint_format_version)
            throw IoError(fmt::format("load_parameters: '{}' has format version {}; this xtgrad reads up to {}", source,
                                      version, checkpoint_format_version));
        return int(version);
    }
    return 1;
}

template <class T>
void refuse_old_layout(const Module<T>& module, int version, const std::string& source) {
    auto linear = linear_weights(module);
    if (version >= 2 || linear.empty()) return;  // the other layers' layouts did not change
    throw IoError(fmt::format(
        "load_parameters: '{}' has no format version: it was written before Linear weights became PyTorch's "
        "[out, in] (it holds '{}' as [in, out]), or by other code. Convert a file of xtgrad's once with "
        "nn::upgrade_checkpoint(model, path), which transposes them; a file in PyTorch's layout needs the entry "
        "'{}' = [{}]",
        source, linear.front(), format_version_entry, checkpoint_format_version));
}
}  // namespace

template <class T>
void save_parameters(const Module<T>& module, const std::string& path) {
    NamedArrays<T> arrays;
    for (auto& [name, p] : module.named_parameters()) arrays.emplace_back(name, p.value());
    for (auto& [name, b] : module.named_buffers()) arrays.emplace_back(name, b.value());
    arrays.emplace_back(std::string(format_version_entry), version_array<T>());
    save_npz(path, arrays);
}

template <class T>
void check_format_version(const Module<T>& module, NamedArrays<T>& arrays, const std::string& source) {
    refuse_old_layout(module, take_format_version(arrays, source), source);
}

template <class T>
void load_parameters(Module<T>& module, const std::string& path) {
    auto stored = load_npz<T>(path);
    check_format_version(module, stored, path);
    load_parameters(module, stored, path);
}

template <class T>
void load_parameters(Module<T>& module, const NamedArrays<T>& given, const std::string& source) {
    NamedArrays<T> stored = given;
    take_format_version(stored, source);
    auto params = module.named_parameters();
    for (auto& buffer : module.named_buffers()) params.push_back(buffer);
    // Check everything first: the module changes only if every parameter can be loaded.
    std::vector<const Array<T>*> values;
    for (auto& [name, p] : params) {
        const Array<T>* found = nullptr;
        for (auto& [stored_name, a] : stored)
            if (stored_name == name) found = &a;
        if (found == nullptr) throw IoError(fmt::format("load_parameters: '{}' has no array '{}'", source, name));
        if (found->shape() != p.shape())
            throw IoError(fmt::format("load_parameters: '{}': array '{}' has shape {}, the parameter {}", source, name,
                                      to_string(found->shape()), to_string(p.shape())));
        values.push_back(found);
    }
    for (auto& [stored_name, a] : stored) {
        bool known = false;
        for (auto& [name, p] : params) known = known || name == stored_name;
        if (!known)
            throw IoError(fmt::format("load_parameters: '{}' has an unexpected array '{}'", source, stored_name));
    }
    for (std::size_t i = 0; i < params.size(); ++i) params[i].second.set_value(*values[i]);
}

template <class T>
void upgrade_checkpoint(const Module<T>& module, const std::string& path) {
    auto arrays = load_npz<T>(path);
    for (auto& [name, a] : arrays)
        if (name == format_version_entry) return;
    const auto linear = linear_weights(module);
    for (auto& [name, a] : arrays) {
        // "w", "param/w" (optim::save_checkpoint) and "optim/w.<state>" all belong to weight w
        std::string_view key = name;
        for (std::string_view prefix : {"param/", "optim/"})
            if (key.substr(0, prefix.size()) == prefix) key.remove_prefix(prefix.size());
        for (const auto& w : linear) {
            bool of_w = key == w || (key.size() > w.size() && key.substr(0, w.size()) == w && key[w.size()] == '.');
            if (of_w && a.dimension() == 2) a = Array<T>(xt::transpose(a));
        }
    }
    arrays.emplace_back(std::string(format_version_entry), version_array<T>());
    save_npz(path, arrays);
}

template void save_parameters(const Module<float>&, const std::string&);
template void save_parameters(const Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const std::string&);
template void load_parameters(Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const NamedArrays<float>&, const std::string&);
template void load_parameters(Module<double>&, const NamedArrays<double>&, const std::string&);
template void check_format_version(const Module<float>&, NamedArrays<float>&, const std::string&);
template void check_format_version(const Module<double>&, NamedArrays<double>&, const std::string&);
template void upgrade_checkpoint(const Module<float>&, const std::string&);
template void upgrade_checkpoint(const Module<double>&, const std::string&);

}  // namespace xtgrad::nn
