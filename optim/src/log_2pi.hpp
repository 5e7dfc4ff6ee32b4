// log(2 pi), the Gaussian normalising constant's logarithm per dimension, in every log density
// and log evidence of optim (each keeps every constant).
#pragma once

namespace xtgrad::optim {

inline constexpr double kLog2Pi = 1.8378770664093453;

}  // namespace xtgrad::optim
