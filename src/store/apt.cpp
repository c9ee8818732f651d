// A private apt state per (suite, arch) inside the store: apt-get/apt-cache run with every Dir::
// option pointing into it, so the host's /var/lib/apt and /var/cache/apt are never read or
// written and no root is needed.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <pwd.h>
#include <sstream>
#include <unistd.h>

#include <tdximg/store/resolve.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

#include "http.hpp"
#include "process.hpp"

namespace tdximg::store {

namespace {

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct SourceEntry {
  std::vector<std::string> uris;
  std::vector<std::string> suites;
};

// sources.list(5) one-line style: "deb [options] uri suite [component...]".
void parse_one_line(const std::string& text, std::vector<SourceEntry>& out) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line.substr(0, line.find('#')));
    if (line.rfind("deb ", 0) != 0 && line.rfind("deb\t", 0) != 0) continue;
    std::string rest = trim(line.substr(3));
    if (!rest.empty() && rest[0] == '[') {
      const std::size_t close = rest.find(']');
      if (close == std::string::npos) continue;
      rest = trim(rest.substr(close + 1));
    }
    const std::vector<std::string> w = split_ws(rest);
    if (w.size() < 2) continue;
    out.push_back({{w[0]}, {w[1]}});
  }
}

// sources.list(5) deb822 style: stanzas of "Field: value" separated by blank lines.
void parse_deb822(const std::string& text, std::vector<SourceEntry>& out) {
  std::istringstream in(text + "\n\n");
  std::string line;
  std::map<std::string, std::string> fields;
  std::string last;
  auto flush = [&] {
    if (!fields.empty()) {
      std::string enabled = fields["enabled"];
      std::transform(enabled.begin(), enabled.end(), enabled.begin(), ::tolower);
      const std::vector<std::string> types = split_ws(fields["types"]);
      if (enabled != "no" && std::find(types.begin(), types.end(), "deb") != types.end())
        out.push_back({split_ws(fields["uris"]), split_ws(fields["suites"])});
    }
    fields.clear();
    last.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !last.empty()) {
      fields[last] += " " + trim(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    last = line.substr(0, colon);
    std::transform(last.begin(), last.end(), last.begin(), ::tolower);
    fields[last] = trim(line.substr(colon + 1));
  }
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string current_user() {
  const passwd* pw = ::getpwuid(::geteuid());
  if (pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
  return std::to_string(::geteuid());
}

// One stanza of apt-cache show output.
std::map<std::string, std::string> parse_stanza(const std::string& text) {
  std::map<std::string, std::string> f;
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') continue; // continuation (long description)
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    last = line.substr(0, colon);
    f[last] = trim(line.substr(colon + 1));
  }
  return f;
}

std::vector<std::string> split_stanzas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string s = text.substr(pos, end - pos);
    if (!trim(s).empty()) out.push_back(s);
    pos = end + 2;
  }
  return out;
}

} // namespace

AptMirrors host_apt_mirrors(const fs::path& etc_apt) {
  AptMirrors m;
  m.archive = strip_slash(env_or_empty("TDXIMG_APT_MIRROR"));
  m.security = strip_slash(env_or_empty("TDXIMG_APT_SECURITY_MIRROR"));
  if (!m.archive.empty()) return m;
  std::vector<SourceEntry> entries;
  std::error_code ec;
  if (fs::is_regular_file(etc_apt / "sources.list", ec))
    parse_one_line(read_text_file(etc_apt / "sources.list"), entries);
  std::vector<fs::path> parts;
  for (fs::directory_iterator it(etc_apt / "sources.list.d", ec), end; !ec && it != end;
       it.increment(ec))
    parts.push_back(it->path());
  std::sort(parts.begin(), parts.end());
  for (const fs::path& p : parts) {
    if (p.extension() == ".list") parse_one_line(read_text_file(p), entries);
    else if (p.extension() == ".sources") parse_deb822(read_text_file(p), entries);
  }
  for (const SourceEntry& e : entries) {
    const bool security = std::any_of(e.suites.begin(), e.suites.end(), [](const std::string& s) {
      return ends_with(s, "-security") || ends_with(s, "/updates");
    });
    for (const std::string& uri : e.uris) {
      std::string& slot = security ? m.security : m.archive;
      if (slot.empty()) slot = strip_slash(uri);
    }
  }
  if (m.archive.empty())
    fail(ErrorKind::fetch, "no Debian mirror found in {}/sources.list{{,.d}}; set "
                           "TDXIMG_APT_MIRROR to the archive URI", etc_apt.string());
  return m;
}

AptState::AptState(Store& store, std::string suite, std::string arch)
    : m_store(store), m_suite(std::move(suite)), m_arch(std::move(arch)) {
  auto valid = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    });
  };
  if (!valid(m_suite)) fail(ErrorKind::input, "apt: invalid suite '{}'", m_suite);
  if (!valid(m_arch)) fail(ErrorKind::input, "apt: invalid architecture '{}'", m_arch);
  const AptMirrors mirrors = host_apt_mirrors();
  const std::string tag = sha256_hex(as_bytes(mirrors.archive + "\n" + mirrors.security)).substr(0, 12);
  m_dir = store.state_dir("apt") / (m_suite + "_" + m_arch + "_" + tag);
  for (const char* sub : {"etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d", "etc/apt.conf.d",
                          "state/lists/partial", "cache/archives/partial", "log", "tmp"})
    fs::create_directories(m_dir / sub);
  if (!fs::exists(m_dir / "state/status")) write_file_atomic(m_dir / "state/status", std::string_view());
  // APT_CONFIG is read before /etc/apt/apt.conf.d, and can move both away: the host's apt.conf.d
  // (hooks such as APT::Update::Post-Invoke-Success, docker-clean's empty pkgcache) must not
  // run or change what we resolve. A proxy still works through $http_proxy.
  const std::string conf = fmt::format("Dir::Etc::parts \"{}\";\nDir::Etc::main \"/dev/null\";\n",
                                       (m_dir / "etc/apt.conf.d").string());
  std::error_code ec;
  if (!fs::exists(m_dir / "etc/apt.conf", ec) || read_text_file(m_dir / "etc/apt.conf") != conf)
    write_file_atomic(m_dir / "etc/apt.conf", conf);
}

std::string AptState::run_apt(const std::vector<std::string>& args, const fs::path& cwd) {
  const fs::path d = m_dir;
  std::vector<std::string> argv = {args.at(0)};
  const std::vector<std::pair<std::string, std::string>> opts = {
      {"Dir::Etc::SourceList", (d / "etc/sources.list").string()},
      {"Dir::Etc::SourceParts", (d / "etc/sources.list.d").string()},
      {"Dir::Etc::Preferences", (d / "etc/preferences").string()},
      {"Dir::Etc::PreferencesParts", (d / "etc/preferences.d").string()},
      {"Dir::Etc::Trusted", (d / "etc/trusted.gpg").string()},
      {"Dir::Etc::TrustedParts", (d / "etc/trusted.gpg.d").string()},
      {"Dir::State", (d / "state").string()},
      {"Dir::State::Lists", (d / "state/lists").string()},
      {"Dir::State::status", (d / "state/status").string()},
      {"Dir::Cache", (d / "cache").string()},
      {"Dir::Cache::Archives", (d / "cache/archives").string()},
      // A binary cache makes each apt-cache call ~50x faster than re-parsing the lists.
      {"Dir::Cache::pkgcache", (d / "cache/pkgcache.bin").string()},
      {"Dir::Cache::srcpkgcache", (d / "cache/srcpkgcache.bin").string()},
      {"Dir::Log", (d / "log").string()},
      {"Debug::NoLocking", "1"},
      {"APT::Sandbox::User", current_user()},
      {"APT::Architecture", m_arch},
      {"APT::Architectures", m_arch},
      {"Acquire::Languages", "none"},
      {"Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled", "false"},
      {"APT::Get::List-Cleanup", "true"},
      {"quiet", "1"},
  };
  for (const auto& [k, v] : opts) {
    argv.push_back("-o");
    argv.push_back(k + "=" + v);
  }
  argv.insert(argv.end(), args.begin() + 1, args.end());
  ProcessResult r = run_process(argv, cwd,
                                {{"LC_ALL", "C"},
                                 {"DEBIAN_FRONTEND", "noninteractive"},
                                 {"APT_CONFIG", (d / "etc/apt.conf").string()}});
  if (r.status != 0) {
    std::string cmd;
    for (std::size_t i = 1; i < args.size(); ++i) cmd += " " + args[i];
    fail(ErrorKind::fetch, "apt ({} {}):{} failed (exit {}): {}", m_suite, m_arch, cmd, r.status,
         trim(r.err));
  }
  return r.out;
}

void AptState::update(long max_age_seconds, bool force) {
  FileLock guard = m_store.lock("apt-" + m_suite + "-" + m_arch);
  const fs::path stamp = m_dir / "state/tdximg-updated";
  std::error_code ec;
  if (!force && fs::exists(stamp, ec)) {
    const auto age = fs::file_time_type::clock::now() - fs::last_write_time(stamp, ec);
    if (!ec && age < std::chrono::seconds(max_age_seconds)) return;
  }
  // sources.list: the suite, and <suite>-updates / <suite>-security where the mirror has them.
  const AptMirrors mirrors = host_apt_mirrors();
  const std::string keyring = env_or_empty("TDXIMG_APT_KEYRING").empty()
                                  ? std::string("/usr/share/keyrings/debian-archive-keyring.gpg")
                                  : env_or_empty("TDXIMG_APT_KEYRING");
  if (!fs::exists(keyring, ec))
    fail(ErrorKind::fetch, "apt: keyring {} not found (install debian-archive-keyring)", keyring);
  auto has_suite = [](const std::string& uri, const std::string& suite) {
    return url_exists(uri + "/dists/" + suite + "/InRelease") ||
           url_exists(uri + "/dists/" + suite + "/Release");
  };
  if (!has_suite(mirrors.archive, m_suite))
    fail(ErrorKind::fetch, "apt: suite '{}' not found on {}", m_suite, mirrors.archive);
  std::string sources;
  auto add = [&](const std::string& uri, const std::string& suite) {
    sources += fmt::format("deb [signed-by={} arch={}] {} {} main contrib non-free non-free-firmware\n",
                           keyring, m_arch, uri, suite);
  };
  add(mirrors.archive, m_suite);
  if (has_suite(mirrors.archive, m_suite + "-updates")) add(mirrors.archive, m_suite + "-updates");
  for (const std::string& uri : {mirrors.security, mirrors.archive}) {
    if (!uri.empty() && has_suite(uri, m_suite + "-security")) {
      add(uri, m_suite + "-security");
      break;
    }
  }
  write_file_atomic(m_dir / "etc/sources.list", sources);
  run_apt({"apt-get", "update"}, m_dir);
  write_file_atomic(stamp, std::string_view("ok\n"));
}

AptPackage AptState::find(const std::string& package, const std::string& version) {
  update();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt == 1) update(0, true); // not found: the lists may be stale
    FileLock guard = m_store.lock("apt-" + m_suite + "-" + m_arch);
    std::string want = version;
    std::string shown;
    try {
      if (want.empty()) {
        const std::string policy = run_apt({"apt-cache", "policy", package}, m_dir);
        const std::size_t c = policy.find("Candidate:");
        if (c == std::string::npos) continue;
        want = trim(policy.substr(c + 10, policy.find('\n', c) - c - 10));
        if (want.empty() || want == "(none)") continue;
      }
      shown = run_apt({"apt-cache", "show", package}, m_dir);
    } catch (const Error&) {
      continue; // e.g. "No packages found"; retried once after a refresh
    }
    for (const std::string& st : split_stanzas(shown)) {
      auto f = parse_stanza(st);
      if (f["Package"] != package || f["Version"] != want) continue;
      AptPackage p;
      p.package = f["Package"];
      p.version = f["Version"];
      p.architecture = f["Architecture"];
      p.filename = f["Filename"];
      p.sha256 = f["SHA256"];
      p.depends = f["Depends"];
      p.section = f["Section"];
      p.description = f["Description"];
      try {
        p.size = std::stoull(f["Size"]);
      } catch (const std::exception&) {
        fail(ErrorKind::fetch, "apt ({}): {}={}: bad Size field", m_suite, package, want);
      }
      if (p.sha256.size() != 64 || !is_hex(p.sha256))
        fail(ErrorKind::fetch, "apt ({}): {}={}: no SHA256 in the index", m_suite, package, want);
      return p;
    }
  }
  if (version.empty())
    fail(ErrorKind::fetch, "apt: package '{}' not found in {} ({}) on the mirror", package, m_suite, m_arch);
  fail(ErrorKind::fetch, "apt: {}={} not found in {} ({}); the mirror may have dropped it (use "
                         "`tdximg store import` or a snapshot url input)", package, version, m_suite, m_arch);
}

Bytes AptState::download(const std::string& package, const std::string& version) {
  const AptPackage p = find(package, version); // also refreshes stale lists
  FileLock guard = m_store.lock("apt-" + m_suite + "-" + m_arch);
  TempDir tmp(m_dir / "tmp", "download-");
  run_apt({"apt-get", "download", p.package + "=" + p.version}, tmp.path());
  std::vector<fs::path> debs;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    if (e.path().extension() == ".deb") debs.push_back(e.path());
  if (debs.size() != 1)
    fail(ErrorKind::fetch, "apt ({}): apt-get download {}={} produced {} files", m_suite, package,
         p.version, debs.size());
  Bytes data = read_file(debs[0]);
  // apt checked it against the signed index; check again against what we resolved.
  if (sha256_hex(data) != p.sha256)
    fail(ErrorKind::integrity, "apt ({}): {}={}: sha256 mismatch: expected {}, got {}", m_suite,
         package, p.version, p.sha256, sha256_hex(data));
  return data;
}

} // namespace tdximg::store
