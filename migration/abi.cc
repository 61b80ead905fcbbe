// The extern "C" layer of memfault.h: argument checks, and no exception
// ever crosses into QEMU (allocation failure becomes MEMFAULT_ENOMEM).
#include <new>

#include "engine.h"
#include "memfault/memfault.h"

struct MemfaultEngine {
    memfault::Engine engine;
    MemfaultEngine(const MemfaultConfig &c, const MemfaultOps &ops, void *opaque)
        : engine(c, ops, opaque) {}
};

namespace {

template <class F>
MemfaultStatus guarded(MemfaultEngine *e, F &&f) {
    if (!e)
        return MEMFAULT_EINVAL;
    try {
        return f(e->engine);
    } catch (const std::bad_alloc &) {
        return MEMFAULT_ENOMEM;
    } catch (...) {
        return MEMFAULT_EINVAL;
    }
}

} // namespace

extern "C" {

MemfaultStatus memfault_engine_new(const MemfaultConfig *config, const MemfaultOps *ops,
                                   void *opaque, MemfaultEngine **out) {
    if (!config || !ops || !out)
        return MEMFAULT_EINVAL;
    *out = nullptr;
    if (MemfaultStatus s = memfault::Engine::validate(*config, *ops); s != MEMFAULT_OK)
        return s;
    try {
        *out = new MemfaultEngine(*config, *ops, opaque);
    } catch (const std::bad_alloc &) {
        return MEMFAULT_ENOMEM;
    }
    return MEMFAULT_OK;
}

void memfault_engine_free(MemfaultEngine *e) { delete e; }

MemfaultStatus memfault_block_add(MemfaultEngine *e, const char *idstr, uint64_t length,
                                  uint64_t page_size) {
    if (!idstr)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.block_add(idstr, length, page_size); });
}

MemfaultStatus memfault_slot_add(MemfaultEngine *e, uint32_t slot, uint64_t gpa, uint64_t size,
                                 void *host, const char *idstr, uint64_t offset) {
    if (!idstr)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) {
        return x.slot_add(slot, gpa, size, reinterpret_cast<std::uintptr_t>(host), idstr, offset);
    });
}

MemfaultStatus memfault_slot_remove(MemfaultEngine *e, uint32_t slot) {
    return guarded(e, [&](memfault::Engine &x) { return x.slot_remove(slot); });
}

MemfaultStatus memfault_slot_bitmap(MemfaultEngine *e, uint32_t slot, unsigned long **bitmap,
                                    uint64_t *nbits) {
    if (!bitmap || !nbits)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.slot_bitmap(slot, bitmap, nbits); });
}

MemfaultStatus memfault_block_seed(MemfaultEngine *e, const char *idstr,
                                   const unsigned long *receivedmap, uint64_t nbits) {
    if (!idstr)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.block_seed(idstr, receivedmap, nbits); });
}

MemfaultStatus memfault_vcpu_handle_exit(MemfaultEngine *e, uint32_t vcpu, uint64_t gpa,
                                         uint64_t size, uint64_t flags) {
    return guarded(e, [&](memfault::Engine &x) { return x.handle_exit(vcpu, gpa, size, flags); });
}

MemfaultStatus memfault_vcpu_wait(MemfaultEngine *e, uint32_t vcpu, int64_t timeout_ns) {
    return guarded(e, [&](memfault::Engine &x) { return x.wait(vcpu, timeout_ns); });
}

MemfaultStatus memfault_vcpu_kick(MemfaultEngine *e, uint32_t vcpu) {
    return guarded(e, [&](memfault::Engine &x) { return x.kick(vcpu); });
}

MemfaultStatus memfault_vcpu_kick_all(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.kick_all(); });
}

MemfaultStatus memfault_request_page(MemfaultEngine *e, const char *idstr, uint64_t offset) {
    if (!idstr)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.request_page(idstr, offset); });
}

MemfaultStatus memfault_page_arrived(MemfaultEngine *e, const char *idstr, uint64_t offset,
                                     uint64_t len) {
    if (!idstr)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.page_arrived(idstr, offset, len); });
}

MemfaultStatus memfault_page_arrived_host(MemfaultEngine *e, const void *host, uint64_t len) {
    return guarded(e, [&](memfault::Engine &x) {
        return x.page_arrived_host(reinterpret_cast<std::uintptr_t>(host), len);
    });
}

MemfaultStatus memfault_send_queued(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.send_queued(); });
}

MemfaultStatus memfault_resend_requests(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.resend_requests(); });
}

MemfaultStatus memfault_engine_end(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.end(); });
}

MemfaultStatus memfault_engine_fail(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.fail(); });
}

MemfaultStatus memfault_engine_shutdown(MemfaultEngine *e) {
    return guarded(e, [&](memfault::Engine &x) { return x.shutdown(); });
}

MemfaultStatus memfault_get_stats(MemfaultEngine *e, MemfaultStats *out) {
    if (!out)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) {
        x.stats(*out);
        return MEMFAULT_OK;
    });
}

MemfaultStatus memfault_get_vcpu_stats(MemfaultEngine *e, uint32_t vcpu, MemfaultVcpuStats *out) {
    if (!out)
        return MEMFAULT_EINVAL;
    return guarded(e, [&](memfault::Engine &x) { return x.vcpu_stats(vcpu, *out); });
}

} // extern "C"
