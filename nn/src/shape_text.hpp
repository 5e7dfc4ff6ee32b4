// A tensor's shape for an error message, or "undefined" for a tensor that was never set (an
// optional bias, a missing mask): shared by the layers' argument checks.
#pragma once

#include <string>

#include "xtgrad/autodiff.hpp"

namespace xtgrad::nn::text {

inline std::string shape_of(const auto& t) {
    return t.defined() ? to_string(t.shape()) : "undefined";
}

}  // namespace xtgrad::nn::text
