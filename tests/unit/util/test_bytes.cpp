#include <catch2/catch.hpp>

#include <limits>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;

TEST_CASE("checked_slice rejects ranges past the end without wrapping", "[util]") {
  Bytes d(16, 0xaa);
  CHECK(checked_slice(d, 0, 16, "x").size() == 16);
  CHECK(checked_slice(d, 16, 0, "x").empty());
  CHECK_THROWS_AS(checked_slice(d, 17, 0, "x"), Error);
  CHECK_THROWS_AS(checked_slice(d, 8, 9, "x"), Error);
  // off + n wraps to a small number: must still be rejected.
  CHECK_THROWS_AS(checked_slice(d, 8, std::numeric_limits<std::uint64_t>::max() - 4, "x"), Error);
}

TEST_CASE("ByteReader reads little and big endian and names the truncation point", "[util]") {
  const Bytes d{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
  ByteReader r(d, "blob");
  CHECK(r.u16le("a") == 0x0201);
  CHECK(r.u32be("b") == 0x03040506u);
  CHECK(r.offset() == 6);
  try {
    r.u32le("field");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) == "blob: field at offset 0x6: needs 4 bytes, only 3 left (truncated)");
  }
}

TEST_CASE("ByteReader::sub keeps absolute offsets in messages", "[util]") {
  const Bytes d(32, 0);
  ByteReader r(d, "f");
  ByteReader s = r.sub(16, 4, "hdr");
  s.u32le("x");
  try {
    s.u8("y");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("offset 0x14") != std::string::npos);
  }
  CHECK_THROWS_AS(r.sub(30, 4, "hdr"), Error);
}

TEST_CASE("ByteWriter pads and patches", "[util]") {
  ByteWriter w;
  w.u8(1);
  w.pad_to(4);
  w.u32le(0xdeadbeef);
  w.patch_u16le(0, 0x0302);
  CHECK(to_hex(w.data()) == "02030000efbeadde");
  CHECK_THROWS_AS(w.patch_u32le(6, 0), Error);
}

TEST_CASE("hex round-trips and rejects bad digits", "[util]") {
  CHECK(to_hex(from_hex("00FFa5")) == "00ffa5");
  CHECK_THROWS_AS(from_hex("abc"), Error);
  CHECK_THROWS_AS(from_hex("zz"), Error);
}

// Published vectors: FIPS 180-2 "abc" examples.
TEST_CASE("digests match the FIPS 180-2 'abc' vectors", "[util]") {
  CHECK(to_hex(hash(HashAlg::sha1, as_bytes("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(to_hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha384(as_bytes("abc"))) ==
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  Hasher h(HashAlg::sha256);
  h.update_zeros(5000);
  CHECK(h.finish() == hash(HashAlg::sha256, Bytes(5000, 0)));
}

// Published vector: flashbots/measured-boot TestExtendPCR (shared/reference/pcr-measurements.md §10.1).
TEST_CASE("extend matches the published separator vector", "[util]") {
  const Bytes zero(32, 0);
  const Bytes sep = hash(HashAlg::sha256, Bytes(4, 0));
  CHECK(to_hex(extend(HashAlg::sha256, zero, sep)) ==
        "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
}
