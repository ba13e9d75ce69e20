#include "serve/serve_options.h"

namespace modelgrid {

Result<ModelControlMode> ParseModelControlMode(std::string_view name) {
  if (name == "none") return ModelControlMode::kNone;
  if (name == "explicit") return ModelControlMode::kExplicit;
  if (name == "poll") return ModelControlMode::kPoll;
  return InvalidArgument("unknown model control mode '" + std::string(name) +
                         "' (none, explicit or poll)");
}

const char* ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone:
      return "none";
    case ModelControlMode::kExplicit:
      return "explicit";
    case ModelControlMode::kPoll:
      return "poll";
  }
  return "none";
}

}  // namespace modelgrid
