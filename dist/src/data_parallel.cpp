// DataParallel: replicas made equal once, gradients summed in buckets, replicas checked by
// fingerprints of their bits; checkpoints written by rank 0.
#include "xtgrad/dist/data_parallel.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "fingerprint.hpp"

namespace xtgrad::dist {

namespace {

template <class T>
std::uint64_t layout_fingerprint(const nn::NamedTensors<T>& parameters, const nn::NamedTensors<T>& buffers) {
    detail::Fingerprint f;
    f.word(sizeof(T));
    for (const auto* list : {&parameters, &buffers}) {
        f.word(list->size());
        for (auto& [name, p] : *list) f.text(name).shape(p.shape());
    }
    return f.value();
}

template <class T>
std::uint64_t bits_fingerprint(const Array<T>& a) {
    return detail::Fingerprint().shape(a.shape()).bytes(a.data(), a.size() * sizeof(T)).value();
}

template <class T>
void check_replicas_of(const Communicator& comm, const nn::NamedTensors<T>& parameters, const char* who) {
    detail::Fingerprint all;
    for (auto& [name, p] : parameters) all.word(bits_fingerprint(p.value()));
    try {
        comm.check_same(all.value(), who, "the parameters' values");
    } catch (const CommunicationError&) {
        // every process is here: name the first parameter that differs
        for (auto& [name, p] : parameters)
            comm.check_same(bits_fingerprint(p.value()), who, fmt::format("the values of parameter '{}'", name));
        throw;
    }
}

}  // namespace

template <class T>
DataParallel<T>::DataParallel(Communicator comm, const nn::Module<T>& module, const DataParallelOptions& options)
    : DataParallel(std::move(comm), module.named_parameters(), module.named_buffers(), options) {}

template <class T>
DataParallel<T>::DataParallel(Communicator comm, nn::NamedTensors<T> parameters, nn::NamedTensors<T> buffers,
                              const DataParallelOptions& options)
    : comm_(std::move(comm)), parameters_(std::move(parameters)), buffers_(std::move(buffers)), options_(options) {
    for (auto& [name, p] : parameters_)
        if (!p.defined() || !p.is_leaf() || !p.requires_grad())
            throw ValueError(fmt::format("DataParallel: '{}' is not a parameter (a leaf made with parameter())", name));
    comm_.check_same(layout_fingerprint(parameters_, buffers_), "DataParallel",
                     "the model: parameter and buffer names, shapes and dtype");
    broadcast_parameters(0);
    broadcast_buffers(0);
}

namespace {
template <class T>
void broadcast_values(const Communicator& comm, nn::NamedTensors<T>& tensors, int root) {
    for (auto& [name, t] : tensors) {
        Array<T> value = t.value();
        comm.broadcast(value, root);
        t.set_value(std::move(value));
    }
}
}  // namespace

template <class T>
void DataParallel<T>::broadcast_parameters(int root) {
    broadcast_values(comm_, parameters_, root);
}

template <class T>
void DataParallel<T>::broadcast_buffers(int root) {
    broadcast_values(comm_, buffers_, root);
}

template <class T>
void DataParallel<T>::reduce_gradients(double weight) {
    auto start = std::chrono::steady_clock::now();
    if (comm_.size() == 1 && weight == 1.0) {  // one process: the sum is its own gradient
        for (auto& [name, p] : parameters_)
            if (!p.has_grad()) p.set_grad(Array<T>(xt::zeros<T>(p.shape())));
        stats_.reductions += 1;
        return;
    }
    const std::size_t capacity = std::max<std::size_t>(1, options_.bucket_bytes / sizeof(T));
    const T w = static_cast<T>(weight);
    for (std::size_t first = 0; first < parameters_.size();) {
        // parameters [first, last) fill one bucket; one larger than a bucket goes alone
        std::size_t last = first, count = 0;
        while (last < parameters_.size() && (last == first || count + parameters_[last].second.size() <= capacity))
            count += parameters_[last++].second.size();
        bucket_.resize(count);
        T* out = bucket_.data();
        for (std::size_t k = first; k < last; ++k) {
            const auto& p = parameters_[k].second;
            if (!p.has_grad()) {
                out = std::fill_n(out, p.size(), T(0));
            } else if (weight == 1.0) {
                out = std::copy_n(p.grad().data(), p.size(), out);
            } else {
                out = std::transform(p.grad().data(), p.grad().data() + p.size(), out, [w](T g) { return w * g; });
            }
        }
        comm_.all_reduce_unchecked(std::span<T>(bucket_), ReduceOp::sum, "DataParallel.reduce_gradients");
        const T* in = bucket_.data();
        for (std::size_t k = first; k < last; ++k) {
            auto& p = parameters_[k].second;
            if (p.has_grad()) {
                std::copy_n(in, p.size(), p.mutable_grad().data());
            } else {
                Array<T> g = Array<T>::from_shape(p.shape());
                std::copy_n(in, p.size(), g.data());
                p.set_grad(std::move(g));
            }
            in += p.size();
        }
        stats_.messages += 1;
        stats_.bytes += count * sizeof(T);
        first = last;
    }
    stats_.reductions += 1;
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class T>
void DataParallel<T>::check_replicas() const {
    check_replicas_of(comm_, parameters_, "DataParallel.check_replicas");
}

template <class T>
void save_checkpoint(const Communicator& comm, const nn::Module<T>& module, const optim::Optimizer<T>& optimizer,
                     const std::string& path) {
    check_replicas_of(comm, module.named_parameters(), "save_checkpoint");
    std::string error;
    if (comm.rank() == 0) {
        try {
            optim::save_checkpoint(module, optimizer, path);
        } catch (const std::exception& e) {
            error = e.what();
        }
    }
    if (comm.all_reduce(error.empty() ? 0.0 : 1.0, ReduceOp::max) != 0) {
        if (comm.rank() == 0) throw IoError(fmt::format("dist::save_checkpoint on rank 0: {}", error));
        throw IoError(fmt::format("dist::save_checkpoint on rank {} of {}: rank 0 could not write '{}'", comm.rank(),
                                  comm.size(), path));
    }
}

template class DataParallel<float>;
template class DataParallel<double>;
template void save_checkpoint(const Communicator&, const nn::Module<float>&, const optim::Optimizer<float>&,
                              const std::string&);
template void save_checkpoint(const Communicator&, const nn::Module<double>&, const optim::Optimizer<double>&,
                              const std::string&);

}  // namespace xtgrad::dist
