// Tests for core/idx: Debian's dataset-fashion-mnist (gzip) cross-checked
// against the golden set, plus raw files written by hand.
#include "core/idx.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;

const std::string kDatasetDir = "/usr/share/datasets/fashion-mnist";

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path =
      testing::TempDir() + "/idx_test_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// "\0\0\x08<ndims>" then big-endian dims.
std::string IdxHeader(int type, const std::vector<uint32_t>& dims) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) out += static_cast<char>((d >> shift) & 0xff);
  }
  return out;
}

TEST(IdxTest, ReadsFashionMnistTestSetAndMatchesGolden) {
  const std::string images_path = kDatasetDir + "/t10k-images-idx3-ubyte.gz";
  const std::string labels_path = kDatasetDir + "/t10k-labels-idx1-ubyte.gz";
  if (!Exists(images_path) || !Exists(labels_path)) {
    GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed";
  }
  absl::StatusOr<IdxArray> images = ReadIdxFile(images_path);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->shape, (Shape{10000, 28, 28}));
  ASSERT_EQ(images->data.size(), 10000u * 28 * 28);
  absl::StatusOr<IdxArray> labels = ReadIdxFile(labels_path);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->shape, (Shape{10000}));
  ASSERT_EQ(labels->data.size(), 10000u);
  std::vector<int> per_class(10);
  for (uint8_t label : labels->data) {
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int count : per_class) EXPECT_EQ(count, 1000);  // Fashion-MNIST's test set is balanced.

  // The golden set (tests/data/fashion_lenet/golden.json, exported with the
  // model) holds the raw pixels and labels of 200 test images, taken from the
  // same dataset by numpy.
  std::ifstream golden_file(std::string(TS_SOURCE_DIR) + "/tests/data/fashion_lenet/golden.json");
  ASSERT_TRUE(golden_file.good());
  const nlohmann::json golden = nlohmann::json::parse(golden_file);
  const auto& indices = golden.at("test_indices");
  const auto& pixels = golden.at("pixels").at("data");
  ASSERT_EQ(golden.at("pixels").at("shape"), nlohmann::json({200, 28, 28}));
  ASSERT_EQ(indices.size(), 200u);
  for (size_t i = 0; i < indices.size(); ++i) {
    const size_t index = indices[i].get<size_t>();
    ASSERT_EQ(labels->data[index], golden.at("labels")[i].get<int>()) << "test image " << index;
    for (size_t p = 0; p < 28 * 28; ++p) {
      const nlohmann::json& value =
          pixels[i].is_array() ? pixels[i][p / 28][p % 28] : pixels[i * 28 * 28 + p];
      ASSERT_EQ(images->data[index * 28 * 28 + p], value.get<int>())
          << "test image " << index << " pixel " << p;
    }
  }
}

TEST(IdxTest, ReadsRawFile) {
  std::string bytes = IdxHeader(0x08, {2, 2, 3});
  for (int i = 0; i < 12; ++i) bytes += static_cast<char>(i * 20);
  absl::StatusOr<IdxArray> array = ReadIdxFile(WriteTemp("raw.idx", bytes));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->shape, (Shape{2, 2, 3}));
  EXPECT_EQ(array->data,
            (std::vector<uint8_t>{0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220}));

  absl::StatusOr<IdxArray> labels =
      ReadIdxFile(WriteTemp("labels.idx", IdxHeader(8, {3}) + "\x01\x02\x09"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->shape, (Shape{3}));
  EXPECT_EQ(labels->data, (std::vector<uint8_t>{1, 2, 9}));
}

TEST(IdxTest, RejectsTruncatedRawFile) {
  const std::string path =
      WriteTemp("short.idx", IdxHeader(0x08, {10, 28, 28}) + std::string(100, '\1'));
  absl::StatusOr<IdxArray> array = ReadIdxFile(path);
  EXPECT_EQ(array.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(array.status()),
            path +
                ": IDX header (10, 28, 28) needs 7840 bytes of data, the file "
                "has only 100");

  const std::string header_only = WriteTemp("hdr.idx", IdxHeader(0x08, {10, 28, 28}).substr(0, 9));
  EXPECT_THAT(Message(ReadIdxFile(header_only).status()), HasSubstr("truncated IDX header"));
}

TEST(IdxTest, RejectsTrailingData) {
  const std::string path = WriteTemp("long.idx", IdxHeader(0x08, {4}) + "abcde");
  EXPECT_THAT(Message(ReadIdxFile(path).status()), HasSubstr("trailing data"));
}

TEST(IdxTest, RejectsBadMagicAndType) {
  const std::string npz = WriteTemp("zip.idx", "PK\x03\x04rest of a zip file");
  absl::StatusOr<IdxArray> a = ReadIdxFile(npz);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(a.status()), npz +
                                     ": not an IDX file (the magic must be 00 "
                                     "00 <type> <ndims>, got 504b0304)");
  const std::string floats = WriteTemp("float.idx", IdxHeader(0x0D, {1}) + "abcd");
  EXPECT_THAT(Message(ReadIdxFile(floats).status()),
              HasSubstr("unsupported IDX element type 0x0d"));
  const std::string zero_dims = WriteTemp("zero.idx", IdxHeader(0x08, {}));
  EXPECT_THAT(Message(ReadIdxFile(zero_dims).status()), HasSubstr("IDX file has 0 dimensions"));
  EXPECT_THAT(Message(ReadIdxFile(WriteTemp("empty.idx", "")).status()),
              HasSubstr("not an IDX file"));
}

TEST(IdxTest, HugeClaimedSizeDoesNotAllocate) {
  // 4 dims of 0xFFFFFFFF would be 2^128 bytes; 2 dims of 2^20 is 2^40 elements
  // — within the cap, but the file is tiny, so the read ends early and reports
  // truncation.
  EXPECT_THAT(
      Message(ReadIdxFile(WriteTemp("huge4.idx", IdxHeader(8, {~0u, ~0u, ~0u, ~0u}))).status()),
      HasSubstr("is too large"));
  EXPECT_THAT(
      Message(
          ReadIdxFile(WriteTemp("huge2.idx", IdxHeader(8, {1u << 20, 1u << 19}) + "x")).status()),
      HasSubstr("the file has only 1"));
}

TEST(IdxTest, RejectsTruncatedGzip) {
  const std::string labels_path = kDatasetDir + "/t10k-labels-idx1-ubyte.gz";
  if (!Exists(labels_path)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string gz = ReadFileToString(labels_path).value_or("");
  ASSERT_GT(gz.size(), 100u);
  const std::string path = WriteTemp("cut.gz", gz.substr(0, gz.size() / 2));
  absl::StatusOr<IdxArray> array = ReadIdxFile(path);
  EXPECT_EQ(array.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(array.status()), HasSubstr(path + ": damaged gzip data"));
}

TEST(IdxTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadIdxFile(kDatasetDir + "/no-such-file-idx3-ubyte.gz").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace theano_serving
