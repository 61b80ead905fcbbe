#include <cstring>

#include <gtest/gtest.h>

#include "memfault/memfault.h"

namespace {

const MemfaultStatus kAll[] = {
    MEMFAULT_OK,       MEMFAULT_UNSUPPORTED, MEMFAULT_EINVAL,    MEMFAULT_ESYS,
    MEMFAULT_RESOLVED, MEMFAULT_WAIT,        MEMFAULT_RETRY,     MEMFAULT_ARRIVED,
    MEMFAULT_KICKED,   MEMFAULT_TIMEDOUT,    MEMFAULT_SHUTDOWN,  MEMFAULT_FAILED,
    MEMFAULT_EFLAGS,   MEMFAULT_ENOREGION,   MEMFAULT_ESIZE,     MEMFAULT_ENOTPAGED,
    MEMFAULT_ENOBLOCK, MEMFAULT_EEXIST,      MEMFAULT_EBUSY,     MEMFAULT_ESEND,
    MEMFAULT_ENOMEM,
};

} // namespace

TEST(Status, ExistingValuesKeepTheirNumbers) {
    EXPECT_EQ(MEMFAULT_OK, 0);
    EXPECT_EQ(MEMFAULT_UNSUPPORTED, 1);
    EXPECT_EQ(MEMFAULT_EINVAL, 2);
    EXPECT_EQ(MEMFAULT_ESYS, 3);
}

TEST(Status, EveryValueHasItsOwnMessage) {
    for (auto a : kAll) {
        ASSERT_NE(memfault_status_str(a), nullptr);
        EXPECT_STRNE(memfault_status_str(a), memfault_status_str(static_cast<MemfaultStatus>(9999)));
        for (auto b : kAll)
            if (a != b)
                EXPECT_STRNE(memfault_status_str(a), memfault_status_str(b));
    }
    EXPECT_STREQ(memfault_status_str(static_cast<MemfaultStatus>(9999)), "unknown memfault status");
}

TEST(Status, ErrorsAreTheFatalOnes) {
    for (auto s : {MEMFAULT_OK, MEMFAULT_RESOLVED, MEMFAULT_WAIT, MEMFAULT_RETRY, MEMFAULT_ARRIVED,
                   MEMFAULT_KICKED, MEMFAULT_TIMEDOUT})
        EXPECT_FALSE(memfault_status_is_error(s)) << memfault_status_str(s);
    for (auto s : {MEMFAULT_EINVAL, MEMFAULT_SHUTDOWN, MEMFAULT_FAILED, MEMFAULT_EFLAGS,
                   MEMFAULT_ENOREGION, MEMFAULT_ESIZE, MEMFAULT_ENOTPAGED, MEMFAULT_ESEND})
        EXPECT_TRUE(memfault_status_is_error(s)) << memfault_status_str(s);
}
