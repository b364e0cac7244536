#include "core/npz.h"

#include <zip.h>

#include <algorithm>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

std::string ZipErrorString(zip_error_t* error) { return zip_error_strerror(error); }

std::string ZipOpenErrorString(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

struct ZipCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

// Reads one member, growing the buffer as data actually arrives rather than
// trusting the size the central directory claims, so that a forged size cannot
// make us allocate gigabytes up front.
absl::StatusOr<std::string> ReadMember(zip_t* archive, zip_uint64_t index, const zip_stat_t& stat,
                                       absl::string_view what) {
  std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(archive, index, 0));
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot open: ", ZipErrorString(zip_get_error(archive))));
  }
  std::string data;
  data.reserve(static_cast<size_t>(std::min<zip_uint64_t>(stat.size, 64 << 20)));
  char buffer[1 << 16];
  while (true) {
    const zip_int64_t n = zip_fread(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": damaged member: ", ZipErrorString(zip_file_get_error(file.get()))));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > stat.size) break;
  }
  if (data.size() != stat.size) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": damaged member: read ", data.size(),
                                                   " bytes, the archive says ", stat.size));
  }
  return data;
}

}  // namespace

absl::StatusOr<std::vector<NpyArray>> ReadNpzFile(const std::string& path) {
  int open_error = 0;
  // ZIP_CHECKCONS: also compare the local headers with the central directory,
  // so that damage anywhere in the archive is reported here rather than as odd
  // member contents.
  std::unique_ptr<zip_t, ZipCloser> archive(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &open_error));
  if (archive == nullptr) {
    if (open_error == ZIP_ER_NOENT) {
      return absl::NotFoundError(absl::StrCat("cannot open ", path, ": no such file"));
    }
    if (open_error == ZIP_ER_OPEN || open_error == ZIP_ER_READ) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot open ", path, ": ", ZipOpenErrorString(open_error)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid .npz (zip) archive: ", ZipOpenErrorString(open_error)));
  }
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot list the archive: ", ZipErrorString(zip_get_error(archive.get()))));
  }
  std::vector<NpyArray> arrays;
  std::set<std::string> names;
  for (zip_int64_t i = 0; i < count; ++i) {
    const auto index = static_cast<zip_uint64_t>(i);
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive.get(), index, 0, &stat) != 0 ||
        (stat.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE)) != (ZIP_STAT_NAME | ZIP_STAT_SIZE)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read member ", i, ": ",
                                                     ZipErrorString(zip_get_error(archive.get()))));
    }
    const std::string member = stat.name;
    if (!absl::EndsWith(member, ".npy") || member.size() == 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": member ", QuoteForMessage(member),
                       " is not a .npy array (names must end in \".npy\")"));
    }
    std::string name = member.substr(0, member.size() - 4);
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": duplicate member ", QuoteForMessage(member)));
    }
    const std::string what = absl::StrCat(path, " member ", name);
    ASSIGN_OR_RETURN(const std::string bytes, ReadMember(archive.get(), index, stat, what));
    ASSIGN_OR_RETURN(NpyArray array, ParseNpy(bytes, what));
    array.name = std::move(name);
    arrays.push_back(std::move(array));
  }
  return arrays;
}

absl::Status WriteNpzFile(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& npy_members,
                          bool compress) {
  // libzip silently writes no file at all for an archive without entries.
  if (npy_members.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write ", path, ": an .npz needs at least one member"));
  }
  int open_error = 0;
  std::unique_ptr<zip_t, ZipCloser> archive(
      zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &open_error));
  if (archive == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", path, ": ", ZipOpenErrorString(open_error)));
  }
  for (const auto& [name, bytes] : npy_members) {
    if (name.empty()) return absl::InvalidArgumentError(path + ": empty member name");
    // The buffers stay owned by the caller (freep = 0); they outlive zip_close
    // below.
    zip_source_t* source = zip_source_buffer(archive.get(), bytes.data(), bytes.size(), 0);
    if (source == nullptr) {
      return absl::InternalError(absl::StrCat(path, ": member ", name, ": ",
                                              ZipErrorString(zip_get_error(archive.get()))));
    }
    const zip_int64_t index =
        zip_file_add(archive.get(), (name + ".npy").c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot add member ", name, ": ",
                                                     ZipErrorString(zip_get_error(archive.get()))));
    }
    if (zip_set_file_compression(archive.get(), static_cast<zip_uint64_t>(index),
                                 compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
      return absl::InternalError(absl::StrCat(path, ": member ", name, ": ",
                                              ZipErrorString(zip_get_error(archive.get()))));
    }
  }
  // zip_close writes a temporary file and renames it over `path`; on failure
  // the archive must still be discarded (by the unique_ptr).
  if (zip_close(archive.get()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", ZipErrorString(zip_get_error(archive.get()))));
  }
  archive.release();
  return absl::OkStatus();
}

absl::Status WriteNpzFile(const std::string& path,
                          const std::map<std::string, Tensor<float>>& arrays) {
  std::vector<std::pair<std::string, std::string>> members;
  members.reserve(arrays.size());
  for (const auto& [name, tensor] : arrays) {
    // A '/' would make a member in a zip folder, which numpy.load names "dir/x" and LoadModel
    // could never match with a layer's parameter name.
    if (name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": array name ", QuoteForMessage(name), " contains '/'"));
    }
    members.emplace_back(name, SerializeNpy(tensor));
  }
  return WriteNpzFile(path, members, /*compress=*/false);
}

}  // namespace theano_serving
