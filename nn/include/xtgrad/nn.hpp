// xtgrad's neural-network library: modules, layers, losses, data, metrics, checkpoints.
#pragma once

#include "xtgrad/autodiff.hpp"
#include "xtgrad/nn/checkpoint.hpp"
#include "xtgrad/nn/conv.hpp"
#include "xtgrad/nn/data.hpp"
#include "xtgrad/nn/functional.hpp"
#include "xtgrad/nn/init.hpp"
#include "xtgrad/nn/layers.hpp"
#include "xtgrad/nn/linear.hpp"
#include "xtgrad/nn/loader.hpp"
#include "xtgrad/nn/losses.hpp"
#include "xtgrad/nn/metrics.hpp"
#include "xtgrad/nn/module.hpp"
#include "xtgrad/nn/normalization.hpp"
#include "xtgrad/nn/recurrent.hpp"
#include "xtgrad/nn/attention.hpp"
#include "xtgrad/nn/transformer.hpp"
