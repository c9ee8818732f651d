// The canonical tree archive of a directory input (format documented in store/resolve.hpp).

#include <algorithm>
#include <sys/stat.h>

#include <tdximg/store/resolve.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "tar.hpp"

namespace tdximg::store {

namespace {
struct TreeEntry {
  std::string rel; // relative path, no trailing slash (sort key)
  tar::Type type;
  std::uint32_t mode;
  fs::path abs;
  std::string target;
};
} // namespace

Bytes canonical_tree_archive(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(ErrorKind::input, "{}: not a directory", dir.string());
  std::vector<TreeEntry> entries;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) fail(ErrorKind::io, "{}: cannot read directory: {}", dir.string(), ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(ErrorKind::io, "{}: cannot read directory: {}", dir.string(), ec.message());
    const fs::path p = it->path();
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0)
      fail(ErrorKind::io, "{}: cannot stat: {}", p.string(), errno_text());
    // lexically: fs::relative would follow the symlink being described.
    TreeEntry e{p.lexically_relative(dir).generic_string(), tar::Type::file, 0644, p, {}};
    if (S_ISREG(st.st_mode)) {
      // Only the owner execute bit survives: git and the umask do not preserve the others.
      e.mode = (st.st_mode & S_IXUSR) != 0 ? 0755 : 0644;
    } else if (S_ISDIR(st.st_mode)) {
      e.type = tar::Type::directory;
      e.mode = 0755;
    } else if (S_ISLNK(st.st_mode)) {
      e.type = tar::Type::symlink;
      e.mode = 0777;
      e.target = fs::read_symlink(p, ec).string();
      if (ec) fail(ErrorKind::io, "{}: cannot read link: {}", p.string(), ec.message());
    } else {
      fail(ErrorKind::input, "{}: special file (socket, fifo or device) in a path input; create "
                             "it with a recipe operation instead", p.string());
    }
    entries.push_back(std::move(e));
  }
  // Sorted by path bytes, never by the order the file system returns.
  std::sort(entries.begin(), entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.rel < b.rel; });
  tar::Writer w;
  for (const TreeEntry& e : entries) {
    Bytes content;
    tar::Entry te;
    te.name = e.type == tar::Type::directory ? e.rel + "/" : e.rel;
    te.type = e.type;
    te.mode = e.mode;
    te.linkname = e.target;
    if (e.type == tar::Type::file) {
      content = read_file(e.abs);
      te.data = content;
    }
    w.add(te);
  }
  return w.finish();
}

} // namespace tdximg::store
