#include "loom/Checkpoint/Safetensors.h"

#include "loom/Checkpoint/TensorSpec.h"
#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <sys/stat.h>
#include <unistd.h>

namespace loom {

const char *dtypeName(DType d) {
  switch (d) {
  case DType::BF16: return "BF16";
  case DType::F16: return "F16";
  case DType::F32: return "F32";
  }
  return "?";
}

size_t dtypeSize(DType d) { return d == DType::F32 ? 4 : 2; }

bool parseDType(const std::string &name, DType &out) {
  if (name == "BF16") out = DType::BF16;
  else if (name == "F16") out = DType::F16;
  else if (name == "F32") out = DType::F32;
  else return false;
  return true;
}

struct SafetensorsFile::Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull << 20; // the safetensors reference limit

void preadFully(int fd, void *dst, size_t bytes, uint64_t offset, const std::string &path, const std::string &what) {
  auto *p = static_cast<char *>(dst);
  while (bytes) {
    ssize_t n = ::pread(fd, p, bytes, (off_t)offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail(path, ": ", what, ": read failed at offset ", offset, n < 0 ? std::string(": ") + std::strerror(errno) : ": unexpected end of file");
    p += n, bytes -= (size_t)n, offset += (uint64_t)n;
  }
}
} // namespace

SafetensorsFile SafetensorsFile::open(const std::string &path) {
  SafetensorsFile f;
  f.path_ = path;
  f.fd_ = std::make_shared<Fd>();
  f.fd_->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_->fd < 0)
    fail(path, ": cannot open safetensors file: ", std::strerror(errno));
  struct stat st;
  if (::fstat(f.fd_->fd, &st) != 0)
    fail(path, ": cannot stat: ", std::strerror(errno));
  f.fileSize_ = (uint64_t)st.st_size;
  if (f.fileSize_ < 8)
    fail(path, ": truncated: the file has ", f.fileSize_, " bytes, expected at least 8 (the header length)");
  unsigned char lenBytes[8];
  preadFully(f.fd_->fd, lenBytes, 8, 0, path, "header length");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = (headerLen << 8) | lenBytes[i];
  if (headerLen > f.fileSize_ - 8)
    fail(path, ": header length ", headerLen, " exceeds the file size (", f.fileSize_, " bytes, so at most ",
         f.fileSize_ - 8, "): truncated or not a safetensors file");
  if (headerLen > kMaxHeaderBytes)
    fail(path, ": header length ", headerLen, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  std::string header(headerLen, '\0');
  preadFully(f.fd_->fd, header.data(), headerLen, 8, path, "header");
  f.dataOffset_ = 8 + headerLen;
  const uint64_t dataSize = f.fileSize_ - f.dataOffset_;

  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(header);
  } catch (const nlohmann::json::exception &e) {
    fail(path, ": the header is not valid JSON: ", e.what());
  }
  if (!j.is_object())
    fail(path, ": the header must be a JSON object, found ", j.type_name());

  struct Range { uint64_t begin, end; size_t entry; };
  std::vector<Range> ranges;
  for (auto &kv : j.items()) {
    const std::string &name = kv.key();
    const auto &v = kv.value();
    if (name == "__metadata__") {
      if (v.is_object())
        for (auto &m : v.items())
          if (m.value().is_string())
            f.metadata_[m.key()] = m.value().get<std::string>();
      continue;
    }
    auto bad = [&](const std::string &what) { fail(path, ": tensor '", name, "': ", what); };
    if (!v.is_object())
      bad("expected an object with dtype, shape and data_offsets, found " + v.dump());
    SafetensorsEntry e;
    e.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string())
      bad("missing dtype (expected \"BF16\", \"F16\" or \"F32\")");
    if (!parseDType(dt->get<std::string>(), e.dtype))
      bad("unsupported dtype \"" + dt->get<std::string>() + "\" (expected BF16, F16 or F32)");
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array())
      bad("missing shape (expected a list of non-negative integers)");
    for (auto &d : *sh) {
      if (!d.is_number_unsigned())
        bad("shape " + sh->dump() + ": expected a list of non-negative integers");
      e.shape.push_back(d.get<int64_t>());
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      bad("data_offsets: expected [begin, end] of non-negative integers, found " +
          (off == v.end() ? std::string("nothing") : off->dump()));
    uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
    // numel * element size, with overflow checks
    unsigned __int128 want = dtypeSize(e.dtype);
    for (int64_t d : e.shape) {
      want *= (uint64_t)d;
      if (want > ((unsigned __int128)1 << 64) - 1)
        bad("shape " + shapeToString(e.shape) + " is too large");
    }
    std::string range = "[" + std::to_string(b) + "," + std::to_string(en) + ")";
    if (en < b)
      bad("data_offsets " + range + ": end before begin");
    if (en - b != (uint64_t)want)
      bad("data_offsets " + range + " hold " + std::to_string(en - b) + " bytes, expected " +
          std::to_string((uint64_t)want) + " (" + dtypeName(e.dtype) + " " + shapeToString(e.shape) + ")");
    if (en > dataSize)
      bad("data_offsets " + range + " exceed the data region of " + std::to_string(dataSize) + " bytes");
    e.offset = f.dataOffset_ + b;
    e.bytes = en - b;
    if (f.index_.count(name))
      bad("appears twice in the header");
    f.index_[name] = f.entries_.size();
    if (e.bytes)
      ranges.push_back({b, en, f.entries_.size()});
    f.entries_.push_back(std::move(e));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range &a, const Range &b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      fail(path, ": tensor '", f.entries_[ranges[i].entry].name, "': data_offsets [", ranges[i].begin, ",",
           ranges[i].end, ") overlap tensor '", f.entries_[ranges[i - 1].entry].name, "' at [", ranges[i - 1].begin,
           ",", ranges[i - 1].end, ")");
  return f;
}

const SafetensorsEntry *SafetensorsFile::find(const std::string &name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void SafetensorsFile::read(const SafetensorsEntry &e, uint64_t byteOffset, void *dst, size_t bytes) const {
  if (byteOffset > e.bytes || bytes > e.bytes - byteOffset)
    fail(path_, ": tensor '", e.name, "': read of ", bytes, " bytes at ", byteOffset, " is outside its ", e.bytes,
         " bytes");
  preadFully(fd_->fd, dst, bytes, e.offset + byteOffset, path_, "tensor '" + e.name + "'");
}

void SafetensorsFile::read(const std::string &name, void *dst) const {
  const SafetensorsEntry *e = find(name);
  if (!e)
    fail(path_, ": tensor '", name, "': not in this file");
  read(*e, 0, dst, e->bytes);
}

namespace {
void writeFully(int fd, const void *src, size_t bytes, const std::string &path) {
  auto *p = static_cast<const char *>(src);
  while (bytes) {
    ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail(path, ": write failed: ", n < 0 ? std::strerror(errno) : "no progress");
    p += n, bytes -= (size_t)n;
  }
}
} // namespace

uint64_t writeSafetensors(const std::string &path, const std::vector<TensorToWrite> &tensors,
                          const std::map<std::string, std::string> &metadata, size_t chunkBytes) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (auto &kv : metadata)
      m[kv.first] = kv.second;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (auto &t : tensors) {
    if (header.contains(t.name))
      fail(path, ": tensor '", t.name, "': written twice");
    for (int64_t d : t.shape)
      if (d < 0)
        fail(path, ": tensor '", t.name, "': negative dimension in shape ", shapeToString(t.shape));
    uint64_t bytes = (uint64_t)numElements(t.shape) * dtypeSize(t.dtype);
    header[t.name] = {{"dtype", dtypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = (unsigned char)((uint64_t)h.size() >> (8 * i));

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail(tmp, ": cannot create: ", std::strerror(errno));
  chunkBytes = std::max<size_t>(8, chunkBytes / 8 * 8);
  std::vector<char> buffers[2];
  std::future<void> pending;
  try {
    writeFully(fd, len, 8, tmp);
    writeFully(fd, h.data(), h.size(), tmp);
    int cur = 0;
    for (auto &t : tensors) {
      uint64_t bytes = (uint64_t)numElements(t.shape) * dtypeSize(t.dtype);
      for (uint64_t done = 0; done < bytes;) {
        size_t n = (size_t)std::min<uint64_t>(chunkBytes, bytes - done);
        buffers[cur].resize(std::max(buffers[cur].size(), n));
        if (t.fill)
          t.fill(done, buffers[cur].data(), n);
        else
          std::memset(buffers[cur].data(), 0, n);
        if (pending.valid())
          pending.get();
        const char *src = buffers[cur].data();
        pending = std::async(std::launch::async, [fd, src, n, &tmp] { writeFully(fd, src, n, tmp); });
        cur ^= 1;
        done += n;
      }
    }
    if (pending.valid())
      pending.get();
    if (::close(fd) != 0) {
      fd = -1;
      fail(tmp, ": close failed: ", std::strerror(errno));
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail(path, ": cannot rename ", tmp, " into place: ", std::strerror(errno));
  } catch (...) {
    if (pending.valid())
      pending.wait();
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  return 8 + h.size() + offset;
}

} // namespace loom
