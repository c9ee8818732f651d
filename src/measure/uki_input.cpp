// UKI file -> measurement input. The only place in measure/ that looks at PE bytes; it
// delegates parsing to pe::PeFile and uki::read_uki (both bounds-checked).

#include <tdximg/measure/uki_input.hpp>

#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::measure {

UkiMeasureInput measure_input_from_uki(ByteSpan uki_file, std::span<const HashAlg> banks,
                                       std::string_view name) {
  const uki::UkiInfo info = uki::read_uki(uki_file, name);
  const pe::PeFile file(uki_file, std::string(name));

  UkiMeasureInput in;
  in.stub_version_string = info.stub_version;
  in.stub_major = info.stub_major ? static_cast<int>(*info.stub_major) : 0;
  in.uname = info.uname.value_or("");
  // Stored uname may carry a trailing NUL/newline; keep the release token only.
  while (!in.uname.empty() && (in.uname.back() == '\0' || in.uname.back() == '\n'))
    in.uname.pop_back();
  for (const pe::Section& s : file.sections())
    in.sections.push_back({s.name, file.section_memory(s)});
  for (HashAlg alg : banks) in.uki_authenticode[alg] = pe::authenticode(file, alg);
  if (info.kernel) {
    in.kernel_efi_major = info.kernel->MajorImageVersion;
    // LoadImage hashes the .linux buffer as given: VirtualSize bytes of the section.
    const pe::Section* linux_section = file.section(".linux");
    if (linux_section != nullptr) {
      const Bytes buffer = file.section_memory(*linux_section);
      const std::string linux_name = fmt::format("{}: section .linux", name);
      for (HashAlg alg : banks) in.linux_authenticode[alg] = pe::authenticode(buffer, alg, linux_name);
    }
  }
  return in;
}

} // namespace tdximg::measure
