// Einstein summation over one or two operands, reduced to ops that already have rules:
// letters found in one operand only and not in the output are summed out first; the two
// operands are then permuted to [batch, kept, contracted] and [batch, contracted, kept],
// multiplied as a batch of matrices, and the result permuted to the output's order.
#include <algorithm>
#include <map>
#include <numeric>
#include <string>

#include "kernels.hpp"

namespace xtgrad {

using namespace detail;
template <class T>
using TensorT = BasicTensor<T>;

namespace {
struct Subscripts {
    std::vector<std::string> inputs;
    std::string output;
};

Subscripts parse(std::string_view spec, std::size_t operands) {
    std::string text;
    for (char c : spec)
        if (c != ' ') text += c;
    if (text.find("...") != std::string::npos)
        throw ValueError(fmt::format("einsum: '...' (broadcast dimensions) is not supported, in \"{}\"", spec));
    Subscripts s;
    std::size_t arrow = text.find("->");
    std::string lhs = arrow == std::string::npos ? text : text.substr(0, arrow);
    for (std::size_t start = 0;;) {
        std::size_t comma = lhs.find(',', start);
        s.inputs.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (s.inputs.size() != operands)
        throw ValueError(fmt::format("einsum: \"{}\" names {} operand(s), {} given", spec, s.inputs.size(), operands));
    std::map<char, int> count;
    for (auto& in : s.inputs) {
        for (char c : in) {
            if (!std::isalpha(static_cast<unsigned char>(c)))
                throw ValueError(fmt::format("einsum: subscripts are letters; got '{}' in \"{}\"", c, spec));
            if (std::count(in.begin(), in.end(), c) > 1)
                throw ValueError(
                    fmt::format("einsum: subscript '{}' repeats within operand \"{}\" of \"{}\"; "
                                "diagonals are not supported (use diag)",
                                c, in, spec));
            ++count[c];
        }
    }
    if (arrow != std::string::npos) {
        s.output = text.substr(arrow + 2);
        for (char c : s.output) {
            if (!count.count(c))
                throw ValueError(fmt::format("einsum: output subscript '{}' is in no operand of \"{}\"", c, spec));
            if (std::count(s.output.begin(), s.output.end(), c) > 1)
                throw ValueError(fmt::format("einsum: output subscript '{}' repeats in \"{}\"", c, spec));
        }
    } else {
        for (auto [c, n] : count)  // numpy's implicit output: the letters seen once, sorted
            if (n == 1) s.output += c;
    }
    return s;
}

bool has(const std::string& s, char c) {
    return s.find(c) != std::string::npos;
}

// Sums out the letters of `in` that `keep` does not contain; updates `in`.
template <class T>
TensorT<T> sum_out(const TensorT<T>& x, std::string& in, const std::string& keep) {
    Axes axes;
    std::string left;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (has(keep, in[i]))
            left += in[i];
        else
            axes.push_back(static_cast<std::ptrdiff_t>(i));
    }
    if (axes.empty()) return x;
    in = left;
    return sum(x, axes);
}

// Permutes x (subscripts `from`) to the order of `to` (the same letters).
template <class T>
TensorT<T> arrange(const TensorT<T>& x, const std::string& from, const std::string& to) {
    if (from == to) return x;
    std::vector<std::size_t> perm;
    for (char c : to) perm.push_back(from.find(c));
    return permute(x, perm);
}

std::size_t extent_product(const std::string& letters, const std::map<char, std::size_t>& extent) {
    std::size_t n = 1;
    for (char c : letters) n *= extent.at(c);
    return n;
}
}  // namespace

template <class T>
TensorT<T> einsum(std::string_view subscripts, const std::vector<TensorT<T>>& operands) {
    if (operands.empty() || operands.size() > 2)
        throw ValueError(fmt::format("einsum: supports one or two operands, got {}", operands.size()));
    for (std::size_t i = 0; i < operands.size(); ++i) check_usable("einsum", operands[i], i);
    Subscripts s = parse(subscripts, operands.size());
    std::map<char, std::size_t> extent;
    for (std::size_t k = 0; k < operands.size(); ++k) {
        const auto& in = s.inputs[k];
        if (in.size() != operands[k].dim())
            throw ShapeError(fmt::format("einsum: operand {} has shape {} but \"{}\" gives it {} subscripts", k,
                                         to_string(operands[k].shape()), in, in.size()));
        for (std::size_t i = 0; i < in.size(); ++i) {
            std::size_t e = operands[k].shape()[i];
            auto [it, fresh] = extent.emplace(in[i], e);
            if (!fresh && it->second != e)
                throw ShapeError(
                    fmt::format("einsum: subscript '{}' has extent {} in operand 0 and {} in operand 1 "
                                "(shapes {} and {})",
                                in[i], it->second, e, to_string(operands[0].shape()), to_string(operands[1].shape())));
        }
    }
    if (operands.size() == 1) {
        std::string in = s.inputs[0];
        auto x = sum_out(operands[0], in, s.output);
        return arrange(x, in, s.output);
    }
    std::string ia = s.inputs[0], ib = s.inputs[1];
    // letters needed later: in the output or in the other operand
    auto a = sum_out(operands[0], ia, s.output + ib);
    auto b = sum_out(operands[1], ib, s.output + ia);
    std::string batch, contracted, kept_a, kept_b;
    for (char c : ia) {
        if (has(ib, c))
            (has(s.output, c) ? batch : contracted) += c;
        else
            kept_a += c;
    }
    for (char c : ib)
        if (!has(ia, c)) kept_b += c;
    std::size_t nb = extent_product(batch, extent), nm = extent_product(kept_a, extent),
                nk = extent_product(contracted, extent), nn = extent_product(kept_b, extent);
    auto a3 = reshape(arrange(a, ia, batch + kept_a + contracted), {nb, nm, nk});
    auto b3 = reshape(arrange(b, ib, batch + contracted + kept_b), {nb, nk, nn});
    auto c3 = nb == 1 ? reshape(matmul(reshape(a3, {nm, nk}), reshape(b3, {nk, nn})), {1, nm, nn}) : matmul(a3, b3);
    std::string result = batch + kept_a + kept_b;
    Shape shape;
    for (char c : result) shape.push_back(extent.at(c));
    return arrange(reshape(c3, shape), result, s.output);
}

#define XTGRAD_INSTANTIATE(T) template TensorT<T> einsum(std::string_view, const std::vector<TensorT<T>>&);
XTGRAD_FOR_DTYPES(XTGRAD_INSTANTIATE)

}  // namespace xtgrad

#undef XTGRAD_INSTANTIATE  // each file defines its own (unity builds join files)
