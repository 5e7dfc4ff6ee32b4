// Beyond the slides: the 8 x 8 digits read as sequences of 8 rows of 8 pixels, classified by a
// GRU (its last hidden state) and by a small Transformer encoder (attention between the rows,
// then the mean over rows), beside the CNN of the previous example, which sees the whole image
// at once. Same data, optimizer, batches and epochs; float32.
#include <cmath>

#include "support/datasets.hpp"
#include "support/digits_training.hpp"

namespace lecture {

using namespace xtgrad;
using std::make_shared;

namespace {
constexpr std::size_t kEpochs = 20;

// GRU(8 -> 64) over the rows, a linear layer on the last hidden state
struct GruClassifier : nn::Module<float> {
    std::shared_ptr<nn::GRU<float>> gru;
    std::shared_ptr<nn::Linear<float>> head;
    explicit GruClassifier(Generator& gen)
        : gru(register_module("gru",
                              make_shared<nn::GRU<float>>(
                                  nn::RecurrentOptions{.input_size = 8, .hidden_size = 64, .batch_first = true}, gen))),
          head(register_module("head", make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 64, .out = 10}, gen))) {}
    Tensor32 forward(const Tensor32& rows) { return (*head)(squeeze((*gru)(rows).h_n, 0)); }
};

// each row embedded (8 -> 32) plus a learned position, one pre-norm encoder layer (4 heads),
// the mean over rows, a linear layer
struct TransformerClassifier : nn::Module<float> {
    std::shared_ptr<nn::Linear<float>> embed;
    Tensor32 position;
    std::shared_ptr<nn::TransformerEncoderLayer<float>> encoder;
    std::shared_ptr<nn::LayerNorm<float>> norm;
    std::shared_ptr<nn::Linear<float>> head;
    explicit TransformerClassifier(Generator& gen)
        : embed(register_module("embed", make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 8, .out = 32}, gen))),
          position(register_parameter("position", Array<float>(0.1f * randn<float>({8, 32}, gen).value()))),
          encoder(register_module("encoder", make_shared<nn::TransformerEncoderLayer<float>>(
                                                 nn::TransformerEncoderLayerOptions{.d_model = 32,
                                                                                    .nhead = 4,
                                                                                    .dim_feedforward = 64,
                                                                                    .dropout = 0.0,
                                                                                    .batch_first = true,
                                                                                    .norm_first = true},
                                                 gen))),
          norm(register_module("norm", make_shared<nn::LayerNorm<float>>(Shape{32}))),
          head(register_module("head", make_shared<nn::Linear<float>>(nn::LinearOptions{.in = 32, .out = 10}, gen))) {}
    Tensor32 forward(const Tensor32& rows) {
        auto h = (*encoder)((*embed)(rows) + position);
        return (*head)(mean((*norm)(h), 1));
    }
};

Array<float> as_rows(Array<float> x) {
    x.reshape({x.shape()[0], 8, 8});
    return x;
}
}  // namespace

void sequence_digits(Context& ctx) {
    auto d = digits(ctx);
    auto table = classification_table(d.x_train, d.y_train);
    Array<float> test = d.x_test;
    auto test_rows = Tensor32::constant(as_rows(test));

    Generator gen(3);
    GruClassifier gru(gen);
    nn::DataLoader<float> rows_loader(table, {.batch_size = 64, .seed = 1}, as_rows);
    Curve recurrent = train_classifier(
        ctx, gru, [&](const Tensor32& x) { return gru.forward(x); }, rows_loader, test_rows, d.y_test,
        "GRU over rows (Adam)", kEpochs, 1e-2);
    TransformerClassifier transformer(gen);
    Curve attention = train_classifier(
        ctx, transformer, [&](const Tensor32& x) { return transformer.forward(x); }, rows_loader, test_rows, d.y_test,
        "Transformer over rows (Adam)", kEpochs, 3e-3);
    std::mt19937_64 rng(1);  // the CNN of cnn_digits, trained again the same way
    auto cnn = digits_cnn(rng);
    nn::DataLoader<float> image_loader(table, {.batch_size = 64, .seed = 1}, as_images);
    Curve conv = train_classifier(
        ctx, *cnn, [&](const Tensor32& x) { return (*cnn)(x); }, image_loader, Tensor32::constant(as_images(test)),
        d.y_test, "CNN (Adam)", kEpochs, 1e-2);

    auto count = [](const nn::Module<float>& m) {
        std::size_t n = 0;
        for (auto& p : m.parameters()) n += p.size();
        return std::to_string(n);
    };
    auto pct = [](const Curve& c) { return fixed(100 * c.accuracy.back(), 1) + " %"; };
    ctx.note("parameters: GRU " + count(gru) + ", Transformer " + count(transformer) + ", CNN " + count(*cnn));
    ctx.claim("digits read row by row: a GRU (hidden 64, its last state) reaches 95 % test accuracy", pct(recurrent),
              recurrent.accuracy.back() >= 0.95);
    ctx.claim("digits read row by row: one Transformer encoder layer (d_model 32, 4 heads) reaches 95 %",
              pct(attention), attention.accuracy.back() >= 0.95);
    double gap = conv.accuracy.back() - std::min(recurrent.accuracy.back(), attention.accuracy.back());
    ctx.claim("both sequence models come within 4 points of the CNN, which sees the whole image at once",
              "CNN " + pct(conv) + ", GRU " + pct(recurrent) + ", Transformer " + pct(attention), gap <= 0.04);
    std::vector<std::vector<double>> rows;
    for (std::size_t e = 0; e < kEpochs; ++e)
        rows.push_back({double(e + 1), recurrent.loss[e], attention.loss[e], conv.loss[e], recurrent.accuracy[e],
                        attention.accuracy[e], conv.accuracy[e]});
    ctx.plot(
        "sequence_digits",
        {"epoch", "gru_loss", "transformer_loss", "cnn_loss", "gru_accuracy", "transformer_accuracy", "cnn_accuracy"},
        rows,
        "set multiplot layout 1,2 title 'digits as 8 rows of 8 pixels, float32, Adam, batches of 64'\n"
        "set xlabel 'epoch'\nset title 'training loss'\nset ylabel 'cross entropy'\nset logscale y\n"
        "plot csv using 1:2 with linespoints lw 2 lc rgb '#2ca02c' title 'GRU', "
        "csv using 1:3 with linespoints lw 2 lc rgb '#9467bd' title 'Transformer', "
        "csv using 1:4 with linespoints lw 2 lc rgb '#1f77b4' title 'CNN (whole image)'\n"
        "unset logscale y\nset title 'test accuracy'\nset ylabel 'accuracy'\nset key bottom right\n"
        "set yrange [0.8:1]\n"
        "plot csv using 1:5 with linespoints lw 2 lc rgb '#2ca02c' title 'GRU', "
        "csv using 1:6 with linespoints lw 2 lc rgb '#9467bd' title 'Transformer', "
        "csv using 1:7 with linespoints lw 2 lc rgb '#1f77b4' title 'CNN (whole image)'\nunset multiplot",
        1300);
}

}  // namespace lecture
