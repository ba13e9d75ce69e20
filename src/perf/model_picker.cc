#include "perf/model_picker.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace modelgrid::perf {

namespace {

constexpr double kMaxZipfS = 10;

// SplitMix64's finaliser: a well-mixed 64-bit value of `x`.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string ModelDistribution::Name() const {
  if (zipf_s <= 0) return "round-robin";
  char text[32];
  std::snprintf(text, sizeof text, "zipf:%g", zipf_s);
  return text;
}

Result<ModelDistribution> ParseDistribution(const std::string& text) {
  if (text == "round-robin") return ModelDistribution{};
  const std::string prefix = "zipf:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string number = text.substr(prefix.size());
    char* end = nullptr;
    const double s = std::strtod(number.c_str(), &end);
    if (!number.empty() && end == number.c_str() + number.size() && s > 0 && s <= kMaxZipfS) {
      return ModelDistribution{s};
    }
  }
  return InvalidArgument("--distribution must be round-robin or zipf:S with 0 < S <= 10, not \"" +
                         text + "\"");
}

ModelPicker::ModelPicker(size_t models, const ModelDistribution& distribution)
    : models_(std::max<size_t>(models, 1)) {
  if (distribution.zipf_s <= 0) return;
  cdf_.resize(models_);
  double total = 0;
  for (size_t k = 0; k < models_; ++k) {
    total += 1.0 / std::pow(static_cast<double>(k + 1), distribution.zipf_s);
    cdf_[k] = total;
  }
  for (double& c : cdf_) c /= total;
  cdf_.back() = 1.0;
}

size_t ModelPicker::Pick(uint64_t seq) const {
  if (cdf_.empty()) return static_cast<size_t>(seq % models_);
  // A uniform draw in [0, 1) from the top 53 bits.
  const double u = static_cast<double>(Mix(seq) >> 11) * (1.0 / 9007199254740992.0);
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return std::min(static_cast<size_t>(it - cdf_.begin()), models_ - 1);
}

double ModelPicker::Share(size_t m) const {
  if (cdf_.empty()) return 1.0 / static_cast<double>(models_);
  return cdf_[m] - (m == 0 ? 0.0 : cdf_[m - 1]);
}

}  // namespace modelgrid::perf
