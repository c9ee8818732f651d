#pragma once
// The recipe model: plain structs, filled by the parser (recipe/parser.cpp) from JSON with
// comments, after `extends` has been resolved. Field names in JSON are documented in
// recipes/README.md; this header is the contract between recipe/, store/, rootfs/ and pipeline/.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tdximg::recipe {

namespace fs = std::filesystem;

// The output format version this tdximg writes. A recipe names the version it expects
// ("output_format"); a tdximg that would produce different bytes for it refuses.
inline constexpr int k_output_format = 1;
inline constexpr int k_schema = 1;

// ---- Inputs ------------------------------------------------------------------------------

enum class InputKind { path, deb, url };

struct DebSpec {
  std::string package;     // e.g. "linux-image-amd64" (meta) or "linux-image-6.1.0-41-amd64"
  std::string version;     // exact Debian version; empty = resolved by `tdximg lock`
  std::string suite;       // e.g. "bookworm", "trixie", "bookworm-backports"
  std::string arch = "amd64";
};

struct Input {
  std::string name;                  // key in "inputs"
  InputKind kind = InputKind::path;
  std::string sha256;                // pinned digest (lowercase hex); empty = must come from lock
  std::optional<std::uint64_t> size; // optional pinned size in bytes
  fs::path path;                     // kind == path: absolute (resolved against the recipe dir)
  DebSpec deb;                       // kind == deb
  std::string url;                   // kind == url
};

// ---- Layer operations --------------------------------------------------------------------
// Paths inside the image are absolute ("/bin/sh"), normalized by the parser ("//a/./b" ->
// "/a/b"); ".." components are rejected by the parser. Modes are explicit or come from the
// package; never from the host umask.

struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// Extract entries from an input that is an archive (a .deb's data.tar.*, or a tar[.gz|.xz|.zst]).
struct ExtractOp {
  std::string input;                 // input name
  std::vector<std::string> include;  // globs over archive paths (after strip); empty = all
  std::vector<std::string> exclude;  // globs, applied after include
  std::string strip_prefix;          // archive path prefix removed before placing ("usr/share")
  std::string to = "/";              // directory in the image where entries land
  bool allow_devices = false;        // device nodes from the archive are an error unless set
  bool allow_setuid = false;         // setuid/setgid bits are an error unless set
};

// A regular file from an input (whole input, or one member of an archive input) or inline text.
struct FileOp {
  std::string path;
  std::optional<std::string> from;   // input name
  std::optional<std::string> member; // path inside the archive input `from`
  std::optional<std::string> text;   // inline content
  std::uint32_t mode = 0644;
  Owner owner;
};

struct DirOp {
  std::vector<std::string> paths;    // created with parents (parents get 0755 root:root)
  std::uint32_t mode = 0755;
  Owner owner;
};

struct SymlinkOp {
  std::string path;
  std::string target;                // stored verbatim; absolute targets are data
};

struct HardlinkOp {
  std::string path;
  std::string target;                // an existing regular file in the image
};

enum class DeviceType { character, block };
struct DeviceOp {
  std::string path;
  DeviceType type = DeviceType::character;
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t mode = 0600;
  Owner owner;
};

struct FifoOp {
  std::string path;
  std::uint32_t mode = 0644;
  Owner owner;
};

struct RemoveOp {
  std::vector<std::string> paths;    // globs; a directory is removed with its contents
};

struct ChmodOp {
  std::vector<std::string> paths;    // globs
  std::uint32_t mode = 0;
};

struct ChownOp {
  std::vector<std::string> paths;    // globs
  Owner owner;
};

// Kernel modules by name from a kernel package input, with their dependency closure (and
// softdeps) from modules.dep/modules.softdep; modules.dep etc. are generated for the subset.
struct ModulesOp {
  std::string from;                  // input name of the kernel package
  std::vector<std::string> names;    // "virtio_net"; '-' and '_' are equivalent
};

using Op = std::variant<ExtractOp, FileOp, DirOp, SymlinkOp, HardlinkOp, DeviceOp, FifoOp,
                        RemoveOp, ChmodOp, ChownOp, ModulesOp>;

struct Layer {
  std::string name;
  std::vector<Op> ops;
};

// ---- Boot, outputs, measurement ----------------------------------------------------------

// A file taken from an input: the whole input, or a member (glob allowed, must match exactly
// one entry) of an archive input such as a .deb.
struct FileRef {
  std::string from;
  std::string path;                  // empty = the input itself
};

enum class Compression { none, gzip, zstd, xz };

struct InitramfsSpec {
  Compression compression = Compression::zstd;
  int level = 19;                    // gzip 1-9, zstd 1-19, xz 0-9
};

struct UkiSpec {
  std::optional<FileRef> splash;
  std::optional<FileRef> dtb;
  std::optional<std::string> sbat;   // extra SBAT lines merged with the stub's
  std::string section_order = "linux-last"; // or "ukify-257" (uki.hpp SectionOrder)
};

struct VmShape {
  std::string name;                  // e.g. "2cpu-2G"; default derived from cpus/memory
  std::uint64_t memory_bytes = 2ULL << 30;
  std::uint32_t cpus = 2;
};

struct MeasureSpec {
  std::vector<std::string> platforms{"qemu"}; // "qemu", "azure", "tdx"
  std::vector<bool> secure_boot{false};       // which Secure Boot states to predict
  std::optional<FileRef> firmware;            // TDVF/OVMF image for MRTD (e.g. ovmf's OVMF.fd)
  std::string vmm = "qemu";                   // MRTD page order: "qemu" (single pass) | "qemu-8-two-pass"
  std::vector<VmShape> vms;                   // VM shapes for TDX exports
  std::optional<fs::path> rtmr0_calibration;  // CCEL log captured on the target host (absolute)
  // Registers the dcap-tdx attested-TLS entries pin ("mrtd", "rtmr0".."rtmr3"); empty = MRTD,
  // RTMR1, RTMR2 (+ RTMR0 when calibrated). Pinning an uncalibrated RTMR0 is an error.
  std::vector<std::string> tdx_pin;
  // OVMF variable stores for PCR 7: each gives PCR 7 to the qemu configuration of the Secure
  // Boot state it implies (PK enrolled: on; else off); at most one per state.
  std::vector<FileRef> secure_boot_vars;
  // The db certificate (PEM or DER) that will sign the (unsigned) UKI, for Secure Boot on.
  std::optional<FileRef> secure_boot_db_cert;
};

struct Recipe {
  int schema = k_schema;
  int output_format = k_output_format;
  std::string name;
  fs::path file;                     // absolute path of the top-level recipe file
  std::vector<fs::path> chain;       // every file read, base first (for `extends`)
  std::optional<std::int64_t> source_date_epoch; // from the recipe; the env var overrides
  std::map<std::string, Input> inputs;           // by name (sorted: deterministic)
  std::vector<Layer> layers;
  std::optional<FileRef> kernel;
  std::optional<FileRef> stub;
  std::string cmdline;
  std::map<std::string, std::string> os_release; // generated unless `os_release_file` given
  std::optional<FileRef> os_release_file;
  InitramfsSpec initramfs;
  UkiSpec uki;
  std::vector<std::string> outputs{"initramfs"}; // "initramfs", "uki", "raw", "vhd", "gcp"
  MeasureSpec measure;
};

// ---- Lock file (RECIPE.lock.json) ---------------------------------------------------------

struct LockEntry {
  std::string name;
  InputKind kind = InputKind::path;
  std::string sha256;
  std::uint64_t size = 0;
  // deb: what `lock` resolved (a meta-package becomes its concrete dependency).
  std::string package;
  std::string version;
  std::string suite;
  std::string arch;
  std::string filename;              // pool path on the mirror, e.g. pool/main/l/linux/...deb
  std::string url;                   // kind == url
};

struct LockFile {
  int schema = k_schema;
  std::string recipe_sha256;         // digest of the canonical recipe it was made for
  std::map<std::string, LockEntry> entries;
};

} // namespace tdximg::recipe
