#include "plan/plan_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "estimate/report.h"
#include "plan/planner.h"

namespace modelgrid {

namespace {

using nlohmann::json;

std::string Format(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, a);
  return buf;
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

uint64_t ContextBytes(const Plan& plan) {
  uint64_t total = 0;
  for (const auto& g : plan.gpus) {
    for (const auto& w : g.workers) total += w.context_bytes;
  }
  return total;
}

int TotalInstances(const Plan& plan) {
  return plan.placed_instances + static_cast<int>(plan.unplaced.size() + plan.parked.size());
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A stable pastel colour per model name (replicas share their model's colour).
std::string ColorFor(const std::string& instance) {
  const std::string model = ModelOfInstance(instance);
  uint32_t h = 2166136261u;
  for (char c : model) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "hsl(%u,55%%,%u%%)", h % 360, 62 + (h >> 9) % 14);
  return buf;
}

}  // namespace

json PlanToJson(const Plan& plan) {
  json gpus = json::array();
  for (const auto& g : plan.gpus) {
    json workers = json::array();
    for (const auto& w : g.workers) {
      workers.push_back({{"isolation", IsolationName(w.isolation)},
                         {"context_bytes", w.context_bytes},
                         {"models", w.models},
                         {"model_bytes", w.model_bytes},
                         {"transient_bytes", w.transient_bytes},
                         {"transient_peak_bytes", w.transient_peak_bytes}});
    }
    gpus.push_back({{"index", g.index},
                    {"name", g.name},
                    {"capacity_bytes", g.capacity_bytes},
                    {"planned_bytes", g.planned_bytes},
                    {"reserve_bytes", g.planned_bytes ? g.reserve_bytes : 0},
                    {"load", g.load},
                    {"workers", workers}});
  }
  json parked = json::array();
  for (const auto& p : plan.parked) {
    parked.push_back({{"name", p.name},
                      {"gpu", p.gpu},
                      {"parked_bytes", p.parked_bytes},
                      {"footprint_bytes", p.footprint_bytes},
                      {"swap_in_seconds", p.swap_in_seconds},
                      {"link", p.link}});
  }
  json unplaced = json::array();
  for (const auto& u : plan.unplaced) unplaced.push_back({{"name", u.name}, {"reason", u.reason}});
  return {{"strategy", plan.strategy},
          {"gpus", gpus},
          {"unplaced", unplaced},
          {"lower_bound_gpus", plan.lower_bound_gpus},
          {"proven_optimal", plan.proven_optimal},
          {"host_cache_bytes", plan.host_cache_bytes},
          {"host_cache_used_bytes", plan.host_cache_used_bytes},
          {"parked", parked},
          {"placed_instances", plan.placed_instances},
          {"gpus_used", plan.gpus_used},
          {"contexts", plan.contexts},
          {"elapsed_seconds", plan.elapsed_seconds}};
}

std::string PlanToTable(const Plan& plan) {
  std::ostringstream out;
  const int total_gpus = static_cast<int>(plan.gpus.size());
  out << "strategy " << plan.strategy << ": " << plan.placed_instances << "/"
      << TotalInstances(plan) << " instances on " << plan.gpus_used << " of " << total_gpus
      << " GPUs, " << plan.contexts << " worker(s) (" << HumanBytes(ContextBytes(plan))
      << " of contexts); lower bound ";
  if (plan.lower_bound_gpus > total_gpus) {
    out << "> " << total_gpus << " GPUs (not everything fits)";
  } else {
    out << plan.lower_bound_gpus << " GPU(s)";
  }
  out << (plan.proven_optimal ? ", proven optimal" : "") << "\n\n";
  out << Pad("GPU", 5) << Pad("name", 14) << Pad("capacity", 12) << Pad("planned", 12)
      << Pad("free", 12) << Pad("fill", 6) << "workers\n";
  for (const auto& g : plan.gpus) {
    if (g.workers.empty()) continue;
    const double fill = g.capacity_bytes ? 100.0 * g.planned_bytes / g.capacity_bytes : 0;
    out << Pad(std::to_string(g.index), 5) << Pad(g.name, 14)
        << Pad(HumanBytes(g.capacity_bytes), 12) << Pad(HumanBytes(g.planned_bytes), 12)
        << Pad(HumanBytes(g.capacity_bytes - g.planned_bytes), 12) << Pad(Format("%.0f%%", fill), 6)
        << g.workers.size() << "\n";
    for (const auto& w : g.workers) {
      out << "       " << IsolationName(w.isolation) << " worker (context "
          << HumanBytes(w.context_bytes);
      if (w.transient_peak_bytes > 0) {
        out << ", transient peak " << HumanBytes(w.transient_peak_bytes);
      }
      out << "): ";
      for (size_t i = 0; i < w.models.size(); ++i) {
        out << (i ? ", " : "") << w.models[i] << " " << HumanBytes(w.model_bytes[i]);
        if (w.transient_bytes[i] > 0)
          out << " (" << HumanBytes(w.transient_bytes[i]) << " transient)";
      }
      out << "\n";
    }
  }
  const int unused = total_gpus - plan.gpus_used;
  if (unused > 0) out << "(" << unused << " GPU(s) unused)\n";
  if (plan.host_cache_bytes > 0) {
    out << "\nparked in host memory (" << plan.parked.size() << ", "
        << HumanBytes(plan.host_cache_used_bytes) << " of the " << HumanBytes(plan.host_cache_bytes)
        << " host cache; a request swaps its model in):\n";
    for (const auto& p : plan.parked) {
      out << "  " << p.name << ": " << HumanBytes(p.parked_bytes) << " -> GPU " << p.gpu
          << Format(", swap-in >= %.2f ms over ", p.swap_in_seconds * 1e3) << p.link << "\n";
    }
  }
  if (!plan.unplaced.empty()) {
    out << "\nunplaced (" << plan.unplaced.size() << "):\n";
    for (const auto& u : plan.unplaced) out << "  " << u.name << ": " << u.reason << "\n";
  }
  return out.str();
}

double DensityRatio(const Plan& plan, const Plan& conventional) {
  auto density = [](const Plan& p) {
    return p.gpus_used ? static_cast<double>(p.placed_instances) / p.gpus_used : 0.0;
  };
  const double base = density(conventional);
  return base > 0 ? density(plan) / base : 0.0;
}

std::string ComparisonTable(const std::vector<Plan>& plans) {
  const Plan* conventional = nullptr;
  for (const auto& p : plans) {
    if (p.strategy == "conventional") conventional = &p;
  }
  std::ostringstream out;
  out << Pad("strategy", 19) << Pad("placed", 10) << Pad("GPUs", 6) << Pad("workers", 9)
      << Pad("contexts", 12) << Pad("models/GPU", 12) << Pad("density", 9) << "optimal\n";
  for (const auto& p : plans) {
    const double per_gpu = p.gpus_used ? static_cast<double>(p.placed_instances) / p.gpus_used : 0;
    out << Pad(p.strategy, 19)
        << Pad(std::to_string(p.placed_instances) + "/" + std::to_string(TotalInstances(p)), 10)
        << Pad(std::to_string(p.gpus_used), 6) << Pad(std::to_string(p.contexts), 9)
        << Pad(HumanBytes(ContextBytes(p)), 12) << Pad(Format("%.1f", per_gpu), 12)
        << Pad(conventional ? Format("%.2fx", DensityRatio(p, *conventional)) : "-", 9)
        << (p.strategy == "optimal" ? (p.proven_optimal ? "proven" : "not proven")
                                    : (p.proven_optimal ? "yes" : "-"))
        << "\n";
  }
  out << "density: instances per GPU used, relative to conventional (one process per model)\n";
  return out.str();
}

json ComparisonToJson(const std::vector<Plan>& plans) {
  const Plan* conventional = nullptr;
  for (const auto& p : plans) {
    if (p.strategy == "conventional") conventional = &p;
  }
  json out = json::array();
  for (const auto& p : plans) {
    json j = PlanToJson(p);
    if (conventional) j["density_vs_conventional"] = DensityRatio(p, *conventional);
    out.push_back(std::move(j));
  }
  return {{"plans", out}};
}

std::string PlansToSvg(const std::vector<Plan>& plans) {
  constexpr int kMaxBars = 64, kBarWidth = 760, kBarHeight = 30, kLeft = 170, kGap = 10;
  uint64_t largest = 1;
  int rows = 0;
  for (const auto& p : plans) {
    for (const auto& g : p.gpus) largest = std::max(largest, g.capacity_bytes);
    rows += std::min<int>(kMaxBars, static_cast<int>(p.gpus.size())) + 3;
  }
  const int width = kLeft + kBarWidth + 200;
  const int height = rows * (kBarHeight + kGap) + 60;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<pattern id=\"ctx\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
         "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#888\"/>"
         "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#555\" stroke-width=\"3\"/>"
         "</pattern>\n";
  int y = 20;
  auto segment = [&](double x, double w, const std::string& fill, const std::string& label,
                     const std::string& title) {
    if (w <= 0) return;
    svg << "<g><title>" << Escape(title) << "</title><rect x=\"" << x << "\" y=\"" << y
        << "\" width=\"" << w << "\" height=\"" << kBarHeight << "\" fill=\"" << fill
        << "\" stroke=\"white\" stroke-width=\"0.5\"/>";
    if (!label.empty() && w > 7.0 * label.size()) {
      svg << "<text x=\"" << x + w / 2 << "\" y=\"" << y + kBarHeight / 2 + 4
          << "\" text-anchor=\"middle\">" << Escape(label) << "</text>";
    }
    svg << "</g>\n";
  };
  for (const auto& p : plans) {
    svg << "<text x=\"10\" y=\"" << y + 14 << "\" font-size=\"15\" font-weight=\"bold\">"
        << Escape(p.strategy) << ": " << p.placed_instances << " instances on " << p.gpus_used
        << " GPU(s), " << p.contexts << " context(s)"
        << (p.unplaced.empty() ? "" : ", " + std::to_string(p.unplaced.size()) + " unplaced")
        << "</text>\n";
    y += kBarHeight;
    int drawn = 0;
    for (const auto& g : p.gpus) {
      if (drawn++ == kMaxBars) break;
      const double scale = static_cast<double>(kBarWidth) / largest;
      svg << "<text x=\"10\" y=\"" << y + kBarHeight / 2 + 4 << "\">GPU " << g.index << " "
          << Escape(g.name) << "</text>\n";
      double x = kLeft;
      for (const auto& w : g.workers) {
        const double cw = w.context_bytes * scale;
        segment(x, cw, "url(#ctx)", "ctx",
                std::string(IsolationName(w.isolation)) + " worker context " +
                    HumanBytes(w.context_bytes));
        x += cw;
        // Each model's resident part, then the worker's transient peak once.
        for (size_t i = 0; i < w.models.size(); ++i) {
          const uint64_t resident = w.model_bytes[i] - w.transient_bytes[i];
          const double mw = resident * scale;
          segment(x, mw, ColorFor(w.models[i]), w.models[i],
                  w.models[i] + " " + HumanBytes(w.model_bytes[i]) + ": " + HumanBytes(resident) +
                      " resident + " + HumanBytes(w.transient_bytes[i]) + " transient (" +
                      IsolationName(w.isolation) + " worker)");
          x += mw;
        }
        const double tw = w.transient_peak_bytes * scale;
        segment(x, tw, "#aed6f1", "transient",
                std::string(IsolationName(w.isolation)) + " worker transient peak " +
                    HumanBytes(w.transient_peak_bytes) +
                    " (activations, workspaces: reused by its models one request at a time)");
        x += tw;
      }
      if (g.planned_bytes) {
        const double rw = g.reserve_bytes * scale;
        segment(x, rw, "#f4d03f", "reserve", "reserve " + HumanBytes(g.reserve_bytes));
        x += rw;
      }
      const double end = kLeft + g.capacity_bytes * scale;
      svg << "<rect x=\"" << kLeft << "\" y=\"" << y << "\" width=\"" << end - kLeft
          << "\" height=\"" << kBarHeight << "\" fill=\"none\" stroke=\"#333\"/>\n";
      const double fill = g.capacity_bytes ? 100.0 * g.planned_bytes / g.capacity_bytes : 0;
      svg << "<text x=\"" << end + 6 << "\" y=\"" << y + kBarHeight / 2 + 4 << "\">"
          << HumanBytes(g.planned_bytes) << " / " << HumanBytes(g.capacity_bytes) << " ("
          << Format("%.0f%%", fill) << ")</text>\n";
      y += kBarHeight + kGap;
    }
    if (static_cast<int>(p.gpus.size()) > kMaxBars) {
      svg << "<text x=\"10\" y=\"" << y + 14 << "\">... and " << p.gpus.size() - kMaxBars
          << " more GPUs</text>\n";
    }
    y += kBarHeight + kGap;
  }
  svg << "<text x=\"10\" y=\"" << y + 10
      << "\" fill=\"#555\">hatched: CUDA context of a worker; coloured: models' resident bytes; "
         "light blue: a worker's transient peak; yellow: reserve; white: free</text>\n</svg>\n";
  return svg.str();
}

}  // namespace modelgrid
