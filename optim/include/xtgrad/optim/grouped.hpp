// Parameter groups shared by the optimizers: construction from plain or named parameters,
// validation of every group's options, the flat parameter list.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "xtgrad/optim/optimizer.hpp"

namespace xtgrad::optim {

template <class T, class Options>
class GroupedOptimizer : public Optimizer<T> {
public:
    using Group = ParamGroup<T, Options>;

    explicit GroupedOptimizer(std::vector<Group> groups) {
        for (auto& g : groups) add_param_group(std::move(g));
    }
    GroupedOptimizer(const TensorList<T>& params, const Options& options) { add_param_group({params, options, {}}); }
    GroupedOptimizer(const nn::NamedTensors<T>& params, const Options& options) {
        Group g{{}, options, {}};
        for (auto& [name, p] : params) {
            g.params.push_back(p);
            g.names.push_back(name);
        }
        add_param_group(std::move(g));
    }

    /// Adds parameters with their own options (validated; names default to their position).
    void add_param_group(Group group) {
        group.options.validate();
        if (group.names.empty()) {
            for (std::size_t i = 0; i < group.params.size(); ++i) group.names.push_back(std::to_string(count_ + i));
        }
        if (group.names.size() != group.params.size())
            throw ValueError("add_param_group: " + std::to_string(group.names.size()) + " names for " +
                             std::to_string(group.params.size()) + " parameters");
        for (std::size_t i = 0; i < group.params.size(); ++i) {
            const auto& p = group.params[i];
            if (!p.defined() || !p.is_leaf() || !p.requires_grad())
                throw ValueError("add_param_group: every parameter must be a leaf made with parameter()");
            // the same tensor twice would be updated twice per step (PyTorch refuses it too)
            auto same = [&](const BasicTensor<T>& q) { return &q.value() == &p.value(); };
            std::string where;
            for (std::size_t j = 0; j < i && where.empty(); ++j)
                if (same(group.params[j])) where = "as '" + group.names[j] + "' in the same group";
            for (auto& g : groups_)
                for (std::size_t j = 0; j < g.params.size() && where.empty(); ++j)
                    if (same(g.params[j])) where = "as '" + g.names[j] + "' in an earlier group";
            if (!where.empty())
                throw ValueError("add_param_group: parameter '" + group.names[i] + "' is given twice (" + where +
                                 "): it would be updated twice per step");
        }
        count_ += group.params.size();
        groups_.push_back(std::move(group));
        on_group_added(groups_.back());
    }

    TensorList<T> parameters() const override {
        TensorList<T> out;
        for (auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
        return out;
    }
    std::vector<std::string> parameter_names() const {
        std::vector<std::string> out;
        for (auto& g : groups_) out.insert(out.end(), g.names.begin(), g.names.end());
        return out;
    }
    std::vector<Group>& groups() { return groups_; }
    const std::vector<Group>& groups() const { return groups_; }

protected:
    /// Lets an optimizer size its per-parameter state when parameters arrive.
    virtual void on_group_added(const Group&) {}

private:
    std::vector<Group> groups_;
    std::size_t count_ = 0;
};

}  // namespace xtgrad::optim
