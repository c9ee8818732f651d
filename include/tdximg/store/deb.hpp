#pragma once
// Reading the control part of a Debian package (.deb): what it would have run (maintainer
// scripts, which tdximg never runs) and the metadata an SBOM needs.

#include <optional>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>

namespace tdximg::store {

struct DebInfo {
  std::string package;
  std::string version;
  std::string architecture;
  std::string source;                      // Source field (may be empty = same as package)
  std::vector<std::string> maintainer_scripts; // sorted: preinst postinst prerm postrm config triggers
  std::string copyright_path;              // "usr/share/doc/<package>/copyright" (Debian policy 12.5)
};

// Names of the maintainer scripts in the .deb's control archive, among preinst, postinst, prerm,
// postrm, config, triggers; sorted. Throws ErrorKind::input for a malformed package (named
// member and offset), ErrorKind::unsupported for an unknown control compression.
std::vector<std::string> deb_maintainer_scripts(ByteSpan deb);

// Package/Version/Architecture/Source from the control file plus the maintainer scripts.
// Throws like deb_maintainer_scripts, and ErrorKind::input if a mandatory field is missing.
DebInfo deb_info(ByteSpan deb);

} // namespace tdximg::store
