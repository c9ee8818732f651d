#pragma once
// Authenticode image digest exactly as UEFI firmware (EDK2) computes it for a PE/COFF image
// before extending it into PCR 4: SecurityPkg/Library/DxeTpm2MeasureBootLib
// Tcg2MeasurePeImage() / Tcg2Dxe MeasureBootPeCoff.c MeasurePeImageAndExtend().
// Differences from "padding" implementations: NO 8-byte zero padding is appended, and the
// trailing data starts at SizeOfHeaders + sum(SizeOfRawData), ending before the certificate
// table's size (which is assumed to be at the end of the file).

#include <tdximg/pe/pe_file.hpp>
#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::pe {

// Authenticode digest of the PE image `pe` (the whole buffer is the image, ImageSize =
// pe.size()). Throws ErrorKind::input if the PE is malformed (parse errors) or if
// ImageSize < SizeOfHeaders + sum(SizeOfRawData) + CertSize (EDK2 refuses to measure it).
Bytes authenticode(ByteSpan pe, HashAlg alg, std::string_view name = "pe");
// Same, for an already parsed file.
Bytes authenticode(const PeFile& pe, HashAlg alg);

} // namespace tdximg::pe
