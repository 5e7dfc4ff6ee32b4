// xtgrad's optimizers: SGD, Adam/AdamW, nonlinear conjugate gradient, L-BFGS, the
// natural-gradient step, a matrix-free linear CG solver, schedules and clipping.
#pragma once

#include "xtgrad/nn.hpp"
#include "xtgrad/optim/adam.hpp"
#include "xtgrad/optim/conjugate_gradient.hpp"
#include "xtgrad/optim/curvature.hpp"
#include "xtgrad/optim/kfac.hpp"
#include "xtgrad/optim/lbfgs.hpp"
#include "xtgrad/optim/line_search.hpp"
#include "xtgrad/optim/linear_cg.hpp"
#include "xtgrad/optim/natural_gradient.hpp"
#include "xtgrad/optim/optimizer.hpp"
#include "xtgrad/optim/evidence.hpp"
#include "xtgrad/optim/laplace.hpp"
#include "xtgrad/optim/spectrum.hpp"
#include "xtgrad/optim/schedule.hpp"
#include "xtgrad/optim/sgd.hpp"
#include "xtgrad/optim/stopping.hpp"
