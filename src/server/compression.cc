#include "server/compression.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace modelgrid::server {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// zlib's window bits: 15 + 16 writes gzip, 15 writes zlib; 15 + 32 reads either.
constexpr int kGzipWindow = 15 + 16;
constexpr int kZlibWindow = 15;
constexpr int kAutoWindow = 15 + 32;
constexpr size_t kChunkBytes = 64 << 10;

}  // namespace

const char* ContentCodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kDeflate:
      return "deflate";
    case ContentCoding::kIdentity:
      return "identity";
  }
  return "identity";
}

Result<ContentCoding> ParseContentEncoding(std::string_view header) {
  const std::string v = Lower(Trim(header));
  if (v.empty() || v == "identity") return ContentCoding::kIdentity;
  if (v == "gzip" || v == "x-gzip") return ContentCoding::kGzip;
  if (v == "deflate") return ContentCoding::kDeflate;
  return Unsupported("Content-Encoding \"" + std::string(header) +
                     "\" is not supported (gzip, deflate or identity)");
}

ContentCoding PreferredCoding(std::string_view accept_encoding) {
  double gzip = 0, deflate = 0, any = -1;
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    double q = 1;
    if (size_t semi = item.find(';'); semi != std::string_view::npos) {
      std::string params = Lower(Trim(item.substr(semi + 1)));
      item = Trim(item.substr(0, semi));
      if (params.rfind("q=", 0) == 0) q = std::strtod(params.c_str() + 2, nullptr);
    }
    const std::string name = Lower(item);
    if (name == "gzip" || name == "x-gzip") gzip = q;
    if (name == "deflate") deflate = q;
    if (name == "*") any = q;
  }
  if (any > 0) {
    gzip = std::max(gzip, any);
    deflate = std::max(deflate, any);
  }
  if (gzip > 0 && gzip >= deflate) return ContentCoding::kGzip;
  if (deflate > 0) return ContentCoding::kDeflate;
  return ContentCoding::kIdentity;
}

Result<std::string> Decompress(std::string_view body, ContentCoding coding, uint64_t max_bytes) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  z_stream z{};
  if (inflateInit2(&z, kAutoWindow) != Z_OK) return Internal("zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  std::string out;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max_bytes) {
      inflateEnd(&z);
      return OutOfRange("the " + std::string(ContentCodingName(coding)) +
                        " request body decodes to more than the limit of " +
                        std::to_string(max_bytes) + " bytes");
    }
    const size_t room = std::min<uint64_t>(kChunkBytes, max_bytes - out.size());
    const size_t before = out.size();
    out.resize(before + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = static_cast<uInt>(room);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(before + room - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) rc = Z_DATA_ERROR;  // truncated
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      inflateEnd(&z);
      return InvalidArgument("the request body is not valid " +
                             std::string(ContentCodingName(coding)) + " data");
    }
  }
  const bool trailing = z.avail_in != 0;
  inflateEnd(&z);
  if (trailing) {
    return InvalidArgument("the request body has data after its " +
                           std::string(ContentCodingName(coding)) + " stream");
  }
  return out;
}

Result<std::string> Compress(std::string_view body, ContentCoding coding) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  z_stream z{};
  const int window = coding == ContentCoding::kGzip ? kGzipWindow : kZlibWindow;
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(body.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Internal("zlib: deflate failed");
  return out;
}

}  // namespace modelgrid::server
