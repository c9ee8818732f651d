#pragma once
// Kernel modules from a Debian kernel package (bookworm: lib/modules/<ver>/kernel/**.ko,
// trixie: usr/lib/modules/<ver>/kernel/**.ko.xz). Requested names ('-' == '_') are closed
// over modules.dep and the pre:/post: softdeps of modules.softdep (softdep names may be
// aliases, resolved through modules.alias; a softdep that names nothing known is skipped, as
// modprobe does). Built-in modules (modules.builtin) need nothing copied.
// The files are placed at their package path (so a merged-/usr `lib -> usr/lib` symlink in the
// tree is followed) and a text modules.dep, modules.softdep, modules.alias and modules.order
// for the subset are generated next to them, plus modules.builtin (and modules.builtin.modinfo)
// copied whole; busybox and kmod modprobe read the text files.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/rootfs/archive.hpp>
#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::rootfs {

// The parts of a kernel package that matter for modules.
struct KernelPackage {
  std::string release;     // "6.1.0-41-amd64": the directory under lib/modules
  std::string modules_dir; // archive path of that directory: "lib/modules/6.1.0-41-amd64"
  // Every entry under modules_dir (module files and modules.* with data; others without),
  // keyed by their path relative to modules_dir ("kernel/drivers/net/virtio_net.ko").
  std::map<std::string, ArchiveEntry> files;
};

// Reads a kernel package (.deb or tar) and finds its single lib/modules/<ver> (or
// usr/lib/modules/<ver>) directory. Throws ErrorKind::input if there is none or more than one,
// or for anything read_archive_input() rejects.
KernelPackage read_kernel_package(ByteSpan data, std::string_view name,
                                  const ArchiveLimits& limits = {});

// The <ver> directory name of a kernel package ("6.1.0-41-amd64"). Throws as above.
std::string kernel_release(const KernelPackage& package);
std::string kernel_release(ByteSpan data, std::string_view name, const ArchiveLimits& limits = {});

struct ModuleSelection {
  std::vector<std::string> modules;  // module names placed (canonical '_' form), sorted
  std::vector<std::string> builtin;  // requested or needed names that are built in, sorted
  std::vector<std::string> files;    // archive paths (relative to modules_dir) placed, sorted
};

// Computes the closure of `names` without touching a tree. Throws ErrorKind::input for an
// unknown name, listing close matches, or for malformed modules.dep/softdep lines.
ModuleSelection select_modules(const KernelPackage& package, const std::vector<std::string>& names);

// select_modules(), then places the files and the generated index files in `tree` under
// "/" + package.modules_dir, with layer = `layer`. Throws as select_modules() and FileTree::put().
ModuleSelection install_modules(FileTree& tree, const KernelPackage& package,
                                const std::vector<std::string>& names, std::size_t layer);

// Canonical module name: basename without ".ko[.xz|.zst|.gz]", '-' -> '_'.
std::string module_name(std::string_view path_or_name);

} // namespace tdximg::rootfs
