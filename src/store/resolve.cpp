#include <tdximg/store/resolve.hpp>

#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::store {

namespace {

bool is_digest(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "deb busybox-static=1:1.36.1-3 (bookworm, amd64)", "url https://...", "path /abs/file".
std::string source_text(const recipe::Input& in) {
  switch (in.kind) {
  case recipe::InputKind::path: return "path " + in.path.string();
  case recipe::InputKind::url: return "url " + in.url;
  case recipe::InputKind::deb:
    return fmt::format("deb {}{}{} ({}, {})", in.deb.package, in.deb.version.empty() ? "" : "=",
                       in.deb.version, in.deb.suite, in.deb.arch);
  }
  return "input";
}

// Checks `data` against the pins of `in`; throws ErrorKind::integrity naming both digests.
void verify(const recipe::Input& in, ByteSpan data, const std::string& source) {
  const std::string got = sha256_hex(data);
  if (got != in.sha256)
    fail(ErrorKind::integrity, "input '{}': sha256 mismatch: expected {}, got {} ({})", in.name,
         in.sha256, got, source);
  if (in.size && *in.size != data.size())
    fail(ErrorKind::integrity, "input '{}': size mismatch: expected {} bytes, got {} ({})", in.name,
         *in.size, data.size(), source);
}

ResolvedInput make(const recipe::Input& in, Bytes data, std::string description) {
  ResolvedInput r;
  r.name = in.name;
  r.sha256 = in.sha256;
  r.size = data.size();
  r.data = std::move(data);
  r.description = std::move(description);
  return r;
}

} // namespace

ResolvedInput resolve_input(const recipe::Input& input, Store& store, Offline offline) {
  if (input.sha256.empty())
    fail(ErrorKind::input, "input '{}' ({}) has no sha256 pin; run `tdximg lock`", input.name,
         source_text(input));
  if (!is_digest(input.sha256))
    fail(ErrorKind::input, "input '{}': sha256 '{}' is not 64 lowercase hex digits", input.name,
         input.sha256);
  const std::string source = source_text(input);

  if (input.kind == recipe::InputKind::path) {
    std::error_code ec;
    if (fs::exists(input.path, ec)) {
      const bool tree = fs::is_directory(input.path, ec);
      Bytes data = tree ? canonical_tree_archive(input.path) : read_file(input.path);
      verify(input, data, source);
      store.put(data); // so that `store export` can carry it
      return make(input, std::move(data), source + (tree ? " (tree archive)" : ""));
    }
    if (std::optional<Bytes> b = store.get(input.sha256)) {
      verify(input, *b, "store");
      return make(input, std::move(*b), source + " (missing; taken from the store)");
    }
    fail(ErrorKind::io, "input '{}': {} does not exist and its sha256 {} is not in the store",
         input.name, input.path.string(), input.sha256);
  }

  if (std::optional<Bytes> b = store.get(input.sha256)) {
    verify(input, *b, source + " from the store");
    return make(input, std::move(*b), source + " from the store");
  }
  if (offline == Offline::yes)
    fail(ErrorKind::fetch, "input '{}' ({}, sha256 {}) is not in the store and --offline was given",
         input.name, source.substr(0, source.find(" (")), input.sha256);

  Bytes data;
  if (input.kind == recipe::InputKind::url) {
    if (input.url.empty()) fail(ErrorKind::input, "input '{}': empty url", input.name);
    data = http_get(input.url);
  } else {
    if (input.deb.suite.empty())
      fail(ErrorKind::input, "input '{}': deb input without a suite", input.name);
    AptState apt(store, input.deb.suite, input.deb.arch);
    data = apt.download(input.deb.package, input.deb.version);
  }
  // Verified before put: a mismatching download never lands in the store under the pin
  // (the store names blobs by their own digest anyway).
  verify(input, data, source);
  store.put(data);
  return make(input, std::move(data), source + " (downloaded)");
}

} // namespace tdximg::store
