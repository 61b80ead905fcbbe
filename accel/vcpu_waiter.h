// How one vCPU thread waits for its page, and how others wake it.
//
// Each wait has a generation number.  handle_exit() starts a new generation
// and registers (vcpu, gen) in the in-flight table; an arrival wakes that
// vCPU by raising completed_gen to gen.  A vCPU is "done waiting" when
// completed_gen >= the generation of its current wait, so
//  - an arrival that comes before the vCPU sleeps is not lost (the wait sees
//    completed_gen already raised and returns at once);
//  - an arrival for an older, abandoned wait (the vCPU was kicked and moved
//    on) never completes a newer one, since generations only grow.
// Kicks are sticky: a kick while the vCPU is not waiting ends its next wait.
// The end states (ended / failed / shutdown) are read from the engine's
// phase under this mutex; whoever changes the phase then takes every vCPU's
// mutex and notifies, so the check-then-sleep below cannot miss it.
#pragma once

#include <cstdint>

#include "sync.h"

namespace memfault {

class VcpuWaiter {
public:
    // ---- vCPU thread only (no lock: nobody else touches these) ----------
    // Start a new wait; returns its generation.
    std::uint64_t begin_wait() {
        pending_ = true;
        return ++gen_;
    }
    // The page turned out to be present: there is nothing to wait for.
    void cancel_wait() { pending_ = false; }
    bool wait_pending() const { return pending_; }
    std::uint64_t gen() const { return gen_; }

    enum class End { kArrived, kKicked, kTimedOut, kPhase };

    // Block until the current wait's page arrives, a kick, a deadline
    // (nullptr: none) or @phase_changed() is true.  Never spins.  @on_end(End)
    // runs under the mutex, before drain() can return: it is the last code
    // that may touch the engine (after it the engine may be freed), so all
    // bookkeeping goes there and its result is returned.
    template <class PhaseChanged, class OnEnd>
    auto wait(const std::chrono::steady_clock::time_point *deadline, PhaseChanged phase_changed,
              OnEnd on_end) MF_EXCLUDES(mu_);

    // ---- any thread -----------------------------------------------------
    // The page of wait @gen arrived.
    void complete(std::uint64_t gen) MF_EXCLUDES(mu_) {
        MutexLock l(mu_);
        if (gen > completed_gen_) {
            completed_gen_ = gen;
            cv_.notify_all();
        }
    }
    void kick() MF_EXCLUDES(mu_) {
        MutexLock l(mu_);
        kick_ = true;
        cv_.notify_all();
    }
    // The engine's phase changed: re-check it.
    void poke() MF_EXCLUDES(mu_) {
        MutexLock l(mu_);
        cv_.notify_all();
    }
    bool is_waiting() MF_EXCLUDES(mu_) {
        MutexLock l(mu_);
        return in_wait_;
    }
    // Block until the vCPU thread is not inside wait() (for engine free).
    void drain() MF_EXCLUDES(mu_) {
        MutexLock l(mu_);
        while (in_wait_)
            cv_.wait(mu_);
    }

private:
    // vCPU thread only.
    std::uint64_t gen_ = 0;
    bool pending_ = false;

    Mutex mu_;
    CondVar cv_; // the vCPU waits for a wake; drain() waits for in_wait_ false
    std::uint64_t completed_gen_ MF_GUARDED_BY(mu_) = 0;
    bool kick_ MF_GUARDED_BY(mu_) = false;
    bool in_wait_ MF_GUARDED_BY(mu_) = false;
};

template <class PhaseChanged, class OnEnd>
auto VcpuWaiter::wait(const std::chrono::steady_clock::time_point *deadline,
                      PhaseChanged phase_changed, OnEnd on_end) {
    MutexLock l(mu_);
    in_wait_ = true;
    End end;
    for (;;) {
        if (phase_changed()) {
            end = End::kPhase;
            break;
        }
        if (completed_gen_ >= gen_) {
            end = End::kArrived;
            break;
        }
        if (kick_) {
            end = End::kKicked;
            break;
        }
        if (deadline) {
            if (!cv_.wait_until(mu_, *deadline) && completed_gen_ < gen_ && !kick_ &&
                !phase_changed()) {
                end = End::kTimedOut;
                break;
            }
        } else {
            cv_.wait(mu_);
        }
    }
    kick_ = false; // whatever ended the wait also consumed a pending kick
    if (end != End::kTimedOut)
        pending_ = false;
    auto result = on_end(end);
    in_wait_ = false;
    cv_.notify_all(); // drain()
    return result;
}

} // namespace memfault
