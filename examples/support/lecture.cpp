// Claims, plots, progress lines and a Cholesky solver for the lecture examples.
#include "lecture.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace lecture {

namespace fs = std::filesystem;

Context::Context(std::string output_dir, bool verbose)
    : output_dir_(std::move(output_dir)),
      verbose_(verbose),
      tty_(verbose && ::isatty(STDOUT_FILENO)),
      gnuplot_(std::system("command -v gnuplot > /dev/null 2>&1") == 0) {
    fs::create_directories(output_dir_);
}

std::string Context::data(const std::string& file) const {
    return std::string(XTGRAD_DATA_DIR) + "/" + file;
}

void Context::begin(const std::string& example) {
    sections_.push_back({example, {}, {}});
    if (verbose_) std::printf("\n== %s\n", example.c_str());
}

Section& Context::current() {
    if (sections_.empty()) sections_.push_back({"(no example)", {}, {}});
    return sections_.back();
}

bool Context::claim(const std::string& statement, const std::string& measured, bool holds) {
    end_progress();
    claims_.push_back({current().example, statement, measured, holds});
    if (verbose_)
        std::printf("  %-58s | %-34s | %s\n", statement.c_str(), measured.c_str(), holds ? "holds" : "DOES NOT HOLD");
    return holds;
}

void Context::note(const std::string& text) {
    end_progress();
    current().notes.push_back(text);
    if (verbose_) std::printf("  note: %s\n", text.c_str());
}

void Context::plot(const std::string& name, const std::vector<std::string>& header,
                   const std::vector<std::vector<double>>& rows, const std::string& commands, int width) {
    std::string csv = (fs::path(output_dir_) / (name + ".csv")).string();
    {
        std::ofstream out(csv);
        for (std::size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << header[i];
        out << "\n";
        out.precision(17);
        for (auto& row : rows) {
            for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << row[i];
            out << "\n";
        }
    }
    current().plots.push_back(name);
    if (!gnuplot_) return;
    std::string script = (fs::path(output_dir_) / (name + ".gp")).string();
    {
        std::ofstream gp(script);
        gp << "set datafile separator ','\nset key autotitle columnhead\ncsv = '" << csv << "'\n";
        // the commands twice, once per terminal: `replot` does not repeat a multiplot
        std::string size = std::to_string(width) + ",560";
        gp << "set terminal pngcairo size " << size << " noenhanced\nset output '" << output_dir_ << "/" << name
           << ".png'\n"
           << commands << "\nunset output\nreset\nset datafile separator ','\nset key autotitle columnhead\n";
        gp << "set terminal svg size " << size << " noenhanced\nset output '" << output_dir_ << "/" << name << ".svg'\n"
           << commands << "\n";
    }
    std::string cmd = "gnuplot '" + script + "' > '" + output_dir_ + "/" + name + ".gnuplot.log' 2>&1";
    if (std::system(cmd.c_str()) == 0)
        ++plots_made_;
    else
        note("gnuplot failed for " + name + " (see " + name + ".gnuplot.log)");
}

void Context::progress(const std::string& label, std::size_t epoch, std::size_t epochs, double loss, double accuracy,
                       const char* unit) {
    if (!verbose_) return;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    char line[200], acc[32] = "";
    if (!std::isnan(accuracy)) std::snprintf(acc, sizeof acc, "accuracy %6.2f %%", 100 * accuracy);
    std::snprintf(line, sizeof line, "  %-30s %-5s %4zu/%-4zu loss %-10.5f %-17s %6.1f s", label.c_str(), unit, epoch,
                  epochs, loss, acc, seconds);
    if (tty_) {
        std::printf("\r%s", line);
        std::fflush(stdout);
        progress_open_ = true;
    } else if (epoch == epochs || epoch % std::max<std::size_t>(1, epochs / 4) == 0) {
        std::printf("%s\n", line);
    }
}

void Context::end_progress() {
    if (progress_open_) std::printf("\n");
    progress_open_ = false;
}

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
}

std::string fixed(double v, int digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

void newton_cg(const xtgrad::TensorList<double>& params, const xtgrad::optim::CurvatureModel<double>& model,
               int steps) {
    std::size_t size = 0;
    for (auto& p : params) size += p.size();
    xtgrad::optim::NaturalGradient<double> newton(params, model,
                                                  {.damping = 0,
                                                   .adapt_damping = false,
                                                   .min_damping = 0,
                                                   .cg_iterations = 2 * size,
                                                   .cg_rtol = 1e-15,
                                                   .curvature = xtgrad::optim::Curvature::hessian});
    for (int k = 0; k < steps; ++k) newton.step();
}

Array<double> solve_spd(const Array<double>& A, const Array<double>& b) {
    using xtgrad::Tensor;
    return xtgrad::cholesky_solve(Tensor::constant(b), xtgrad::cholesky(Tensor::constant(A))).value();
}

const std::vector<Example>& examples() {
    static const std::vector<Example> all = {
        {"least squares is maximum likelihood under Gaussian noise", least_squares_is_gaussian_ml},
        {"a Gaussian with a full covariance by maximum likelihood", gaussian_covariance_ml},
        {"cross entropy is maximum likelihood for Bernoulli targets", cross_entropy_is_bernoulli_ml},
        {"cross entropy = KL divergence + entropy", cross_entropy_is_kl_plus_entropy},
        {"SSE versus cross entropy: outliers and unbalanced classes", sse_vs_cross_entropy},
        {"softmax and its gradient", softmax_and_its_gradient},
        {"weight decay", weight_decay},
        {"weight decay is MAP estimation with a Gaussian prior", weight_decay_is_map},
        {"MAP with a full prior covariance", map_full_prior},
        {"the evidence chooses the weight decay", evidence_chooses_weight_decay},
        {"one weight decay per layer, chosen by the evidence", evidence_per_layer},
        {"second-order methods", second_order_methods},
        {"K-FAC beside SGD, Adam and the CG natural gradient", kfac_digits},
        {"the curvature spectrum of a trained network", curvature_spectrum},
        {"a convolutional network on the digits", cnn_digits},
        {"sequence models on the digits", sequence_digits},
        {"a character-level language model", char_language_model},
        {"Hessian-free training of a recurrent net", hessian_free_rnn},
        {"checking gradients", checking_gradients},
        // (last: the lecture test's shards take every fourth example, and this puts it beside the light ones)
        {"K-FAC for a convolutional network", kfac_digits_cnn},
    };
    return all;
}

bool run(Context& ctx, const Example& example) {
    ctx.begin(example.name);
    try {
        example.run(ctx);
        return true;
    } catch (const std::exception& e) {
        ctx.claim("the example runs to its end", e.what(), false);
        return false;
    }
}

}  // namespace lecture
