// The .npy format: a magic string, a header that is a Python dict literal, then the data.
#include "npy.hpp"

#include <cstring>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <xtensor/xnpy.hpp>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn::detail {

namespace {

template <class T>
const char* descr() {
    return sizeof(T) == 8 ? "<f8" : "<f4";
}

// The header dict: {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<Shape> shape;
};

class HeaderParser {
public:
    HeaderParser(std::string_view text, const std::string& where) : s_(text), where_(where) {}

    Header parse() {
        Header h;
        expect('{');
        while (true) {
            skip_spaces();
            if (peek() == '}') break;
            std::string key = string();
            expect(':');
            skip_spaces();
            if (key == "descr" && !h.descr) {
                h.descr = string();
            } else if (key == "fortran_order" && !h.fortran_order) {
                h.fortran_order = boolean();
            } else if (key == "shape" && !h.shape) {
                h.shape = tuple();
            } else {
                fail(fmt::format("the header has an unexpected or repeated key '{}'", key));
            }
            skip_spaces();
            if (peek() == ',') {
                ++at_;
                continue;
            }
            if (peek() != '}') fail("the header is not a dict literal");
        }
        ++at_;
        for (; at_ < s_.size(); ++at_)
            if (s_[at_] != ' ' && s_[at_] != '\n') fail("the header has text after its dict");
        if (!h.descr || !h.fortran_order || !h.shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");
        return h;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw IoError(fmt::format("{}: {}", where_, what)); }
    char peek() const { return at_ < s_.size() ? s_[at_] : '\0'; }
    void skip_spaces() {
        while (peek() == ' ') ++at_;
    }
    void expect(char c) {
        skip_spaces();
        if (peek() != c) fail(fmt::format("malformed header: expected '{}' at byte {}", c, at_));
        ++at_;
    }
    std::string string() {
        skip_spaces();
        char quote = peek();
        if (quote != '\'' && quote != '"') fail(fmt::format("malformed header: expected a string at byte {}", at_));
        auto end = s_.find(quote, at_ + 1);
        if (end == std::string_view::npos) fail("malformed header: a string is not closed");
        std::string out(s_.substr(at_ + 1, end - at_ - 1));
        at_ = end + 1;
        return out;
    }
    bool boolean() {
        for (auto [word, value] :
             {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}})
            if (s_.substr(at_, word.size()) == word) {
                at_ += word.size();
                return value;
            }
        fail("malformed header: 'fortran_order' is neither True nor False");
    }
    // (d0, d1, ...): each a plain decimal number (no sign), as numpy writes them
    Shape tuple() {
        expect('(');
        Shape shape;
        while (true) {
            skip_spaces();
            if (peek() == ')') break;
            std::size_t start = at_, v = 0;
            while (peek() >= '0' && peek() <= '9') {
                auto digit = static_cast<std::size_t>(peek() - '0');
                if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10)
                    fail(fmt::format("dimension {} of the shape overflows", shape.size()));
                v = v * 10 + digit;
                ++at_;
            }
            if (at_ == start)
                fail(fmt::format("dimension {} of the shape is not a non-negative integer", shape.size()));
            if (peek() == 'L') ++at_;  // Python 2 wrote 3L
            shape.push_back(v);
            if (shape.size() > 64) fail("the shape has more than 64 dimensions");
            skip_spaces();
            if (peek() == ',') {
                ++at_;
                continue;
            }
            if (peek() != ')') fail("malformed header: the shape is not a tuple");
        }
        ++at_;
        return shape;
    }

    std::string_view s_;
    const std::string& where_;
    std::size_t at_ = 0;
};

std::size_t le(std::string_view s, std::size_t at, int bytes) {
    std::size_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
    return v;
}

}  // namespace

template <class T>
std::string encode_npy(const Array<T>& a) {
    return xt::dump_npy(a);
}

template <class T>
Array<T> decode_npy(std::string_view bytes, const std::string& where) {
    auto fail = [&](const std::string& what) { throw IoError(fmt::format("{}: {}", where, what)); };
    if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY") fail("not an .npy array");
    int major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len = 0, start = 0;
    if (major == 1) {
        header_len = le(bytes, 8, 2);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) fail("truncated header");
        header_len = le(bytes, 8, 4);
        start = 12;
    } else {
        fail(fmt::format("unsupported .npy version {}", major));
    }
    if (header_len > bytes.size() - start) fail("truncated header");
    Header h = HeaderParser(bytes.substr(start, header_len), where).parse();
    if (*h.descr != descr<T>())
        fail(fmt::format("holds dtype '{}', expected '{}' ({})", *h.descr, descr<T>(),
                         sizeof(T) == 8 ? "float64" : "float32"));
    if (*h.fortran_order) fail("is in Fortran order; only C order is supported");
    std::size_t count = 1, expected = 0;
    for (auto d : *h.shape)
        if (__builtin_mul_overflow(count, d, &count))
            fail(fmt::format("shape {} has more elements than memory can address", to_string(*h.shape)));
    if (__builtin_mul_overflow(count, sizeof(T), &expected))
        fail(fmt::format("shape {} has more bytes than memory can address", to_string(*h.shape)));
    std::size_t data = start + header_len;
    if (bytes.size() - data != expected)
        fail(fmt::format("has {} data bytes for shape {} ({} expected): truncated or damaged", bytes.size() - data,
                         to_string(*h.shape), expected));
    Array<T> a = Array<T>::from_shape(*h.shape);
    if (count > 0) std::memcpy(a.data(), bytes.data() + data, expected);
    return a;
}

template std::string encode_npy(const Array<float>&);
template std::string encode_npy(const Array<double>&);
template Array<float> decode_npy(std::string_view, const std::string&);
template Array<double> decode_npy(std::string_view, const std::string&);

}  // namespace xtgrad::nn::detail
