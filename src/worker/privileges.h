// What a worker process gives up before it touches a model file: it needs to read its
// model and its shared-memory segment, nothing more.
#pragma once

#include <string>

#include "common/status.h"

namespace modelgrid {

// Sets no_new_privs (no exec can raise privileges again), and when the process runs as
// root: switches to `user` (and its primary group, no supplementary groups) when `user`
// is not empty, then clears every capability (effective, permitted, inheritable, and the
// bounding set as far as the process may). Fails with kInvalidArgument for an unknown
// user and kInternal when a step the kernel should allow fails; the caller must not go on
// serving after a failure.
Status DropWorkerPrivileges(const std::string& user);

}  // namespace modelgrid
