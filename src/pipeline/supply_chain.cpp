// sbom.spdx.json (SPDX 2.3) and provenance.json (in-toto Statement v1 + SLSA provenance v1).
// Determinism: every value comes from the recipe, the pinned inputs and the outputs' digests;
// times are SOURCE_DATE_EPOCH; arrays are sorted by name; nlohmann::json sorts object keys.
#include <tdximg/pipeline/supply_chain.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <tuple>

#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/rootfs/archive.hpp>
#include <tdximg/store/store.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_noassertion = "NOASSERTION";
// Bump when deb_license() would give a different answer for the same package.
constexpr std::string_view k_license_cache_version = "tdximg-deb-license-v1";

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

// One deb822 paragraph: field name (lowercased) -> value lines (first line, then continuations).
using Paragraph = std::map<std::string, std::vector<std::string>>;

std::vector<Paragraph> parse_deb822(std::string_view text) {
  std::vector<Paragraph> paras;
  Paragraph cur;
  std::string last;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto nl = text.find('\n', pos);
    const std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (trim(line).empty()) {
      if (!cur.empty()) paras.push_back(std::move(cur));
      cur.clear();
      last.clear();
      continue;
    }
    if (line[0] == '#') continue;
    if (line[0] == ' ' || line[0] == '\t') {
      if (!last.empty()) cur[last].push_back(trim(line));
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) { // not deb822: give up on this paragraph's field
      last.clear();
      continue;
    }
    last = lower(trim(line.substr(0, colon)));
    cur[last] = {trim(line.substr(colon + 1))};
  }
  if (!cur.empty()) paras.push_back(std::move(cur));
  return paras;
}

// An SPDX idstring: letters, digits, '.', '-'; everything else becomes '-'.
std::string spdx_idstring(std::string_view s) {
  std::string r;
  for (char c : s) r += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '-';
  return r.empty() ? std::string("unnamed") : r;
}

// Debian copyright-format 1.0 short names ("License specification" table) -> SPDX license ids.
// The GNU families carry versions; "+" means "or any later version".
std::string spdx_license_id(std::string_view dep5_name) {
  static const std::map<std::string, std::string> direct = {
      {"apache-1.0", "Apache-1.0"},     {"apache-1.1", "Apache-1.1"},
      {"apache-2.0", "Apache-2.0"},     {"artistic", "Artistic-1.0"},
      {"artistic-1.0", "Artistic-1.0"}, {"artistic-2.0", "Artistic-2.0"},
      {"bsd-2-clause", "BSD-2-Clause"}, {"bsd-3-clause", "BSD-3-Clause"},
      {"bsd-4-clause", "BSD-4-Clause"}, {"cc0-1.0", "CC0-1.0"},
      {"expat", "MIT"},                 {"mit", "MIT"},
      {"isc", "ISC"},                   {"mpl-1.1", "MPL-1.1"},
      {"mpl-2.0", "MPL-2.0"},           {"zlib", "Zlib"},
      {"bsl-1.0", "BSL-1.0"},           {"python-2.0", "Python-2.0"},
      {"openssl", "OpenSSL"},           {"unicode-dfs-2016", "Unicode-DFS-2016"},
      {"x11", "X11"},                   {"ftl", "FTL"},
      {"epl-1.0", "EPL-1.0"},           {"epl-2.0", "EPL-2.0"},
      {"cc-by-4.0", "CC-BY-4.0"},       {"cc-by-sa-4.0", "CC-BY-SA-4.0"},
      {"wtfpl", "WTFPL"},               {"0bsd", "0BSD"},
      {"afl-2.1", "AFL-2.1"},           {"afl-3.0", "AFL-3.0"},
      {"unlicense", "Unlicense"},       {"ofl-1.1", "OFL-1.1"},
      {"cc-by-3.0", "CC-BY-3.0"},       {"cc-by-sa-3.0", "CC-BY-SA-3.0"},
      {"curl", "curl"},                 {"libpng", "Libpng"},
  };
  const std::string l = lower(dep5_name);
  if (auto it = direct.find(l); it != direct.end()) return it->second;
  // GPL-2, GPL-2+, LGPL-2.1+, AGPL-3, GFDL-1.3+; also the SPDX spellings GPL-2.0-or-later etc.
  static const std::vector<std::pair<std::string, std::string>> families = {
      {"agpl-", "AGPL-"}, {"lgpl-", "LGPL-"}, {"gpl-", "GPL-"}, {"gfdl-", "GFDL-"}};
  for (const auto& [prefix, spdx] : families) {
    if (l.rfind(prefix, 0) != 0) continue;
    std::string ver = l.substr(prefix.size());
    bool later = false;
    if (ver.size() > 9 && ver.ends_with("-or-later")) ver.resize(ver.size() - 9), later = true;
    else if (ver.size() > 5 && ver.ends_with("-only")) ver.resize(ver.size() - 5);
    else if (!ver.empty() && ver.back() == '+') ver.pop_back(), later = true;
    if (ver.empty() || !std::all_of(ver.begin(), ver.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
      break;
    if (ver.find('.') == std::string::npos) ver += ".0";
    return spdx + ver + (later ? "-or-later" : "-only");
  }
  return "LicenseRef-" + spdx_idstring(dep5_name);
}

// The first line of a DEP-5 License field ("BSD-3-clause or GPL-2", "GPL-2+ or Artistic, and
// BSD-3-clause", "GPL-2 with OpenSSL exception") as an SPDX expression; "" if unparsable.
// Commas bind loosest (copyright-format 1.0), so each comma-separated part is parenthesized.
std::string dep5_expression(std::string_view first_line) {
  std::string result;
  std::size_t pos = 0;
  bool first_group = true;
  while (pos <= first_line.size()) {
    const auto comma = first_line.find(',', pos);
    const std::string_view group =
        first_line.substr(pos, comma == std::string_view::npos ? first_line.npos : comma - pos);
    pos = comma == std::string_view::npos ? first_line.size() + 1 : comma + 1;
    std::vector<std::string> words = split_words(group);
    std::string lead_op;
    if (!first_group) {
      if (words.empty()) return {};
      const std::string op = lower(words.front());
      if (op != "and" && op != "or") return {};
      lead_op = op == "and" ? "AND" : "OR";
      words.erase(words.begin());
    }
    // license (("and"|"or") license)*; a license may be "NAME with WORDS... exception".
    std::string expr;
    std::size_t terms = 0;
    for (std::size_t i = 0; i < words.size();) {
      if (terms > 0) {
        const std::string op = lower(words[i]);
        if (op != "and" && op != "or") return {};
        expr += op == "and" ? " AND " : " OR ";
        if (++i == words.size()) return {};
      }
      std::string name = words[i++];
      if (i < words.size() && lower(words[i]) == "with") {
        std::size_t j = i + 1;
        while (j < words.size() && lower(words[j]) != "exception") ++j;
        if (j == words.size() || j == i + 1) return {};
        for (std::size_t k = i; k <= j; ++k) name += "-" + words[k];
        i = j + 1;
        expr += "LicenseRef-" + spdx_idstring(name);
      } else {
        expr += spdx_license_id(name);
      }
      ++terms;
    }
    if (terms == 0) return {};
    if (first_group) {
      result = expr;
    } else {
      result = "(" + result + ") " + lead_op + " (" + expr + ")";
    }
    first_group = false;
  }
  return result;
}

std::string input_id(std::string_view name) { return "SPDXRef-Input-" + spdx_idstring(name); }
std::string output_id(std::string_view name) { return "SPDXRef-Output-" + spdx_idstring(name); }

// Package URL for a Debian package (github.com/package-url/purl-spec, type "deb").
std::string deb_purl(const InputRecord& in) {
  std::string ver;
  for (char c : in.version) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '~') ver += c;
    else ver += fmt::format("%{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
  }
  std::string q = "arch=" + in.arch;
  if (!in.suite.empty()) q += "&distro=" + in.suite;
  return fmt::format("pkg:deb/debian/{}@{}?{}", in.package, ver, q);
}

std::vector<InputRecord> sorted_inputs(const SupplyChainInfo& info) {
  std::vector<InputRecord> v = info.inputs;
  std::sort(v.begin(), v.end(), [](const InputRecord& a, const InputRecord& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i].name == v[i - 1].name) fail(ErrorKind::internal, "supply chain: input '{}' listed twice", v[i].name);
  return v;
}

// Unique SPDX ids even where two names sanitize alike ("a_b", "a-b"): a suffix by sorted order.
std::map<std::string, std::string> unique_ids(const std::vector<std::string>& names,
                                              std::string (*make)(std::string_view)) {
  std::map<std::string, std::string> ids;
  std::set<std::string> used;
  for (const auto& n : names) {
    std::string id = make(n);
    for (int k = 2; used.count(id); ++k) id = make(n) + "-" + std::to_string(k);
    used.insert(id);
    ids[n] = id;
  }
  return ids;
}

std::string dependency_uri(const InputRecord& in) {
  switch (in.kind) {
  case recipe::InputKind::deb: return "deb:" + in.package + "=" + in.version;
  case recipe::InputKind::url: return in.location;
  case recipe::InputKind::path: return in.location;
  }
  return in.location;
}

} // namespace

std::string iso8601_utc(std::int64_t t) {
  // 253402300799 = 9999-12-31T23:59:59Z.
  if (t < 0 || t > 253402300799) fail(ErrorKind::input, "SOURCE_DATE_EPOCH {}: outside years 1970..9999", t);
  // Civil-from-days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
  const std::int64_t days = t / 86400, secs = t % 86400;
  const std::int64_t z = days + 719468;
  const std::int64_t era = z / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
}

std::string dep5_license(std::string_view copyright) {
  const std::vector<Paragraph> paras = parse_deb822(copyright);
  if (paras.empty()) return std::string(k_noassertion);
  const auto fmt_it = paras.front().find("format");
  if (fmt_it == paras.front().end()) return std::string(k_noassertion);
  const std::string format = lower(fmt_it->second.front());
  if (format.find("copyright-format") == std::string::npos && format.find("dep5") == std::string::npos)
    return std::string(k_noassertion);
  for (std::size_t i = 1; i < paras.size(); ++i) {
    const auto files = paras[i].find("files");
    if (files == paras[i].end()) continue;
    bool star = false;
    for (const auto& l : files->second)
      for (const auto& w : split_words(l)) star = star || w == "*";
    if (!star) continue;
    const auto lic = paras[i].find("license");
    if (lic == paras[i].end() || lic->second.front().empty()) return std::string(k_noassertion);
    const std::string expr = dep5_expression(lic->second.front());
    return expr.empty() ? std::string(k_noassertion) : expr;
  }
  return std::string(k_noassertion);
}

std::string deb_license(ByteSpan deb, std::string_view package, std::string_view name) {
  const std::string path = fmt::format("usr/share/doc/{}/copyright", package);
  const auto entries = rootfs::read_archive_input(deb, name, {}, [&](const std::string& p) { return p == path; });
  // Last entry of that name wins, as when the package is unpacked.
  const rootfs::ArchiveEntry* found = nullptr;
  for (const auto& e : entries)
    if (e.path == path) found = &e;
  if (!found || found->type != rootfs::EntryType::regular || !found->content.data)
    return std::string(k_noassertion);
  return dep5_license(as_chars(*found->content.data));
}

std::vector<InputRecord> describe_inputs(const recipe::Recipe& r,
                                         const std::map<std::string, store::ResolvedInput>& inputs,
                                         store::Store* cache) {
  std::optional<recipe::LockFile> lock;
  const fs::path lock_path = recipe::lock_path_for(r);
  std::error_code ec;
  if (fs::exists(lock_path, ec)) lock = recipe::read_lock(lock_path);

  std::vector<InputRecord> out;
  for (const auto& [name, ri] : inputs) {
    const auto it = r.inputs.find(name);
    if (it == r.inputs.end()) fail(ErrorKind::internal, "supply chain: resolved input '{}' is not in the recipe", name);
    const recipe::Input& in = it->second;
    InputRecord rec;
    rec.name = name;
    rec.kind = in.kind;
    rec.sha256 = ri.sha256;
    rec.size = ri.size;
    switch (in.kind) {
    case recipe::InputKind::deb: {
      rec.package = in.deb.package;
      rec.version = in.deb.version;
      rec.suite = in.deb.suite;
      rec.arch = in.deb.arch;
      if (lock) {
        if (auto e = lock->entries.find(name); e != lock->entries.end()) rec.pool_path = e->second.filename;
      }
      const std::string key = sha256_hex(as_bytes(std::string(k_license_cache_version) + ":" + ri.sha256));
      std::optional<Bytes> cached = cache ? cache->get_keyed("deb-license", key) : std::nullopt;
      if (cached) {
        rec.license = std::string(as_chars(*cached));
      } else {
        rec.license = deb_license(ri.data, rec.package, name);
        if (cache) cache->put_keyed("deb-license", key, as_bytes(rec.license));
      }
      if (rec.license != k_noassertion)
        rec.license_source = fmt::format("usr/share/doc/{}/copyright: Files: *", rec.package);
      break;
    }
    case recipe::InputKind::url: rec.location = in.url; break;
    case recipe::InputKind::path:
      rec.location = in.path.lexically_relative(r.file.parent_path()).generic_string();
      break;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

nlohmann::json make_sbom(const SupplyChainInfo& info) {
  using nlohmann::json;
  const std::vector<InputRecord> ins = sorted_inputs(info);
  const std::string created = iso8601_utc(info.source_date_epoch);

  // The namespace must be unique per document and identical for identical builds: a digest
  // of what the document describes.
  Hasher h(HashAlg::sha256);
  h.update("tdximg-spdx-namespace-v1\n").update(info.recipe_name).update("\n").update(info.recipe_sha256).update("\n");
  for (const auto& [name, digest] : info.outputs) h.update(name).update(std::string_view("\0", 1)).update(digest).update("\n");
  const std::string ns_digest = to_hex(h.finish());

  std::vector<std::string> in_names, out_names;
  for (const auto& in : ins) in_names.push_back(in.name);
  for (const auto& [name, digest] : info.outputs) out_names.push_back(name);
  const auto in_ids = unique_ids(in_names, input_id);
  const auto out_ids = unique_ids(out_names, output_id);
  const std::string image_id = "SPDXRef-Image-" + spdx_idstring(info.recipe_name);

  json packages = json::array();
  json relationships = json::array();
  std::set<std::string> license_refs;

  // The image as a whole: what the document describes.
  packages.push_back({{"SPDXID", image_id},
                      {"name", info.recipe_name},
                      {"versionInfo", info.recipe_sha256},
                      {"downloadLocation", k_noassertion},
                      {"filesAnalyzed", false},
                      {"primaryPackagePurpose", "OPERATING_SYSTEM"},
                      {"licenseConcluded", k_noassertion},
                      {"licenseDeclared", k_noassertion},
                      {"copyrightText", k_noassertion},
                      {"comment", "TDX guest image built by tdximg from recipe '" + info.recipe_name +
                                      "' (versionInfo = sha256 of the canonical recipe)"}});
  relationships.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"}, {"relationshipType", "DESCRIBES"}, {"relatedSpdxElement", image_id}});

  for (const auto& in : ins) {
    json p = {{"SPDXID", in_ids.at(in.name)},
              {"filesAnalyzed", false},
              {"checksums", json::array({{{"algorithm", "SHA256"}, {"checksumValue", in.sha256}}})},
              {"licenseConcluded", k_noassertion},
              {"copyrightText", k_noassertion}};
    std::string comment = fmt::format("recipe input '{}' ({}, {} bytes)", in.name, recipe::input_kind_name(in.kind), in.size);
    switch (in.kind) {
    case recipe::InputKind::deb:
      p["name"] = in.package;
      p["versionInfo"] = in.version;
      p["supplier"] = "Organization: Debian";
      p["primaryPackagePurpose"] = "INSTALL"; // a .deb: installable software
      // The mirror's host differs between machines and outputs must not: the pool path (the
      // same on every Debian mirror) goes in the comment, the purl names the package exactly.
      p["downloadLocation"] = k_noassertion;
      p["externalRefs"] = json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                        {"referenceType", "purl"},
                                        {"referenceLocator", deb_purl(in)}}});
      p["licenseDeclared"] = in.license;
      if (!in.pool_path.empty()) comment += "; Debian mirror pool path: " + in.pool_path;
      if (!in.license_source.empty()) comment += "; license from " + in.license_source;
      break;
    case recipe::InputKind::url:
      p["name"] = in.name;
      p["downloadLocation"] = in.location;
      p["licenseDeclared"] = k_noassertion;
      p["primaryPackagePurpose"] = "FILE";
      break;
    case recipe::InputKind::path:
      p["name"] = in.name;
      p["downloadLocation"] = k_noassertion;
      p["licenseDeclared"] = k_noassertion;
      p["primaryPackagePurpose"] = "FILE";
      comment += "; path relative to the recipe: " + in.location;
      break;
    }
    p["comment"] = comment;
    // Every LicenseRef-x used must be defined in hasExtractedLicensingInfos (SPDX 2.3 §10).
    const std::string lic = p["licenseDeclared"];
    for (std::size_t at = lic.find("LicenseRef-"); at != std::string::npos; at = lic.find("LicenseRef-", at + 1)) {
      std::size_t end = at;
      while (end < lic.size() && lic[end] != ' ' && lic[end] != ')') ++end;
      license_refs.insert(lic.substr(at, end - at));
    }
    packages.push_back(std::move(p));
    relationships.push_back({{"spdxElementId", image_id}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", in_ids.at(in.name)}});
  }

  for (const auto& [name, digest] : info.outputs) {
    packages.push_back({{"SPDXID", out_ids.at(name)},
                        {"name", name},
                        {"downloadLocation", k_noassertion},
                        {"filesAnalyzed", false},
                        {"primaryPackagePurpose", "FILE"},
                        {"checksums", json::array({{{"algorithm", "SHA256"}, {"checksumValue", digest}}})},
                        {"licenseConcluded", k_noassertion},
                        {"licenseDeclared", k_noassertion},
                        {"copyrightText", k_noassertion},
                        {"comment", "build output " + name}});
    relationships.push_back({{"spdxElementId", image_id}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", out_ids.at(name)}});
  }

  json extracted = json::array();
  for (const auto& ref : license_refs) {
    extracted.push_back({{"licenseId", ref},
                         {"name", ref.substr(11)},
                         {"extractedText", "A license named '" + ref.substr(11) +
                                               "' in a Debian machine-readable copyright file (usr/share/doc/<package>/copyright); "
                                               "it has no SPDX license list identifier. See that file for its text."}});
  }

  // Sorted arrays: packages and relationships by their ids, so insertion order never matters.
  auto by = [](const char* k1, const char* k2) {
    return [k1, k2](const json& a, const json& b) {
      return std::tie(a.at(k1).get_ref<const std::string&>(), a.at(k2).get_ref<const std::string&>()) <
             std::tie(b.at(k1).get_ref<const std::string&>(), b.at(k2).get_ref<const std::string&>());
    };
  };
  std::sort(packages.begin(), packages.end(), by("SPDXID", "SPDXID"));
  std::sort(relationships.begin(), relationships.end(), by("spdxElementId", "relatedSpdxElement"));

  json doc = {{"spdxVersion", "SPDX-2.3"},
              {"dataLicense", "CC0-1.0"},
              {"SPDXID", "SPDXRef-DOCUMENT"},
              {"name", "tdximg-" + info.recipe_name},
              {"documentNamespace", "https://tdximg.invalid/spdx/" + spdx_idstring(info.recipe_name) + "-" + ns_digest},
              {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: tdximg-" + info.tool_version})}}},
              {"documentDescribes", json::array({image_id})},
              {"packages", packages},
              {"relationships", relationships}};
  if (!extracted.empty()) doc["hasExtractedLicensingInfos"] = extracted;
  return doc;
}

nlohmann::json make_provenance(const SupplyChainInfo& info) {
  using nlohmann::json;
  const std::vector<InputRecord> ins = sorted_inputs(info);
  const std::string when = iso8601_utc(info.source_date_epoch);

  json subjects = json::array();
  for (const auto& [name, digest] : info.outputs) subjects.push_back({{"name", name}, {"digest", {{"sha256", digest}}}});

  json deps = json::array();
  for (const auto& in : ins) {
    json d = {{"name", in.name}, {"uri", dependency_uri(in)}, {"digest", {{"sha256", in.sha256}}}};
    json ann = {{"kind", recipe::input_kind_name(in.kind)}, {"size", in.size}};
    if (in.kind == recipe::InputKind::deb) {
      ann["suite"] = in.suite;
      ann["arch"] = in.arch;
      if (!in.pool_path.empty()) ann["pool_path"] = in.pool_path;
    }
    d["annotations"] = ann;
    deps.push_back(std::move(d));
  }

  const std::string builder = "https://tdximg.invalid/builder/tdximg@" + info.tool_version;
  return {{"_type", "https://in-toto.io/Statement/v1"},
          {"subject", subjects},
          {"predicateType", "https://slsa.dev/provenance/v1"},
          {"predicate",
           {{"buildDefinition",
             {{"buildType", "https://tdximg.invalid/buildtypes/recipe/v1"},
              {"externalParameters", {{"recipe", {{"name", info.recipe_name}, {"sha256", info.recipe_sha256}}}}},
              {"internalParameters", {{"source_date_epoch", info.source_date_epoch}}},
              {"resolvedDependencies", deps}}},
            {"runDetails",
             {{"builder", {{"id", builder}, {"version", {{"tdximg", info.tool_version}}}}},
              {"metadata", {{"invocationId", "recipe-" + info.recipe_sha256},
                            {"startedOn", when},
                            {"finishedOn", when}}}}}}}};
}

std::string supply_chain_text(const nlohmann::json& document) { return document.dump(2) + "\n"; }

} // namespace tdximg::pipeline
