// What the digits examples share: the table, the image layout, the CNN, and one training loop
// (Adam, batches reshuffled every epoch, test accuracy after each epoch).
#pragma once

#include <functional>
#include <random>

#include "lecture.hpp"

namespace lecture {

/// Training loss and test accuracy after each epoch.
struct Curve {
    std::vector<double> loss, accuracy;
};

/// Features and labels as the DataLoader's table.
xtgrad::nn::Table classification_table(const Array<double>& x, const std::vector<std::size_t>& y);
/// Rows of 64 pixels as images [n, 1, 8, 8].
Array<float> as_images(Array<float> x);
/// Two convolutions (16 and 32 channels, 3 x 3, padding 1) with ReLU and 2 x 2 max pooling,
/// then a linear layer to the 10 classes.
std::shared_ptr<xtgrad::nn::Sequential<float>> digits_cnn(std::mt19937_64& rng);
/// Adam (learning rate `lr`) on the cross entropy of forward(batch.x), `epochs` epochs over
/// `loader`, a progress line per epoch.
Curve train_classifier(Context& ctx, xtgrad::nn::Module<float>& model,
                       const std::function<xtgrad::Tensor32(const xtgrad::Tensor32&)>& forward,
                       xtgrad::nn::DataLoader<float>& loader, const xtgrad::Tensor32& x_test,
                       const std::vector<std::size_t>& y_test, const char* label, std::size_t epochs, double lr);

}  // namespace lecture
