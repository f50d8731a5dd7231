#include "supernet/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "supernet/weight_health.h"

namespace gnas {

namespace {

constexpr char kMagic[8] = {'G', 'N', 'A', 'S', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

struct Writer {
  std::vector<uint8_t> buf;
  void raw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf.insert(buf.end(), b, b + n);
  }
  template <typename T>
  void put(T v) { raw(&v, sizeof(T)); }
};

struct Reader {
  const uint8_t* p;
  size_t n, pos = 0;
  std::string path;
  void need(size_t k) {
    if (pos + k > n) throw std::runtime_error("checkpoint " + path + " is truncated (" + std::to_string(n) + " bytes)");
  }
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  const uint8_t* take(size_t k) {
    need(k);
    const uint8_t* r = p + pos;
    pos += k;
    return r;
  }
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void save_checkpoint(const TensorStore& st, const std::string& path, const std::string& extra) {
  Writer w;
  w.raw(kMagic, 8);
  w.put<uint32_t>(kVersion);
  w.put<uint32_t>(uint32_t(st.entries().size()));
  for (const TensorEntry& e : st.entries()) {
    w.put<uint16_t>(uint16_t(e.name.size()));
    w.raw(e.name.data(), e.name.size());
    w.put<uint8_t>(uint8_t(e.kind));
    w.put<uint8_t>(uint8_t(e.shape.size()));
    for (int d : e.shape) w.put<int32_t>(d);
  }
  w.put<uint64_t>(extra.size());
  w.raw(extra.data(), extra.size());
  w.put<uint64_t>(uint64_t(st.total()));
  const std::vector<float> values = st.read_all_values(), velocities = st.read_all_velocities();
  // A last line of defence, nearly free beside the write: no checkpoint ever holds inf or NaN.
  const std::string bad = describe_nonfinite(st, values.data(), velocities.data());
  if (!bad.empty()) throw NonFiniteError("save: the supernet holds " + bad + "; nothing was written");
  w.raw(values.data(), size_t(st.total()) * sizeof(float));
  w.raw(velocities.data(), size_t(st.total()) * sizeof(float));
  w.put<uint64_t>(fnv1a(w.buf.data(), w.buf.size()));

  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write checkpoint " + tmp + ": " + errno_text());
  size_t off = 0;
  while (off < w.buf.size()) {
    ssize_t k = ::write(fd, w.buf.data() + off, w.buf.size() - off);
    if (k < 0) {
      if (errno == EINTR) continue;
      std::string m = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write checkpoint " + tmp + ": " + m);
    }
    off += size_t(k);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string m = errno_text();
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot flush checkpoint " + tmp + ": " + m);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string m = errno_text();
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename checkpoint to " + path + ": " + m);
  }
  // Make the rename itself durable.
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.find_last_of('/'));
  if (dir.empty()) dir = "/";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

CheckpointContents read_checkpoint(const TensorStore& st, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open checkpoint " + path + ": " + errno_text());
  struct stat sb;
  if (::fstat(fd, &sb) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot stat checkpoint " + path + ": " + errno_text());
  }
  std::vector<uint8_t> data(size_t(sb.st_size));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t k = ::read(fd, data.data() + off, data.size() - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    off += size_t(k);
  }
  ::close(fd);
  if (off != data.size()) throw std::runtime_error("cannot read checkpoint " + path);
  if (data.size() < 8 + 4 + 4 + 8 || std::memcmp(data.data(), kMagic, 8) != 0)
    throw std::runtime_error(path + " is not a greedynas checkpoint (bad magic)");
  const size_t body = data.size() - 8;
  uint64_t stored;
  std::memcpy(&stored, data.data() + body, 8);
  Reader r{data.data(), body, 0, path};
  r.take(8);
  uint32_t version = r.get<uint32_t>();
  if (version != kVersion)
    throw std::runtime_error("checkpoint " + path + " has format version " + std::to_string(version) +
                             ", this build reads version " + std::to_string(kVersion));
  if (fnv1a(data.data(), body) != stored)
    throw std::runtime_error("checkpoint " + path + " is corrupt or truncated (checksum mismatch)");

  uint32_t count = r.get<uint32_t>();
  if (count != st.entries().size())
    throw std::runtime_error("checkpoint " + path + " holds " + std::to_string(count) + " tensors, this supernet has " +
                             std::to_string(st.entries().size()) + ": it was written for a different space");
  for (uint32_t i = 0; i < count; i++) {
    uint16_t len = r.get<uint16_t>();
    std::string name(reinterpret_cast<const char*>(r.take(len)), len);
    uint8_t kind = r.get<uint8_t>();
    uint8_t rank = r.get<uint8_t>();
    std::vector<int> shape;
    for (uint8_t d = 0; d < rank; d++) shape.push_back(r.get<int32_t>());
    const TensorEntry& e = st.entry(int(i));
    if (name != e.name || shape != e.shape || kind != uint8_t(e.kind))
      throw std::runtime_error("checkpoint " + path + ": tensor " + std::to_string(i) + " is '" + name +
                               "', expected '" + e.name + "' with the same shape: written for a different space");
  }
  uint64_t extra_len = r.get<uint64_t>();
  std::string extra(reinterpret_cast<const char*>(r.take(size_t(extra_len))), size_t(extra_len));
  uint64_t total = r.get<uint64_t>();
  if (int64_t(total) != st.total()) throw std::runtime_error("checkpoint " + path + ": tensor arena size differs");
  const uint8_t* values = r.take(size_t(total) * sizeof(float));
  const uint8_t* velocity = r.take(size_t(total) * sizeof(float));
  if (r.pos != body) throw std::runtime_error("checkpoint " + path + " has trailing bytes");
  // The file's bytes may be unaligned for floats: copy out before handing them to the backend.
  const size_t n = static_cast<size_t>(total);
  CheckpointContents c;
  c.extra = std::move(extra);
  c.values.resize(n);
  c.velocities.resize(n);
  std::memcpy(c.values.data(), values, n * sizeof(float));
  std::memcpy(c.velocities.data(), velocity, n * sizeof(float));
  const std::string bad = describe_nonfinite(st, c.values.data(), c.velocities.data());
  if (!bad.empty())
    throw std::runtime_error("checkpoint " + path + " holds " + bad +
                             ": it was saved from a diverged run; load an earlier checkpoint");
  return c;
}

}  // namespace gnas
