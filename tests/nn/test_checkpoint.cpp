// Checkpoints: bit-exact round trips, atomic saves, and loads that fail cleanly.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;
namespace fs = std::filesystem;

namespace {
struct TempDir {
    fs::path path = fs::temp_directory_path() / ("xtgrad_ckpt_" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

template <class T>
std::vector<Array<T>> values(const Module<T>& m) {
    std::vector<Array<T>> out;
    for (auto& p : m.parameters()) out.push_back(p.value());
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_bit_exact) {
    TempDir dir;
    std::mt19937_64 rng(1), other(2);
    MLP<double> a({5, 7, 3}, Activation::tanh, rng), b({5, 7, 3}, Activation::tanh, other);
    save_parameters(a, dir.file("a.npz"));
    load_parameters(b, dir.file("a.npz"));
    BOOST_TEST((values(a) == values(b)));
    MLP<float> f({5, 7, 3}, Activation::relu, rng), g({5, 7, 3}, Activation::relu, other);
    save_parameters(f, dir.file("f.npz"));
    load_parameters(g, dir.file("f.npz"));
    BOOST_TEST((values(f) == values(g)));
    // the archive is a zip of .npy entries named after the parameters
    auto arrays = load_npz<double>(dir.file("a.npz"));
    BOOST_TEST(arrays.size() == 5u);  // four parameters and the format version
    BOOST_TEST(arrays[0].first == "0.weight");
    BOOST_TEST(arrays[0].second.shape() == Shape({7, 5}));  // PyTorch's [out, in]
    BOOST_TEST(arrays[4].first == "format_version");
    BOOST_TEST(arrays[4].second(0) == 2.0);
    std::string raw = bytes_of(dir.file("a.npz"));
    BOOST_TEST(raw.substr(0, 4) == std::string("PK\x03\x04", 4));
    BOOST_TEST(raw.find("0.weight.npy") != std::string::npos);
    BOOST_TEST(raw.find("\x93NUMPY") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_save_keeps_the_previous_checkpoint) {
    TempDir dir;
    std::mt19937_64 rng(3);
    MLP<double> m({3, 2}, Activation::identity, rng);
    save_parameters(m, dir.file("m.npz"));
    std::string before = bytes_of(dir.file("m.npz"));
    expect_error<ValueError>(
        [&] {
            save_npz<double>(dir.file("m.npz"), {{"", Array<double>{1.0}}});
        },
        "save_npz: an array has an empty name");
    fs::create_directories(dir.path / "taken");  // renaming a file over a directory fails
    expect_error<IoError>([&] { save_parameters(m, dir.file("taken")); }, "save_npz: cannot replace");
    BOOST_TEST(bytes_of(dir.file("m.npz")) == before);
    for (auto& entry : fs::directory_iterator(dir.path))  // no temporary files left behind
        BOOST_TEST(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_loads_leave_the_module_unchanged) {
    TempDir dir;
    std::mt19937_64 rng(4);
    MLP<double> small({3, 2}, Activation::identity, rng), big({3, 4}, Activation::identity, rng);
    MLP<double> deep({3, 2, 2}, Activation::tanh, rng);
    save_parameters(small, dir.file("small.npz"));
    auto original = values(big);
    expect_error<IoError>([&] { load_parameters(big, dir.file("small.npz")); },
                          "array '0.weight' has shape [2,3], the parameter [4,3]");
    BOOST_TEST((values(big) == original));
    auto deep_before = values(deep);
    expect_error<IoError>([&] { load_parameters(deep, dir.file("small.npz")); }, "has no array '2.weight'");
    BOOST_TEST((values(deep) == deep_before));
    MLP<float> as_float({3, 2}, Activation::identity, rng);
    expect_error<IoError>([&] { load_parameters(as_float, dir.file("small.npz")); },
                          "entry '0.weight.npy': holds dtype '<f8', expected '<f4' (float32)");
    // truncated and damaged files
    std::string raw = bytes_of(dir.file("small.npz"));
    std::ofstream(dir.file("cut.npz"), std::ios::binary) << raw.substr(0, raw.size() - 40);
    auto small_before = values(small);
    expect_error<IoError>([&] { load_parameters(small, dir.file("cut.npz")); },
                          "load_npz: '" + dir.file("cut.npz") + "'");
    std::string flipped = raw;
    flipped[raw.find("\x93NUMPY") + 130] ^= 0x5a;  // a byte of the first array's data
    std::ofstream(dir.file("flipped.npz"), std::ios::binary) << flipped;
    expect_error<IoError>([&] { load_parameters(small, dir.file("flipped.npz")); }, "fails its checksum");
    BOOST_TEST((values(small) == small_before));
    expect_error<IoError>([&] { load_parameters(small, dir.file("missing.npz")); }, "cannot open");
    // an extra array is an error too (strict, like PyTorch's load_state_dict)
    save_npz<double>(dir.file("extra.npz"), {{"0.weight", small.parameters()[0].value()},
                                             {"0.bias", small.parameters()[1].value()},
                                             {"stray", Array<double>{1.0}},
                                             {"format_version", Array<double>{2.0}}});
    expect_error<IoError>([&] { load_parameters(small, dir.file("extra.npz")); }, "unexpected array 'stray'");
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_the_old_linear_layout_is_refused_then_upgraded_never_loaded_transposed) {
    TempDir dir;
    std::mt19937_64 rng(5);
    // square weights: loaded transposed they would fit without any shape error
    MLP<double> model({3, 3, 3}, Activation::tanh, rng);
    auto before = values(model);
    NamedArrays<double> old;  // format 1: no version, Linear weights [in, out]
    for (auto& [name, p] : model.named_parameters())
        old.emplace_back(name, p.dim() == 2 ? Array<double>(xt::transpose(p.value())) : p.value());
    save_npz(dir.file("v1.npz"), old);
    MLP<double> fresh({3, 3, 3}, Activation::tanh, rng);
    auto fresh_before = values(fresh);
    expect_error<IoError>([&] { load_parameters(fresh, dir.file("v1.npz")); },
                          "has no format version: it was written before Linear weights became PyTorch's [out, in] "
                          "(it holds '0.weight' as [in, out]), or by other code. Convert a file of xtgrad's once with "
                          "nn::upgrade_checkpoint(model, path)");
    BOOST_TEST((values(fresh) == fresh_before));
    upgrade_checkpoint(fresh, dir.file("v1.npz"));
    load_parameters(fresh, dir.file("v1.npz"));
    BOOST_TEST((values(fresh) == before));  // each weight as the model had it, not transposed
    upgrade_checkpoint(fresh, dir.file("v1.npz"));  // a file with a version is left as it is
    load_parameters(fresh, dir.file("v1.npz"));
    BOOST_TEST((values(fresh) == before));
    // optim::save_checkpoint's names: the parameters under "param/", a weight's state under its name
    Array<double> w = model.named_parameters()[0].second.value(), wt = xt::transpose(w);
    save_npz<double>(dir.file("opt.npz"), {{"param/0.weight", wt}, {"optim/0.weight.exp_avg", wt},
                                           {"optim/0.bias.exp_avg", Array<double>{1.0, 2.0, 3.0}}});
    upgrade_checkpoint(model, dir.file("opt.npz"));
    auto upgraded = load_npz<double>(dir.file("opt.npz"));
    BOOST_TEST((upgraded[0].second == w));
    BOOST_TEST((upgraded[1].second == w));
    BOOST_TEST((upgraded[2].second == Array<double>{1.0, 2.0, 3.0}));
    BOOST_TEST(upgraded[3].first == "format_version");
    // a module without Linear layers loads a file without a version (no layout changed)
    LayerNorm<double> norm(Shape{3});
    save_npz<double>(dir.file("norm.npz"), {{"weight", Array<double>{1.0, 2.0, 3.0}}, {"bias", Array<double>{0.0, 0.0, 1.0}}});
    load_parameters(norm, dir.file("norm.npz"));
    BOOST_TEST(norm.weight().value()(2) == 3.0);
    // a newer format is refused
    save_npz<double>(dir.file("v3.npz"), {{"weight", Array<double>{1.0, 2.0, 3.0}},
                                          {"bias", Array<double>{0.0, 0.0, 1.0}},
                                          {"format_version", Array<double>{3.0}}});
    expect_error<IoError>([&] { load_parameters(norm, dir.file("v3.npz")); }, "has format version 3; this xtgrad reads up to 2");
}
