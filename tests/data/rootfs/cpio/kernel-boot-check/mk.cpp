// Builds the 5-segment initramfs for run.sh with tdximg's writer and compressors.
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/util/file.hpp>
using namespace tdximg;
using namespace tdximg::rootfs;
static std::uint32_t g_ino = 1;
static CpioEntry E(std::string p, std::uint32_t mode, std::string_view d = {}, std::uint32_t nlink = 1, std::uint32_t ino = 0) {
  CpioEntry e; e.path = std::move(p); e.mode = mode; e.mtime = 1735689600; e.nlink = nlink; e.ino = ino ? ino : g_ino++;
  if (!d.empty()) e.data = std::make_shared<const Bytes>(to_bytes(d));
  return e;
}
int main() {
  const Bytes init = read_file("init");
  std::vector<CpioEntry> s0{E("dev", 040755, {}, 2), E("etc", 040755, {}, 2), E("etc/motd", 0100644, "layer 0\n")};
  CpioEntry con = E("dev/console", 020600); con.rdev_major = 5; con.rdev_minor = 1; s0.insert(s0.begin() + 1, con);
  CpioEntry in = E("init", 0100755); in.data = std::make_shared<const Bytes>(init); s0.push_back(in);
  std::vector<CpioEntry> s1{E("s1", 040755, {}, 2), E("s1/empty", 0100644), E("s1/gz", 0100644, "from gzip\n")};
  CpioEntry own = E("s1/owned", 0100751, "x"); own.uid = 1000; own.gid = 100; s1.push_back(own);
  std::vector<CpioEntry> s2{E("s2", 040755, {}, 2), E("s2/fifo", 010644), E("s2/link", 0120777, "../s1/gz"), E("s2/zst", 0100644, "from zstd\n")};
  const std::uint32_t hl = g_ino++;
  std::vector<CpioEntry> s3{E("etc/motd", 0100644, "layer 3 wins\n"), E("s3", 040755, {}, 2),
      E("s3/h1", 0100644, "linked body\n", 3, hl), E("s3/h2", 0100644, "linked body\n", 3, hl), E("s3/h3", 0100644, "linked body\n", 3, hl),
      E("s3/xz", 0100644, "from xz\n")};
  std::vector<CpioEntry> s4{E("s4", 040755, {}, 2), E("s4/plain", 0100644, "plain after compressed\n")};
  Bytes stream;
  append_initramfs_segment(stream, write_cpio_newc(s0));
  append_initramfs_segment(stream, compress(write_cpio_newc(s1), Compression::gzip, 9));
  append_initramfs_segment(stream, compress(write_cpio_newc(s2), Compression::zstd, 19));
  append_initramfs_segment(stream, compress(write_cpio_newc(s3), Compression::xz, 9));
  append_initramfs_segment(stream, write_cpio_newc(s4));
  write_file_atomic("initramfs.img", stream);
  const auto st = read_cpio_segments(stream);
  std::printf("%zu segments, %zu members, %zu bytes\n", st.segments.size(), st.members.size(), stream.size());
}
