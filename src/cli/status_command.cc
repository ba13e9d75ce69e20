// `modelgrid status`: a readable view of a running `modelgrid serve`, from
// GET /v2/modelgrid/status, with request rates from two snapshots `--interval` apart.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "client/http_client.h"
#include "client/json_reply.h"
#include "client/url.h"

namespace modelgrid::cli {

namespace {

using nlohmann::json;

struct StatusArgs {
  std::string url = "http://127.0.0.1:8000";
  std::string api_key;
  bool json = false;
  double interval_s = 1;
  bool once = false;
};

std::optional<double> Number(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) return {};
  return object[key].get<double>();
}

std::string Text(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "-";
  if (object[key].is_string()) return object[key].get<std::string>();
  return object[key].dump();
}

// "12.0 GiB", "512.0 MiB", "3.0 KiB", "100 B"; "-" when unknown.
std::string Bytes(std::optional<double> bytes) {
  if (!bytes) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = *bytes;
  int unit = 0;
  while (std::fabs(v) >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", v, units[unit]);
  return text;
}

// Left-aligned columns separated by two spaces.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::vector<json> Items(const json& doc, const char* key) {
  std::vector<json> items;
  if (doc.is_object() && doc.contains(key) && doc[key].is_array()) {
    for (const json& item : doc[key]) items.push_back(item);
  }
  return items;
}

double Requests(const json& model) {
  return Number(model, "success").value_or(0) + Number(model, "failure").value_or(0);
}

// Adds "requests_per_s" to every model of `now` found in `before`, and "interval_s".
void AddRates(const json& before, double seconds, json& now) {
  if (!now.contains("models") || !now["models"].is_array() || seconds <= 0) return;
  now["interval_s"] = seconds;
  for (json& model : now["models"]) {
    model["requests_per_s"] = nullptr;
    for (const json& old : Items(before, "models")) {
      if (Text(old, "name") == Text(model, "name") &&
          Text(old, "version") == Text(model, "version")) {
        model["requests_per_s"] = std::max(0.0, (Requests(model) - Requests(old)) / seconds);
      }
    }
  }
}

std::string Render(const json& doc) {
  std::string out;
  const json server = doc.value("server", json::object());
  char line[256];
  const std::optional<double> uptime = Number(server, "uptime_s");
  std::snprintf(line, sizeof line, "%s %s, up %s, model control %s, strategy %s\n",
                Text(server, "name").c_str(), Text(server, "version").c_str(),
                uptime ? (std::to_string(static_cast<int64_t>(*uptime)) + " s").c_str() : "-",
                Text(server, "model_control_mode").c_str(), Text(server, "strategy").c_str());
  out += line;
  if (doc.contains("host_cache")) {
    const json& cache = doc["host_cache"];
    out += "host cache: " + Bytes(Number(cache, "parked_bytes")) + " parked of " +
           Bytes(Number(cache, "capacity_bytes")) + "\n";
  }

  std::vector<std::vector<std::string>> devices = {
      {"DEVICE", "NAME", "CAPACITY", "PLANNED", "USED", "WORKERS"}};
  for (const json& d : Items(doc, "devices")) {
    devices.push_back({Text(d, "device"), Text(d, "name"), Bytes(Number(d, "capacity_bytes")),
                       Bytes(Number(d, "planned_bytes")), Bytes(Number(d, "used_bytes")),
                       Text(d, "workers")});
  }
  out += "\n" + Table(devices);

  std::vector<std::vector<std::string>> workers = {
      {"WORKER", "DEVICE", "PID", "ISOLATED", "UP", "RESTARTS", "BUDGET", "MEMORY", "MODELS"}};
  for (const json& w : Items(doc, "workers")) {
    std::string models;
    for (const json& m : Items(w, "models")) {
      models += (models.empty() ? "" : ",") + (m.is_string() ? m.get<std::string>() : m.dump());
    }
    workers.push_back({Text(w, "name"), Text(w, "device"), Text(w, "pid"), Text(w, "isolated"),
                       Text(w, "up"), Text(w, "restarts"), Bytes(Number(w, "budget_bytes")),
                       Bytes(Number(w, "memory_bytes")), models.empty() ? "-" : models});
  }
  out += "\n" + Table(workers);

  std::vector<std::vector<std::string>> models = {{"MODEL", "VERSION", "STATE", "TIER", "WORKER",
                                                   "DEVICE", "ESTIMATED", "PLANNED", "MEASURED",
                                                   "EST.ERROR", "OK", "FAILED", "REQ/S"}};
  std::string errors;
  for (const json& m : Items(doc, "models")) {
    const std::optional<double> estimated = Number(m, "estimated_bytes");
    const std::optional<double> measured = Number(m, "measured_bytes");
    std::string error = "-";
    if (estimated && measured && *measured > 0) {
      std::snprintf(line, sizeof line, "%+.1f%%", (*estimated - *measured) / *measured * 100);
      error = line;
    }
    std::string rate = "-";
    if (const std::optional<double> r = Number(m, "requests_per_s")) {
      std::snprintf(line, sizeof line, "%.1f", *r);
      rate = line;
    }
    models.push_back({Text(m, "name"), Text(m, "version"), Text(m, "state"), Text(m, "tier"),
                      Text(m, "worker"), Text(m, "device"), Bytes(estimated),
                      Bytes(Number(m, "planned_bytes")), Bytes(measured), error, Text(m, "success"),
                      Text(m, "failure"), rate});
    if (const std::string last = Text(m, "last_error"); last != "-" && !last.empty()) {
      errors += Text(m, "name") + ": last error: " + last + "\n";
    }
  }
  out += "\n" + Table(models);
  if (!errors.empty()) out += "\n" + errors;
  return out;
}

Result<json> Snapshot(client::HttpClient& http, const client::Url& url) {
  MG_ASSIGN_OR_RETURN(json doc, client::JsonReply(http.Get(url.Path("/v2/modelgrid/status")), url,
                                                  "GET /v2/modelgrid/status"));
  if (!doc.is_object()) return Internal("GET /v2/modelgrid/status: expected a JSON object");
  return doc;
}

int RunStatus(const StatusArgs& args) {
  auto url = client::ParseUrl(args.url);
  if (!url.ok()) {
    std::cerr << "error: " << url.status().message() << "\n";
    return 2;
  }
  client::HttpClient http(url->host, url->port, std::chrono::milliseconds(10'000));
  if (!args.api_key.empty())
    http.set_default_headers({{"Authorization", "Bearer " + args.api_key}});
  auto first = Snapshot(http, *url);
  if (!first.ok()) {
    std::cerr << "error: " << first.status().message() << "\n";
    return 1;
  }
  json doc = *first;
  if (!args.once) {
    const auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(args.interval_s));
    auto second = Snapshot(http, *url);
    if (!second.ok()) {
      std::cerr << "error: " << second.status().message() << "\n";
      return 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    doc = std::move(second).value();
    AddRates(*first, seconds, doc);
  }
  std::cout << (args.json ? doc.dump(2) + "\n" : Render(doc));
  return 0;
}

}  // namespace

void RegisterStatus(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd =
      app.add_subcommand("status", "Show devices, workers and models of a running modelgrid serve");
  cmd->add_option("--url", args->url, "Server URL (default http://127.0.0.1:8000)");
  cmd->add_option("--api-key", args->api_key, "Bearer API key")->envname("MODELGRID_API_KEY");
  cmd->add_flag("--json", args->json, "Print the status document as JSON (with rates added)");
  cmd->add_option("--interval", args->interval_s,
                  "Seconds between the two snapshots that give request rates (default 1)")
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_flag("--once", args->once, "One snapshot, no rates");
  cmd->callback([args, handler] { *handler = [args] { return RunStatus(*args); }; });
}

}  // namespace modelgrid::cli
