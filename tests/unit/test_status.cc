#include <cstring>

#include <gtest/gtest.h>

#include "memfault/memfault.h"

TEST(Status, EveryValueHasItsOwnMessage) {
    const MemfaultStatus all[] = {MEMFAULT_OK, MEMFAULT_UNSUPPORTED, MEMFAULT_EINVAL, MEMFAULT_ESYS};
    for (auto a : all) {
        ASSERT_NE(memfault_status_str(a), nullptr);
        EXPECT_STRNE(memfault_status_str(a), memfault_status_str(static_cast<MemfaultStatus>(9999)));
        for (auto b : all)
            if (a != b)
                EXPECT_STRNE(memfault_status_str(a), memfault_status_str(b));
    }
    EXPECT_STREQ(memfault_status_str(static_cast<MemfaultStatus>(9999)), "unknown memfault status");
}
