/*
 * The C ABI header must compile as C11 under the warnings QEMU builds with
 * (plus -Werror -pedantic), and link against the library from C.
 */
#include <stdio.h>
#include <string.h>

#include "memfault/memfault.h"

static int send_request(void *opaque, const char *idstr, uint64_t offset,
                        uint64_t len)
{
    (void)opaque, (void)idstr, (void)offset, (void)len;
    return 0;
}

static void wait_begin(void *opaque, const char *idstr, uint64_t offset,
                       uint32_t vcpu)
{
    (void)opaque, (void)idstr, (void)offset, (void)vcpu;
}

static void requests_queued(void *opaque)
{
    (void)opaque;
}

int main(void)
{
    MemfaultKvmSupport s;
    MemfaultConfig config = { .max_vcpus = 1 };
    MemfaultOps ops = { .send_request = send_request, .wait_begin = wait_begin,
                        .requests_queued = requests_queued };
    MemfaultEngine *e;

    memset(&s, 0, sizeof(s));
    if (memfault_kvm_probe(-1, &s) != MEMFAULT_EINVAL) {
        fprintf(stderr, "probe accepted a bad fd\n");
        return 1;
    }
    if (memfault_engine_new(&config, &ops, NULL, &e) != MEMFAULT_OK) {
        fprintf(stderr, "no engine from C\n");
        return 1;
    }
    if (memfault_send_queued(e) != MEMFAULT_OK) {
        fprintf(stderr, "an empty send queue is not OK\n");
        return 1;
    }
    memfault_engine_free(e);
    printf("%s\n", memfault_status_str(MEMFAULT_UNSUPPORTED));
    return MEMFAULT_ABI_VERSION == 4 ? 0 : 1;
}
