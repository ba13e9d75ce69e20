// Workers' custom metrics reports (written by model code, so untrusted) as /metrics renders
// them: any bytes must give a bounded result, never a crash or an invalid exposition.
#include <cstddef>
#include <cstdint>
#include <string>

#include "serve/custom_metrics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string report(reinterpret_cast<const char*>(data), size);
  modelgrid::server::PrometheusWriter w;
  (void)modelgrid::WriteCustomMetrics({report, report}, w);
  (void)w.Take();
  return 0;
}
