#include "common/byte_size.h"

#include <cctype>
#include <string>

namespace modelgrid {
namespace {

struct Unit {
  const char* name;  // lower case
  uint64_t scale;
};

constexpr Unit kUnits[] = {
    {"b", 1},
    {"kib", uint64_t{1} << 10},
    {"mib", uint64_t{1} << 20},
    {"gib", uint64_t{1} << 30},
    {"tib", uint64_t{1} << 40},
    {"kb", 1'000},
    {"mb", 1'000'000},
    {"gb", 1'000'000'000},
    {"tb", 1'000'000'000'000},
};

// Longest digit runs read exactly: 20 digits before the point, 18 after.
constexpr size_t kMaxIntegerDigits = 20;
constexpr size_t kMaxFractionDigits = 18;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

const Unit* FindUnit(std::string_view text) {
  const std::string lower = Lower(text);
  for (const Unit& u : kUnits) {
    if (lower == u.name) return &u;
  }
  return nullptr;
}

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

Result<uint64_t> ParseByteSize(std::string_view text, uint64_t max_bytes) {
  const std::string_view s = Trim(text);
  auto bad = [&] {
    return InvalidArgument("'" + std::string(text) +
                           "' is not a size (a number of bytes, optionally with a unit: B, KiB, "
                           "KB, MiB, MB, GiB, GB, TiB or TB)");
  };
  size_t i = 0;
  unsigned __int128 integer = 0, fraction = 0, fraction_scale = 1;
  size_t integer_digits = 0, fraction_digits = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i, ++integer_digits) {
    if (integer_digits == kMaxIntegerDigits) return bad();
    integer = integer * 10 + static_cast<unsigned>(s[i] - '0');
  }
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && IsDigit(s[i]); ++i, ++fraction_digits) {
      if (fraction_digits == kMaxFractionDigits) return bad();
      fraction = fraction * 10 + static_cast<unsigned>(s[i] - '0');
      fraction_scale *= 10;
    }
  }
  if (integer_digits + fraction_digits == 0) return bad();
  const std::string_view unit_text = Trim(s.substr(i));
  uint64_t scale = 1;
  if (!unit_text.empty()) {
    const Unit* unit = FindUnit(unit_text);
    if (unit == nullptr) return bad();
    scale = unit->scale;
  }
  const unsigned __int128 bytes = integer * scale + fraction * scale / fraction_scale;
  if (bytes > max_bytes) {
    return InvalidArgument("size '" + std::string(text) + "' is over the limit of " +
                           std::to_string(max_bytes) + " bytes");
  }
  return static_cast<uint64_t>(bytes);
}

bool HasByteSizeUnit(std::string_view text) {
  const std::string_view s = Trim(text);
  size_t start = s.size();
  while (start > 0 && std::isalpha(static_cast<unsigned char>(s[start - 1]))) --start;
  return FindUnit(s.substr(start)) != nullptr;
}

}  // namespace modelgrid
