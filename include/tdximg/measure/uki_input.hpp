#pragma once
// Adapter: a UKI file -> UkiMeasureInput (the plain data the PCR rules need).

#include <span>
#include <string_view>

#include <tdximg/measure/pcr.hpp>

namespace tdximg::measure {

// Reads the stub version (.sdmagic), every section's memory image (VirtualSize bytes,
// zero-filled) in file order, .uname, the .linux MajorImageVersion, and the Authenticode
// digests of the UKI file and of the .linux buffer for each bank. A UKI without .sdmagic gets
// stub_major 0 (predict_pcrs then needs BootConfig::stub_rules_override).
// Throws ErrorKind::input if the UKI or its .linux is malformed (pe/uki parse errors).
UkiMeasureInput measure_input_from_uki(ByteSpan uki_file, std::span<const HashAlg> banks,
                                       std::string_view name = "uki.efi");

} // namespace tdximg::measure
