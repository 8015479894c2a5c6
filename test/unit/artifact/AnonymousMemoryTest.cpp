// Tests the memory a huge-page artifact and loom-bench's buffers live in.
#include "loom/AnonymousMemory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

namespace {

using loom::AnonymousMemory;
using loom::PageSize;

TEST(AnonymousMemory, HugePagesStartOnA2MiBBoundaryZeroFilled) {
  const uint64_t bytes = (3ull << 20) + 5; // not a whole number of huge pages
  AnonymousMemory memory(bytes, PageSize::Huge, "test");
  ASSERT_NE(memory.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % (2u << 20), 0u);
  EXPECT_EQ(memory.size(), bytes);
  for (uint64_t i = 0; i < bytes; i += 4093)
    ASSERT_EQ(memory.data()[i], 0) << i;
  memory.data()[bytes - 1] = 7; // the last byte is writable
  EXPECT_EQ(memory.data()[bytes - 1], 7);
}

TEST(AnonymousMemory, SmallPagesStartOnA4KiBBoundary) {
  AnonymousMemory memory(10, PageSize::Small, "test");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % 4096, 0u);
  EXPECT_EQ(memory.size(), 10u);
}

TEST(AnonymousMemory, MoveHandsTheMemoryOver) {
  AnonymousMemory a(4096, PageSize::Small, "test");
  a.data()[0] = 42;
  uint8_t *data = a.data();
  AnonymousMemory b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.data()[0], 42);
  AnonymousMemory c(1, PageSize::Huge, "test");
  c = std::move(b); // frees c's own memory first
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(b.data(), nullptr);
}

TEST(AnonymousMemory, RefusalNamesWhatWasAllocated) {
  try {
    AnonymousMemory memory(uint64_t(1) << 62, PageSize::Small, "the test buffer");
    FAIL() << "allocated 4 EiB";
  } catch (const std::exception &error) {
    EXPECT_NE(std::string(error.what()).find("the test buffer: cannot allocate"), std::string::npos)
        << error.what();
  }
}

} // namespace
