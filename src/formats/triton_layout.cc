#include "formats/triton_layout.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace modelgrid {

int64_t LatestModelVersion(const std::string& model_dir) {
  std::error_code ec;
  int64_t best = -1;
  for (const auto& entry : std::filesystem::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name.size() > 18 ||
        !std::all_of(name.begin(), name.end(), ::isdigit)) {
      continue;
    }
    best = std::max(best, static_cast<int64_t>(std::stoll(name)));
  }
  return best;
}

bool IsPythonModelFolder(const std::string& model_dir) {
  const int64_t best = LatestModelVersion(model_dir);
  std::error_code ec;
  return best >= 0 && std::filesystem::is_regular_file(
                          std::filesystem::path(model_dir) / std::to_string(best) / "model.py", ec);
}

}  // namespace modelgrid
