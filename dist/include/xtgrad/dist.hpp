// xtgrad::dist: data-parallel and Hessian-free training over MPI, above autodiff, nn and optim.
#pragma once

#include "xtgrad/dist/communicator.hpp"
#include "xtgrad/dist/data_parallel.hpp"
#include "xtgrad/dist/environment.hpp"
#include "xtgrad/dist/sharding.hpp"
