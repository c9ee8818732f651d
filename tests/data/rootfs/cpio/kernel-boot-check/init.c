// /init for run.sh: checks what the kernel unpacked from the segmented initramfs, powers off.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/reboot.h>
#include <unistd.h>
static int bad = 0;
static void check(int ok, const char* what) { printf("%s %s\n", ok ? "ok  " : "FAIL", what); if (!ok) bad = 1; }
static int content(const char* p, const char* want) {
  FILE* f = fopen(p, "rb"); if (!f) return 0; char buf[256] = {0}; size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f);
  return n == strlen(want) && memcmp(buf, want, n) == 0;
}
int main(void) {
  struct stat a, b, c;
  check(content("/s1/gz", "from gzip\n"), "gzip segment file");
  check(content("/s2/zst", "from zstd\n"), "zstd segment file");
  check(content("/s3/xz", "from xz\n"), "xz segment file");
  check(content("/s4/plain", "plain after compressed\n"), "plain segment after compressed ones");
  check(content("/etc/motd", "layer 3 wins\n"), "later segment overrides earlier file");
  char t[64] = {0}; ssize_t n = readlink("/s2/link", t, sizeof t - 1);
  check(n == 8 && strcmp(t, "../s1/gz") == 0, "symlink target");
  check(content("/s2/link", "from gzip\n"), "symlink resolves across segments");
  check(stat("/s3/h1", &a) == 0 && stat("/s3/h2", &b) == 0 && stat("/s3/h3", &c) == 0, "hardlinks exist");
  check(a.st_ino == b.st_ino && b.st_ino == c.st_ino && a.st_nlink == 3, "hardlink group shares one inode, nlink 3");
  check(content("/s3/h1", "linked body\n") && content("/s3/h2", "linked body\n"), "hardlink content via first members");
  check(stat("/s1/owned", &a) == 0 && a.st_uid == 1000 && a.st_gid == 100 && (a.st_mode & 07777) == 0751, "uid/gid/mode");
  check(a.st_mtime == 1735689600, "mtime preserved");
  check(lstat("/dev/console", &a) == 0 && S_ISCHR(a.st_mode) && major(a.st_rdev) == 5 && minor(a.st_rdev) == 1, "char device 5:1");
  check(lstat("/s2/fifo", &a) == 0 && S_ISFIFO(a.st_mode), "fifo");
  check(stat("/s1/empty", &a) == 0 && a.st_size == 0, "empty file");
  printf(bad ? "CPIO-BOOT-FAIL\n" : "CPIO-BOOT-OK\n");
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
