// Mutex, scoped lock and condition variable that clang's -Wthread-safety
// understands.  libstdc++'s std::mutex carries no annotations, so the library
// never uses it directly: every lock in accel/ and migration/ is a Mutex and
// every piece of data it protects says so with MF_GUARDED_BY.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "thread_annotations.h"

namespace memfault {

class MF_CAPABILITY("mutex") Mutex {
public:
    Mutex() = default;
    Mutex(const Mutex &) = delete;
    Mutex &operator=(const Mutex &) = delete;

    void lock() MF_ACQUIRE() { mu_.lock(); }
    void unlock() MF_RELEASE() { mu_.unlock(); }

private:
    friend class CondVar;
    std::mutex mu_;
};

class MF_SCOPED_CAPABILITY MutexLock {
public:
    explicit MutexLock(Mutex &mu) MF_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
    ~MutexLock() MF_RELEASE() { mu_.unlock(); }
    MutexLock(const MutexLock &) = delete;
    MutexLock &operator=(const MutexLock &) = delete;

private:
    Mutex &mu_;
};

// A condition variable bound to a Mutex at each wait.  The caller holds the
// mutex (checked by the analysis); it is released while blocked and held
// again on return, exactly like std::condition_variable.
class CondVar {
public:
    void wait(Mutex &mu) MF_REQUIRES(mu) {
        std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
        cv_.wait(lk);
        lk.release(); // still held: ownership goes back to the caller
    }

    // Returns false when @deadline passed.
    bool wait_until(Mutex &mu, std::chrono::steady_clock::time_point deadline) MF_REQUIRES(mu) {
        std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
        bool woken = cv_.wait_until(lk, deadline) == std::cv_status::no_timeout;
        lk.release();
        return woken;
    }

    void notify_one() { cv_.notify_one(); }
    void notify_all() { cv_.notify_all(); }

private:
    std::condition_variable cv_;
};

} // namespace memfault
