// Authenticode image digest as EDK2 measures a PE image into PCR 4:
// SecurityPkg/Library/DxeTpm2MeasureBootLib/DxeTpm2MeasureBootLib.c Tcg2MeasurePeImage() and
// SecurityPkg/Tcg/Tcg2Dxe/MeasureBootPeCoff.c MeasurePeImageAndExtend() (same steps), which
// follow "Windows Authenticode Portable Executable Signature Format" v1.0, "Calculating the PE
// Image Hash" steps 1-15 — except that no zero padding to a multiple of 8 is hashed.

#include <algorithm>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::pe {

Bytes authenticode(ByteSpan pe, HashAlg alg, std::string_view name) {
  return authenticode(PeFile(pe, std::string(name)), alg);
}

Bytes authenticode(const PeFile& pe, HashAlg alg) {
  // PeFile validated: checksum and certificate-entry offsets < SizeOfHeaders <= file size,
  // raw data ranges inside the file. checked_slice below still guards every range.
  const ByteSpan data = pe.data();
  const OptionalHeader& opt = pe.optional();
  const std::string& name = pe.name();
  Hasher h(alg);
  auto hash_range = [&](std::uint64_t begin, std::uint64_t end, std::string_view what) {
    if (end < begin)
      fail(ErrorKind::input, "{}: Authenticode {}: end 0x{:x} < start 0x{:x}", name, what, end,
           begin);
    h.update(checked_slice(data, begin, end - begin, name + ": Authenticode " + std::string(what)));
  };

  // Authenticode steps 3-4 / EDK2 "Hash the image header from its base to beginning of the
  // image checksum".
  const std::uint64_t checksum = pe.checksum_offset();
  hash_range(0, checksum, "header up to CheckSum");

  // Steps 5-8 / EDK2: skip the 4-byte CheckSum. If the image has no security data directory
  // (NumberOfRvaAndSizes <= IMAGE_DIRECTORY_ENTRY_SECURITY), hash everything from after the
  // CheckSum to SizeOfHeaders; otherwise hash up to the certificate table entry, skip its
  // 8 bytes, and hash from DataDirectory[5] to SizeOfHeaders (section table and header padding
  // included: the end is SizeOfHeaders, not the end of the section table).
  if (opt.NumberOfRvaAndSizes <= k_dir_security) {
    hash_range(checksum + 4, opt.SizeOfHeaders, "header after CheckSum");
  } else {
    const std::uint64_t cert_entry = opt.DataDirectories[k_dir_security].entry_offset;
    hash_range(checksum + 4, cert_entry, "header up to the certificate table entry");
    hash_range(cert_entry + 8, opt.SizeOfHeaders, "header after the certificate table entry");
  }

  // Step 9 / EDK2 "SumOfBytesHashed = SizeOfHeaders".
  std::uint64_t sum_of_bytes_hashed = opt.SizeOfHeaders;

  // Steps 10-13 / EDK2: sort the section headers by PointerToRawData (EDK2 uses a stable
  // insertion sort), skip SizeOfRawData == 0, hash each [PointerToRawData, +SizeOfRawData).
  std::vector<const Section*> sorted;
  for (const Section& s : pe.sections())
    sorted.push_back(&s);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Section* a, const Section* b) {
    return a->PointerToRawData < b->PointerToRawData;
  });
  for (const Section* s : sorted) {
    if (s->SizeOfRawData == 0) continue;
    hash_range(s->PointerToRawData, std::uint64_t{s->PointerToRawData} + s->SizeOfRawData,
               "section " + s->name);
    sum_of_bytes_hashed += s->SizeOfRawData;
  }

  // Step 14 / EDK2: if ImageSize > SumOfBytesHashed, hash the extra data
  // [SumOfBytesHashed, ImageSize - CertSize); CertSize is DataDirectory[4].Size (0 without a
  // security entry). The certificate table is assumed to be at the end: its VirtualAddress
  // is ignored. ImageSize < SumOfBytesHashed + CertSize -> EFI_UNSUPPORTED (no measurement).
  const std::uint64_t image_size = data.size();
  if (image_size > sum_of_bytes_hashed) {
    const std::uint64_t cert_size =
        opt.NumberOfRvaAndSizes <= k_dir_security ? 0 : opt.DataDirectories[k_dir_security].Size;
    if (image_size < sum_of_bytes_hashed + cert_size) {
      fail(ErrorKind::input,
           "{}: Authenticode: image size 0x{:x} < headers + sections 0x{:x} + certificate table "
           "0x{:x} (EDK2 refuses to measure it)",
           name, image_size, sum_of_bytes_hashed, cert_size);
    }
    hash_range(sum_of_bytes_hashed, image_size - cert_size, "trailing data");
  }
  // Step 15 (padding to a multiple of 8) is deliberately NOT done: EDK2 does not pad.
  return h.finish();
}

} // namespace tdximg::pe
