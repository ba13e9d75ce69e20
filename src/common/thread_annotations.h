// Clang's thread-safety annotations (-Wthread-safety): which lock guards which field, and
// which locks a function needs, acquires or must not hold. Other compilers see nothing.
// scripts/check-thread-safety.sh compiles the locking code with clang and -Werror.
#pragma once

#if defined(__clang__)
#define MG_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MG_THREAD_ANNOTATION(x)
#endif

// Abseil (under gRPC's headers) defines some of these names too, with the same meaning:
// ours replace them.
#undef GUARDED_BY
#undef PT_GUARDED_BY
#undef ACQUIRED_BEFORE
#undef ACQUIRED_AFTER
#undef NO_THREAD_SAFETY_ANALYSIS

#define CAPABILITY(x) MG_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY MG_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) MG_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) MG_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) MG_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) MG_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) MG_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) MG_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) MG_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) MG_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) MG_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) MG_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) MG_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) MG_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) MG_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) MG_THREAD_ANNOTATION(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS MG_THREAD_ANNOTATION(no_thread_safety_analysis)
