#pragma once
// Input resolution: a recipe::Input pinned by sha256 → its verified bytes, from the store or
// fetched (path, url, deb through a private apt state) and then kept in the store.
//
// Canonical tree archive (a `path` input that is a directory). The digest of a directory is the
// sha256 of this byte string, so the same tree gives the same digest on any host, whatever the
// creation order, umask, owner or timestamps; rootfs/ reads it like any tarball:
//   - a POSIX ustar archive; entries sorted by relative path bytes without the trailing "/" ("a", "a.c", "a/b"),
//     no "./" prefix, directories named with a trailing "/", the top directory itself omitted;
//   - every header: uid 0, gid 0, uname/gname empty, mtime 0, devmajor/minor 0;
//   - modes: regular file 0755 if the owner execute bit is set, else 0644; directory 0755;
//     symlink 0777 (setuid/setgid/sticky and group/other bits of the host are dropped — git and
//     umask do not preserve them; a recipe sets special modes with chmod);
//   - symlinks stored as symlinks (target verbatim); hard links stored as separate regular files;
//     sockets, fifos and device nodes are an error (ErrorKind::input);
//   - a name or link target that does not fit ustar's fields gets a PAX 'x' header named
//     "PaxHeader" holding "path=" / "linkpath=" records (mode 0644, mtime 0);
//   - the archive ends with two zero blocks (1024 bytes), no further padding.
// For trees whose names and link targets fit in 100 bytes this is byte-identical to GNU tar's
//   find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
//     tar --format=ustar --no-recursion -b1 --mtime=@0 --owner=0 --group=0 --numeric-owner -T - -cf out.tar
// run on a copy with the modes normalized as above (tests/unit/store/test_tree.cpp checks it).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <tdximg/recipe/recipe.hpp>
#include <tdximg/store/store.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::store {

enum class Offline { no, yes };

struct ResolvedInput {
  std::string name;
  std::string sha256; // lowercase hex, verified
  std::uint64_t size = 0;
  Bytes data;
  std::string description; // "deb busybox-static=1:1.35.0-4+b3 (bookworm, amd64) from store"
};

// Returns the verified bytes of `input`, which must carry a sha256 pin (merge the lock entry
// first with apply_lock). Path inputs are read from disk (falling back to the store if the path
// is gone); url/deb inputs come from the store, else are fetched unless `offline`, verified and
// put into the store. Throws ErrorKind::integrity on a digest/size mismatch (nothing stored under
// the pinned name), ErrorKind::fetch when missing offline or a download fails, ErrorKind::input
// when there is no pin, ErrorKind::io for local errors.
ResolvedInput resolve_input(const recipe::Input& input, Store& store, Offline offline);


// The canonical tree archive of directory `dir` (see above). Throws ErrorKind::input for
// special files or non-directories, ErrorKind::io for read errors.
Bytes canonical_tree_archive(const std::filesystem::path& dir);

// Downloads `url` (http/https/file; redirects followed up to 10; connect timeout 30 s; aborts
// below 1 KiB/s for 60 s). Throws ErrorKind::fetch naming the URL and the HTTP status/curl error.
Bytes http_get(const std::string& url);

// ---- Private apt state (used by resolve_input and lock_inputs) -------------------------------

// The mirror URIs apt would use: from $TDXIMG_APT_MIRROR (archive) and
// $TDXIMG_APT_SECURITY_MIRROR if set, else from the host's /etc/apt/sources.list,
// sources.list.d/*.list and *.sources (deb822): entries of type "deb" whose suites end in
// "-security" give the security URI, the others the archive URI. Throws ErrorKind::fetch if
// no archive URI is found.
struct AptMirrors {
  std::string archive;  // e.g. http://deb.debian.org/debian
  std::string security; // e.g. http://deb.debian.org/debian-security; may be empty
};
AptMirrors host_apt_mirrors(const std::filesystem::path& etc_apt = "/etc/apt");

// One package version as the private apt state sees it (apt-cache show).
struct AptPackage {
  std::string package;
  std::string version;
  std::string architecture;
  std::string filename; // pool path
  std::string sha256;   // from the Packages index
  std::uint64_t size = 0;
  std::string depends;  // raw Depends field
  std::string section;
  std::string description; // first line
};

// A private apt state for one (suite, arch) under <store>/apt: its own sources.list (suite,
// suite-updates, suite-security where they exist on the mirror), lists, cache, empty dpkg status,
// keyring from /usr/share/keyrings/debian-archive-keyring.gpg. Never touches /var/lib/apt or
// /var/cache/apt; works as non-root. All methods hold the store lock "apt-<suite>-<arch>".
class AptState {
public:
  // Throws ErrorKind::fetch if the mirror has no such suite, ErrorKind::io for local errors.
  AptState(Store& store, std::string suite, std::string arch = "amd64");

  // Runs apt-get update if the lists are older than `max_age_seconds` (or `force`).
  void update(long max_age_seconds = 3600, bool force = false);
  // The candidate (newest) version of `package`, or of `package`=`version` if given; refreshes
  // the lists once if not found. Throws ErrorKind::fetch if absent.
  AptPackage find(const std::string& package, const std::string& version = {});
  // Downloads package=version (apt-get download) and returns the .deb bytes; apt verifies them
  // against the signed index. Throws ErrorKind::fetch.
  Bytes download(const std::string& package, const std::string& version);

  const std::filesystem::path& dir() const noexcept { return m_dir; }
  const std::string& suite() const noexcept { return m_suite; }

private:
  std::string run_apt(const std::vector<std::string>& args, const std::filesystem::path& cwd);
  Store& m_store;
  std::string m_suite;
  std::string m_arch;
  std::filesystem::path m_dir;
};

} // namespace tdximg::store
