#pragma once
// A throwaway X.509 chain made by the host's openssl at test time (root CA -> intermediate CA
// -> code-signing leaf, plus an unrelated self-signed certificate), and sbsign to sign PE files
// with the leaf (intermediate included). Independent of tdximg's code: the tests then check
// what tdximg finds in the signatures these tools wrote. Shared by pe/ and measure/ tests.
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <tdximg/util/bytes.hpp>
#include <tdximg/util/file.hpp>

namespace chain_test {

struct Chain {
  tdximg::TempDir dir;
  bool ok = false;
  std::string error;
  tdximg::Bytes root, intermediate, leaf, other; // DER

  std::filesystem::path file(const std::string& name) const { return dir.path() / name; }

  // Signs `in` with the leaf key (sbsign --addcert intermediate); false if sbsign failed.
  bool sign(const std::filesystem::path& in, const std::filesystem::path& out) const {
    const std::string cmd = fmt::format(
        "sbsign --key '{}' --cert '{}' --addcert '{}' --output '{}' '{}' >/dev/null 2>&1",
        file("leaf.key").string(), file("leaf.crt").string(), file("inter.crt").string(),
        out.string(), in.string());
    return std::system(cmd.c_str()) == 0;
  }
};

inline bool run(const Chain& c, const std::string& cmd) {
  return std::system(
             fmt::format("cd '{}' && {} >/dev/null 2>&1", c.dir.path().string(), cmd).c_str()) == 0;
}

// Made once per test process; `ok` is false (with `error`) if openssl or sbsign is missing.
inline const Chain& chain() {
  static const std::unique_ptr<Chain> c = [] {
    auto ch = std::make_unique<Chain>();
    if (std::system("command -v openssl >/dev/null 2>&1 && command -v sbsign >/dev/null 2>&1") !=
        0) {
      ch->error = "openssl or sbsign (sbsigntool) not installed";
      return ch;
    }
    tdximg::write_file_atomic(
        ch->file("ca.ext"), tdximg::as_bytes(std::string_view("basicConstraints=critical,CA:TRUE\n"
                                                              "keyUsage=critical,keyCertSign\n")));
    tdximg::write_file_atomic(ch->file("leaf.ext"),
                              tdximg::as_bytes(std::string_view("basicConstraints=CA:FALSE\n"
                                                                "keyUsage=digitalSignature\n"
                                                                "extendedKeyUsage=codeSigning\n")));
    const char* steps[] = {
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.crt -days 3650 "
        "-subj '/CN=tdximg test root' -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign",
        "openssl req -new -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr "
        "-subj '/CN=tdximg test intermediate'",
        "openssl x509 -req -in inter.csr -CA root.crt -CAkey root.key -set_serial 2 -days 3650 "
        "-extfile ca.ext -out inter.crt",
        "openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr "
        "-subj '/CN=tdximg test signer'",
        "openssl x509 -req -in leaf.csr -CA inter.crt -CAkey inter.key -set_serial 3 -days 3650 "
        "-extfile leaf.ext -out leaf.crt",
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 3650 "
        "-subj '/CN=tdximg unrelated'",
        "openssl x509 -in root.crt -outform DER -out root.der",
        "openssl x509 -in inter.crt -outform DER -out inter.der",
        "openssl x509 -in leaf.crt -outform DER -out leaf.der",
        "openssl x509 -in other.crt -outform DER -out other.der",
    };
    for (const char* s : steps) {
      if (!run(*ch, s)) {
        ch->error = std::string("failed: ") + s;
        return ch;
      }
    }
    ch->root = tdximg::read_file(ch->file("root.der"));
    ch->intermediate = tdximg::read_file(ch->file("inter.der"));
    ch->leaf = tdximg::read_file(ch->file("leaf.der"));
    ch->other = tdximg::read_file(ch->file("other.der"));
    ch->ok = true;
    return ch;
  }();
  return *c;
}

} // namespace chain_test
