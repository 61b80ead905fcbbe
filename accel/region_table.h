// The region table: RAMBlocks, the KVM memslots that map them, and the two
// kinds of per-page state the engine keeps.
//
//   Block   one RAMBlock: idstr, length, page size (4K, or 2M for hugetlbfs)
//           and its "arrived" map: one bit per KVM page, set once the page is
//           in place.  This map is the engine's truth about a page; the slot
//           bitmaps below are derived from it.
//   Slot    one KVM memslot: [gpa, gpa + size) -> block offset.  A big
//           RAMBlock is split over several slots, and a block range may be
//           mapped by more than one slot (aliases).  Each slot owns the
//           userfault bitmap KVM reads: bit set = page missing, exit.
//
// Lookups come from vCPU threads and must not take a lock: the table is
// published as an immutable Snapshot through one atomic pointer.  Writers
// (registration, seeding: rare, QEMU's main thread) serialise on mu_, build
// a new snapshot and publish it.  Old snapshots, removed slots and their
// bitmaps are kept until the table is destroyed, so a reader (or KVM) never
// sees freed memory; registration happens a few dozen times per VM, so that
// costs nothing that matters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atomic_bitmap.h"
#include "memfault/memfault.h"
#include "sync.h"

namespace memfault {

struct Block {
    Block(std::string id, std::uint64_t len, std::uint64_t psize, std::uint32_t idx,
          std::uint64_t kvm_psize)
        : idstr(std::move(id)), length(len), page_size(psize), index(idx),
          kvm_per_page(psize / kvm_psize), arrived(len / kvm_psize) {}

    const std::string idstr;
    const std::uint64_t length;    // bytes (QEMU: the RAMBlock's used length)
    const std::uint64_t page_size; // block page size: requests and arrivals use it
    const std::uint32_t index;     // dense, for in-flight keys
    const std::uint64_t kvm_per_page; // KVM pages per block page

    // Set (release) by arrivals, read (acquire) by exit decoding and the
    // in-flight table: seeing a bit set means the page is in place.  Bits are
    // never cleared.
    AtomicBitmap arrived;

    // Set once by seeding, before any userfault bit of the block is set
    // (seq_cst store; exit decoding's acquire load pairs with it).
    std::atomic<bool> seeded{false};

    std::uint64_t pages() const { return length / page_size; }
    bool page_present(std::uint64_t block_page) const {
        // acquire: pairs with the release fetch_or in RegionTable::mark_arrived
        return arrived.all_set(block_page * kvm_per_page, kvm_per_page, std::memory_order_acquire);
    }
};

struct Slot {
    Slot(std::uint32_t i, std::uint64_t g, std::uint64_t sz, std::uintptr_t h, Block *b,
         std::uint64_t off, std::uint64_t kvm_psize)
        : id(i), gpa(g), size(sz), host(h), block(b), offset(off), userfault(sz / kvm_psize) {}

    const std::uint32_t id;
    const std::uint64_t gpa, size;
    const std::uintptr_t host;
    Block *const block;
    const std::uint64_t offset; // in the block, bytes

    // KVM reads it; the engine sets bits when seeding and clears them (release,
    // pairing with KVM's read) when a page arrives or demand paging ends.
    AtomicBitmap userfault;

    bool contains_gpa(std::uint64_t a) const { return a >= gpa && a - gpa < size; }
    bool contains_host(std::uintptr_t a) const { return a >= host && a - host < size; }
};

// One immutable version of the table.
struct Snapshot {
    struct BlockSlots {
        Block *block;
        std::vector<Slot *> slots; // every slot mapping part of the block
    };
    std::vector<Slot *> by_gpa;       // sorted by gpa, non-overlapping
    std::vector<BlockSlots> blocks;   // sorted by idstr
    std::vector<std::uint32_t> by_index; // Block::index -> position in blocks
    // [gpa, end) of every slot removed so far: KVM may have taken an exit there
    // before the removal, and the vCPU decodes it after.  Only grows (a few
    // dozen slot changes per VM); searched only when an exit matches no slot.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> retired;

    const Slot *find_gpa(std::uint64_t gpa) const;
    // Whether [gpa, gpa + size) lies in live and removed slots, with at least
    // one byte in a removed one: an exit there can be stale, not bad.
    bool stale_range(std::uint64_t gpa, std::uint64_t size) const;
    const Slot *find_host(std::uintptr_t host) const; // O(slots)
    const Slot *find_id(std::uint32_t id) const;      // O(slots)
    const BlockSlots *find_block(std::string_view idstr) const;
    const BlockSlots *find_block(const Block *b) const;
};

class RegionTable {
public:
    explicit RegionTable(std::uint64_t kvm_page_size);
    ~RegionTable();
    RegionTable(const RegionTable &) = delete;
    RegionTable &operator=(const RegionTable &) = delete;

    std::uint64_t kvm_page_size() const { return kvm_page_size_; }

    // Lock-free; the snapshot lives as long as the table.
    const Snapshot &current() const {
        // acquire: pairs with the release store in publish()
        return *snap_.load(std::memory_order_acquire);
    }

    MemfaultStatus add_block(std::string_view idstr, std::uint64_t length,
                             std::uint64_t page_size) MF_EXCLUDES(mu_);
    // @seed_new_slot: the engine is still demand paging (false after end()).
    MemfaultStatus add_slot(std::uint32_t id, std::uint64_t gpa, std::uint64_t size,
                            std::uintptr_t host, std::string_view idstr, std::uint64_t offset,
                            bool seed_new_slot) MF_EXCLUDES(mu_);
    MemfaultStatus remove_slot(std::uint32_t id) MF_EXCLUDES(mu_);

    // Start demand paging a block (see memfault_block_seed()).
    MemfaultStatus seed_block(std::string_view idstr, const unsigned long *received,
                              std::uint64_t nbits) MF_EXCLUDES(mu_);

    // Pages [first, first + n) (KVM pages) of @b are in place: mark them
    // arrived, then clear their userfault bits in every slot mapping them.
    // Returns how many were not marked before.  Lock-free.
    std::uint64_t mark_arrived(Block &b, std::uint64_t first, std::uint64_t n);

    // Demand paging ended: clear every userfault bit.
    void clear_all_userfault_bits() MF_EXCLUDES(mu_);

private:
    void publish(std::unique_ptr<Snapshot> s) MF_REQUIRES(mu_);
    void seed_slot(Slot &s) MF_REQUIRES(mu_);

    const std::uint64_t kvm_page_size_;
    Mutex mu_; // serialises writers; readers never take it
    std::vector<std::unique_ptr<Block>> blocks_ MF_GUARDED_BY(mu_);
    std::vector<std::unique_ptr<Slot>> slots_ MF_GUARDED_BY(mu_);    // removed ones too
    std::vector<std::unique_ptr<Snapshot>> snapshots_ MF_GUARDED_BY(mu_); // every version
    std::atomic<const Snapshot *> snap_{nullptr};
};

} // namespace memfault
