#pragma once
// Message digests (OpenSSL EVP). Strong fixed-size types for the common cases, and a
// bank-tagged Digest for event logs and PCR banks where the algorithm is data.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <tdximg/util/bytes.hpp>

namespace tdximg {

enum class HashAlg { sha1, sha256, sha384, sha512 };

using Sha256 = std::array<std::uint8_t, 32>;
using Sha384 = std::array<std::uint8_t, 48>;

std::size_t digest_size(HashAlg alg) noexcept;
std::string_view hash_name(HashAlg alg) noexcept; // "sha1", "sha256", ...
// Parses "sha256" etc.; throws ErrorKind::input for anything else.
HashAlg parse_hash_name(std::string_view name);
// TPM2_ALG_ID of the algorithm (0x0004 sha1, 0x000B sha256, 0x000C sha384, 0x000D sha512).
std::uint16_t tpm_alg_id(HashAlg alg) noexcept;

// A digest value tagged with its algorithm.
struct Digest {
  HashAlg alg = HashAlg::sha256;
  Bytes value;
  std::string hex() const;
  bool operator==(const Digest&) const = default;
};

// Incremental hasher. Not copyable; movable.
class Hasher {
public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Hasher& update(ByteSpan data);
  Hasher& update(std::string_view s) { return update(as_bytes(s)); }
  Hasher& update_zeros(std::uint64_t n); // hashes n zero bytes without allocating n bytes
  Bytes finish();                        // the object may not be used afterwards
  HashAlg alg() const noexcept { return m_alg; }

private:
  HashAlg m_alg;
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

Bytes hash(HashAlg alg, ByteSpan data);
Sha256 sha256(ByteSpan data);
Sha384 sha384(ByteSpan data);
inline Sha256 sha256(std::string_view s) { return sha256(as_bytes(s)); }
std::string sha256_hex(ByteSpan data);

// PCR/RTMR extend: H(old || measurement). `old` and `measurement` must be digest_size(alg).
Bytes extend(HashAlg alg, ByteSpan old, ByteSpan measurement);

} // namespace tdximg
