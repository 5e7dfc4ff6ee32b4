// The headers nearly every translation unit of xtgrad parses: the standard library's common
// parts, xtensor's core and xtgrad/autodiff.hpp. Parsing them costs about 3 s per file at -O3
// on the build machine, a quarter or more of most files' compile time, so they are precompiled
// once per set of compile flags (XTGRAD_PCH; see xtgrad_precompiled in CMakeLists.txt).
// Nothing here may depend on a macro a file defines before its first include.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "xtgrad/autodiff.hpp"
