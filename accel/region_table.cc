// Region table: registration, seeding and arrival marking (region_table.h).
#include "region_table.h"

#include <algorithm>

namespace memfault {

namespace {

bool is_pow2(std::uint64_t v) { return v && !(v & (v - 1)); }

} // namespace

const Slot *Snapshot::find_gpa(std::uint64_t gpa) const {
    // First slot whose gpa is > @gpa, then step back one.
    auto it = std::upper_bound(by_gpa.begin(), by_gpa.end(), gpa,
                               [](std::uint64_t a, const Slot *s) { return a < s->gpa; });
    if (it == by_gpa.begin())
        return nullptr;
    const Slot *s = *--it;
    return s->contains_gpa(gpa) ? s : nullptr;
}

bool Snapshot::stale_range(std::uint64_t gpa, std::uint64_t size) const {
    const std::uint64_t end = gpa + size;
    if (end < gpa)
        return false;
    bool removed = false;
    for (std::uint64_t pos = gpa; pos < end;) {
        if (const Slot *s = find_gpa(pos)) {
            pos = s->gpa + s->size;
            continue;
        }
        std::uint64_t next = pos;
        for (const auto &[lo, hi] : retired)
            if (lo <= pos && pos < hi)
                next = std::max(next, hi);
        if (next == pos)
            return false;
        removed = true;
        pos = next;
    }
    return removed;
}

const Slot *Snapshot::find_host(std::uintptr_t host) const {
    for (const Slot *s : by_gpa)
        if (s->contains_host(host))
            return s;
    return nullptr;
}

const Slot *Snapshot::find_id(std::uint32_t id) const {
    for (const Slot *s : by_gpa)
        if (s->id == id)
            return s;
    return nullptr;
}

const Snapshot::BlockSlots *Snapshot::find_block(std::string_view idstr) const {
    auto it = std::lower_bound(blocks.begin(), blocks.end(), idstr,
                               [](const BlockSlots &b, std::string_view id) {
                                   return std::string_view(b.block->idstr) < id;
                               });
    return it != blocks.end() && it->block->idstr == idstr ? &*it : nullptr;
}

const Snapshot::BlockSlots *Snapshot::find_block(const Block *b) const {
    return b->index < by_index.size() ? &blocks[by_index[b->index]] : nullptr;
}

RegionTable::RegionTable(std::uint64_t kvm_page_size) : kvm_page_size_(kvm_page_size) {
    MutexLock l(mu_);
    publish(std::make_unique<Snapshot>());
}

RegionTable::~RegionTable() = default;

void RegionTable::publish(std::unique_ptr<Snapshot> s) {
    // release: pairs with the acquire load in current(); readers see the
    // snapshot's contents and every Block/Slot it points to fully built.
    snap_.store(s.get(), std::memory_order_release);
    snapshots_.push_back(std::move(s));
}

MemfaultStatus RegionTable::add_block(std::string_view idstr, std::uint64_t length,
                                      std::uint64_t page_size) {
    if (idstr.empty() || idstr.size() > 255 || !is_pow2(page_size) ||
        page_size < kvm_page_size_ || length == 0 || length % page_size)
        return MEMFAULT_EINVAL;
    MutexLock l(mu_);
    const Snapshot &cur = *snapshots_.back();
    if (cur.find_block(idstr))
        return MEMFAULT_EEXIST;
    if (blocks_.size() >= (1u << 16)) // in-flight keys give the block 16 bits
        return MEMFAULT_ENOMEM;
    auto b = std::make_unique<Block>(std::string(idstr), length, page_size,
                                     static_cast<std::uint32_t>(blocks_.size()), kvm_page_size_);
    auto next = std::make_unique<Snapshot>(cur);
    auto pos = std::lower_bound(next->blocks.begin(), next->blocks.end(), idstr,
                                [](const Snapshot::BlockSlots &x, std::string_view id) {
                                    return std::string_view(x.block->idstr) < id;
                                });
    next->blocks.insert(pos, Snapshot::BlockSlots{b.get(), {}});
    next->by_index.resize(blocks_.size() + 1);
    for (std::uint32_t i = 0; i < next->blocks.size(); i++)
        next->by_index[next->blocks[i].block->index] = i;
    blocks_.push_back(std::move(b));
    publish(std::move(next));
    return MEMFAULT_OK;
}

MemfaultStatus RegionTable::add_slot(std::uint32_t id, std::uint64_t gpa, std::uint64_t size,
                                     std::uintptr_t host, std::string_view idstr,
                                     std::uint64_t offset, bool seed_new_slot) {
    if (size == 0 || gpa % kvm_page_size_ || size % kvm_page_size_ || offset % kvm_page_size_ ||
        gpa + size < gpa)
        return MEMFAULT_EINVAL;
    MutexLock l(mu_);
    const Snapshot &cur = *snapshots_.back();
    const Snapshot::BlockSlots *bs = cur.find_block(idstr);
    if (!bs)
        return MEMFAULT_ENOBLOCK;
    Block *b = bs->block;
    if (offset >= b->length || size > b->length - offset)
        return MEMFAULT_ENOBLOCK;
    if (cur.find_id(id))
        return MEMFAULT_EEXIST;
    for (const Slot *s : cur.by_gpa)
        if (gpa < s->gpa + s->size && s->gpa < gpa + size)
            return MEMFAULT_EEXIST;

    auto slot = std::make_unique<Slot>(id, gpa, size, host, b, offset, kvm_page_size_);
    Slot *sp = slot.get();
    auto next = std::make_unique<Snapshot>(cur);
    next->by_gpa.insert(std::upper_bound(next->by_gpa.begin(), next->by_gpa.end(), sp,
                                         [](const Slot *a, const Slot *c) { return a->gpa < c->gpa; }),
                        sp);
    for (auto &x : next->blocks)
        if (x.block == b)
            x.slots.push_back(sp);
    slots_.push_back(std::move(slot));
    publish(std::move(next));
    // Published first, seeded second: see the fence in seed_slot().
    if (seed_new_slot && b->seeded.load(std::memory_order_seq_cst))
        seed_slot(*sp);
    return MEMFAULT_OK;
}

MemfaultStatus RegionTable::remove_slot(std::uint32_t id) {
    MutexLock l(mu_);
    const Snapshot &cur = *snapshots_.back();
    if (!cur.find_id(id))
        return MEMFAULT_ENOREGION;
    const Slot *gone = cur.find_id(id);
    auto next = std::make_unique<Snapshot>(cur);
    next->retired.emplace_back(gone->gpa, gone->gpa + gone->size);
    std::erase_if(next->by_gpa, [id](const Slot *s) { return s->id == id; });
    for (auto &x : next->blocks)
        std::erase_if(x.slots, [id](const Slot *s) { return s->id == id; });
    publish(std::move(next)); // the Slot and its bitmap stay in slots_
    return MEMFAULT_OK;
}

// Set the bits of @s for the pages of its block not yet arrived.
//
// Races with mark_arrived() on another thread, which sets arrived bits and
// then clears userfault bits in the slots of the snapshot it loads.  A Dekker
// pair makes sure no bit is left set for an arrived page: a seq_cst fence
// here, seq_cst operations there (on x86 a locked RMW is already a full
// barrier, so the arrival path, run once per page, pays no fence):
//   here:          (slot published) set bits; FENCE; re-read arrived, clear
//   mark_arrived:  set arrived (seq_cst RMW); load snapshot (seq_cst);
//                  clear bits (seq_cst RMW)
// If our re-read misses the arrival, our fence precedes the arrival's set in
// the single total order S (the re-read is coherence-ordered before it), so
// it also precedes the snapshot load and the clear that follow the set.  The
// load then sees the published slot, and the clear comes after our set in
// the word's modification order: were either earlier, it would precede our
// fence in S ([atomics.order]/4).  Either way no bit stays set.
void RegionTable::seed_slot(Slot &s) {
    const Block &b = *s.block;
    const std::uint64_t base = s.offset / kvm_page_size_;
    const std::uint64_t n = s.userfault.nbits();
    for (std::uint64_t i = 0; i < n; i += AtomicBitmap::kBits) {
        unsigned take = static_cast<unsigned>(std::min<std::uint64_t>(AtomicBitmap::kBits, n - i));
        // relaxed: ordered against the arrival by the fence below
        AtomicBitmap::Word arrived = b.arrived.load_bits(base + i, take, std::memory_order_relaxed);
        // release: pairs with KVM's read of the bitmap (and makes the block's
        // seeded flag visible before any bit; see Block::seeded)
        s.userfault.or_bits(i, take, ~arrived, std::memory_order_release);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with mark_arrived()'s seq_cst ops
    for (std::uint64_t i = 0; i < n; i += AtomicBitmap::kBits) {
        unsigned take = static_cast<unsigned>(std::min<std::uint64_t>(AtomicBitmap::kBits, n - i));
        AtomicBitmap::Word arrived = b.arrived.load_bits(base + i, take, std::memory_order_relaxed);
        if (arrived)
            s.userfault.and_not_bits(i, take, arrived, std::memory_order_release);
    }
}

MemfaultStatus RegionTable::seed_block(std::string_view idstr, const unsigned long *received,
                                       std::uint64_t nbits) {
    MutexLock l(mu_);
    const Snapshot &cur = *snapshots_.back();
    const Snapshot::BlockSlots *bs = cur.find_block(idstr);
    if (!bs)
        return MEMFAULT_ENOBLOCK;
    Block &b = *bs->block;
    if (nbits != b.arrived.nbits())
        return MEMFAULT_EINVAL;
    if (b.seeded.load(std::memory_order_relaxed))
        return MEMFAULT_EBUSY;
    if (received) {
        for (std::uint64_t i = 0; i < nbits; i += AtomicBitmap::kBits) {
            unsigned take =
                static_cast<unsigned>(std::min<std::uint64_t>(AtomicBitmap::kBits, nbits - i));
            // release: pairs with the acquire in Block::page_present()
            b.arrived.or_bits(i, take, received[i / AtomicBitmap::kBits], std::memory_order_release);
        }
    }
    // seq_cst, before any bit is set: a vCPU that exits on one of this
    // block's bits finds the block seeded (pairs with decode_exit's acquire).
    b.seeded.store(true, std::memory_order_seq_cst);
    for (Slot *s : bs->slots)
        seed_slot(*s);
    return MEMFAULT_OK;
}

std::uint64_t RegionTable::mark_arrived(Block &b, std::uint64_t first, std::uint64_t n) {
    // Release (within seq_cst): pairs with the acquire in Block::page_present();
    // whoever sees the bit also sees everything the placing thread did before
    // (the page).  seq_cst here and on the two below: they pair with
    // seed_slot()'s fence (see there).
    std::uint64_t newly = b.arrived.set_range(first, n, std::memory_order_seq_cst);
    const Snapshot::BlockSlots *bs = snap_.load(std::memory_order_seq_cst)->find_block(&b);
    if (!bs)
        return newly;
    const std::uint64_t first_off = first * kvm_page_size_, end_off = (first + n) * kvm_page_size_;
    for (Slot *s : bs->slots) {
        std::uint64_t lo = std::max(first_off, s->offset), hi = std::min(end_off, s->offset + s->size);
        if (lo >= hi)
            continue;
        // Release (within seq_cst): pairs with KVM's read of the bitmap (KVM
        // Userfault's store-release / load-acquire protocol) -- the page is
        // in place.  seq_cst: see seed_slot().
        s->userfault.clear_range((lo - s->offset) / kvm_page_size_, (hi - lo) / kvm_page_size_,
                                 std::memory_order_seq_cst);
    }
    return newly;
}

void RegionTable::clear_all_userfault_bits() {
    MutexLock l(mu_);
    for (auto &s : slots_)
        s->userfault.clear_range(0, s->userfault.nbits(), std::memory_order_release);
}

} // namespace memfault
