// Hand-made hostile .npz files (issue 10): forged shapes, memory bombs, overlapping and
// repeated entries, things that are not files. Each must be an IoError naming the file and
// the entry, raised before anything is allocated from a size the file declares.
#include <malloc.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

namespace {

void put16(std::string& s, std::size_t v) {
    s += char(v & 0xff);
    s += char((v >> 8) & 0xff);
}
void put32(std::string& s, std::size_t v) {
    for (int i = 0; i < 4; ++i) s += char((v >> (8 * i)) & 0xff);
}

// An .npy array with any header text (padded as numpy pads it) and any data bytes. Version 1
// declares the header's length in 2 bytes, versions 2 and 3 in 4.
std::string npy(const std::string& dict, const std::string& data, int version = 1) {
    const std::size_t prefix = version == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += char(version);
    out += char(0);
    if (version == 1)
        put16(out, header.size());
    else
        put32(out, header.size());
    return out + header + data;
}

std::string deflated(const std::string& data) {
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, data.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// One local entry (its bytes as stored) listed `listed` times in the central directory, each
// listing under its own name (or the same name), declaring `usize` uncompressed bytes.
struct Forged {
    std::string name = "a.npy";
    std::string content;     // uncompressed, for the checksum
    std::string stored;      // the bytes in the archive
    unsigned method = 0;     // 0 stored, 8 deflate
    std::size_t usize = 0;   // declared uncompressed size
    std::size_t listed = 1;  // central directory records pointing at it
    bool same_names = false;
};

std::string zip_of(const Forged& f) {
    unsigned long crc =
        crc32(0L, reinterpret_cast<const Bytef*>(f.content.data()), static_cast<uInt>(f.content.size()));
    std::string out;
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, 0);
    put16(out, f.method);
    put16(out, 0);
    put16(out, 0x21);
    put32(out, crc);
    put32(out, f.stored.size());
    put32(out, f.usize);
    put16(out, f.name.size());
    put16(out, 0);
    out += f.name + f.stored;
    std::string central;
    for (std::size_t k = 0; k < f.listed; ++k) {
        std::string name = f.same_names || k == 0 ? f.name : std::to_string(k) + f.name;
        put32(central, 0x02014b50);
        put16(central, 20);
        put16(central, 20);
        put16(central, 0);
        put16(central, f.method);
        put16(central, 0);
        put16(central, 0x21);
        put32(central, crc);
        put32(central, f.stored.size());
        put32(central, f.usize);
        put16(central, name.size());
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put32(central, 0);
        put32(central, 0);  // every record points at the one local entry
        central += name;
    }
    std::size_t offset = out.size();
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, f.listed);
    put16(out, f.listed);
    put32(out, central.size());
    put32(out, offset);
    put16(out, 0);
    return out;
}

std::string stored_zip(const std::string& content) {
    return zip_of({.content = content, .stored = content, .usize = content.size()});
}

struct TempFile {
    std::string path;
    TempFile(const std::string& name, const std::string& bytes)
        : path("/tmp/xtgrad_hostile_" + std::to_string(::getpid()) + "_" + name) {
        std::ofstream(path, std::ios::binary) << bytes;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

void expect_refused(const std::string& name, const std::string& bytes, const std::string& message) {
    TempFile f(name, bytes);
    expect_error<IoError>([&] { load_npz<double>(f.path); }, "load_npz: '" + f.path + "'");
    expect_error<IoError>([&] { load_npz<double>(f.path); }, message);
}

std::string eight_bytes() {
    return std::string(8, '\0');
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_valid_archive_made_here_loads) {
    // the builders above make what numpy makes: check them on a good file first
    std::string data(24, '\0');
    double v[3] = {1.5, -2.0, 3.25};
    std::memcpy(data.data(), v, sizeof v);
    auto content = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data);
    TempFile f("good.npz", stored_zip(content));
    auto arrays = load_npz<double>(f.path);
    BOOST_TEST(arrays.size() == 1u);
    BOOST_TEST(arrays[0].first == "a");
    BOOST_TEST(arrays[0].second == (Array<double>{1.5, -2.0, 3.25}));
    TempFile d("deflated.npz",
               zip_of({.content = content, .stored = deflated(content), .method = 8, .usize = content.size()}));
    BOOST_TEST(load_npz<double>(d.path)[0].second == (Array<double>{1.5, -2.0, 3.25}));
}

BOOST_AUTO_TEST_CASE(forged_shapes_are_refused) {
    auto with_shape = [](const std::string& shape, const std::string& data) {
        return stored_zip(npy("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }", data));
    };
    // 2^32 x 2^32 elements: the count wraps to 0 modulo 2^64
    expect_refused("wrap.npz", with_shape("(4294967296, 4294967296)", ""), "more elements than memory can address");
    // 2^61 + 1 elements of 8 bytes: the byte count wraps to 8
    expect_refused("bytes.npz", with_shape("(2305843009213693953,)", eight_bytes()),
                   "more bytes than memory can address");
    expect_refused("negative.npz", with_shape("(-1, -1)", ""),
                   "dimension 0 of the shape is not a non-negative integer");
    expect_refused("letters.npz", with_shape("(abc,)", ""), "dimension 0 of the shape is not a non-negative integer");
    expect_refused("huge_dim.npz", with_shape("(99999999999999999999999,)", ""), "dimension 0 of the shape overflows");
    // data shorter and longer than declared
    expect_refused("short.npz", with_shape("(2,)", eight_bytes()), "has 8 data bytes for shape [2] (16 expected)");
    expect_refused("long.npz", with_shape("(1,)", eight_bytes() + eight_bytes()), "has 16 data bytes for shape [1]");
    // headers that are not the dict numpy writes
    expect_refused("extra_key.npz",
                   stored_zip(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", eight_bytes())),
                   "unexpected or repeated key 'x'");
    expect_refused("no_shape.npz", stored_zip(npy("{'descr': '<f8', 'fortran_order': False}", eight_bytes())),
                   "lacks 'descr', 'fortran_order' or 'shape'");
    expect_refused("dtype.npz",
                   stored_zip(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", eight_bytes())),
                   "holds dtype '<i8', expected '<f8'");
    expect_refused("fortran.npz",
                   stored_zip(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", eight_bytes())),
                   "is in Fortran order");
}

BOOST_AUTO_TEST_CASE(memory_bombs_are_refused_before_allocating) {
    auto content = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (131072,), }", std::string(1 << 20, '\0'));
    std::string packed = deflated(content);  // 1 MiB of zeros deflate to about 1 KiB
    // a small entry that claims 4 GiB - 2 bytes: more than deflate can produce from it
    auto before = mallinfo2().uordblks;
    expect_refused("claims.npz", zip_of({.content = content, .stored = packed, .method = 8, .usize = 0xfffffffe}),
                   "more than deflate can produce");
    BOOST_TEST(mallinfo2().uordblks < before + (64u << 20));
    // one deflated entry listed 3,000 times under different names: refused at the second listing
    expect_refused("listed.npz",
                   zip_of({.content = content, .stored = packed, .method = 8, .usize = content.size(), .listed = 3000}),
                   "overlaps entry 'a.npy'");
    // the same name twice
    expect_refused("twice.npz",
                   zip_of({.content = content,
                           .stored = packed,
                           .method = 8,
                           .usize = content.size(),
                           .listed = 2,
                           .same_names = true}),
                   "entry 'a.npy': appears twice");
    // a limit the caller sets: the 1 MiB entry does not fit in 100 KiB
    TempFile f("limited.npz", zip_of({.content = content, .stored = packed, .method = 8, .usize = content.size()}));
    expect_error<IoError>([&] { load_npz<double>(f.path, {.max_bytes = 100 << 10}); },
                          "more than the limit of 102400 bytes (LoadLimits::max_bytes");
    BOOST_TEST(load_npz<double>(f.path, {.max_bytes = 2 << 20})[0].second.size() == 131072u);
    // a file larger than the limit is not read at all
    expect_error<IoError>([&] { load_npz<double>(f.path, {.max_bytes = 100}); }, "more than the limit of 100");
}

BOOST_AUTO_TEST_CASE(damaged_containers_are_refused) {
    auto content = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", eight_bytes());
    std::string good = stored_zip(content);
    expect_refused("tiny.npz", "PK", "too short to be an .npz archive (2 bytes)");
    expect_refused("nozip.npz", std::string(100, 'x'), "no end-of-directory record");
    // the central directory's offset pointing past the end
    std::string moved = good;
    moved[moved.size() - 6] = char(0xff);
    expect_refused("moved.npz", moved, "lies outside the archive");
    // a stored entry whose two sizes differ
    expect_refused("sizes.npz", zip_of({.content = content, .stored = content, .usize = content.size() + 8}),
                   "is stored with sizes");
    // a deflated entry that inflates to less than it declares
    std::string packed = deflated(content);
    expect_refused("inflate.npz",
                   zip_of({.content = content, .stored = packed, .method = 8, .usize = content.size() + 16}),
                   "does not decompress to the");
    // a flipped byte in the data
    std::string flipped = good;
    flipped[flipped.find("NUMPY") + 60] ^= 1;
    expect_refused("flipped.npz", flipped, "fails its checksum");
}

// Every prefix of a valid .npy, of each version, is an IoError (never an out-of-range read
// of the header's length field, whose width depends on the version).
BOOST_AUTO_TEST_CASE(every_truncation_of_an_npy_of_each_version_is_refused) {
    double one = 1.5;
    std::string data(8, '\0');
    std::memcpy(data.data(), &one, 8);
    for (int version : {1, 2, 3}) {
        const std::string whole = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", data, version);
        {
            TempFile f("whole.npz", stored_zip(whole));
            BOOST_TEST(load_npz<double>(f.path)[0].second == (Array<double>{1.5}), "version " << version);
        }
        for (std::size_t n = 0; n < whole.size(); ++n) {
            BOOST_TEST_CONTEXT("version " << version << ", the first " << n << " bytes") {
                TempFile f("cut.npz", stored_zip(whole.substr(0, n)));
                expect_error<IoError>([&] { load_npz<double>(f.path); }, "'a.npy'");
            }
        }
    }
}

// An entry's data must end where the central directory begins: one byte into it is refused,
// as is a local header that would overlap it.
BOOST_AUTO_TEST_CASE(an_entry_reaching_into_the_central_directory_is_refused) {
    const std::string content = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", eight_bytes());
    const std::string good = stored_zip(content);
    const std::size_t eocd = good.size() - 22, cd = eocd - (46 + 5);  // one record named "a.npy"
    auto with32 = [](std::string s, std::size_t at, std::size_t v) {
        for (int i = 0; i < 4; ++i) s[at + i] = char((v >> (8 * i)) & 0xff);
        return s;
    };
    {
        TempFile f("exact.npz", good);
        BOOST_TEST(load_npz<double>(f.path)[0].second.size() == 1u);
    }
    // both sizes one byte larger in the central record: the entry would end inside it
    std::string longer = with32(with32(good, cd + 20, content.size() + 1), cd + 24, content.size() + 1);
    expect_refused("longer.npz", longer, "run past the archive's data");
    // the local header moved to 29 bytes before the directory: it would overlap it
    expect_refused("header.npz", with32(good, cd + 42, cd - 29), "its local header");
}

// Two entries that share one byte: the second's local header begins on the last byte of the
// first's data (a 'P', so that its signature reads right), each entry valid on its own. Refused as an overlap, whichever
// way round the central directory lists them.
BOOST_AUTO_TEST_CASE(entries_sharing_one_byte_are_refused) {
    auto local = [](const std::string& name, const std::string& content) {
        unsigned long crc = crc32(0L, reinterpret_cast<const Bytef*>(content.data()), uInt(content.size()));
        std::string h;
        put32(h, 0x04034b50);
        put16(h, 20), put16(h, 0), put16(h, 0), put16(h, 0), put16(h, 0x21);
        put32(h, crc), put32(h, content.size()), put32(h, content.size());
        put16(h, name.size()), put16(h, 0);
        return h + name;
    };
    auto central = [](const std::string& name, const std::string& content, std::size_t offset) {
        unsigned long crc = crc32(0L, reinterpret_cast<const Bytef*>(content.data()), uInt(content.size()));
        std::string r;
        put32(r, 0x02014b50);
        put16(r, 20), put16(r, 20), put16(r, 0), put16(r, 0), put16(r, 0), put16(r, 0x21);
        put32(r, crc), put32(r, content.size()), put32(r, content.size());
        put16(r, name.size()), put16(r, 0), put16(r, 0), put16(r, 0), put16(r, 0), put32(r, 0), put32(r, offset);
        return r + name;
    };
    // a valid array whose last data byte is the 'P' (a double with that top byte)
    const std::string a = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(7, '\0') + "P");
    const std::string b = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", eight_bytes());
    const std::string first = local("a.npy", a) + a;
    const std::size_t b_offset = first.size() - 1;  // on a's last byte
    const std::string body = first + local("b.npy", b).substr(1) + b;
    for (bool b_first : {false, true}) {
        std::string dir = b_first ? central("b.npy", b, b_offset) + central("a.npy", a, 0)
                                  : central("a.npy", a, 0) + central("b.npy", b, b_offset);
        std::string archive = body + dir;
        put32(archive, 0x06054b50);
        put16(archive, 0), put16(archive, 0), put16(archive, 2), put16(archive, 2);
        put32(archive, dir.size()), put32(archive, body.size()), put16(archive, 0);
        expect_refused(b_first ? "shared_b_first.npz" : "shared_a_first.npz", archive,
                       b_first ? "entry 'a.npy': overlaps entry 'b.npy'" : "entry 'b.npy': overlaps entry 'a.npy'");
    }
}

BOOST_AUTO_TEST_CASE(what_is_not_a_file_is_refused) {
    std::string dir = "/tmp/xtgrad_hostile_dir_" + std::to_string(::getpid());
    std::filesystem::create_directory(dir);
    expect_error<IoError>([&] { load_npz<double>(dir); }, "is a directory, not a file");
    std::filesystem::remove(dir);
    expect_error<IoError>([&] { load_npz<double>("/dev/null"); }, "is not a regular file");
    expect_error<IoError>([&] { load_npz<double>("/nonexistent/x.npz"); }, "cannot open '/nonexistent/x.npz'");
}

BOOST_AUTO_TEST_CASE(stale_temporaries_of_a_killed_writer_are_removed) {
    std::string path = "/tmp/xtgrad_hostile_" + std::to_string(::getpid()) + "_ckpt.npz";
    // pid 2^22 + 1 is above Linux's pid_max default and runs no process; our own pid does
    std::string stale = path + ".tmp-4194305-0", alive = path + ".tmp-" + std::to_string(::getpid()) + "-99";
    std::ofstream(stale) << "half a checkpoint";
    std::ofstream(alive) << "being written";
    save_npz<double>(path, {{"w", Array<double>{1.0, 2.0}}});
    BOOST_TEST(!std::filesystem::exists(stale));
    BOOST_TEST(std::filesystem::exists(alive));  // a live writer's file is left alone
    BOOST_TEST(load_npz<double>(path)[0].second == (Array<double>{1.0, 2.0}));
    std::remove(alive.c_str());
    std::remove(path.c_str());
}
