/*
 * The C ABI header must compile as C11 under the warnings QEMU builds with
 * (plus -Werror -pedantic), and link against the library from C.
 */
#include <stdio.h>
#include <string.h>

#include "memfault/memfault.h"

int main(void)
{
    MemfaultKvmSupport s;

    memset(&s, 0, sizeof(s));
    if (memfault_kvm_probe(-1, &s) != MEMFAULT_EINVAL) {
        fprintf(stderr, "probe accepted a bad fd\n");
        return 1;
    }
    printf("%s\n", memfault_status_str(MEMFAULT_UNSUPPORTED));
    return MEMFAULT_ABI_VERSION == 1 ? 0 : 1;
}
