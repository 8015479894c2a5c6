// A file being written that appears at its final path only when committed, complete and
// durable. Where the file system supports O_TMPFILE it has no name until then, so nothing is
// left behind however the process ends, SIGKILL included. Elsewhere it is `PATH.tmp.<pid>`,
// removed on every error path (destructor) and on SIGINT, SIGTERM and SIGHUP.
#pragma once

#include <string>

namespace loom {

class PendingFile {
public:
  enum class Naming { AnonymousIfPossible, Named };

  // Creates the file for writing (and reading back) in the directory of `path`; throws
  // loom::Error naming it.
  explicit PendingFile(std::string path, Naming naming = Naming::AnonymousIfPossible);
  ~PendingFile();
  PendingFile(const PendingFile &) = delete;
  PendingFile &operator=(const PendingFile &) = delete;

  int fd() const { return fd_; }
  // What errors name: the temporary path, or "PATH (unnamed, being written)".
  const std::string &displayName() const { return displayName_; }
  // A path that opens the file as it is now (/proc/self/fd/N for an unnamed file).
  std::string readablePath() const;
  bool anonymous() const { return tempPath_.empty(); }

  // fsync, then make it `path` atomically (replacing any file there), then fsync the directory.
  void commit();

private:
  std::string path_;
  std::string tempPath_; // empty while unnamed
  std::string displayName_;
  int fd_ = -1;
  int slot_ = -1;         // signal-handler slot of a named file
  bool committed_ = false;
};

} // namespace loom
