// One array in NumPy's .npy format (NEP 1). The reader parses the header as the Python
// literal it is (a dict of 'descr', 'fortran_order' and 'shape', nothing else) and checks
// every dimension, their product and the byte count for overflow, and that the data are
// exactly as long as the header declares.
#pragma once

#include <string>
#include <string_view>

#include "xtgrad/autodiff/array.hpp"

namespace xtgrad::nn::detail {

template <class T>
std::string encode_npy(const Array<T>& a);

/// Errors are IoError starting with `where` ("load_npz: 'file': entry 'w.npy'").
template <class T>
Array<T> decode_npy(std::string_view bytes, const std::string& where);

}  // namespace xtgrad::nn::detail
