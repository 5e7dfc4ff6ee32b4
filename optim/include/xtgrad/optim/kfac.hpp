// K-FAC (Martens and Grosse 2015): the natural gradient with each weight layer's Fisher block
// approximated by a Kronecker product, F_W ~ A (x) G, A the second moment of the layer's input
// rows a (with a 1 appended for the bias) and G that of the gradient with respect to its
// output s = a W^T + b, under targets drawn from the model's own predictive distribution. The
// block's inverse is then two small ones: the step for [W b] is (G + g_G I)^-1 grad (A + g_A I)^-1.
// Factors are exponential moving averages refreshed every `factor_every` steps, their
// eigendecompositions every `inverse_every`; the step is scaled down when its predicted change
// of the model's distribution (its KL divergence, to second order) would exceed `kl_clip`, and
// taken with momentum, as in kfac-pytorch and kfac-jax. Parameters outside the layers K-FAC
// knows take the plain gradient, with the same momentum. It knows Linear and the ungrouped
// convolutions (Conv1d, Conv2d, and functional::conv1d/conv2d): a convolution is a Linear over
// its patches, one row per image and output position (Grosse and Martens 2016's KFC, whose
// factors assume the output gradients of different positions uncorrelated and the statistics
// the same at every position); A then averages over positions and G sums over them. And the
// recurrent layers and cells (RNN, LSTM, GRU): their input and recurrent weights are layers
// called once a sequence and once a step, the time steps taken as independent (the first
// approximation of Martens, Ba and Johnson 2018; their temporal models of G are not done).
// And Embedding, whose A is diagonal (each row's frequency). Grouped convolutions take the
// plain gradient.
//
// An optimizer rather than a preconditioner beside SGD: sampling the Fisher's targets needs the
// model's outputs and the form of its loss in them, which a CurvatureModel (the one
// NaturalGradient takes) carries; K-FAC and the CG natural gradient are swapped by one line.
//
// For PyTorch users: K-FAC is not in PyTorch itself. The third-party optimizers there call the
// options lr, momentum, weight_decay, damping, kl_clip and stat_decay (or factor_decay), and
// the refresh intervals TCov / TInv (or fac_update_freq / inv_update_freq): here factor_every
// and inverse_every. Their defaults differ from these (lr 0.1; damping 0.03 or 0.001; factors
// every 5-10 steps and inverses every 50-100), and some are preconditioners that rewrite the
// gradients for the user's SGD: here KFAC takes the step itself, momentum included.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "xtgrad/nn/capture.hpp"
#include "xtgrad/optim/curvature.hpp"
#include "xtgrad/optim/optimizer.hpp"

namespace xtgrad::optim {

/// Where G's output gradients come from.
enum class FisherEstimate {
    /// One target per row drawn from the model's predictive distribution (Martens and Grosse):
    /// an unbiased estimate of the Fisher's G, one extra reverse sweep.
    sampled,
    /// The expectation over the targets, exactly: one reverse sweep per output (class), so
    /// A (x) G is exactly the Fisher block for one example. For small output layers and tests.
    exact,
    /// The gradients of the loss at the data's own targets (the "empirical Fisher"): no extra
    /// sweep, but not the Fisher (Kunstner et al. 2019 show where it misleads).
    empirical
};

struct KFACOptions {
    double lr = 0.01;
    double momentum = 0.9;    ///< heavy-ball momentum on the preconditioned step (0: none)
    double weight_decay = 0;  ///< added to the preconditioned step, as SGD's coupled decay
    double damping = 1e-3;    ///< lambda, Tikhonov damping of each Fisher block
    /// true: factored damping, (A + pi sqrt(lambda) I) (x) (G + sqrt(lambda)/pi I) with Martens
    /// and Grosse's pi = sqrt((tr A / dim A) / (tr G / dim G)). false: (A (x) G + lambda I)^-1
    /// exactly, through the factors' eigenbases (the damped Kronecker block's own inverse).
    bool factored_damping = true;
    double stat_decay = 0.95;        ///< factors <- decay factors + (1 - decay) new (the first: new)
    std::size_t factor_every = 1;    ///< steps between factor updates
    std::size_t inverse_every = 10;  ///< steps between eigendecompositions of the factors
    double kl_clip = 1e-3;           ///< bound on lr^2 sum <step, gradient> over the layers (0: off)
    FisherEstimate fisher = FisherEstimate::sampled;
    /// Of the sampled targets. Over sharded data (CurvatureModel::shards) each process draws
    /// from a stream of its own, seeded with seed and its shard index (process 0: seed itself),
    /// so that the processes' targets are independent draws as one process's rows are.
    std::uint64_t seed = 0;
    void validate() const;   ///< ValueError naming the option
};

/// A layer K-FAC preconditions: its parameters' positions and its current factors.
template <class T>
struct KFACLayer {
    std::string name;        ///< the weight's name
    std::size_t weight = 0;  ///< index among the optimizer's parameters
    std::size_t bias = 0;    ///< index of the bias, when has_bias
    bool has_bias = false;
    /// An Embedding: a Linear of one-hot rows whose weight [count, dim] is the transpose of a
    /// Linear's [out, in]. Its A is diagonal and kept as the diagonal ([count]: how often each
    /// row is looked up), its G [dim, dim].
    bool embedding = false;
    Array<T> a;  ///< A: [in + has_bias, in + has_bias], in the weight's columns seen as [out, in]
    Array<T> g;  ///< G: [out, out]
    /// Whether A and G exist yet (a default Array is a 0-D scalar, not an empty matrix).
    bool has_factors() const { return g.dimension() == 2; }
};

namespace detail {
template <class T>
struct KFACInverse;
template <class T>
class CurvatureRecording;
}  // namespace detail

template <class T>
class KFAC : public Optimizer<T> {
public:
    KFAC(const TensorList<T>& params, CurvatureModel<T> model, const KFACOptions& options = {});
    KFAC(const nn::NamedTensors<T>& params, CurvatureModel<T> model, const KFACOptions& options = {});
    ~KFAC() override;
    /// Records the model once (loss, gradient, and, when due, the factors), preconditions the
    /// gradient and moves the parameters. Throws before moving anything for a non-finite loss
    /// or gradient and for a loss whose output Hessian has no closed form (K-FAC samples from
    /// softmax or sigmoid cross entropy or squared error).
    void step() override;
    /// The same step with the loss and gradient from `closure` (which fills the parameters'
    /// grad(), as for every optimizer: a CompiledLoss, say), returning its loss; the model is
    /// recorded eagerly only on the steps that update the factors (every `factor_every`). The
    /// closure and the CurvatureModel should compute the same loss: the factors describe the
    /// model's. With factor_every > 1 the steps between are a compiled replay and two products
    /// per layer.
    double step(const Closure& closure) override;
    /// The loss at the start of the last step (the penalty included).
    double loss() const { return loss_; }
    std::size_t steps() const { return steps_; }
    /// The layers found by the first step, with their current factors.
    const std::vector<KFACLayer<T>>& layers() const { return layers_; }
    /// The direction K-FAC gives a gradient with the current inverses (layers' blocks
    /// inverted, other parameters as they are; no KL clipping, momentum or learning rate).
    ParamVector<T> precondition(const ParamVector<T>& gradient) const;
    TensorList<T> parameters() const override { return params_; }
    /// Momentum buffers, the factors ("<weight>.kfac_a", "<weight>.kfac_g"), the factors the
    /// current inverses came from ("..._inverted") and the step count: a restored optimizer
    /// continues the run exactly (with FisherEstimate::sampled, up to the targets' draws, whose
    /// generator is not saved).
    nn::NamedArrays<T> state() const override;
    void load_state(const nn::NamedArrays<T>& state) override;

private:
    struct SavedFactors {
        Array<T> a, g, inverted_a, inverted_g;
    };
    std::pair<std::unique_ptr<detail::CurvatureRecording<T>>, std::vector<nn::CapturedLayer<T>>> record(
        bool factors_due);
    void check_call(const nn::CapturedLayer<T>& call, std::size_t weight) const;
    void find_layers(const std::vector<nn::CapturedLayer<T>>& captured);
    void update_factors(detail::CurvatureRecording<T>& rec, const std::vector<nn::CapturedLayer<T>>& captured);
    void move(ParamVector<T> gradient);
    void refresh_inverses();
    void invert(std::size_t layer, const Array<T>& a, const Array<T>& g);
    void adopt(std::size_t layer, SavedFactors factors);
    TensorList<T> params_;
    std::vector<std::string> names_;
    CurvatureModel<T> model_;
    KFACOptions options_;
    std::vector<KFACLayer<T>> layers_;
    std::vector<detail::KFACInverse<T>> inverses_;
    std::vector<std::optional<Array<T>>> momentum_;  // made at each parameter's first step
    std::map<std::size_t, SavedFactors> pending_;    // loaded factors of layers not yet seen
    std::mt19937_64 rng_;
    std::size_t steps_ = 0;
    double loss_ = 0;
};

extern template class KFAC<float>;
extern template class KFAC<double>;

}  // namespace xtgrad::optim
