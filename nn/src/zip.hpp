// The zip container of .npz archives: writing (stored entries) and reading (stored or
// deflated). The reader trusts nothing the archive says: every offset and size is checked
// against the bytes at hand before it is used, entries may neither overlap nor repeat a name,
// and a declared size is allocated only once it is proven plausible and within the caller's
// limit.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace xtgrad::nn::detail {

struct ZipEntry {
    std::string name;
    std::string data;
};

/// An archive of stored (uncompressed) entries; `path` names the target in errors.
std::string encode_zip(const std::vector<ZipEntry>& entries, const std::string& path);

/// Calls `visit(name, data)` for every entry in order, after checking it. At most
/// `max_bytes` bytes of entry data are produced in all. Errors are IoError starting
/// "<who>: '<source>': ".
void read_zip(std::string_view archive, const std::string& who, const std::string& source, std::size_t max_bytes,
              const std::function<void(const std::string& name, std::string&& data)>& visit);

}  // namespace xtgrad::nn::detail
