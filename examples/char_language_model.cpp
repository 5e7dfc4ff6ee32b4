// Beyond the slides: a character-level language model. An LSTM reads the Book of Genesis (King
// James Version, data/genesis.txt) one character at a time and learns to predict the next one:
// maximum likelihood of a sequence is the sum of the cross entropies of each next character, so
// the lecture's loss is the language model's. Its held-out loss per character is compared with
// two models counted exactly from the training text: characters drawn independently (unigram)
// and each drawn given the one before (bigram). Samples at the end show what was learnt.
#include <array>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "support/lecture.hpp"

namespace lecture {

using namespace xtgrad;
using std::make_shared;

namespace {
constexpr std::size_t kSteps = 600, kEvery = 50, kBatch = 32, kLength = 64;

struct Text {
    std::string chars;      // the vocabulary, sorted
    std::vector<int> code;  // the text as indices into chars
    std::size_t split = 0;  // code[0, split) trains, the rest is held out
};

Text read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream s;
    s << in.rdbuf();
    const std::string raw = s.str();
    Text t;
    std::array<int, 256> index{};
    index.fill(-1);
    for (unsigned char c : raw) index[c] = 0;
    for (int c = 0; c < 256; ++c)
        if (index[std::size_t(c)] == 0) {
            index[std::size_t(c)] = int(t.chars.size());
            t.chars.push_back(char(c));
        }
    for (unsigned char c : raw) t.code.push_back(index[c]);
    t.split = t.code.size() * 9 / 10;
    return t;
}

// Held-out cross entropy (nats per character) of counted models with add-one smoothing.
double unigram_loss(const Text& t) {
    const std::size_t V = t.chars.size();
    std::vector<double> n(V, 1.0);
    for (std::size_t i = 0; i < t.split; ++i) n[std::size_t(t.code[i])] += 1;
    double total = double(t.split + V), loss = 0;
    for (std::size_t i = t.split; i < t.code.size(); ++i) loss -= std::log(n[std::size_t(t.code[i])] / total);
    return loss / double(t.code.size() - t.split);
}
double bigram_loss(const Text& t) {
    const std::size_t V = t.chars.size();
    std::vector<double> n(V * V, 1.0), row(V, double(V));
    for (std::size_t i = 1; i < t.split; ++i) {
        n[std::size_t(t.code[i - 1]) * V + std::size_t(t.code[i])] += 1;
        row[std::size_t(t.code[i - 1])] += 1;
    }
    double loss = 0;
    for (std::size_t i = t.split + 1; i < t.code.size(); ++i)
        loss -= std::log(n[std::size_t(t.code[i - 1]) * V + std::size_t(t.code[i])] / row[std::size_t(t.code[i - 1])]);
    return loss / double(t.code.size() - t.split - 1);
}

struct CharModel : nn::Module<float> {
    std::shared_ptr<nn::Embedding<float>> embed;
    std::shared_ptr<nn::LSTM<float>> lstm;
    std::shared_ptr<nn::Linear<float>> head;
    CharModel(std::size_t vocabulary, Generator& gen)
        : embed(register_module("embed", make_shared<nn::Embedding<float>>(vocabulary, 32, gen))),
          lstm(register_module(
              "lstm", make_shared<nn::LSTM<float>>(
                          nn::RecurrentOptions{.input_size = 32, .hidden_size = 128, .batch_first = true}, gen))),
          head(register_module("head",
                               make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 128, .out = vocabulary}, gen))) {}
    // logits [B, T, V] for characters [B, T], and the LSTM's last state
    nn::RecurrentOutput<float> forward(const IndexArray& chars, const Tensor32& h0 = {}, const Tensor32& c0 = {}) {
        auto out = (*lstm)((*embed)(chars), h0, c0);
        out.output = (*head)(out.output);
        return out;
    }
};

// Windows of `length` characters at `starts`: the inputs [windows, length] and, as labels, the
// character after each
struct Windows {
    IndexArray inputs, labels;
};
Windows windows(const Text& t, const std::vector<std::size_t>& starts, std::size_t length) {
    std::vector<std::int64_t> x, y;
    for (std::size_t s : starts)
        for (std::size_t i = 0; i < length; ++i) {
            x.push_back(t.code[s + i]);
            y.push_back(t.code[s + i + 1]);
        }
    return {IndexArray(std::move(x), {starts.size(), length}), IndexArray(std::move(y), {starts.size() * length})};
}

// `count` characters drawn from the model (softmax at `temperature`) after `prompt`
std::string sample(CharModel& model, const Text& t, const std::string& prompt, std::size_t count, float temperature,
                   Generator& gen) {
    NoGrad no_grad;
    std::vector<std::int64_t> codes;
    for (char c : prompt) codes.push_back(std::int64_t(t.chars.find(c)));
    auto out = model.forward(IndexArray(codes, {1, codes.size()}));
    std::string text = prompt;
    for (std::size_t i = 0; i < count; ++i) {
        auto last = narrow(out.output, 1, std::ptrdiff_t(out.output.shape()[1]) - 1, 1);
        auto p = softmax(reshape(last, {-1}) / temperature, 0).value();
        double u = rand<double>({1}, gen).item(), acc = 0;
        std::size_t next = 0;
        while (next + 1 < p.size() && (acc += double(p(next))) <= u) ++next;
        text.push_back(t.chars[next]);
        out = model.forward(IndexArray(std::vector<std::int64_t>{std::int64_t(next)}, {1, 1}), out.h_n, out.c_n);
    }
    return text;
}
}  // namespace

void char_language_model(Context& ctx) {
    const Text t = read_text(ctx.data("genesis.txt"));
    const std::size_t V = t.chars.size();
    const double unigram = unigram_loss(t), bigram = bigram_loss(t);
    ctx.note(std::to_string(t.code.size()) + " characters, " + std::to_string(V) +
             " distinct; the first 90 % train, the last 10 % are held out. Held-out loss per character of models "
             "counted from the training text (add-one smoothing): unigram " +
             fixed(unigram, 3) + " nats, bigram " + fixed(bigram, 3) + " nats");

    Generator gen(5);
    CharModel model(V, gen);
    optim::Adam<float> adam(model.parameters(), {.lr = 5e-3});
    std::mt19937_64 rng(6);
    std::uniform_int_distribution<std::size_t> train_start(0, t.split - kLength - 2);
    std::vector<std::size_t> held_out_starts;  // fixed windows of the held-out part
    for (std::size_t s = t.split; s + 2 * kLength + 1 < t.code.size() && held_out_starts.size() < 64; s += 2 * kLength)
        held_out_starts.push_back(s);
    // context for every held-out prediction: windows of 2 L, the loss of their second half
    const Windows held_out = windows(t, held_out_starts, 2 * kLength);

    std::vector<std::vector<double>> rows;
    double running = 0;
    for (std::size_t step = 1; step <= kSteps; ++step) {
        std::vector<std::size_t> starts(kBatch);
        for (auto& s : starts) s = train_start(rng);
        auto w = windows(t, starts, kLength);
        Tape tape;
        adam.zero_grad();
        auto loss = nn::cross_entropy(reshape(model.forward(w.inputs).output, {-1, std::ptrdiff_t(V)}), w.labels);
        loss.backward();
        optim::clip_grad_norm(model.parameters(), 1.0);
        adam.step();
        running += loss.item();
        if (step % kEvery == 0) {
            NoGrad no_grad;
            auto logits = model.forward(held_out.inputs).output;  // [64, 2 L, V]
            auto second_half = reshape(narrow(logits, 1, kLength, kLength), {-1, std::ptrdiff_t(V)});
            std::vector<std::int64_t> labels;
            for (std::size_t r = 0; r < held_out_starts.size(); ++r)
                for (std::size_t i = kLength; i < 2 * kLength; ++i)
                    labels.push_back(held_out.labels[r * 2 * kLength + i]);
            double validation = nn::cross_entropy(second_half, IndexArray(labels, {labels.size()})).item();
            double accuracy = nn::accuracy(second_half.value(), IndexArray(labels, {labels.size()}));
            rows.push_back({double(step), running / double(kEvery), validation, unigram, bigram});
            ctx.progress("LSTM 128 on characters", step, kSteps, rows.back()[1], accuracy, "step");
            running = 0;
        }
    }
    ctx.end_progress();
    const double final_loss = rows.back()[2];
    ctx.claim("the LSTM's held-out loss per character is below the bigram model's (the best counted model here)",
              fixed(final_loss, 3) + " < " + fixed(bigram, 3) + " nats", final_loss < bigram);
    ctx.claim("after " + std::to_string(kSteps) +
                  " steps of 32 windows of 64 characters, it is below 1.7 nats "
                  "(2.45 bits) per character",
              fixed(final_loss, 3) + " nats = " + fixed(final_loss / std::log(2.0), 2) + " bits", final_loss < 1.7);
    Generator sampling(7);
    std::string text = sample(model, t, "And God said", 240, 0.7f, sampling);
    for (auto& c : text)
        if (c == '\n') c = ' ';
    ctx.note("sampled at temperature 0.7 after \"And God said\": " + text);
    ctx.plot(
        "char_language_model", {"step", "training", "held_out", "unigram", "bigram"}, rows,
        "set title 'an LSTM (hidden 128) predicting the next character of Genesis (KJV), float32, Adam'\n"
        "set xlabel 'step (32 windows of 64 characters)'\nset ylabel 'cross entropy (nats per character)'\n"
        "set key top right\nset yrange [1.2:3.7]\n"
        "plot csv using 1:2 with linespoints lw 2 lc rgb '#1f77b4' title 'LSTM, training batches (mean of the last "
        "50)', "
        "csv using 1:3 with linespoints lw 2 lc rgb '#d62728' title 'LSTM, held out (with 64 characters of context)', "
        "csv using 1:4 with lines dt 2 lw 2 lc rgb '#7f7f7f' title 'unigram (counted), held out', "
        "csv using 1:5 with lines dt 3 lw 2 lc rgb '#000000' title 'bigram (counted), held out'");
}

}  // namespace lecture
