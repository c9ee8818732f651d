#include <tdximg/util/digest.hpp>

#include <algorithm>
#include <array>

#include <openssl/evp.h>

#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg {

std::size_t digest_size(HashAlg alg) noexcept {
  switch (alg) {
  case HashAlg::sha1: return 20;
  case HashAlg::sha256: return 32;
  case HashAlg::sha384: return 48;
  case HashAlg::sha512: return 64;
  }
  return 0;
}

std::string_view hash_name(HashAlg alg) noexcept {
  switch (alg) {
  case HashAlg::sha1: return "sha1";
  case HashAlg::sha256: return "sha256";
  case HashAlg::sha384: return "sha384";
  case HashAlg::sha512: return "sha512";
  }
  return "?";
}

HashAlg parse_hash_name(std::string_view name) {
  for (HashAlg a : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha384, HashAlg::sha512})
    if (hash_name(a) == name) return a;
  fail(ErrorKind::input, "unknown hash algorithm '{}' (expected sha1, sha256, sha384 or sha512)", name);
}

std::uint16_t tpm_alg_id(HashAlg alg) noexcept {
  switch (alg) {
  case HashAlg::sha1: return 0x0004;
  case HashAlg::sha256: return 0x000B;
  case HashAlg::sha384: return 0x000C;
  case HashAlg::sha512: return 0x000D;
  }
  return 0;
}

std::string Digest::hex() const { return to_hex(value); }

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

namespace {
const EVP_MD* evp_md(HashAlg alg) {
  switch (alg) {
  case HashAlg::sha1: return EVP_sha1();
  case HashAlg::sha256: return EVP_sha256();
  case HashAlg::sha384: return EVP_sha384();
  case HashAlg::sha512: return EVP_sha512();
  }
  return nullptr;
}
} // namespace

Hasher::Hasher(HashAlg alg) : m_alg(alg), m_impl(std::make_unique<Impl>()) {
  m_impl->ctx = EVP_MD_CTX_new();
  if (m_impl->ctx == nullptr || EVP_DigestInit_ex(m_impl->ctx, evp_md(alg), nullptr) != 1) {
    fail(ErrorKind::internal, "OpenSSL: cannot initialise {}", hash_name(alg));
  }
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

Hasher& Hasher::update(ByteSpan data) {
  if (!data.empty() && EVP_DigestUpdate(m_impl->ctx, data.data(), data.size()) != 1) {
    fail(ErrorKind::internal, "OpenSSL: digest update failed");
  }
  return *this;
}

Hasher& Hasher::update_zeros(std::uint64_t n) {
  static const std::array<std::uint8_t, 4096> k_zeros{};
  while (n > 0) {
    const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, k_zeros.size()));
    update(ByteSpan(k_zeros.data(), chunk));
    n -= chunk;
  }
  return *this;
}

Bytes Hasher::finish() {
  Bytes out(digest_size(m_alg));
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(m_impl->ctx, out.data(), &len) != 1 || len != out.size()) {
    fail(ErrorKind::internal, "OpenSSL: digest final failed");
  }
  return out;
}

Bytes hash(HashAlg alg, ByteSpan data) { return Hasher(alg).update(data).finish(); }

Sha256 sha256(ByteSpan data) {
  Bytes d = hash(HashAlg::sha256, data);
  Sha256 out{};
  std::copy(d.begin(), d.end(), out.begin());
  return out;
}

Sha384 sha384(ByteSpan data) {
  Bytes d = hash(HashAlg::sha384, data);
  Sha384 out{};
  std::copy(d.begin(), d.end(), out.begin());
  return out;
}

std::string sha256_hex(ByteSpan data) { return to_hex(hash(HashAlg::sha256, data)); }

Bytes extend(HashAlg alg, ByteSpan old, ByteSpan measurement) {
  if (old.size() != digest_size(alg) || measurement.size() != digest_size(alg)) {
    fail(ErrorKind::internal, "extend({}): sizes {} and {} != {}", hash_name(alg), old.size(),
         measurement.size(), digest_size(alg));
  }
  return Hasher(alg).update(old).update(measurement).finish();
}

} // namespace tdximg
