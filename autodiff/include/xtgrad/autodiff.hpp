// xtgrad's autodiff engine: include this one header.
//
//   Tape tape;
//   Tensor W = Tensor::parameter(xt::random::randn<double>({64, 10}));
//   Tensor loss = -mean(pick(log_softmax(matmul(x, W) + b, 1), labels));
//   auto g = grad(loss, {W, b});
#pragma once

#include "xtgrad/autodiff/array.hpp"
#include "xtgrad/autodiff/check.hpp"
#include "xtgrad/autodiff/compare.hpp"
#include "xtgrad/autodiff/compile.hpp"
#include "xtgrad/autodiff/custom_op.hpp"
#include "xtgrad/autodiff/derivatives.hpp"
#include "xtgrad/autodiff/errors.hpp"
#include "xtgrad/autodiff/linalg.hpp"
#include "xtgrad/autodiff/ops.hpp"
#include "xtgrad/autodiff/random.hpp"
#include "xtgrad/autodiff/recording.hpp"
#include "xtgrad/autodiff/tensor.hpp"
#include "xtgrad/autodiff/threads.hpp"
#include "xtgrad/autodiff/trace.hpp"
