#include "serve/load_files.h"

#include <filesystem>
#include <fstream>

#include "common/temp_folder.h"

namespace modelgrid {

namespace fs = std::filesystem;

namespace {

// A relative path of plain components: no "", ".", ".." and no characters a shell or
// another filesystem would read differently.
bool IsPlainRelativePath(const std::string& path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const LoadFiles>> LoadFiles::Write(
    const std::string& model, const std::map<std::string, std::string>& files) {
  for (const auto& [path, bytes] : files) {
    if (!IsPlainRelativePath(path)) {
      return InvalidArgument("load: file path '" + path +
                             "' must be relative to the model folder, of [A-Za-z0-9._-] parts");
    }
  }
  auto made = MakeTempFolder("modelgrid-load");
  if (!made.ok()) return made.status().WithContext("load");
  const std::string root = *made;
  std::shared_ptr<const LoadFiles> owner(new LoadFiles(root));  // removes it on any failure
  for (const auto& [path, bytes] : files) {
    const fs::path target = fs::path(root) / model / path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (ec || !out.good()) return Internal("load: cannot write " + target.string());
  }
  return owner;
}

LoadFiles::~LoadFiles() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

}  // namespace modelgrid
