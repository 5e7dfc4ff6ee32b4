// What every lecture example shares: checked claims, CSV + gnuplot plots, progress lines,
// and the small dense solvers used for closed-form answers. Examples use only xtgrad's public API.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "xtgrad/optim.hpp"

namespace lecture {

using xtgrad::Array;

/// One checked statement: what the lecture claims, what was measured, whether it holds.
struct Claim {
    std::string example, statement, measured;
    bool holds = false;
};

/// What one example produced, in order: its claims, its notes, its plots.
struct Section {
    std::string example;
    std::vector<std::string> notes;
    std::vector<std::string> plots;  ///< names: <name>.png/.svg/.csv in the output folder
};

/// Where an example writes and reports.
class Context {
public:
    Context(std::string output_dir, bool verbose);
    const std::string& output_dir() const { return output_dir_; }
    std::string data(const std::string& file) const;  ///< path of a shipped data set

    /// Records (and prints) a claim; returns `holds`.
    bool claim(const std::string& statement, const std::string& measured, bool holds);
    /// A line of explanation under the current example.
    void note(const std::string& text);
    void begin(const std::string& example);
    const std::vector<Claim>& claims() const { return claims_; }
    const std::vector<Section>& sections() const { return sections_; }

    /// Writes `name`.csv (header + rows) and, when gnuplot is available, `name`.png and .svg
    /// (`width` x 560 pixels) from the gnuplot commands in `plot` (which refer to the CSV as '$csv').
    void plot(const std::string& name, const std::vector<std::string>& header,
              const std::vector<std::vector<double>>& rows, const std::string& plot, int width = 900);
    bool plots_made() const { return plots_made_ > 0; }
    bool gnuplot_available() const { return gnuplot_; }

    /// Progress of a training loop: rewritten in place on a terminal, plain lines otherwise.
    /// A NaN accuracy is left out; `unit` names what is counted ("epoch", "step").
    void progress(const std::string& label, std::size_t epoch, std::size_t epochs, double loss,
                  double accuracy = std::nan(""), const char* unit = "epoch");
    void end_progress();

    /// Writes <output>/index.html: the summary table, every claim with its measured value and
    /// verdict, the notes, and every plot inline; returns its path.
    std::string write_index(double seconds) const;

private:
    Section& current();

    std::string output_dir_;
    bool verbose_, tty_, gnuplot_;
    std::vector<Claim> claims_;
    std::vector<Section> sections_;
    int plots_made_ = 0;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    bool progress_open_ = false;
};

/// Claims and how many hold, per example, in the order of examples(), then "all".
struct Tally {
    std::string example;
    std::size_t claims = 0, hold = 0;
};
std::vector<Tally> tally(const std::vector<Claim>& claims);

/// "1.23e-15"-style formatting for measured values.
std::string sci(double v);
std::string fixed(double v, int digits = 4);

/// `steps` undamped Newton steps on the model's loss + penalty, each solved by linear CG on
/// exact Hessian-vector products (as many CG iterations as twice the parameters' size).
void newton_cg(const xtgrad::TensorList<double>& params, const xtgrad::optim::CurvatureModel<double>& model, int steps);

/// Solves the symmetric positive definite system A x = b (Cholesky).
Array<double> solve_spd(const Array<double>& A, const Array<double>& b);

/// The examples, each in its own file, each checking its claims through the context.
void least_squares_is_gaussian_ml(Context& ctx);
void cross_entropy_is_bernoulli_ml(Context& ctx);
void cross_entropy_is_kl_plus_entropy(Context& ctx);
void sse_vs_cross_entropy(Context& ctx);
void softmax_and_its_gradient(Context& ctx);
void weight_decay(Context& ctx);
void weight_decay_is_map(Context& ctx);
void map_full_prior(Context& ctx);
void evidence_chooses_weight_decay(Context& ctx);
void evidence_per_layer(Context& ctx);
void cnn_digits(Context& ctx);
void sequence_digits(Context& ctx);
void char_language_model(Context& ctx);
void hessian_free_rnn(Context& ctx);
void gaussian_covariance_ml(Context& ctx);
void second_order_methods(Context& ctx);
void kfac_digits(Context& ctx);
void kfac_digits_cnn(Context& ctx);
void curvature_spectrum(Context& ctx);
void checking_gradients(Context& ctx);

struct Example {
    const char* name;
    void (*run)(Context&);
};
/// Every example, in lecture order.
const std::vector<Example>& examples();
/// Runs one example under its own heading; an exception becomes a claim that does not hold
/// (the message is what was measured). Returns whether the example ran to its end.
bool run(Context& ctx, const Example& example);

}  // namespace lecture
