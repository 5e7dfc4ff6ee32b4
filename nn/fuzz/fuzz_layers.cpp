// libFuzzer target: layers and a DataLoader built from fuzzed geometry and options. Sizes are
// mostly small, sometimes extreme (2^31 - 3, 2^30 - 3, 100000, "negative" values near 2^64,
// any 64-bit value): Conv2d, MaxPool2d, AvgPool2d and unfold2d/fold2d run forward and
// backward when their patches are small, a DataLoader runs an epoch with a pass nested in it.
// Only typed errors may come out (ShapeError, ValueError, DomainError, and MemoryError for
// geometry no machine holds); a wrong output shape, a row missing or repeated in an epoch, a
// crash or a hang aborts, which libFuzzer reports.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "xtgrad/nn.hpp"

using namespace xtgrad;

namespace {

struct Bytes {
    const std::uint8_t* data;
    std::size_t size, at = 0;
    std::uint8_t byte() { return at < size ? data[at++] : 0; }
    std::uint64_t word() {
        std::uint64_t w = 0;
        for (int i = 0; i < 8; ++i) w |= std::uint64_t(byte()) << (8 * i);
        return w;
    }
    // A size: 0 to 7 seven times in eight, else one of the extremes or any 64-bit value.
    std::size_t size_value() {
        const std::uint8_t b = byte();
        if (b < 224) return b % 8;
        switch (b % 6) {
            case 0: return (std::size_t(1) << 31) - 3;
            case 1: return (std::size_t(1) << 30) - 3;
            case 2: return 100000;
            case 3: return std::size_t(-1) - (b % 3);
            case 4: return std::size_t(1) << 63;
            default: return word();
        }
    }
    std::array<std::size_t, 2> pair() { return {size_value(), size_value()}; }
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_layers: %s\n", what);
    std::abort();
}

template <class F>
void typed_or(F f) {
    try {
        f();
    } catch (const ShapeError&) {
    } catch (const ValueError&) {
    } catch (const DomainError&) {
    } catch (const MemoryError&) {
    }
}

void layers(Bytes& in) {
    const std::size_t n = 1 + in.byte() % 3, c = 1 + in.byte() % 3, h = 1 + in.byte() % 12, w = 1 + in.byte() % 12;
    Patches2d p{in.pair(), in.pair(), in.pair(), in.pair()};
    const std::uint8_t which = in.byte() % 4;
    const std::size_t out_channels = 1 + in.byte() % 3, groups = 1 + in.byte() % 3;
    typed_or([&] {
        // the geometry first, as the layer will use it (pooling is given no dilation here; a
        // stride of 0 is refused by the layers, and for unfold2d_grid {0, 0} is taken as the
        // kernel): only patches of at most 2^20 elements are computed (the
        // fuzzer limits allocations to 64 MiB); the check itself sees every value
        Patches2d used = p;
        if (which == 1 || which == 2) {
            used.dilation = {1, 1};
            if (p.stride[0] == 0 && p.stride[1] == 0) used.stride = p.kernel;
        }
        auto [oh, ow] = unfold2d_grid({n, c, h, w}, used);
        const double patches =
            double(n) * double(oh) * double(ow) * double(c) * double(p.kernel[0]) * double(p.kernel[1]);
        if (patches > double(1 << 20)) return;
        Tape tape;
        std::mt19937_64 rng(in.byte());
        auto x = Tensor::parameter(Array<double>(xt::ones<double>({n, c, h, w})));
        Tensor y;
        Shape expected{n, c, oh, ow};
        switch (which) {
            case 0: {
                nn::Conv2d<double> conv({.in_channels = c, .out_channels = out_channels, .kernel_size = p.kernel,
                                         .stride = p.stride, .padding = p.padding, .dilation = p.dilation,
                                         .groups = groups},
                                        rng);
                y = conv(x);
                expected[1] = out_channels;
                break;
            }
            case 1:
                y = nn::MaxPool2d<double>({.kernel_size = p.kernel, .stride = p.stride, .padding = p.padding})(x);
                break;
            case 2:
                y = nn::AvgPool2d<double>({.kernel_size = p.kernel, .stride = p.stride, .padding = p.padding})(x);
                break;
            default: {
                auto cols = unfold2d(x, p);
                y = fold2d(cols, x.shape(), p);
                expected = x.shape();
                break;
            }
        }
        (void)expected;
        if (which != 1 && which != 2 && y.shape() != expected) fail("a layer's output has the wrong shape");
        sum(y).backward();
        if (x.grad().shape() != x.shape()) fail("the input's gradient has the wrong shape");
    });
}

void loader(Bytes& in) {
    const std::size_t rows = 1 + in.byte() % 40, cols = 1 + in.byte() % 4;
    nn::Table table;
    table.features = xt::reshape_view(xt::arange<double>(double(rows * cols)), {rows, cols});
    table.target = xt::arange<double>(double(rows));
    nn::LoaderOptions o;
    o.batch_size = in.byte() < 240 ? in.byte() % 50 : in.size_value();
    o.shuffle = in.byte() & 1;
    o.drop_last = in.byte() & 1;
    o.seed = in.word();
    o.shards = in.byte() < 240 ? in.byte() % 5 : in.size_value();
    o.shard = in.byte() < 240 ? in.byte() % 5 : in.size_value();
    const std::uint8_t transform = in.byte() % 3;
    std::function<Array<double>(Array<double>)> f;
    if (transform == 1)  // keeps the rows first
        f = [](Array<double> x) {
            return Array<double>(xt::reshape_view(x, {x.shape()[0], x.size() / x.shape()[0], std::size_t(1)}));
        };
    if (transform == 2)  // loses the rows
        f = [](Array<double> x) { return Array<double>(xt::sum(x, {0}, xt::keep_dims)); };
    typed_or([&] {
        nn::DataLoader<double> loader(table, o, f);
        std::vector<std::size_t> seen;
        std::size_t batches = 0;
        for (const auto& batch : loader) {
            ++batches;
            if (batches == 1)
                for (const auto& inner : loader) (void)inner;  // a pass nested in the epoch
            seen.insert(seen.end(), batch.rows.begin(), batch.rows.end());
            if (!batch.empty() && (batch.x.shape()[0] != batch.rows.size() || batch.y.shape()[0] != batch.rows.size()))
                fail("a batch's tensors do not hold its rows");
        }
        if (batches != loader.size()) fail("an epoch yields another number of batches than size()");
        std::sort(seen.begin(), seen.end());
        if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) fail("an epoch repeats a row");
        if (o.shards == 1 && !o.drop_last && seen.size() != rows) fail("an epoch misses a row");
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in{data, size};
    if (in.byte() % 2 == 0)
        layers(in);
    else
        loader(in);
    return 0;
}
