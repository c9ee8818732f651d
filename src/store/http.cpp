// HTTP(S) downloads through libcurl.

#include <mutex>

#include <curl/curl.h>

#include <tdximg/store/resolve.hpp>
#include <tdximg/util/error.hpp>

#include "http.hpp"

namespace tdximg::store {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_data(char* ptr, std::size_t size, std::size_t nmemb, void* user) {
  auto* out = static_cast<Bytes*>(user);
  const std::size_t n = size * nmemb;
  out->insert(out->end(), reinterpret_cast<const std::uint8_t*>(ptr),
              reinterpret_cast<const std::uint8_t*>(ptr) + n);
  return n;
}

struct Easy {
  CURL* h;
  Easy() : h(curl_easy_init()) {
    if (h == nullptr) fail(ErrorKind::internal, "curl_easy_init failed");
  }
  ~Easy() { curl_easy_cleanup(h); }
  Easy(const Easy&) = delete;
  Easy& operator=(const Easy&) = delete;
};

// Common options: redirects (limited, http/https only), timeouts, errors for HTTP >= 400.
void setup(Easy& e, const std::string& url, char* errbuf) {
  curl_easy_setopt(e.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e.h, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(e.h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e.h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e.h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e.h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(e.h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(e.h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(e.h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e.h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(e.h, CURLOPT_USERAGENT, "tdximg/" TDXIMG_VERSION);
  curl_easy_setopt(e.h, CURLOPT_ERRORBUFFER, errbuf);
}

} // namespace

Bytes http_get(const std::string& url) {
  global_init();
  Easy e;
  char errbuf[CURL_ERROR_SIZE] = {};
  Bytes out;
  setup(e, url, errbuf);
  curl_easy_setopt(e.h, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(e.h, CURLOPT_WRITEDATA, &out);
  const CURLcode rc = curl_easy_perform(e.h);
  if (rc != CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_HTTP_RETURNED_ERROR && status != 0)
      fail(ErrorKind::fetch, "{}: HTTP status {}", url, status);
    fail(ErrorKind::fetch, "{}: download failed: {}", url,
         errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
  }
  return out;
}

bool url_exists(const std::string& url) {
  global_init();
  Easy e;
  char errbuf[CURL_ERROR_SIZE] = {};
  setup(e, url, errbuf);
  curl_easy_setopt(e.h, CURLOPT_NOBODY, 1L);
  const CURLcode rc = curl_easy_perform(e.h);
  if (rc == CURLE_OK) return true;
  long status = 0;
  curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &status);
  if ((rc == CURLE_HTTP_RETURNED_ERROR && status == 404) || rc == CURLE_FILE_COULDNT_READ_FILE ||
      rc == CURLE_REMOTE_FILE_NOT_FOUND)
    return false;
  if (rc == CURLE_HTTP_RETURNED_ERROR)
    fail(ErrorKind::fetch, "{}: HTTP status {}", url, status);
  fail(ErrorKind::fetch, "{}: {}", url, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
}

} // namespace tdximg::store
