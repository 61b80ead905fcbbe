// A fake of the ops table QEMU gives the engine: a migration source that
// records every page request and fails the test loudly on any request it was
// not told to expect.  Thread-safe: the engine calls it from many threads.
//
//   FakeSource src;                       // any request now fails the test
//   src.expect("pc.ram", 0x5000, 0x1000); // exactly this one, once
//   src.allow_any();                      // or: record everything
//   src.on_send = [&](const Request &r) { ... return 0; }; // misbehave
// The destructor fails the test if an expected request never came.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "memfault/memfault.h"

struct Request {
    std::string idstr;
    std::uint64_t offset;
    std::uint64_t len;
    bool operator==(const Request &o) const {
        return idstr == o.idstr && offset == o.offset && len == o.len;
    }
};

// A vCPU began to wait for a page (ops->wait_begin).
struct Wait {
    std::string idstr;
    std::uint64_t offset;
    std::uint32_t vcpu;
    bool operator==(const Wait &o) const {
        return idstr == o.idstr && offset == o.offset && vcpu == o.vcpu;
    }
};

inline std::ostream &operator<<(std::ostream &os, const Wait &w) {
    return os << "vCPU " << w.vcpu << " waits for " << w.idstr << "+0x" << std::hex << w.offset
              << std::dec;
}

inline std::ostream &operator<<(std::ostream &os, const Request &r) {
    return os << r.idstr << "+0x" << std::hex << r.offset << " len 0x" << r.len << std::dec;
}

class FakeSource {
public:
    FakeSource() = default;
    FakeSource(const FakeSource &) = delete;
    ~FakeSource() {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto &e : expected_)
            ADD_FAILURE() << "expected request never sent: " << e.req;
    }

    MemfaultOps ops() const {
        return MemfaultOps{&FakeSource::send_cb, &FakeSource::wait_cb, nullptr};
    }
    // The ops of a VMM with a sender thread: vCPU threads only queue.
    MemfaultOps ops_queued() const {
        return MemfaultOps{&FakeSource::send_cb, &FakeSource::wait_cb, &FakeSource::queued_cb};
    }
    void *opaque() { return this; }

    void expect(const std::string &idstr, std::uint64_t off, std::uint64_t len, int ret = 0) {
        std::lock_guard<std::mutex> l(mu_);
        expected_.push_back({{idstr, off, len}, ret});
    }
    void allow_any(int ret = 0) {
        std::lock_guard<std::mutex> l(mu_);
        allow_any_ = true;
        any_ret_ = ret;
    }
    std::vector<Request> requests() const {
        std::lock_guard<std::mutex> l(mu_);
        return log_;
    }
    // Every ops->wait_begin call, in order.
    std::vector<Wait> waits() const {
        std::lock_guard<std::mutex> l(mu_);
        return waits_;
    }
    std::size_t count() const {
        std::lock_guard<std::mutex> l(mu_);
        return log_.size();
    }
    bool all_expected_seen() const {
        std::lock_guard<std::mutex> l(mu_);
        return expected_.empty();
    }

    // The thread of each request in requests(), in the same order.
    std::vector<std::thread::id> senders() const {
        std::lock_guard<std::mutex> l(mu_);
        return senders_;
    }
    // How many times ops->requests_queued was called.
    int notifications() const { return notifications_.load(); }

    // Runs (outside the fake's lock) after a request is accepted; its return
    // value replaces the configured one.
    std::function<int(const Request &)> on_send;
    // Runs (outside the fake's lock) in ops->wait_begin / ops->requests_queued.
    std::function<void()> on_wait, on_queued;

private:
    struct Expected {
        Request req;
        int ret;
    };

    static int send_cb(void *opaque, const char *idstr, std::uint64_t off, std::uint64_t len) {
        return static_cast<FakeSource *>(opaque)->send(Request{idstr, off, len});
    }
    static void wait_cb(void *opaque, const char *idstr, std::uint64_t off, std::uint32_t vcpu) {
        auto *self = static_cast<FakeSource *>(opaque);
        {
            std::lock_guard<std::mutex> l(self->mu_);
            self->waits_.push_back(Wait{idstr, off, vcpu});
        }
        if (self->on_wait)
            self->on_wait();
    }
    static void queued_cb(void *opaque) {
        auto *self = static_cast<FakeSource *>(opaque);
        self->notifications_++;
        if (self->on_queued)
            self->on_queued();
    }

    int send(const Request &r) {
        int ret = 0;
        {
            std::lock_guard<std::mutex> l(mu_);
            log_.push_back(r);
            senders_.push_back(std::this_thread::get_id());
            bool matched = false;
            for (auto it = expected_.begin(); it != expected_.end(); ++it) {
                if (it->req == r) {
                    ret = it->ret;
                    expected_.erase(it);
                    matched = true;
                    break;
                }
            }
            if (!matched) {
                if (!allow_any_) {
                    ADD_FAILURE() << "unexpected page request: " << r;
                    return -EPROTO;
                }
                ret = any_ret_;
            }
        }
        if (on_send)
            ret = on_send(r);
        return ret;
    }

    mutable std::mutex mu_;
    std::vector<Expected> expected_;
    std::vector<Request> log_;
    std::vector<Wait> waits_;
    std::vector<std::thread::id> senders_;
    std::atomic<int> notifications_{0};
    bool allow_any_ = false;
    int any_ret_ = 0;
};
