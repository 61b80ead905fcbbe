// Clang thread-safety annotations (-Wthread-safety).  They expand to nothing
// on other compilers, so the lock rules still read as documentation there.
#pragma once

#if defined(__clang__)
#define MF_TSA(x) __attribute__((x))
#else
#define MF_TSA(x)
#endif

#define MF_CAPABILITY(name) MF_TSA(capability(name))
#define MF_SCOPED_CAPABILITY MF_TSA(scoped_lockable)
#define MF_GUARDED_BY(mu) MF_TSA(guarded_by(mu))
#define MF_PT_GUARDED_BY(mu) MF_TSA(pt_guarded_by(mu))
#define MF_ACQUIRE(...) MF_TSA(acquire_capability(__VA_ARGS__))
#define MF_RELEASE(...) MF_TSA(release_capability(__VA_ARGS__))
#define MF_REQUIRES(...) MF_TSA(requires_capability(__VA_ARGS__))
#define MF_EXCLUDES(...) MF_TSA(locks_excluded(__VA_ARGS__))
#define MF_RETURN_CAPABILITY(x) MF_TSA(lock_returned(x))
#define MF_NO_THREAD_SAFETY_ANALYSIS MF_TSA(no_thread_safety_analysis)
