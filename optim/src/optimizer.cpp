// The optimizer base and training checkpoints.
#include "xtgrad/optim/optimizer.hpp"

#include "vector.hpp"

namespace xtgrad::optim {

template <class T>
double Optimizer<T>::step(const Closure& closure) {
    double loss;
    {
        detail::Snapshot<T> snapshot(parameters());  // the closure must not leave changes behind when it throws
        loss = closure();
        snapshot.keep();
    }
    detail::check_finite_loss("step", loss);
    step();
    return loss;
}

template <class T>
void Optimizer<T>::zero_grad() {
    for (auto& p : parameters()) {
        BasicTensor<T> q = p;
        q.zero_grad();
    }
}

template <class T>
void save_checkpoint(const nn::Module<T>& module, const Optimizer<T>& optimizer, const std::string& path) {
    nn::NamedArrays<T> arrays;
    for (auto& [name, p] : module.named_parameters()) arrays.emplace_back("param/" + name, p.value());
    for (auto& [name, b] : module.named_buffers()) arrays.emplace_back("param/" + name, b.value());
    for (auto& [name, a] : optimizer.state()) arrays.emplace_back("optim/" + name, a);
    arrays.emplace_back(std::string(nn::format_version_entry), Array<T>({T(nn::checkpoint_format_version)}));
    nn::save_npz(path, arrays);
}

template <class T>
void load_checkpoint(nn::Module<T>& module, Optimizer<T>& optimizer, const std::string& path) {
    auto arrays = nn::load_npz<T>(path);
    nn::check_format_version(module, arrays, path);
    nn::NamedArrays<T> params, state;
    for (auto& [name, a] : arrays) {
        if (name.rfind("param/", 0) == 0)
            params.emplace_back(name.substr(6), std::move(a));
        else if (name.rfind("optim/", 0) == 0)
            state.emplace_back(name.substr(6), std::move(a));
        else
            throw IoError(fmt::format("load_checkpoint: '{}' has an unexpected array '{}'", path, name));
    }
    // all or nothing: the optimizer's state first (it validates before changing), then the
    // parameters (validated likewise); if those fail, the previous state comes back
    auto previous = optimizer.state();
    try {
        optimizer.load_state(state);
    } catch (const std::exception& e) {  // every failure to load names the file
        throw IoError(fmt::format("load_checkpoint: '{}': {}", path, e.what()));
    }
    try {
        nn::load_parameters(module, params, path);
    } catch (...) {
        optimizer.load_state(previous);
        throw;
    }
}

template class Optimizer<float>;
template class Optimizer<double>;
template void save_checkpoint(const nn::Module<float>&, const Optimizer<float>&, const std::string&);
template void save_checkpoint(const nn::Module<double>&, const Optimizer<double>&, const std::string&);
template void load_checkpoint(nn::Module<float>&, Optimizer<float>&, const std::string&);
template void load_checkpoint(nn::Module<double>&, Optimizer<double>&, const std::string&);

}  // namespace xtgrad::optim
