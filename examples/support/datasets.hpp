// The shipped data sets, prepared the way the lecture examples use them.
#pragma once

#include "lecture.hpp"

namespace lecture {

struct Classification {
    Array<double> x_train, x_test;  ///< standardized with the training statistics
    std::vector<std::size_t> y_train, y_test;
    std::size_t classes = 0;
};

/// Breast cancer (569 x 30; label 0 = malignant, the minority) split 75/25, standardized.
Classification breast_cancer(const Context& ctx, std::uint64_t seed = 7);
/// Digits (1797 x 64, 10 classes) split 80/20, standardized.
Classification digits(const Context& ctx, std::uint64_t seed = 7);
/// Diabetes (442 x 10), standardized features, and the target.
void diabetes(const Context& ctx, Array<double>& x, Array<double>& y);

/// The rows of a target column as a [n, 1] array of 0/1.
Array<double> column(const std::vector<std::size_t>& labels);
/// Smallest and largest eigenvalue of a small symmetric positive definite matrix.
std::pair<double, double> eigen_range(const Array<double>& spd);
/// x with a column of ones appended (the intercept).
Array<double> with_intercept(const Array<double>& x);

}  // namespace lecture
