// A module's parameters to and from an .npz archive.
#include "xtgrad/nn/checkpoint.hpp"

#include <fmt/format.h>

namespace xtgrad::nn {

template <class T>
void save_parameters(const Module<T>& module, const std::string& path) {
    NamedArrays<T> arrays;
    for (auto& [name, p] : module.named_parameters()) arrays.emplace_back(name, p.value());
    for (auto& [name, b] : module.named_buffers()) arrays.emplace_back(name, b.value());
    save_npz(path, arrays);
}

template <class T>
void load_parameters(Module<T>& module, const std::string& path) {
    load_parameters(module, load_npz<T>(path), path);
}

template <class T>
void load_parameters(Module<T>& module, const NamedArrays<T>& stored, const std::string& source) {
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

template void save_parameters(const Module<float>&, const std::string&);
template void save_parameters(const Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const std::string&);
template void load_parameters(Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const NamedArrays<float>&, const std::string&);
template void load_parameters(Module<double>&, const NamedArrays<double>&, const std::string&);

}  // namespace xtgrad::nn
