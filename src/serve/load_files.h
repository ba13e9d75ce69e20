// Model files sent with a load request (Triton's "file:<path>" load parameters): written to
// a private folder laid out as a one-model repository, which lives as long as the model
// that was loaded from it and is removed with the last reference.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace modelgrid {

class LoadFiles {
 public:
  // Writes `files` (path relative to the model folder, e.g. "1/model.pt" -> bytes) under
  // a new private folder as <folder>/<model>/<path>. kInvalidArgument for a path that is
  // absolute, climbs out ("..") or has characters other than [A-Za-z0-9._-] and '/';
  // kInternal when the files cannot be written.
  static Result<std::shared_ptr<const LoadFiles>> Write(
      const std::string& model, const std::map<std::string, std::string>& files);
  ~LoadFiles();  // removes the folder
  LoadFiles(const LoadFiles&) = delete;
  LoadFiles& operator=(const LoadFiles&) = delete;

  // The repository the model is read from.
  const std::string& repository() const { return root_; }

 private:
  explicit LoadFiles(std::string root) : root_(std::move(root)) {}
  const std::string root_;
};

}  // namespace modelgrid
