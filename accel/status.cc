// memfault_status_str(): one message per MemfaultStatus, for error_setg().
#include "memfault/memfault.h"

extern "C" const char *memfault_status_str(MemfaultStatus status) {
    switch (status) {
    case MEMFAULT_OK: return "success";
    case MEMFAULT_UNSUPPORTED: return "not supported by this kernel";
    case MEMFAULT_EINVAL: return "invalid argument";
    case MEMFAULT_ESYS: return "system call failed";
    }
    return "unknown memfault status";
}
