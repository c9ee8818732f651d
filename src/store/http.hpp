#pragma once
// Internal to store/: HEAD probe next to the public http_get (resolve.hpp).

#include <string>

namespace tdximg::store {

// true if `url` exists (HTTP 2xx after redirects, or a readable file:// path), false for 404 /
// missing file. Throws ErrorKind::fetch for other failures (network, 5xx).
bool url_exists(const std::string& url);

} // namespace tdximg::store
