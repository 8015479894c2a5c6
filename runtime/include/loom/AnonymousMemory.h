// Private anonymous memory, optionally aligned to and advised for 2 MiB transparent huge pages.
// Decode reads every weight once per token: with 4 KiB pages that is a TLB miss every 4 KiB,
// with 2 MiB pages one every 2 MiB. The advice may be refused (THP off); the memory still works.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace loom {

enum class PageSize { Small, Huge };

class AnonymousMemory {
public:
  // Zero-filled, writable. Throws loom::Error naming `what` when the memory cannot be had.
  AnonymousMemory(uint64_t bytes, PageSize pages, const std::string &what);
  ~AnonymousMemory();
  AnonymousMemory(AnonymousMemory &&other) noexcept;
  AnonymousMemory &operator=(AnonymousMemory &&other) noexcept;
  AnonymousMemory(const AnonymousMemory &) = delete;
  AnonymousMemory &operator=(const AnonymousMemory &) = delete;

  uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }
  void makeReadOnly();

private:
  void *region_ = nullptr; // the mapping, with slack for the alignment
  size_t regionSize_ = 0;
  uint8_t *data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t usable_ = 0; // from data_ to the end of the last (huge) page
};

} // namespace loom
