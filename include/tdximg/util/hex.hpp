#pragma once
// Lowercase hex encoding and strict decoding.

#include <string>
#include <string_view>

#include <tdximg/util/bytes.hpp>

namespace tdximg {

std::string to_hex(ByteSpan data);
// Decodes an even-length hex string (either case). Throws ErrorKind::input naming `what`.
Bytes from_hex(std::string_view hex, std::string_view what = "hex string");
bool is_hex(std::string_view s);

} // namespace tdximg
