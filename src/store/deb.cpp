#include <tdximg/store/deb.hpp>

#include <algorithm>
#include <array>
#include <memory>

#include <archive.h>
#include <archive_entry.h>

#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "tar.hpp"

namespace tdximg::store {

namespace {

constexpr std::array<std::string_view, 6> k_scripts = {"config",  "postinst", "postrm",
                                                       "preinst", "prerm",    "triggers"};

struct ArMember {
  std::string name;
  ByteSpan data;
};

// Checks the ar(5) structure of a .deb (deb(5): "debian-binary" first, then "control.tar[.gz|
// .xz|.zst]", then "data.tar[...]"), every member inside the file, with checked offsets, so
// malformed or truncated input gets a precise message. Returns the control member.
ArMember check_ar(ByteSpan deb) {
  const std::string what = "deb";
  ByteReader r(deb, what);
  if (as_chars(r.bytes(8, "ar magic")) != "!<arch>\n") r.error("ar magic", "not an ar archive");
  std::vector<std::string> names;
  std::vector<ByteSpan> datas;
  while (!r.at_end()) {
    const std::uint64_t at = r.offset();
    const ByteSpan h = r.bytes(60, "ar member header");
    std::string name(as_chars(h.first(16)));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty() && name.back() == '/') name.pop_back(); // GNU ar terminator
    if (h[58] != '`' || h[59] != '\n')
      fail(ErrorKind::input, "deb: ar member header at offset 0x{:x}: bad terminator", at);
    std::uint64_t size = 0;
    bool digits = false;
    for (const std::uint8_t c : h.subspan(48, 10)) {
      if (c == ' ') continue;
      if (c < '0' || c > '9')
        fail(ErrorKind::input, "deb: ar member '{}' at offset 0x{:x}: bad size field", name, at);
      size = size * 10 + (c - '0');
      digits = true;
    }
    if (!digits) fail(ErrorKind::input, "deb: ar member '{}' at offset 0x{:x}: no size", name, at);
    datas.push_back(r.bytes(size, fmt::format("ar member '{}'", name)));
    if (size % 2 != 0 && !r.at_end()) r.skip(1, "ar padding");
    names.push_back(name);
  }
  if (names.empty() || names[0] != "debian-binary")
    fail(ErrorKind::input, "deb: first ar member is not 'debian-binary'");
  if (names.size() < 2 || names[1].rfind("control.tar", 0) != 0)
    fail(ErrorKind::input, "deb: second ar member is not a control archive");
  static constexpr std::array<std::string_view, 4> k_known = {"control.tar", "control.tar.gz",
                                                              "control.tar.xz", "control.tar.zst"};
  if (std::find(k_known.begin(), k_known.end(), names[1]) == k_known.end())
    fail(ErrorKind::unsupported, "deb: control member '{}' has an unsupported compression", names[1]);
  if (names.size() < 3 || names[2].rfind("data.tar", 0) != 0)
    fail(ErrorKind::input, "deb: third ar member is not a data archive");
  return {names[1], datas[1]};
}

// A control archive larger than this is not a package's metadata but an attack (decompression
// bomb); real ones are a few KiB to a few hundred KiB.
constexpr std::size_t k_max_control_tar = 64u << 20;

// The uncompressed control.tar, decompressed in-process with libarchive's read API (raw format,
// only the filters deb(5) allows); the tar itself is then parsed by our checked reader. No host
// tool is involved, so a .deb is read the same way on every machine.
Bytes control_tar(ByteSpan deb) {
  const ArMember m = check_ar(deb);
  if (m.name == "control.tar") return Bytes(m.data.begin(), m.data.end());
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  if (!a) fail(ErrorKind::internal, "deb: archive_read_new failed");
  if (m.name == "control.tar.gz") archive_read_support_filter_gzip(a.get());
  else if (m.name == "control.tar.xz") archive_read_support_filter_xz(a.get());
  else archive_read_support_filter_zstd(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_memory(a.get(), m.data.data(), m.data.size()) != ARCHIVE_OK)
    fail(ErrorKind::input, "deb: {}: {}", m.name, archive_error_string(a.get()));
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    fail(ErrorKind::input, "deb: {}: {}", m.name, archive_error_string(a.get()));
  if (archive_filter_count(a.get()) < 2)
    fail(ErrorKind::input, "deb: {}: not compressed as its name says", m.name);
  Bytes out;
  std::array<std::uint8_t, 65536> buf{};
  for (;;) {
    const la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) fail(ErrorKind::input, "deb: {}: {}", m.name, archive_error_string(a.get()));
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > k_max_control_tar)
      fail(ErrorKind::input, "deb: {}: decompresses to more than {} bytes", m.name, k_max_control_tar);
    out.insert(out.end(), buf.data(), buf.data() + n);
  }
  return out;
}

std::string member_basename(std::string name) {
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  return name;
}

} // namespace

std::vector<std::string> deb_maintainer_scripts(ByteSpan deb) {
  const Bytes tar_bytes = control_tar(deb);
  std::vector<std::string> out;
  for (const tar::Entry& e : tar::read(tar_bytes, "deb: control.tar")) {
    const std::string n = member_basename(e.name);
    if (e.type == tar::Type::file &&
        std::find(k_scripts.begin(), k_scripts.end(), n) != k_scripts.end())
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

DebInfo deb_info(ByteSpan deb) {
  const Bytes tar_bytes = control_tar(deb);
  DebInfo info;
  std::optional<std::string> control;
  for (const tar::Entry& e : tar::read(tar_bytes, "deb: control.tar")) {
    const std::string n = member_basename(e.name);
    if (e.type != tar::Type::file) continue;
    if (n == "control") control = std::string(as_chars(e.data));
    if (std::find(k_scripts.begin(), k_scripts.end(), n) != k_scripts.end())
      info.maintainer_scripts.push_back(n);
  }
  std::sort(info.maintainer_scripts.begin(), info.maintainer_scripts.end());
  if (!control) fail(ErrorKind::input, "deb: control.tar has no 'control' file");
  // deb-control(5): "Field: value" lines; continuation lines start with a space or tab.
  std::size_t pos = 0;
  while (pos < control->size()) {
    std::size_t eol = control->find('\n', pos);
    if (eol == std::string::npos) eol = control->size();
    const std::string line = control->substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    const std::string key = line.substr(0, colon);
    if (key == "Package") info.package = value;
    else if (key == "Version") info.version = value;
    else if (key == "Architecture") info.architecture = value;
    else if (key == "Source") info.source = value;
  }
  for (const auto& [field, value] : {std::pair<std::string_view, const std::string*>{"Package", &info.package},
                                     {"Version", &info.version}, {"Architecture", &info.architecture}}) {
    if (value->empty()) fail(ErrorKind::input, "deb: control file: missing field {}", field);
  }
  info.copyright_path = "usr/share/doc/" + info.package + "/copyright";
  return info;
}

} // namespace tdximg::store
