// A PendingFile appears at its path only once committed; until then nothing it wrote is left
// behind, whether the writer fails, is interrupted (SIGINT, SIGTERM) or is killed (SIGKILL).
#include "loom/Artifact/PendingFile.h"
#include "loom/Error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace loom {
namespace {

class PendingFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/loom-pending-test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir = pattern;
    path = dir + "/model.loom";
  }
  void TearDown() override {
    for (const std::string &name : entries())
      std::remove((dir + "/" + name).c_str());
    ::rmdir(dir.c_str());
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    DIR *d = ::opendir(dir.c_str());
    while (dirent *e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        names.push_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  // Runs `body` in a child process that writes a pending file and then dies by `signal` before
  // committing it; returns the signal the child died of.
  int childDiesWhileWriting(PendingFile::Naming naming, int signal) {
    const pid_t child = ::fork();
    if (child == 0) {
      PendingFile file(path, naming);
      const std::string bytes(1 << 20, 'x');
      if (::write(file.fd(), bytes.data(), bytes.size()) != ssize_t(bytes.size()))
        std::_Exit(2);
      std::raise(signal);
      std::_Exit(3); // not reached: the signal ends the process
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
  }

  std::string dir, path;
};

TEST_F(PendingFileTest, CommitMakesTheFileAppearWithItsBytes) {
  {
    PendingFile file(path);
    EXPECT_TRUE(entries().empty() || !file.anonymous());
    ASSERT_EQ(::write(file.fd(), "loom", 4), 4);
    file.commit();
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"model.loom"});
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "loom");
}

TEST_F(PendingFileTest, CommitReplacesAnExistingFile) {
  std::ofstream(path) << "old";
  for (PendingFile::Naming naming : {PendingFile::Naming::AnonymousIfPossible, PendingFile::Naming::Named}) {
    PendingFile file(path, naming);
    ASSERT_EQ(::write(file.fd(), "new", 3), 3);
    file.commit();
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(text, "new");
    std::ofstream(path) << "old";
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"model.loom"});
}

TEST_F(PendingFileTest, AnUncommittedFileLeavesNothing) {
  for (PendingFile::Naming naming : {PendingFile::Naming::AnonymousIfPossible, PendingFile::Naming::Named}) {
    PendingFile file(path, naming);
    ASSERT_EQ(::write(file.fd(), "x", 1), 1);
  }
  EXPECT_TRUE(entries().empty());
}

// Found: a SIGKILLed loom-compile left a full-size OUT.tmp.<pid> behind. An unnamed file
// (O_TMPFILE) has nothing to leave.
TEST_F(PendingFileTest, SigkillLeavesNothing) {
  EXPECT_EQ(childDiesWhileWriting(PendingFile::Naming::AnonymousIfPossible, SIGKILL), SIGKILL);
  EXPECT_TRUE(entries().empty()) << entries()[0];
}

// Where the file must have a name, SIGINT, SIGTERM and SIGHUP remove it, and the process still
// ends by the signal.
TEST_F(PendingFileTest, InterruptedNamedFileIsRemoved) {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    EXPECT_EQ(childDiesWhileWriting(PendingFile::Naming::Named, signal), signal);
    EXPECT_TRUE(entries().empty()) << strsignal(signal) << ": " << entries()[0];
  }
}

TEST_F(PendingFileTest, UnwritableDirectoryIsNamed) {
  try {
    PendingFile file(dir + "/missing/model.loom");
    FAIL() << "created";
  } catch (const Error &error) {
    EXPECT_NE(std::string(error.what()).find(dir + "/missing/model.loom.tmp."), std::string::npos)
        << error.what();
  }
}

} // namespace
} // namespace loom
