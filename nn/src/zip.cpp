// The zip container: a writer of stored entries and a reader that checks before it trusts.
#include "zip.hpp"

#include <zlib.h>

#include <iterator>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn::detail {

namespace {

void put16(std::string& s, unsigned v) {
    s += char(v & 0xff);
    s += char((v >> 8) & 0xff);
}
void put32(std::string& s, unsigned long v) {
    for (int i = 0; i < 4; ++i) s += char((v >> (8 * i)) & 0xff);
}

// Little-endian integer of `bytes` bytes at `at`; the caller has checked the range.
std::size_t get(std::string_view s, std::size_t at, int bytes) {
    std::size_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
    return v;
}

// Deflate cannot compress better than about 1032:1 (a run of one byte); a larger declared
// ratio is a lie, whatever the data turn out to be.
constexpr std::size_t kMaxDeflateRatio = 1032;

constexpr unsigned long kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfDirectory = 0x06054b50;

}  // namespace

std::string encode_zip(const std::vector<ZipEntry>& entries, const std::string& path) {
    std::string out, central;
    for (auto& e : entries) {
        if (e.data.size() >= 0xffffffffUL || out.size() >= 0xffffffffUL)
            throw IoError(fmt::format("save_npz: '{}': archive larger than 4 GiB is not supported", path));
        unsigned long crc = crc32(0L, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size()));
        std::size_t offset = out.size();
        put32(out, kLocalHeader);
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
        put32(central, kCentralHeader);
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
    put32(out, kEndOfDirectory);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<unsigned>(entries.size()));
    put16(out, static_cast<unsigned>(entries.size()));
    put32(out, central.size());
    put32(out, central_offset);
    put16(out, 0);
    return out;
}

void read_zip(std::string_view s, const std::string& who, const std::string& source, std::size_t max_bytes,
              const std::function<void(const std::string& name, std::string&& data)>& visit) {
    auto bad = [&](const std::string& what) { throw IoError(fmt::format("{}: '{}': {}", who, source, what)); };
    if (s.size() < 22) bad(fmt::format("too short to be an .npz archive ({} bytes)", s.size()));
    // the end-of-directory record: the last 22 bytes, or up to 64 KiB earlier with a comment
    std::size_t eocd = std::string_view::npos;
    std::size_t lowest = s.size() - 22 > 65535 ? s.size() - 22 - 65535 : 0;
    for (std::size_t i = s.size() - 22 + 1; i-- > lowest;)
        if (get(s, i, 4) == kEndOfDirectory) {
            eocd = i;
            break;
        }
    if (eocd == std::string_view::npos) bad("not a zip archive (no end-of-directory record)");
    if (get(s, eocd + 4, 2) != 0 || get(s, eocd + 6, 2) != 0 || get(s, eocd + 8, 2) != get(s, eocd + 10, 2))
        bad("archives split over several disks are not supported");
    std::size_t count = get(s, eocd + 10, 2), cd_size = get(s, eocd + 12, 4), cd_offset = get(s, eocd + 16, 4);
    if (cd_size == 0xffffffff || cd_offset == 0xffffffff || count == 0xffff) bad("ZIP64 archives are not supported");
    if (cd_offset > eocd || cd_size > eocd - cd_offset)
        bad(fmt::format("the central directory ({} bytes at offset {}) lies outside the archive", cd_size, cd_offset));
    if (count > cd_size / 46) bad(fmt::format("the central directory cannot hold the {} entries it declares", count));

    std::map<std::size_t, std::pair<std::size_t, std::string>> ranges;  // begin -> (end, entry): no overlaps
    std::set<std::string> names;
    std::size_t produced = 0;
    const std::size_t cd_end = cd_offset + cd_size;
    for (std::size_t k = 0, at = cd_offset; k < count; ++k) {
        if (cd_end - at < 46 || get(s, at, 4) != kCentralHeader)
            bad(fmt::format("central directory record {} is damaged", k));
        std::size_t flags = get(s, at + 8, 2), method = get(s, at + 10, 2);
        unsigned long crc = static_cast<unsigned long>(get(s, at + 16, 4));
        std::size_t csize = get(s, at + 20, 4), usize = get(s, at + 24, 4);
        std::size_t name_len = get(s, at + 28, 2), extra_len = get(s, at + 30, 2), comment_len = get(s, at + 32, 2);
        std::size_t local = get(s, at + 42, 4);
        if (cd_end - at - 46 < name_len + extra_len + comment_len)
            bad(fmt::format("central directory record {} is damaged", k));
        std::string name(s.substr(at + 46, name_len));
        at += 46 + name_len + extra_len + comment_len;
        auto entry = [&](const std::string& what) { bad(fmt::format("entry '{}': {}", name, what)); };
        if (name.empty()) bad(fmt::format("entry {} has no name", k));
        if (!names.insert(name).second) entry("appears twice");
        if (flags & 1) entry("is encrypted");
        if (csize == 0xffffffff || usize == 0xffffffff || local == 0xffffffff) entry("needs ZIP64, not supported");
        // the local header and the data must lie before the central directory
        if (local > cd_offset || cd_offset - local < 30 || get(s, local, 4) != kLocalHeader)
            entry(fmt::format("its local header (offset {}) is missing or damaged", local));
        std::size_t data = local + 30 + get(s, local + 26, 2) + get(s, local + 28, 2);
        if (data > cd_offset || csize > cd_offset - data)
            entry(fmt::format("its {} bytes at offset {} run past the archive's data (truncated?)", csize, data));
        // no two entries may share bytes (a small file listing one large entry many times)
        auto next = ranges.lower_bound(local);
        if (next != ranges.end() && next->first < data + csize)
            entry(fmt::format("overlaps entry '{}'", next->second.second));
        if (next != ranges.begin() && std::prev(next)->second.first > local)
            entry(fmt::format("overlaps entry '{}'", std::prev(next)->second.second));
        ranges.emplace(local, std::pair{data + csize, name});
        std::string_view raw = s.substr(data, csize);
        // what the entry will take, checked before anything is allocated for it
        if (method == 0 && csize != usize) entry(fmt::format("is stored with sizes {} and {}", csize, usize));
        if (method == 8 && usize / kMaxDeflateRatio > csize + 1)
            entry(fmt::format("claims {} bytes from {} compressed: more than deflate can produce", usize, csize));
        if (method != 0 && method != 8)
            entry(fmt::format("uses compression method {} (only stored and deflate)", method));
        if (usize > max_bytes - produced)
            bad(
                fmt::format("its entries hold more than the limit of {} bytes (LoadLimits::max_bytes; entry '{}' "
                            "would bring the total to {})",
                            max_bytes, name, produced + usize));
        produced += usize;
        std::string content;
        if (method == 0) {
            content.assign(raw);
        } else {
            content.resize(usize);
            z_stream z{};
            if (inflateInit2(&z, -MAX_WBITS) != Z_OK) bad("zlib initialisation failed");
            z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
            z.avail_in = static_cast<uInt>(raw.size());
            z.next_out = reinterpret_cast<Bytef*>(content.data());
            z.avail_out = static_cast<uInt>(content.size());
            int rc = inflate(&z, Z_FINISH);
            std::size_t out = z.total_out;
            inflateEnd(&z);
            if (rc != Z_STREAM_END || out != usize)
                entry(fmt::format("does not decompress to the {} bytes it declares", usize));
        }
        if (crc32(0L, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())) != crc)
            entry("fails its checksum");
        visit(name, std::move(content));
    }
}

}  // namespace xtgrad::nn::detail
