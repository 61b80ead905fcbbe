// Page requests that vCPU threads hand to a sender thread.
//
// Why: sending a request is network I/O on the migration's return path, under
// the VMM's return-path lock, possibly behind a full socket.  A vCPU thread
// that does it cannot be kicked out of it, so pausing the VM (stop, quit,
// savevm) would wait on TCP.  With MemfaultOps.requests_queued set, a vCPU
// that creates a request only queues it here and, when the queue was empty,
// tells the VMM's sender thread, which sends the queue with
// Engine::send_queued().  Requests stay in the in-flight table meanwhile, so
// other faults on the same pages join them as before.
//
// Lock rule: mu_ is a leaf; nothing is called with it held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "sync.h"

namespace memfault {

struct Block;

// [first, first + n) block pages of @block (RegionTable keeps every Block for
// the engine's life, so the pointer stays valid).
struct QueuedRequest {
    const Block *block;
    std::uint64_t first;
    std::uint64_t n;
};

class SendQueue {
public:
    // Append @r.  Returns true when the queue was empty before: the caller
    // must then notify the sender (later pushes find it non-empty, and the
    // sender takes them in the same pass or the next).
    bool push(const QueuedRequest &r) {
        MutexLock l(mu_);
        q_.push_back(r);
        return q_.size() == 1;
    }

    // The oldest request, removed; false when there is none.
    bool pop(QueuedRequest &out) {
        MutexLock l(mu_);
        if (q_.empty())
            return false;
        out = q_.front();
        q_.pop_front();
        return true;
    }

    // Put @r back in front (its send failed: it goes first next time).
    void push_front(const QueuedRequest &r) {
        MutexLock l(mu_);
        q_.push_front(r);
    }

    void clear() {
        MutexLock l(mu_);
        q_.clear();
    }

    std::size_t size() const {
        MutexLock l(mu_);
        return q_.size();
    }

private:
    mutable Mutex mu_;
    std::deque<QueuedRequest> q_ MF_GUARDED_BY(mu_);
};

} // namespace memfault
