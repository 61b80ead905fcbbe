// A fixed-size bitmap of std::atomic<unsigned long> words, in the layout KVM
// Userfault reads (an array of unsigned long; bit i is bit i%64 of word i/64).
// The engine uses it for the per-slot userfault bitmaps (KVM reads them) and
// for the per-RAMBlock "arrived" maps.  The memory orders are chosen by the
// callers, which say what each one pairs with.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace memfault {

class AtomicBitmap {
public:
    using Word = unsigned long;
    using AtomicWord = std::atomic<Word>;
    static constexpr unsigned kBits = 64;
    // KVM reads the words with plain loads: they must be plain words.
    static_assert(sizeof(AtomicWord) == sizeof(Word) && sizeof(Word) * 8 == kBits);
    static_assert(AtomicWord::is_always_lock_free);

    explicit AtomicBitmap(std::uint64_t nbits)
        : nbits_(nbits), words_((nbits + kBits - 1) / kBits),
          w_(new AtomicWord[words_ ? words_ : 1]) {
        for (std::size_t i = 0; i < (words_ ? words_ : 1); i++)
            w_[i].store(0, std::memory_order_relaxed);
    }

    std::uint64_t nbits() const { return nbits_; }
    std::size_t words() const { return words_; }
    // The address handed to KVM (8-byte aligned, new[] of 8-byte words).
    Word *kvm_address() { return reinterpret_cast<Word *>(w_.get()); }

    bool test(std::uint64_t i, std::memory_order mo) const {
        return (w_[i / kBits].load(mo) >> (i % kBits)) & 1;
    }

    // True when every bit of [first, first + n) is set.
    bool all_set(std::uint64_t first, std::uint64_t n, std::memory_order mo) const {
        for (std::uint64_t i = first; i < first + n;) {
            unsigned b = i % kBits;
            std::uint64_t take = std::min<std::uint64_t>(kBits - b, first + n - i);
            Word m = mask(b, take);
            if ((w_[i / kBits].load(mo) & m) != m)
                return false;
            i += take;
        }
        return true;
    }

    // Set [first, first + n); returns how many bits were clear before.
    std::uint64_t set_range(std::uint64_t first, std::uint64_t n, std::memory_order mo) {
        std::uint64_t newly = 0;
        for (std::uint64_t i = first; i < first + n;) {
            unsigned b = i % kBits;
            std::uint64_t take = std::min<std::uint64_t>(kBits - b, first + n - i);
            Word m = mask(b, take);
            Word old = w_[i / kBits].fetch_or(m, mo);
            newly += static_cast<std::uint64_t>(__builtin_popcountl(~old & m));
            i += take;
        }
        return newly;
    }

    void clear_range(std::uint64_t first, std::uint64_t n, std::memory_order mo) {
        for (std::uint64_t i = first; i < first + n;) {
            unsigned b = i % kBits;
            std::uint64_t take = std::min<std::uint64_t>(kBits - b, first + n - i);
            w_[i / kBits].fetch_and(~mask(b, take), mo);
            i += take;
        }
    }

    // Up to 64 bits starting at @first (bits past the end read as 0).
    Word load_bits(std::uint64_t first, unsigned n, std::memory_order mo) const {
        Word lo = w_[first / kBits].load(mo) >> (first % kBits);
        unsigned got = kBits - first % kBits;
        if (got < n && first / kBits + 1 < words_)
            lo |= w_[first / kBits + 1].load(mo) << got;
        return n == kBits ? lo : lo & ((Word{1} << n) - 1);
    }

    // OR @bits (n <= 64 of them) in at @first.
    void or_bits(std::uint64_t first, unsigned n, Word bits, std::memory_order mo) {
        if (n < kBits)
            bits &= (Word{1} << n) - 1;
        unsigned b = first % kBits;
        if (bits << b)
            w_[first / kBits].fetch_or(bits << b, mo);
        if (b && b + n > kBits && (bits >> (kBits - b)))
            w_[first / kBits + 1].fetch_or(bits >> (kBits - b), mo);
    }

    void and_not_bits(std::uint64_t first, unsigned n, Word bits, std::memory_order mo) {
        if (n < kBits)
            bits &= (Word{1} << n) - 1;
        unsigned b = first % kBits;
        if (bits << b)
            w_[first / kBits].fetch_and(~(bits << b), mo);
        if (b && b + n > kBits && (bits >> (kBits - b)))
            w_[first / kBits + 1].fetch_and(~(bits >> (kBits - b)), mo);
    }

private:
    static Word mask(unsigned b, std::uint64_t n) {
        Word m = n >= kBits ? ~Word{0} : (Word{1} << n) - 1;
        return m << b;
    }

    std::uint64_t nbits_;
    std::size_t words_;
    std::unique_ptr<AtomicWord[]> w_;
};

} // namespace memfault
