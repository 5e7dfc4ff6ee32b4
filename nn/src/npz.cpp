// The .npy and .npz formats (NumPy's NEP 1 and a plain zip archive), written and read
// with full validation: xtensor's own npy reader does not detect truncated files.
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <xtensor/xnpy.hpp>

#include "xtgrad/nn/checkpoint.hpp"

namespace xtgrad::nn {

namespace {

// ---- little-endian helpers ----
void put16(std::string& s, unsigned v) {
    s += char(v & 0xff);
    s += char((v >> 8) & 0xff);
}
void put32(std::string& s, unsigned long v) {
    for (int i = 0; i < 4; ++i) s += char((v >> (8 * i)) & 0xff);
}
unsigned long get(const std::string& s, std::size_t at, int bytes) {
    unsigned long v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
    return v;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
    throw IoError(fmt::format("load_npz: '{}': {}", path, what));
}

template <class T>
const char* descr() {
    return sizeof(T) == 8 ? "<f8" : "<f4";
}

// ---- npy ----
template <class T>
Array<T> decode_npy(const std::string& bytes, const std::string& path, const std::string& entry) {
    auto fail = [&](const std::string& what) { bad(path, fmt::format("entry '{}': {}", entry, what)); };
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) fail("not an .npy array");
    int major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len, start;
    if (major == 1) {
        header_len = get(bytes, 8, 2);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) fail("truncated header");
        header_len = get(bytes, 8, 4);
        start = 12;
    } else {
        fail(fmt::format("unsupported .npy version {}", major));
    }
    if (start + header_len > bytes.size()) fail("truncated header");
    std::string header = bytes.substr(start, header_len);
    auto value_of = [&](const std::string& key) {
        auto k = header.find("'" + key + "'");
        if (k == std::string::npos) fail(fmt::format("header has no '{}'", key));
        auto colon = header.find(':', k);
        return header.substr(colon + 1);
    };
    std::string d = value_of("descr");
    auto q1 = d.find('\''), q2 = d.find('\'', q1 + 1);
    std::string type = d.substr(q1 + 1, q2 - q1 - 1);
    if (type != descr<T>())
        fail(fmt::format("holds dtype '{}', expected '{}' ({})", type, descr<T>(),
                         sizeof(T) == 8 ? "float64" : "float32"));
    if (value_of("fortran_order").find("False") != 0 && value_of("fortran_order").find(" False") != 0)
        fail("is in Fortran order; only C order is supported");
    std::string sh = value_of("shape");
    auto open = sh.find('('), close = sh.find(')');
    if (open == std::string::npos || close == std::string::npos) fail("malformed shape");
    Shape shape;
    std::size_t count = 1;
    std::stringstream dims(sh.substr(open + 1, close - open - 1));
    std::string dim;
    while (std::getline(dims, dim, ',')) {
        auto first = dim.find_first_not_of(' ');
        if (first == std::string::npos) continue;
        shape.push_back(std::stoul(dim.substr(first)));
        count *= shape.back();
    }
    std::size_t data = start + header_len;
    if (bytes.size() - data != count * sizeof(T))
        fail(fmt::format("has {} data bytes for shape {} ({} expected): truncated or damaged", bytes.size() - data,
                         to_string(shape), count * sizeof(T)));
    Array<T> a = Array<T>::from_shape(shape);
    if (count > 0) std::memcpy(a.data(), bytes.data() + data, count * sizeof(T));
    return a;
}

// ---- zip ----
struct ZipEntry {
    std::string name;
    std::string data;
};

std::string encode_zip(const std::vector<ZipEntry>& entries, const std::string& path) {
    std::string out, central;
    for (auto& e : entries) {
        if (e.data.size() >= 0xffffffffUL || out.size() >= 0xffffffffUL)
            throw IoError(fmt::format("save_npz: '{}': archive larger than 4 GiB is not supported", path));
        unsigned long crc = crc32(0L, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size()));
        std::size_t offset = out.size();
        put32(out, 0x04034b50);
        put16(out, 20);
        put16(out, 0);
        put16(out, 0);  // stored
        put16(out, 0);
        put16(out, 0x21);  // 1980-01-01
        put32(out, crc);
        put32(out, e.data.size());
        put32(out, e.data.size());
        put16(out, static_cast<unsigned>(e.name.size()));
        put16(out, 0);
        out += e.name;
        out += e.data;
        put32(central, 0x02014b50);
        put16(central, 20);
        put16(central, 20);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0x21);
        put32(central, crc);
        put32(central, e.data.size());
        put32(central, e.data.size());
        put16(central, static_cast<unsigned>(e.name.size()));
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put32(central, 0);
        put32(central, offset);
        central += e.name;
    }
    std::size_t central_offset = out.size();
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<unsigned>(entries.size()));
    put16(out, static_cast<unsigned>(entries.size()));
    put32(out, central.size());
    put32(out, central_offset);
    put16(out, 0);
    return out;
}

std::string inflate_raw(const std::string& in, std::size_t size, const std::string& path, const std::string& name) {
    std::string out(size, '\0');
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) bad(path, "zlib initialisation failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.total_out != size) bad(path, fmt::format("entry '{}' does not decompress", name));
    return out;
}

std::vector<ZipEntry> decode_zip(const std::string& s, const std::string& path) {
    if (s.size() < 22) bad(path, "too short to be an .npz archive");
    std::size_t eocd = std::string::npos;
    for (std::size_t i = s.size() - 22 + 1; i-- > 0 && s.size() - i <= 22 + 65535;)
        if (get(s, i, 4) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos) bad(path, "not a zip archive (no end-of-directory record)");
    std::size_t count = get(s, eocd + 10, 2), at = get(s, eocd + 16, 4);
    std::vector<ZipEntry> entries;
    for (std::size_t k = 0; k < count; ++k) {
        if (at + 46 > s.size() || get(s, at, 4) != 0x02014b50) bad(path, "damaged central directory");
        unsigned method = static_cast<unsigned>(get(s, at + 10, 2));
        unsigned long crc = get(s, at + 16, 4);
        std::size_t csize = get(s, at + 20, 4), usize = get(s, at + 24, 4);
        std::size_t name_len = get(s, at + 28, 2), extra_len = get(s, at + 30, 2), comment_len = get(s, at + 32, 2);
        std::size_t local = get(s, at + 42, 4);
        if (at + 46 + name_len > s.size()) bad(path, "damaged central directory");
        std::string name = s.substr(at + 46, name_len);
        at += 46 + name_len + extra_len + comment_len;
        if (local + 30 > s.size() || get(s, local, 4) != 0x04034b50)
            bad(path, fmt::format("entry '{}' is damaged", name));
        std::size_t data = local + 30 + get(s, local + 26, 2) + get(s, local + 28, 2);
        if (data + csize > s.size()) bad(path, fmt::format("entry '{}' is truncated", name));
        std::string raw = s.substr(data, csize);
        std::string content;
        if (method == 0) {
            if (csize != usize) bad(path, fmt::format("entry '{}' has inconsistent sizes", name));
            content = std::move(raw);
        } else if (method == 8) {
            content = inflate_raw(raw, usize, path, name);
        } else {
            bad(path, fmt::format("entry '{}' uses compression method {} (only stored and deflate)", name, method));
        }
        if (crc32(0L, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())) != crc)
            bad(path, fmt::format("entry '{}' fails its checksum", name));
        entries.push_back({std::move(name), std::move(content)});
    }
    return entries;
}

// Writes `bytes` to `path` through a temporary file and a rename.
void write_atomically(const std::string& path, const std::string& bytes) {
    static std::atomic<unsigned> counter{0};
    std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(fmt::format("save_npz: cannot create '{}': {}", tmp, std::strerror(errno)));
    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw IoError(fmt::format("save_npz: writing '{}' failed: {}", tmp, std::strerror(err)));
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("save_npz: flushing '{}' failed: {}", tmp, std::strerror(err)));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("save_npz: cannot replace '{}': {}", path, std::strerror(err)));
    }
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // make the rename itself durable
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(fmt::format("load_npz: cannot open '{}': {}", path, std::strerror(errno)));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

template <class T>
void save_npz(const std::string& path, const NamedArrays<T>& arrays) {
    std::vector<ZipEntry> entries;
    for (auto& [name, a] : arrays) {
        if (name.empty()) throw ValueError("save_npz: an array has an empty name");
        entries.push_back({name + ".npy", xt::dump_npy(a)});
    }
    write_atomically(path, encode_zip(entries, path));
}

template <class T>
NamedArrays<T> load_npz(const std::string& path) {
    NamedArrays<T> out;
    for (auto& e : decode_zip(read_file(path), path)) {
        std::string name = e.name;
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
        out.emplace_back(name, decode_npy<T>(e.data, path, e.name));
    }
    return out;
}

template void save_npz(const std::string&, const NamedArrays<float>&);
template void save_npz(const std::string&, const NamedArrays<double>&);
template NamedArrays<float> load_npz(const std::string&);
template NamedArrays<double> load_npz(const std::string&);

}  // namespace xtgrad::nn
