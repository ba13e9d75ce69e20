#include "worker/privileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace modelgrid {

namespace {

Status Errno(const std::string& what) { return Internal(what + ": " + std::strerror(errno)); }

// Clears the effective, permitted and inheritable capability sets (capset(2) directly:
// no libcap needed).
Status ClearCapabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return Errno("capset");
  return Status::Ok();
}

}  // namespace

Status DropWorkerPrivileges(const std::string& user) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS");
  if (::geteuid() != 0) return Status::Ok();  // an ordinary user has nothing more to drop
  if (!user.empty()) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
      return InvalidArgument("unknown user '" + user + "' for workers");
    }
    if (::setgroups(0, nullptr) != 0) return Errno("setgroups");
    if (::setgid(pw.pw_gid) != 0) return Errno("setgid");
    if (::setuid(pw.pw_uid) != 0) return Errno("setuid");
    if (pw.pw_uid != 0 && ::setuid(0) == 0) return Internal("could regain root after setuid");
    return Status::Ok();  // setuid away from root already cleared the capabilities
  }
  // Still uid 0: the bounding set first (needs CAP_SETPCAP, which we still hold), then the
  // process's own sets.
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return Errno("PR_CAPBSET_DROP");
    }
  }
  return ClearCapabilities();
}

}  // namespace modelgrid
