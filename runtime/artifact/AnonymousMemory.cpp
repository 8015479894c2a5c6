#include "loom/AnonymousMemory.h"

#include "loom/Error.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <utility>

namespace loom {
namespace {

constexpr uint64_t kSmallPage = 4096;
constexpr uint64_t kHugePage = 2ull << 20;

} // namespace

AnonymousMemory::AnonymousMemory(uint64_t bytes, PageSize pages, const std::string &what) {
  const uint64_t page = pages == PageSize::Huge ? kHugePage : kSmallPage;
  usable_ = (bytes + page - 1) / page * page;
  if (usable_ == 0)
    usable_ = page;
  // mmap aligns to 4 KiB only: one huge page of slack leaves room to align the start.
  regionSize_ = size_t(usable_ + (page == kHugePage ? kHugePage : 0));
  region_ = ::mmap(nullptr, regionSize_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region_ == MAP_FAILED) {
    region_ = nullptr;
    fail(what, ": cannot allocate ", regionSize_, " bytes: ", std::strerror(errno));
  }
  const uintptr_t start = (reinterpret_cast<uintptr_t>(region_) + page - 1) & ~uintptr_t(page - 1);
  data_ = reinterpret_cast<uint8_t *>(start);
  size_ = bytes;
  if (pages == PageSize::Huge)
    ::madvise(data_, size_t(usable_), MADV_HUGEPAGE); // advice: refused without THP, harmless
}

AnonymousMemory::~AnonymousMemory() {
  if (region_)
    ::munmap(region_, regionSize_);
}

AnonymousMemory::AnonymousMemory(AnonymousMemory &&other) noexcept { *this = std::move(other); }

AnonymousMemory &AnonymousMemory::operator=(AnonymousMemory &&other) noexcept {
  if (this != &other) {
    if (region_)
      ::munmap(region_, regionSize_);
    region_ = std::exchange(other.region_, nullptr);
    regionSize_ = std::exchange(other.regionSize_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    usable_ = std::exchange(other.usable_, 0);
  }
  return *this;
}

void AnonymousMemory::makeReadOnly() {
  if (data_)
    ::mprotect(data_, size_t(usable_), PROT_READ);
}

} // namespace loom
