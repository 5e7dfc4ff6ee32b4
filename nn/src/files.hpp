// Files as a checkpoint needs them: written atomically (a temporary in the same folder,
// flushed, renamed over the target, the folder flushed), temporaries left by a writer that
// was killed removed on the next save, and read only when they are regular files of a
// plausible size.
#pragma once

#include <cstddef>
#include <string>

namespace xtgrad::nn::detail {

/// Replaces `path` by `bytes` atomically; errors are IoError starting with `who`. Removes
/// `<path>.tmp-<pid>-<n>` files whose writing process no longer runs.
void write_atomically(const std::string& who, const std::string& path, const std::string& bytes);

/// The bytes of a regular file of at most `max_bytes` bytes (IoError otherwise).
std::string read_file(const std::string& who, const std::string& path, std::size_t max_bytes);

}  // namespace xtgrad::nn::detail
