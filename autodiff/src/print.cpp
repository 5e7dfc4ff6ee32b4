// operator<< for tensors: the values laid out as numpy prints them, then what the tensor is.
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "xtgrad/autodiff/tensor.hpp"

namespace xtgrad {

namespace {
constexpr std::size_t kThreshold = 1000;  // numpy's: more elements than this are summarised
constexpr std::size_t kEdgeItems = 3;     // shown at each end of a summarised axis

// Positions along an axis that are printed; npos marks the "..." between the two edges.
std::vector<std::size_t> shown(std::size_t extent, bool summarise) {
    std::vector<std::size_t> idx;
    if (!summarise || extent <= 2 * kEdgeItems) {
        for (std::size_t i = 0; i < extent; ++i) idx.push_back(i);
        return idx;
    }
    for (std::size_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(std::string::npos);
    for (std::size_t i = extent - kEdgeItems; i < extent; ++i) idx.push_back(i);
    return idx;
}

template <class T>
struct Printer {
    const Array<T>& a;
    bool summarise;
    std::size_t width = 0;
    std::vector<std::size_t> strides;

    std::string number(T v) const { return fmt::format("{:.6g}", v); }

    // the widest printed number, so that columns line up
    void measure(std::size_t axis, std::size_t offset) {
        if (axis == a.dimension()) {
            width = std::max(width, number(a.data()[offset]).size());
            return;
        }
        for (std::size_t i : shown(a.shape()[axis], summarise))
            if (i != std::string::npos) measure(axis + 1, offset + i * strides[axis]);
    }

    void print(std::string& out, std::size_t axis, std::size_t offset, std::size_t indent) const {
        if (axis == a.dimension()) {
            out += fmt::format("{:>{}}", number(a.data()[offset]), width);
            return;
        }
        out += '[';
        bool first = true;
        std::size_t rows_between = a.dimension() - axis - 1;  // blank lines between blocks, as numpy
        for (std::size_t i : shown(a.shape()[axis], summarise)) {
            if (!first) {
                out += ',';
                if (rows_between == 0) {
                    out += ' ';
                } else {
                    out += std::string(rows_between, '\n');
                    out += std::string(indent + 1, ' ');
                }
            }
            first = false;
            if (i == std::string::npos)
                out += "...";
            else
                print(out, axis + 1, offset + i * strides[axis], indent + 1);
        }
        out += ']';
    }
};
}  // namespace

template <class T>
std::ostream& operator<<(std::ostream& os, const BasicTensor<T>& t) {
    if (!t.defined()) return os << "tensor(undefined)";
    const Array<T>& a = t.value();
    Printer<T> p{a, a.size() > kThreshold};
    p.strides.assign(a.dimension(), 1);
    for (std::size_t d = a.dimension(); d-- > 1;) p.strides[d - 1] = p.strides[d] * a.shape()[d];
    p.measure(0, 0);
    std::string out = "tensor(";
    p.print(out, 0, 0, out.size());
    out += fmt::format(", shape={}, dtype={}, requires_grad={})", to_string(a.shape()),
                       sizeof(T) == 4 ? "float32" : "float64", t.requires_grad() ? "true" : "false");
    return os << out;
}

template std::ostream& operator<<(std::ostream&, const BasicTensor<float>&);
template std::ostream& operator<<(std::ostream&, const BasicTensor<double>&);

}  // namespace xtgrad
