// Saving and loading parameters as NumPy archives (.npz: a zip of .npy files, readable with
// numpy.load). Saving is atomic: the archive is written to a temporary file in the same
// directory, flushed to disk, then renamed over the target, so a failed save never damages
// the previous checkpoint. Loading checks everything before changing anything.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xtgrad/nn/module.hpp"

namespace xtgrad::nn {

template <class T>
using NamedArrays = std::vector<std::pair<std::string, Array<T>>>;

/// Writes arrays as "<name>.npy" entries of an uncompressed .npz archive, atomically.
template <class T>
void save_npz(const std::string& path, const NamedArrays<T>& arrays);

/// How much a load may allocate: the file itself and the arrays it declares, in all. A file
/// that declares more is refused before anything is allocated for it. 1 GiB unless raised.
struct LoadLimits {
    std::size_t max_bytes = std::size_t(1) << 30;
};

/// Reads every entry of an .npz archive (stored or deflated). Each must be a little-endian,
/// C-order array of T (float32 or float64). Anything else -- a truncated file, a bad checksum,
/// a shape that does not match the data, entries that overlap or repeat a name, declared
/// sizes beyond `limits` or beyond what deflate can produce, a path that is not a regular
/// file -- is an IoError naming the file and the entry; nothing is allocated from a size the
/// file declares before it is checked.
template <class T>
NamedArrays<T> load_npz(const std::string& path, const LoadLimits& limits = {});

/// load_npz from an archive already in memory; `source` names it in errors.
template <class T>
NamedArrays<T> parse_npz(std::string_view bytes, const std::string& source, const LoadLimits& limits = {});

/// The layout of the parameters a checkpoint holds, saved with them as the one-element array
/// `format_version`. 2: PyTorch's layout for every layer (Linear's weight [out, in]), so that
/// the arrays load into the equivalent torch.nn model with load_state_dict. 1 (files without the
/// entry, written before 2026-12-06): Linear's weight was [in, out].
inline constexpr int checkpoint_format_version = 2;
inline constexpr std::string_view format_version_entry = "format_version";

/// Saves `module.named_parameters()` and `module.named_buffers()` (PyTorch's state_dict, names
/// and shapes as PyTorch's) and the format version.
template <class T>
void save_parameters(const Module<T>& module, const std::string& path);

/// Loads parameters and buffers saved by save_parameters. A missing or unexpected name, a shape or
/// dtype mismatch, or a damaged file throws, and leaves the module as it was. A file without a
/// format version is refused where the module has a Linear layer (its weights could be the old
/// [in, out]: a square one would load transposed without any error), with a message naming
/// upgrade_checkpoint; a newer format is refused.
template <class T>
void load_parameters(Module<T>& module, const std::string& path);

/// Sets the module's parameters from named arrays in the current layout, all or nothing:
/// every parameter must have an array of its shape, and every array a parameter (a
/// `format_version` entry, if present, is checked and not a parameter). `source` names where
/// the arrays came from in error messages.
template <class T>
void load_parameters(Module<T>& module, const NamedArrays<T>& arrays, const std::string& source);

/// What load_parameters(module, path) checks of a file's format version, for other readers of
/// checkpoints (optim::load_checkpoint): the entry is taken out of `arrays`; a newer format, or
/// none where `module` has a Linear layer, is an IoError naming `source` and the remedy.
template <class T>
void check_format_version(const Module<T>& module, NamedArrays<T>& arrays, const std::string& source);

/// Rewrites a checkpoint of format 1 (save_parameters' or optim::save_checkpoint's) in format
/// 2, atomically: each Linear weight of `module` (the model the file is for) is transposed to
/// [out, in], with the optimizer state kept under that weight's name ("<name>.exp_avg", ...),
/// and the version is added. A file that already has a version is left as it is.
template <class T>
void upgrade_checkpoint(const Module<T>& module, const std::string& path);

}  // namespace xtgrad::nn
