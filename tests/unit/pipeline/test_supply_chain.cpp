#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <set>

#include <tdximg/pipeline/supply_chain.hpp>
#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/store/store.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;
using namespace tdximg::pipeline;
using nlohmann::json;

namespace {

fs::path data_dir() { return fs::path(TDXIMG_SOURCE_DIR) / "tests/data/pipeline/supply_chain"; }
std::string data_text(const char* name) { return read_text_file(data_dir() / name); }

InputRecord deb_record(std::string name, std::string package, std::string version, std::string sha) {
  InputRecord r;
  r.name = std::move(name);
  r.kind = recipe::InputKind::deb;
  r.package = std::move(package);
  r.version = std::move(version);
  r.suite = "bookworm";
  r.arch = "amd64";
  r.sha256 = std::move(sha);
  r.size = 1234;
  return r;
}

// A build as the pipeline would describe it: two Debian packages, a local file, a URL.
SupplyChainInfo sample_info() {
  SupplyChainInfo info;
  info.recipe_name = "hello";
  info.recipe_sha256 = std::string(64, 'a');
  info.source_date_epoch = 1735689600;
  info.tool_version = "0.1.0";
  InputRecord stub = deb_record("stub", "systemd-boot-efi", "252.39-1~deb12u2", std::string(64, '1'));
  stub.pool_path = "pool/main/s/systemd/systemd-boot-efi_252.39-1~deb12u2_amd64.deb";
  stub.license = "LGPL-2.1-or-later";
  stub.license_source = "usr/share/doc/systemd-boot-efi/copyright: Files: *";
  InputRecord bb = deb_record("busybox", "busybox-static", "1:1.35.0-4+b3", std::string(64, '2'));
  bb.license = "(GPL-2.0-or-later OR AFL-2.1) AND (MIT AND LicenseRef-Tcl-BSDish)";
  InputRecord init;
  init.name = "init";
  init.kind = recipe::InputKind::path;
  init.location = "init";
  init.sha256 = std::string(64, '3');
  init.size = 42;
  InputRecord url;
  url.name = "app";
  url.kind = recipe::InputKind::url;
  url.location = "https://example.org/app.tar.gz";
  url.sha256 = std::string(64, '4');
  url.size = 7;
  info.inputs = {stub, init, bb, url};
  info.outputs = {{"uki.efi", std::string(64, 'b')}, {"disk.raw", std::string(64, 'c')}, {"manifest-free.json", std::string(64, 'd')}};
  return info;
}

const json& package_by_id(const json& sbom, const std::string& id) {
  for (const auto& p : sbom.at("packages"))
    if (p.at("SPDXID") == id) return p;
  FAIL("no package " << id);
  throw std::logic_error("unreachable");
}

} // namespace

// ---- DEP-5 license extraction ------------------------------------------------------------

TEST_CASE("the license of a DEP-5 copyright comes from its Files: * paragraph as an SPDX expression", "[pipeline]") {
  // Real debian/copyright files of Debian 12 packages (tests/data/pipeline/PROVENANCE.md).
  CHECK(dep5_license(data_text("zstd.copyright")) == "BSD-3-Clause OR GPL-2.0-only");
  CHECK(dep5_license(data_text("systemd-boot-efi.copyright")) == "LGPL-2.1-or-later");
  // "A or B, and C and D": the comma binds loosest (copyright-format 1.0, "License syntax").
  CHECK(dep5_license(data_text("dbus.copyright")) ==
        "(GPL-2.0-or-later OR AFL-2.1) AND (MIT AND LicenseRef-Tcl-BSDish)");
}

TEST_CASE("a copyright file that is not machine-readable gives NOASSERTION", "[pipeline]") {
  CHECK(dep5_license(data_text("base-files.copyright")) == "NOASSERTION");
  CHECK(dep5_license("") == "NOASSERTION");
  CHECK(dep5_license("Files: *\nLicense: GPL-2\n") == "NOASSERTION"); // no Format header
}

TEST_CASE("a DEP-5 file without a Files: * paragraph or its License gives NOASSERTION", "[pipeline]") {
  const std::string head = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n";
  CHECK(dep5_license(head + "Files: src/*\nCopyright: x\nLicense: GPL-2\n") == "NOASSERTION");
  CHECK(dep5_license(head + "Files: *\nCopyright: x\n") == "NOASSERTION");
  CHECK(dep5_license(head + "Files: *\nLicense:\n text only\n") == "NOASSERTION");
  CHECK(dep5_license(head + "Files: *\nLicense: GPL-2 or\n") == "NOASSERTION");
  CHECK(dep5_license(head + "Files: *\nLicense: GPL-2 maybe MIT\n") == "NOASSERTION");
}

TEST_CASE("DEP-5 short names map to SPDX ids, unknown names and exceptions to LicenseRefs", "[pipeline]") {
  const std::string head = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n";
  auto lic = [&](const std::string& l) { return dep5_license(head + "Files: debian/* *\nCopyright: x\nLicense: " + l + "\n"); };
  CHECK(lic("GPL-2") == "GPL-2.0-only");
  CHECK(lic("GPL-2+") == "GPL-2.0-or-later");
  CHECK(lic("LGPL-2.1") == "LGPL-2.1-only");
  CHECK(lic("AGPL-3+") == "AGPL-3.0-or-later");
  CHECK(lic("GPL-3.0-or-later") == "GPL-3.0-or-later"); // already SPDX
  CHECK(lic("Expat") == "MIT");
  CHECK(lic("BSD-2-clause and ISC") == "BSD-2-Clause AND ISC");
  CHECK(lic("public-domain") == "LicenseRef-public-domain");
  CHECK(lic("GPL-2+ with OpenSSL exception") == "LicenseRef-GPL-2--with-OpenSSL-exception");
  CHECK(lic("GPL-2 with exception") == "NOASSERTION"); // no exception name
}

TEST_CASE("every prefix of a copyright file is handled without throwing", "[pipeline]") {
  const std::string text = data_text("zstd.copyright");
  for (std::size_t n = 0; n <= text.size(); n += 7) {
    std::string r;
    REQUIRE_NOTHROW(r = dep5_license(std::string_view(text).substr(0, n)));
    CHECK(!r.empty()); // a cut License line may name a shorter license: still an answer
  }
}

TEST_CASE("the license of a .deb is read from usr/share/doc/<package>/copyright in its data tarball", "[pipeline]") {
  const Bytes deb = read_file(data_dir() / "license-dep5.deb");
  CHECK(deb_license(deb, "tdximg-lic", "license-dep5.deb") == "BSD-3-Clause OR GPL-2.0-only");
  CHECK(deb_license(deb, "other-package", "license-dep5.deb") == "NOASSERTION");
  // The copyright of tdximg-lic-link is a symlink into another package's doc directory.
  const Bytes link = read_file(data_dir() / "license-symlink.deb");
  CHECK(deb_license(link, "tdximg-lic-link", "license-symlink.deb") == "NOASSERTION");
  CHECK(deb_license(link, "tdximg-lic", "license-symlink.deb") == "BSD-3-Clause OR GPL-2.0-only");
}

TEST_CASE("a truncated .deb is an input error naming the package file", "[pipeline]") {
  const Bytes deb = read_file(data_dir() / "license-dep5.deb");
  const Bytes cut(deb.begin(), deb.begin() + static_cast<std::ptrdiff_t>(deb.size() / 2));
  try {
    deb_license(cut, "tdximg-lic", "license-dep5.deb");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find("license-dep5.deb") != std::string::npos);
  }
}

// ---- Times ---------------------------------------------------------------------------------

TEST_CASE("SOURCE_DATE_EPOCH is written as ISO-8601 UTC like GNU date -u", "[pipeline]") {
  // Expected strings: `date -u -d @T +%Y-%m-%dT%H:%M:%SZ` (GNU coreutils 9.1).
  CHECK(iso8601_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(iso8601_utc(1735689600) == "2025-01-01T00:00:00Z");
  CHECK(iso8601_utc(951782400) == "2000-02-29T00:00:00Z");
  CHECK(iso8601_utc(1700000000) == "2023-11-14T22:13:20Z");
  CHECK(iso8601_utc(253402300799) == "9999-12-31T23:59:59Z");
  CHECK_THROWS_AS(iso8601_utc(-1), Error);
  CHECK_THROWS_AS(iso8601_utc(253402300800), Error);
}

// ---- SBOM ----------------------------------------------------------------------------------

TEST_CASE("the SBOM has every field SPDX 2.3 requires of a document and its packages", "[pipeline]") {
  const json sbom = make_sbom(sample_info());
  CHECK(sbom.at("spdxVersion") == "SPDX-2.3");
  CHECK(sbom.at("dataLicense") == "CC0-1.0");
  CHECK(sbom.at("SPDXID") == "SPDXRef-DOCUMENT");
  CHECK(!sbom.at("name").get<std::string>().empty());
  CHECK(sbom.at("creationInfo").at("created") == "2025-01-01T00:00:00Z");
  CHECK(sbom.at("creationInfo").at("creators") == json::array({"Tool: tdximg-0.1.0"}));
  const std::regex id_re("SPDXRef-[A-Za-z0-9.-]+");
  std::set<std::string> ids{"SPDXRef-DOCUMENT"};
  for (const auto& p : sbom.at("packages")) {
    const std::string id = p.at("SPDXID");
    CHECK(std::regex_match(id, id_re));
    CHECK(ids.insert(id).second);
    CHECK(p.contains("name"));
    CHECK(p.contains("downloadLocation"));
    CHECK(p.at("filesAnalyzed") == false); // else packageVerificationCode would be required
    CHECK(p.contains("licenseConcluded"));
    CHECK(p.contains("licenseDeclared"));
    CHECK(p.contains("copyrightText"));
  }
  CHECK(ids.size() == 1 + 1 + 4 + 3); // document, image, inputs, outputs
  // Every relationship links known elements; the document DESCRIBES the image, which CONTAINS
  // every input and every output.
  std::size_t contains = 0;
  for (const auto& r : sbom.at("relationships")) {
    CHECK(ids.count(r.at("spdxElementId")));
    CHECK(ids.count(r.at("relatedSpdxElement")));
    if (r.at("relationshipType") == "DESCRIBES") CHECK(r.at("spdxElementId") == "SPDXRef-DOCUMENT");
    if (r.at("relationshipType") == "CONTAINS") ++contains;
  }
  CHECK(contains == 7);
  for (const auto& d : sbom.at("documentDescribes")) CHECK(ids.count(d));
}

TEST_CASE("Debian packages in the SBOM carry name, version, supplier, purl, sha256 and license", "[pipeline]") {
  const json sbom = make_sbom(sample_info());
  const json& stub = package_by_id(sbom, "SPDXRef-Input-stub");
  CHECK(stub.at("name") == "systemd-boot-efi");
  CHECK(stub.at("versionInfo") == "252.39-1~deb12u2");
  CHECK(stub.at("supplier") == "Organization: Debian");
  CHECK(stub.at("downloadLocation") == "NOASSERTION");
  CHECK(stub.at("licenseDeclared") == "LGPL-2.1-or-later");
  CHECK(stub.at("checksums") == json::parse(R"([{"algorithm":"SHA256","checksumValue":")" + std::string(64, '1') + "\"}]"));
  CHECK(stub.at("comment").get<std::string>().find("pool/main/s/systemd/systemd-boot-efi_252.39-1~deb12u2_amd64.deb") != std::string::npos);
  // purl-spec "deb" type: the epoch colon and '+' are percent-encoded (RFC 3986 section 2.1).
  const json& bb = package_by_id(sbom, "SPDXRef-Input-busybox");
  CHECK(bb.at("externalRefs").at(0).at("referenceLocator") == "pkg:deb/debian/busybox-static@1%3A1.35.0-4%2Bb3?arch=amd64&distro=bookworm");
  CHECK(bb.at("externalRefs").at(0).at("referenceCategory") == "PACKAGE-MANAGER");
  const json& app = package_by_id(sbom, "SPDXRef-Input-app");
  CHECK(app.at("downloadLocation") == "https://example.org/app.tar.gz");
  const json& uki = package_by_id(sbom, "SPDXRef-Output-uki.efi");
  CHECK(uki.at("checksums").at(0).at("checksumValue") == std::string(64, 'b'));
}

TEST_CASE("every LicenseRef the SBOM uses is defined in hasExtractedLicensingInfos", "[pipeline]") {
  const json sbom = make_sbom(sample_info());
  std::set<std::string> defined;
  for (const auto& e : sbom.at("hasExtractedLicensingInfos")) {
    defined.insert(e.at("licenseId").get<std::string>());
    CHECK(!e.at("extractedText").get<std::string>().empty());
  }
  CHECK(defined == std::set<std::string>{"LicenseRef-Tcl-BSDish"});
  SupplyChainInfo plain = sample_info();
  plain.inputs.erase(std::remove_if(plain.inputs.begin(), plain.inputs.end(), [](auto& i) { return i.name == "busybox"; }), plain.inputs.end());
  CHECK(!make_sbom(plain).contains("hasExtractedLicensingInfos"));
}

TEST_CASE("the SBOM and provenance do not depend on input order and change with any output", "[pipeline]") {
  SupplyChainInfo a = sample_info();
  SupplyChainInfo b = a;
  std::reverse(b.inputs.begin(), b.inputs.end());
  CHECK(supply_chain_text(make_sbom(a)) == supply_chain_text(make_sbom(b)));
  CHECK(supply_chain_text(make_provenance(a)) == supply_chain_text(make_provenance(b)));
  CHECK(supply_chain_text(make_sbom(a)).back() == '\n');

  SupplyChainInfo c = a;
  c.outputs["uki.efi"] = std::string(64, 'e');
  const std::string ns_a = make_sbom(a).at("documentNamespace");
  const std::string ns_c = make_sbom(c).at("documentNamespace");
  CHECK(ns_a != ns_c);
  CHECK(ns_a.rfind("https://tdximg.invalid/spdx/hello-", 0) == 0);
  SupplyChainInfo d = a;
  d.recipe_sha256 = std::string(64, 'f');
  CHECK(make_sbom(d).at("documentNamespace") != ns_a);
}

TEST_CASE("input names that sanitize alike still get distinct SPDX ids", "[pipeline]") {
  SupplyChainInfo info = sample_info();
  InputRecord x = info.inputs[1];
  x.name = "a_b";
  InputRecord y = x;
  y.name = "a-b";
  info.inputs = {x, y};
  const json sbom = make_sbom(info);
  std::set<std::string> ids;
  for (const auto& p : sbom.at("packages")) CHECK(ids.insert(p.at("SPDXID").get<std::string>()).second);
  CHECK(ids.count("SPDXRef-Input-a-b"));
  CHECK(ids.count("SPDXRef-Input-a-b-2"));
}

TEST_CASE("the supply-chain documents name no host, absolute path or wall-clock time", "[pipeline]") {
  const SupplyChainInfo info = sample_info();
  for (const std::string& text : {supply_chain_text(make_sbom(info)), supply_chain_text(make_provenance(info))}) {
    CHECK(text.find("deb.debian.org") == std::string::npos);
    CHECK(text.find("\"/") == std::string::npos); // no value starting with an absolute path
    CHECK(text.find(TDXIMG_SOURCE_DIR) == std::string::npos);
    CHECK(text.find("2025-01-01T00:00:00Z") != std::string::npos);
  }
  SupplyChainInfo bad = info;
  bad.source_date_epoch = -5;
  CHECK_THROWS_AS(make_sbom(bad), Error);
  CHECK_THROWS_AS(make_provenance(bad), Error);
}

// ---- Provenance ----------------------------------------------------------------------------

TEST_CASE("provenance is an in-toto v1 statement with a SLSA v1 predicate over every output", "[pipeline]") {
  const json p = make_provenance(sample_info());
  CHECK(p.at("_type") == "https://in-toto.io/Statement/v1");
  CHECK(p.at("predicateType") == "https://slsa.dev/provenance/v1");
  const json& subj = p.at("subject");
  REQUIRE(subj.size() == 3);
  CHECK(subj.at(0).at("name") == "disk.raw"); // sorted by name
  CHECK(subj.at(1).at("name") == "manifest-free.json");
  CHECK(subj.at(2).at("name") == "uki.efi");
  CHECK(subj.at(2).at("digest").at("sha256") == std::string(64, 'b'));
  const json& bd = p.at("predicate").at("buildDefinition");
  CHECK(!bd.at("buildType").get<std::string>().empty());
  CHECK(bd.at("externalParameters").at("recipe").at("name") == "hello");
  CHECK(bd.at("externalParameters").at("recipe").at("sha256") == std::string(64, 'a'));
  const json& deps = bd.at("resolvedDependencies");
  REQUIRE(deps.size() == 4);
  std::vector<std::string> names, uris;
  for (const auto& d : deps) {
    names.push_back(d.at("name"));
    uris.push_back(d.at("uri"));
    CHECK(d.at("digest").at("sha256").get<std::string>().size() == 64);
  }
  CHECK(names == std::vector<std::string>{"app", "busybox", "init", "stub"});
  CHECK(uris == std::vector<std::string>{"https://example.org/app.tar.gz", "deb:busybox-static=1:1.35.0-4+b3",
                                         "init", "deb:systemd-boot-efi=252.39-1~deb12u2"});
  const json& rd = p.at("predicate").at("runDetails");
  CHECK(rd.at("builder").at("id").get<std::string>().find("0.1.0") != std::string::npos);
  CHECK(rd.at("metadata").at("startedOn") == "2025-01-01T00:00:00Z");
  CHECK(rd.at("metadata").at("finishedOn") == "2025-01-01T00:00:00Z");
}

// ---- describe_inputs -----------------------------------------------------------------------

TEST_CASE("describe_inputs takes pool paths from the lock file and licenses from the packages", "[pipeline]") {
  TempDir tmp(fs::temp_directory_path(), "tdximg-sc-");
  const fs::path dir = tmp.path() / "recipe dir";
  fs::create_directories(dir / "files");
  recipe::Recipe r;
  r.name = "t";
  r.file = dir / "recipe.json";
  recipe::Input deb;
  deb.name = "lic";
  deb.kind = recipe::InputKind::deb;
  deb.deb = {"tdximg-lic", "1.0", "bookworm", "all"};
  recipe::Input file;
  file.name = "init";
  file.kind = recipe::InputKind::path;
  file.path = dir / "files" / "init";
  r.inputs = {{"lic", deb}, {"init", file}};

  recipe::LockFile lock;
  recipe::LockEntry le;
  le.name = "lic";
  le.kind = recipe::InputKind::deb;
  le.sha256 = std::string(64, '0');
  le.size = 1;
  le.package = "tdximg-lic";
  le.version = "1.0";
  le.suite = "bookworm";
  le.arch = "all";
  le.filename = "pool/main/t/tdximg-lic/tdximg-lic_1.0_all.deb";
  lock.entries["lic"] = le;
  write_file_atomic(recipe::lock_path_for(r), recipe::write_lock_json(lock));

  std::map<std::string, store::ResolvedInput> resolved;
  resolved["lic"].name = "lic";
  resolved["lic"].data = read_file(data_dir() / "license-dep5.deb");
  resolved["lic"].sha256 = std::string(64, '5');
  resolved["lic"].size = resolved["lic"].data.size();
  resolved["init"].name = "init";
  resolved["init"].data = to_bytes("#!/bin/sh\n");
  resolved["init"].sha256 = std::string(64, '6');
  resolved["init"].size = 10;

  store::Store cache(tmp.path() / "store");
  for (store::Store* s : {static_cast<store::Store*>(nullptr), &cache, &cache}) { // cold, fill, warm
    const std::vector<InputRecord> recs = describe_inputs(r, resolved, s);
    REQUIRE(recs.size() == 2);
    const InputRecord& init = recs[0];
    const InputRecord& lic = recs[1];
    CHECK(init.name == "init");
    CHECK(init.location == "files/init");
    CHECK(init.license == "NOASSERTION");
    CHECK(lic.pool_path == "pool/main/t/tdximg-lic/tdximg-lic_1.0_all.deb");
    CHECK(lic.license == "BSD-3-Clause OR GPL-2.0-only");
    CHECK(lic.license_source == "usr/share/doc/tdximg-lic/copyright: Files: *");
    CHECK(lic.version == "1.0");
  }
}
