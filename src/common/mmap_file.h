// A read-only memory map of a whole file. Owns the mapping; movable, not copyable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lmd {

class MappedFile {
 public:
  // Throws lmd::Error (kNotFound / kInvalidArgument) naming the path on failure.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the resident pages wholly inside [offset, offset + len) (madvise DONTNEED): a reader
  // done with a range keeps it out of RSS; the bytes stay readable (read again from the file).
  void drop_pages(size_t offset, size_t len) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lmd
