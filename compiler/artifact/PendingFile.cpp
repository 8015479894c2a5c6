#include "loom/Artifact/PendingFile.h"

#include "loom/Error.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace loom {
namespace {

std::string errnoText() { return std::strerror(errno); }

std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Named temporary files the signal handler removes: fixed slots of C strings, so the handler
// only reads memory and calls unlink (async-signal-safe). A slot is free, being filled, or armed.
constexpr size_t kSlots = 16, kPathMax = 4096;
enum SlotState : int { kFree, kFilling, kArmed };
std::array<std::atomic<int>, kSlots> slotState{};
std::array<std::array<char, kPathMax>, kSlots> slotPath{};
std::atomic<bool> handlersInstalled{false};

void removeTempFilesAndReraise(int signal) {
  for (size_t i = 0; i < kSlots; ++i)
    if (slotState[i].load() == kArmed)
      ::unlink(slotPath[i].data());
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void installHandlers() {
  if (handlersInstalled.exchange(true))
    return;
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current {};
    // A program's own handler stays: it knows how it wants to end.
    if (::sigaction(signal, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      struct sigaction action {};
      action.sa_handler = removeTempFilesAndReraise;
      sigemptyset(&action.sa_mask);
      ::sigaction(signal, &action, nullptr);
    }
  }
}

// Returns the slot, or -1 when all are taken (the file is then removed on error paths only).
int armRemovalOnSignal(const std::string &path) {
  if (path.size() >= kPathMax)
    return -1;
  installHandlers();
  for (size_t i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!slotState[i].compare_exchange_strong(expected, kFilling))
      continue;
    std::memcpy(slotPath[i].data(), path.c_str(), path.size() + 1);
    slotState[i].store(kArmed);
    return int(i);
  }
  return -1;
}

void disarm(int slot) {
  if (slot >= 0)
    slotState[size_t(slot)].store(kFree);
}

} // namespace

PendingFile::PendingFile(std::string path, Naming naming) : path_(std::move(path)) {
  if (naming == Naming::AnonymousIfPossible) {
    fd_ = ::open(directoryOf(path_).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      displayName_ = path_ + " (unnamed, being written)";
      return;
    }
    // EOPNOTSUPP, EISDIR (kernels or file systems without O_TMPFILE): a named file instead.
  }
  tempPath_ = path_ + ".tmp." + std::to_string(::getpid());
  displayName_ = tempPath_;
  fd_ = ::open(tempPath_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    fail(tempPath_, ": cannot create: ", errnoText());
  slot_ = armRemovalOnSignal(tempPath_);
}

PendingFile::~PendingFile() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!committed_ && !tempPath_.empty())
    ::unlink(tempPath_.c_str());
  disarm(slot_);
}

std::string PendingFile::readablePath() const {
  return anonymous() ? "/proc/self/fd/" + std::to_string(fd_) : tempPath_;
}

void PendingFile::commit() {
  if (::fsync(fd_) != 0)
    fail(displayName_, ": fsync failed: ", errnoText());
  if (anonymous()) {
    const std::string unnamed = readablePath();
    // linkat cannot replace a file, so the unnamed file gets a temporary name for the rename;
    // only a kill between these two calls could leave it behind.
    tempPath_ = path_ + ".tmp." + std::to_string(::getpid());
    ::unlink(tempPath_.c_str());
    if (::linkat(AT_FDCWD, unnamed.c_str(), AT_FDCWD,
                 tempPath_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      const std::string why = errnoText();
      tempPath_.clear();
      fail("cannot link the written file to ", path_, ".tmp.", ::getpid(), ": ", why);
    }
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail(displayName_, ": close failed: ", errnoText());
  }
  fd_ = -1;
  if (::rename(tempPath_.c_str(), path_.c_str()) != 0)
    fail("cannot rename ", tempPath_, " to ", path_, ": ", errnoText());
  committed_ = true;
  const int dir = ::open(directoryOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir); // best effort: makes the rename itself durable
    ::close(dir);
  }
}

} // namespace loom
