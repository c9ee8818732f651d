#pragma once
// Minimal deterministic ustar writer and a strict tar reader (ustar, PAX 'x'/'g', GNU 'L'/'K')
// for store/: the canonical tree archive, export archives and .deb control archives. Internal.

#include <cstdint>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>

namespace tdximg::store::tar {

enum class Type : char { file = '0', hardlink = '1', symlink = '2', chardev = '3', blockdev = '4',
                         directory = '5', fifo = '6' };

struct Entry {
  std::string name;
  Type type = Type::file;
  std::uint32_t mode = 0644;
  std::string linkname;
  ByteSpan data; // file contents (writer: borrowed until add() returns; reader: into the input)
};

// Appends entries with uid/gid 0, mtime 0, empty uname/gname; long names use a PAX header.
class Writer {
public:
  void add(const Entry& e);
  // Appends the two terminating zero blocks and returns the archive.
  Bytes finish();

private:
  void header(std::string_view name, char type, std::uint32_t mode, std::uint64_t size,
              std::string_view linkname);
  ByteWriter m_out;
};

// Parses the whole archive; `what` names it in errors (ErrorKind::input with offsets).
std::vector<Entry> read(ByteSpan archive, const std::string& what);

} // namespace tdximg::store::tar
