#include "common/temp_folder.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace modelgrid {

Result<std::string> MakeTempFolder(std::string_view prefix) {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string path = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(path.data()) == nullptr) {
    return Internal("cannot create a folder " + path + ": " + std::strerror(errno));
  }
  return path;
}

}  // namespace modelgrid
