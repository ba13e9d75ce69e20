// The parts behind the ModelGrid facade, for its implementation files only. Declared in
// the order they are built; destroyed in reverse, so each part outlives those that use it
// (channel callbacks reach the RequestPath until the WorkerPool is gone).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "serve/bls_server.h"
#include "serve/grid_types.h"
#include "serve/model_grid.h"
#include "serve/observer.h"
#include "serve/reconciler.h"
#include "serve/registry.h"
#include "serve/request_path.h"
#include "serve/tier_manager.h"
#include "serve/worker_pool.h"

namespace modelgrid {

// ModelMesh's runtime SPI (--modelmesh): where its models are staged and what each is
// charged. Sizes change on the control thread only; read anywhere under `mu`.
struct MeshState {
  std::string stage;  // a private folder of links (serve/mesh_source.h); "" without --modelmesh
  Mutex mu;
  std::map<std::string, uint64_t> charged GUARDED_BY(mu);    // by model id, once loaded
  std::map<std::string, uint64_t> predicted GUARDED_BY(mu);  // by source fingerprint
};

struct ModelGrid::Parts {
  GridContext grid;
  Registry registry;
  // The host-memory tier; built after the observer, but declared before the request path,
  // which reaches it, so that it goes after it.
  std::unique_ptr<TierManager> tiers;
  std::unique_ptr<RequestPath> requests;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<Observer> observer;
  std::unique_ptr<Reconciler> reconciler;
  MeshState mesh;
  // The workers' BLS calls into models of other workers (through `requests`); stopped at
  // Shutdown, after the workers.
  std::unique_ptr<BlsServer> bls;
};

}  // namespace modelgrid
