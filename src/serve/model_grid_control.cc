// ModelGrid's model control endpoints: each request is checked here (unknown fields and
// parameters are refused, naming them), then runs on the Reconciler's control thread, and
// its typed result is answered as JSON. Also the repository index. See model_grid.h.
#include <algorithm>
#include <chrono>
#include <set>
#include <string_view>

#include "common/base64.h"
#include "formats/triton_config_json.h"
#include "plan/planner.h"
#include "serve/control_results.h"
#include "serve/load_files.h"
#include "serve/model_grid_parts.h"
#include "server/json_limits.h"

namespace modelgrid {

using nlohmann::json;

namespace {

// A request body's fields (and "parameters" entries, Triton's) that an endpoint does not
// know are refused (400 naming them), so that nothing a client asks for is ignored.
Status CheckKnownFields(const json& request, std::initializer_list<std::string_view> fields,
                        std::initializer_list<std::string_view> parameters, const char* endpoint) {
  auto known = [](std::initializer_list<std::string_view> list, const std::string& key) {
    return std::find(list.begin(), list.end(), key) != list.end();
  };
  for (const auto& [key, value] : request.items()) {
    if (key == "parameters" && value.is_object()) {
      for (const auto& [name, ignored] : value.items()) {
        if (!known(parameters, name)) {
          return Unsupported(std::string(endpoint) + ": parameter \"" + name +
                             "\" is not supported");
        }
      }
    } else if (!known(fields, key)) {
      return Unsupported(std::string(endpoint) + ": field \"" + key + "\" is not supported");
    }
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The answer to a control request that arrives while stopping or in the wrong mode.
Status ControlRefused(ModelControlMode mode, bool stopping) {
  if (stopping) return Status(StatusCode::kUnavailable, "the server is shutting down");
  return InvalidArgument(std::string("model control mode is '") + ModelControlModeName(mode) +
                         "': loading and unloading through the API needs "
                         "--model-control-mode=explicit");
}

// `result` as the endpoint's JSON answer.
template <typename T>
Result<json> Answer(Result<T> result) {
  if (!result.ok()) return result.status();
  return ToJson(*result);
}

}  // namespace

void ModelGrid::LoadModel(const std::string& model, const json& request, JsonCallback done) {
  if (parts_->grid.stopping || parts_->grid.options.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(parts_->grid.options.model_control, parts_->grid.stopping));
  }
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  // Triton's "file:<path>" parameters: the model's files, base64, read instead of the
  // repository's (they need a "config").
  std::map<std::string, std::string> files;
  json checked = request;
  if (auto params = checked.find("parameters"); params != checked.end() && params->is_object()) {
    for (auto it = params->begin(); it != params->end();) {
      if (it.key().rfind("file:", 0) != 0) {
        ++it;
        continue;
      }
      if (!it->is_string()) {
        return done(InvalidArgument("load: \"" + it.key() + "\" must be base64 text"));
      }
      auto bytes = DecodeBase64(it->get<std::string>());
      if (!bytes.ok()) return done(bytes.status().WithContext("load: \"" + it.key() + "\""));
      files[it.key().substr(5)] = std::move(bytes).value();
      it = params->erase(it);
    }
    if (!files.empty() && !params->contains("config")) {
      return done(InvalidArgument("load: \"file:\" parameters need a \"config\" parameter"));
    }
  }
  if (Status st = CheckKnownFields(checked, {}, {"config"}, "load"); !st.ok()) return done(st);
  std::shared_ptr<ConfigOverride> override;
  if (auto params = request.find("parameters");
      params != request.end() && params->contains("config")) {
    const json& text = (*params)["config"];
    if (!text.is_string()) return done(InvalidArgument("load: \"config\" must be a JSON string"));
    auto config = ParseTritonConfigJson(text.get<std::string>());
    if (!config.ok()) return done(config.status().WithContext("load of '" + model + "'"));
    if (!config->name.empty() && config->name != model) {
      return done(InvalidArgument("load: the config names model '" + config->name + "', not '" +
                                  model + "'"));
    }
    override = std::make_shared<ConfigOverride>(ConfigOverride{*config, text.get<std::string>()});
  }
  Parts* p = parts_.get();
  // The files (up to a body's size) are written on the control thread, not an I/O thread.
  p->reconciler->Control([p, model, override, files = std::move(files), done] {
    if (p->grid.stopping) return done(ControlRefused({}, true));
    if (!files.empty()) {
      auto written = LoadFiles::Write(model, files);
      if (!written.ok()) return done(written.status());
      override->repository = (*written)->repository();
      override->files = *written;
      for (const auto& [path, bytes] : files) {
        override->text += "|" + path + ":" + std::to_string(std::hash<std::string>{}(bytes));
      }
    }
    done(Answer(p->reconciler->Load(model, override.get())));
  });
}

void ModelGrid::UnloadModel(const std::string& model, const json& request, JsonCallback done) {
  if (parts_->grid.stopping || parts_->grid.options.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(parts_->grid.options.model_control, parts_->grid.stopping));
  }
  // Triton's unload_dependents concerns ensembles, which ModelGrid does not have: a model
  // has no dependents to unload either way.
  if (Status st = CheckKnownFields(request, {}, {"unload_dependents"}, "unload"); !st.ok()) {
    return done(st);
  }
  const json params = request.value("parameters", json::object());
  if (params.contains("unload_dependents") && !params["unload_dependents"].is_boolean()) {
    return done(InvalidArgument("unload_dependents must be a boolean"));
  }
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  Parts* p = parts_.get();
  p->reconciler->Control([p, model, done] {
    done(p->grid.stopping ? ControlRefused({}, true) : Answer(p->reconciler->Unload(model)));
  });
}

void ModelGrid::MoveModel(const std::string& model, const json& request, JsonCallback done) {
  if (parts_->grid.stopping) return done(ControlRefused({}, true));
  if (Status st = CheckKnownFields(request, {"device", "isolation"}, {}, "move"); !st.ok()) {
    return done(st);
  }
  std::optional<int> device;
  std::optional<Isolation> isolation;
  if (request.contains("device")) {
    const json& d = request["device"];
    for (const Device& dev : parts_->grid.devices) {
      if ((d.is_number_integer() && d.get<int>() == dev.index) ||
          (d.is_string() && d.get<std::string>() == dev.label)) {
        device = dev.index;
      }
    }
    if (!device)
      return done(
          InvalidArgument("no device " + server::BriefJson(d) + " (see /v2/modelgrid/status)"));
  }
  if (request.contains("isolation")) {
    const json& i = request["isolation"];
    if (i == "shared") {
      isolation = Isolation::kShared;
    } else if (i == "process") {
      isolation = Isolation::kProcess;
    } else {
      return done(InvalidArgument("isolation must be \"shared\" or \"process\""));
    }
  }
  Parts* p = parts_.get();
  p->reconciler->Control([p, model, device, isolation, done] {
    done(p->grid.stopping ? ControlRefused({}, true)
                          : Answer(p->reconciler->Move(model, device, isolation)));
  });
}

void ModelGrid::Replan(const json& request, JsonCallback done) {
  if (parts_->grid.stopping) return done(ControlRefused({}, true));
  if (Status st = CheckKnownFields(request, {"strategy", "dry_run"}, {}, "replan"); !st.ok()) {
    return done(st);
  }
  Strategy strategy = parts_->grid.strategy;
  if (request.contains("strategy")) {
    if (!request["strategy"].is_string()) return done(InvalidArgument("strategy must be a string"));
    auto parsed = ParseStrategy(request["strategy"].get<std::string>());
    if (!parsed.ok()) return done(parsed.status());
    strategy = *parsed;
  }
  const json dry_run_field = request.value("dry_run", json(false));
  if (!dry_run_field.is_boolean()) return done(InvalidArgument("dry_run must be a boolean"));
  const bool dry_run = dry_run_field.get<bool>();
  Parts* p = parts_.get();
  p->reconciler->Control([p, strategy, dry_run, done] {
    done(p->grid.stopping ? ControlRefused({}, true)
                          : Answer(p->reconciler->Replan(strategy, dry_run)));
  });
}

Result<json> ModelGrid::RepositoryIndex(bool ready_only) {
  const Registry& r = parts_->registry;
  MG_ASSIGN_OR_RETURN(std::vector<std::string> names,
                      ListRepositoryModels(parts_->grid.options.repository));
  ReaderLock lock(&r.mu);
  std::set<std::string> all(names.begin(), names.end());
  for (const auto& [name, m] : r.models) all.insert(name);
  json out = json::array();
  for (const auto& name : all) {
    json entry = {{"name", name}};
    auto it = r.models.find(name);
    if (it != r.models.end()) {
      const ModelState s = it->second->state;
      if (ready_only && s != ModelState::kReady) continue;
      entry["version"] = std::to_string(it->second->served.version);
      entry["state"] = ModelStateName(s);
      entry["reason"] = s == ModelState::kReady ? "" : it->second->failure();
      if (it->second->tiered) {  // the host-memory tier: where it is now
        const Tier tier = it->second->tier;
        entry["tier"] = TierName(tier);
        if (s == ModelState::kReady && !OnDevice(tier)) {
          entry["reason"] = tier == Tier::kParked ? "parked in host memory: swaps in on request"
                                                  : "cold: loads on its first request";
        }
      } else if (parts_->tiers->enabled()) {
        entry["tier"] = TierName(Tier::kResident);
      }
    } else {
      if (ready_only) continue;
      auto why = r.unplaced.find(name);
      entry["state"] = "UNAVAILABLE";
      entry["reason"] = why == r.unplaced.end() ? "unloaded" : why->second;
    }
    out.push_back(std::move(entry));
  }
  return out;
}
}  // namespace modelgrid
