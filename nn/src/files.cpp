// Atomic writes, cleanup of temporaries left by killed writers, careful reads.
#include "files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "xtgrad/autodiff/errors.hpp"

namespace xtgrad::nn::detail {

namespace fs = std::filesystem;

namespace {

// `<name>.tmp-<pid>-<n>` of a process that is gone: left by a writer killed mid-save.
void remove_stale_temporaries(const std::string& path) {
    fs::path target(path);
    fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string prefix = target.filename().string() + ".tmp-";
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        std::string rest = name.substr(prefix.size());
        auto dash = rest.find('-');
        if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789-") != std::string::npos)
            continue;
        long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
        if (pid <= 0 || pid == ::getpid()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
    }
}

}  // namespace

void write_atomically(const std::string& who, const std::string& path, const std::string& bytes) {
    static std::atomic<unsigned> counter{0};
    remove_stale_temporaries(path);
    std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(fmt::format("{}: cannot create '{}': {}", who, tmp, std::strerror(errno)));
    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw IoError(fmt::format("{}: writing '{}' failed: {}", who, tmp, std::strerror(err)));
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("{}: flushing '{}' failed: {}", who, tmp, std::strerror(err)));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("{}: cannot replace '{}': {}", who, path, std::strerror(err)));
    }
    const std::size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : std::string(path, 0, slash);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // make the rename itself durable
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string read_file(const std::string& who, const std::string& path, std::size_t max_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw IoError(fmt::format("{}: cannot open '{}': {}", who, path, std::strerror(errno)));
    if (S_ISDIR(st.st_mode)) throw IoError(fmt::format("{}: '{}' is a directory, not a file", who, path));
    if (!S_ISREG(st.st_mode)) throw IoError(fmt::format("{}: '{}' is not a regular file", who, path));
    if (static_cast<std::size_t>(st.st_size) > max_bytes)
        throw IoError(fmt::format("{}: '{}' has {} bytes, more than the limit of {} (LoadLimits::max_bytes)", who, path,
                                  st.st_size, max_bytes));
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(fmt::format("{}: cannot open '{}': {}", who, path, std::strerror(errno)));
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (in.gcount() != static_cast<std::streamsize>(bytes.size()))
        throw IoError(fmt::format("{}: reading '{}' failed (it changed while being read?)", who, path));
    return bytes;
}

}  // namespace xtgrad::nn::detail
