// The parts behind the ModelGrid facade, for its implementation files only. Declared in
// the order they are built; destroyed in reverse, so each part outlives those that use it
// (channel callbacks reach the RequestPath until the WorkerPool is gone).
#pragma once

#include <memory>

#include "serve/grid_types.h"
#include "serve/model_grid.h"
#include "serve/observer.h"
#include "serve/reconciler.h"
#include "serve/registry.h"
#include "serve/request_path.h"
#include "serve/worker_pool.h"

namespace modelgrid {

struct ModelGrid::Parts {
  GridContext grid;
  Registry registry;
  std::unique_ptr<RequestPath> requests;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<Observer> observer;
  std::unique_ptr<Reconciler> reconciler;
};

}  // namespace modelgrid
