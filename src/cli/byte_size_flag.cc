// ByteSizeTransform (declared in cli/commands.h).
#include <string>

#include "cli/commands.h"
#include "common/byte_size.h"

namespace modelgrid::cli {

CLI::Validator ByteSizeTransform() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto bytes = ParseByteSize(value);
        if (!bytes.ok()) return bytes.status().message();
        value = std::to_string(*bytes);
        return "";
      },
      "SIZE", "byte size");
}

}  // namespace modelgrid::cli
