// Sums over shards for the full-batch methods: one all-reduce for all arrays of a product or
// gradient, after the processes agree on their shapes.
#include "xtgrad/dist/sharding.hpp"

#include <algorithm>

#include "fingerprint.hpp"

namespace xtgrad::dist {

template <class T>
optim::ShardSum<T> shard_sum(Communicator comm) {
    optim::ShardSum<T> sum;
    auto buffer = std::make_shared<std::vector<T>>();
    sum.arrays = [comm, buffer](std::vector<Array<T>>& values) {
        detail::Fingerprint layout;
        std::size_t count = 0;
        for (auto& a : values) {
            layout.shape(a.shape());
            count += a.size();
        }
        comm.check_same(layout.value(), "shard_sum", "the shapes of the summed arrays");
        buffer->resize(count);
        T* out = buffer->data();
        for (auto& a : values) out = std::copy_n(a.data(), a.size(), out);
        comm.all_reduce_unchecked(std::span<T>(*buffer), ReduceOp::sum, "shard_sum");
        const T* in = buffer->data();
        for (auto& a : values) {
            std::copy_n(in, a.size(), a.data());
            in += a.size();
        }
    };
    sum.scalar = [comm](double value) { return comm.all_reduce(value, ReduceOp::sum); };
    sum.index = std::size_t(comm.rank());
    return sum;
}

template <class T>
optim::Closure sharded_closure(Communicator comm, TensorList<T> parameters, optim::Closure local,
                               std::function<BasicTensor<T>()> penalty) {
    auto sum = shard_sum<T>(comm);
    return [sum, parameters, local = std::move(local), penalty = std::move(penalty)]() {
        double f = local();
        std::vector<Array<T>> g;
        for (auto& p : parameters) g.push_back(p.has_grad() ? p.grad() : Array<T>(xt::zeros<T>(p.shape())));
        sum.arrays(g);
        f = sum.scalar(f);
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            BasicTensor<T> p = parameters[i];
            p.set_grad(std::move(g[i]));
        }
        if (penalty) {
            Tape tape;
            BasicTensor<T> term = penalty();
            f += double(term.item());
            if (term.requires_grad()) term.backward();
        }
        return f;
    };
}

template optim::ShardSum<float> shard_sum(Communicator);
template optim::ShardSum<double> shard_sum(Communicator);
template optim::Closure sharded_closure(Communicator, TensorList<float>, optim::Closure,
                                        std::function<BasicTensor<float>()>);
template optim::Closure sharded_closure(Communicator, TensorList<double>, optim::Closure,
                                        std::function<BasicTensor<double>()>);

}  // namespace xtgrad::dist
