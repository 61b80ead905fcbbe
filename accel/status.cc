// memfault_status_str(): one message per MemfaultStatus, for error_setg().
#include "memfault/memfault.h"

extern "C" const char *memfault_status_str(MemfaultStatus status) {
    switch (status) {
    case MEMFAULT_OK: return "success";
    case MEMFAULT_UNSUPPORTED: return "not supported by this kernel";
    case MEMFAULT_EINVAL: return "invalid argument";
    case MEMFAULT_ESYS: return "system call failed";
    case MEMFAULT_RESOLVED: return "the page is present";
    case MEMFAULT_WAIT: return "the page is in flight: wait for it";
    case MEMFAULT_RETRY: return "demand paging has ended: re-enter the guest";
    case MEMFAULT_ARRIVED: return "the page arrived";
    case MEMFAULT_KICKED: return "the vCPU was kicked while waiting for a page";
    case MEMFAULT_TIMEDOUT: return "timed out waiting for a page";
    case MEMFAULT_SHUTDOWN: return "the memfault engine is shutting down";
    case MEMFAULT_FAILED: return "the postcopy migration failed";
    case MEMFAULT_EFLAGS:
        return "memory-fault exit flags are not the demand-paging mechanism's (KVM userfault or "
               "exit-on-missing) or have unknown bits";
    case MEMFAULT_ENOREGION: return "address outside every registered memslot";
    case MEMFAULT_ESIZE:
        return "memory-fault exit size is zero, not a page multiple, misaligned or crosses a memslot";
    case MEMFAULT_ENOTPAGED: return "the page's RAMBlock is not being demand-paged";
    case MEMFAULT_ENOBLOCK: return "no such RAMBlock, or offset outside it";
    case MEMFAULT_EEXIST: return "memslot or RAMBlock already registered, or guest ranges overlap";
    case MEMFAULT_EBUSY: return "the RAMBlock's demand paging was already started or has ended";
    case MEMFAULT_ESEND: return "sending the page request failed (it stays recorded for a resend)";
    case MEMFAULT_ENOMEM: return "out of memory";
    }
    return "unknown memfault status";
}

extern "C" bool memfault_status_is_error(MemfaultStatus status) {
    switch (status) {
    case MEMFAULT_OK:
    case MEMFAULT_RESOLVED:
    case MEMFAULT_WAIT:
    case MEMFAULT_RETRY:
    case MEMFAULT_ARRIVED:
    case MEMFAULT_KICKED:
    case MEMFAULT_TIMEDOUT:
        return false;
    default:
        return true;
    }
}
