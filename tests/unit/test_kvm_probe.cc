// memfault_kvm_probe() against the real /dev/kvm of the kernel running the test.
// MEMFAULT_EXPECT_KVM_USERFAULT says what that kernel has: "absent" in the rig
// with Debian's kvm modules, "present" with ours (KVM Userfault and
// KVM_MEM_EXIT_ON_MISSING come and go together: our series has both).  The unit suite, which never
// needs /dev/kvm, runs only KvmProbeArgs (tests/unit/meson.build).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "kvm_probe.h"
#include "memfault/memfault.h"

namespace {

class KvmProbe : public ::testing::Test {
protected:
    void SetUp() override {
        const char *e = std::getenv("MEMFAULT_EXPECT_KVM_USERFAULT");
        ASSERT_NE(e, nullptr) << "set MEMFAULT_EXPECT_KVM_USERFAULT=absent|present";
        expect_ = e;
        ASSERT_TRUE(expect_ == "absent" || expect_ == "present") << expect_;
        fd_ = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd_, 0) << "/dev/kvm: " << std::strerror(errno);
    }
    void TearDown() override {
        if (fd_ >= 0)
            ::close(fd_);
    }
    std::string expect_;
    int fd_ = -1;
};

TEST(KvmProbeArgs, RejectsBadArguments) {
    MemfaultKvmSupport s;
    EXPECT_EQ(memfault_kvm_probe(-1, &s), MEMFAULT_EINVAL);
    EXPECT_EQ(memfault_kvm_probe(0, nullptr), MEMFAULT_EINVAL);
}

TEST_F(KvmProbe, MatchesTheKernel) {
    MemfaultKvmSupport s;
    ASSERT_EQ(memfault_kvm_probe(fd_, &s), MEMFAULT_OK) << s.reason;
    EXPECT_GT(s.cap_user_memory2, 0);
    EXPECT_GT(s.cap_memory_fault_info, 0);
    if (expect_ == "absent") {
        EXPECT_FALSE(s.supported);
        EXPECT_NE(std::string(s.reason).find("KVM_CAP_USERFAULT"), std::string::npos) << s.reason;
    } else {
        EXPECT_TRUE(s.supported) << s.reason;
        EXPECT_GT(s.cap_userfault, 0);
        EXPECT_EQ(s.slot_errno, 0);
        EXPECT_STREQ(s.reason, "");
    }
}

TEST_F(KvmProbe, ExitOnMissingMatchesTheKernel) {
    MemfaultKvmSupport s;
    ASSERT_EQ(memfault_kvm_probe(fd_, &s), MEMFAULT_OK) << s.reason;
    if (expect_ == "absent") {
        EXPECT_FALSE(s.exit_on_missing);
        EXPECT_NE(std::string(s.eom_reason).find("KVM_CAP_EXIT_ON_MISSING"), std::string::npos)
            << s.eom_reason;
    } else {
        EXPECT_TRUE(s.exit_on_missing) << s.eom_reason;
        EXPECT_GT(s.cap_exit_on_missing, 0);
        EXPECT_EQ(s.eom_slot_errno, 0);
        EXPECT_STREQ(s.eom_reason, "");
    }
}

TEST_F(KvmProbe, ExitOnMissingMemslot) {
    int r = memfault::kvm::try_exit_on_missing_memslot(fd_, 0);
    if (expect_ == "absent") {
        EXPECT_EQ(r, EINVAL) << "an unknown memslot flag must be rejected";
    } else {
        EXPECT_EQ(r, 0);
        EXPECT_EQ(memfault::kvm::try_exit_on_missing_memslot(fd_, MEMFAULT_KVM_MEM_USERFAULT), EINVAL)
            << "KVM_MEM_EXIT_ON_MISSING with KVM_MEM_USERFAULT must be rejected";
    }
}

// The memslot test is what decides, whatever the capability number says.
TEST_F(KvmProbe, UserfaultMemslot) {
    int r = memfault::kvm::try_userfault_memslot(fd_, 0);
    if (expect_ == "absent") {
        EXPECT_EQ(r, EINVAL) << "an unknown memslot flag must be rejected";
    } else {
        EXPECT_EQ(r, 0);
        EXPECT_EQ(memfault::kvm::try_userfault_memslot(fd_, 4), EINVAL)
            << "a bitmap pointer that is not 8-byte aligned must be rejected";
    }
}

} // namespace
