// Tests for core/npz: .npy parsing, .npz reading/writing with libzip,
// conversion to tensors. The real archive is the embedded model's params.npz,
// written by numpy.savez (Theano 1.0.5 export, see
// models/fashion_lenet/1/model.json); every malformed case is built from it or
// by hand.
#include "core/npz.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kParamsPath = std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1/params.npz";

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/npz_test_" + std::to_string(::getpid()) + "_" + name;
}

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

// A version-`major`.0 .npy file with the given header dict text and data,
// padded like numpy's.
std::string MakeNpy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t preamble = major == 1 ? 10 : 12;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string FloatBytesLE(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(),
              out.size());  // The test host is little-endian (x86-64).
  return out;
}

TEST(NpzTest, ReadsFashionLenetParams) {
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(kParamsPath);
  ASSERT_TRUE(arrays.ok()) << arrays.status();
  ASSERT_EQ(arrays->size(), 8u);
  // Shapes from model.json's "params" (LeNet tutorial: 20 and 50 5x5 filters,
  // 800-500-10 MLP).
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"W0", {20, 1, 5, 5}}, {"b0", {20}},  {"W1", {50, 20, 5, 5}}, {"b1", {50}},
      {"W2", {800, 500}},    {"b2", {500}}, {"W3", {500, 10}},      {"b3", {10}}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const NpyArray& array = (*arrays)[i];
    EXPECT_EQ(array.name, expected[i].first);
    EXPECT_EQ(array.shape, expected[i].second) << array.name;
    EXPECT_EQ(array.descr, "<f4") << array.name;
    EXPECT_FALSE(array.fortran_order);
    EXPECT_EQ(array.data.size(), static_cast<size_t>(NumElements(array.shape) * 4));
  }

  // float and double conversions agree, and match the raw little-endian bytes.
  absl::StatusOr<Tensor<float>> w1 = NpyToTensor<float>((*arrays)[2], "W1");
  absl::StatusOr<Tensor<double>> w1d = NpyToTensor<double>((*arrays)[2], "W1");
  ASSERT_TRUE(w1.ok()) << w1.status();
  ASSERT_TRUE(w1d.ok()) << w1d.status();
  EXPECT_EQ(w1->shape(), (Shape{50, 20, 5, 5}));
  float first;
  std::memcpy(&first, (*arrays)[2].data.data(), 4);
  EXPECT_EQ(w1->values()[0], first);
  for (size_t i = 0; i < w1->values().size(); ++i) {
    ASSERT_EQ(static_cast<double>(w1->values()[i]), w1d->values()[i]) << i;
  }
  // Trained weights are not all zero (guards against a reader that returns
  // zero-filled data).
  int nonzero = 0;
  for (float v : w1->values()) nonzero += v != 0.0f;
  EXPECT_GT(nonzero, 24000);  // Of 25000.
}

TEST(NpySerializeTest, MatchesNumpyBytesExactly) {
  // params.npz is stored (not deflated), so the first member's bytes appear
  // verbatim in the file.
  const std::string file = ReadFileToString(kParamsPath).value_or("");
  const size_t at = file.find("\x93NUMPY");
  ASSERT_NE(at, std::string::npos);
  const std::string numpy_w0 = file.substr(at, 2128);  // W0.npy is 2128 bytes (zipinfo).
  absl::StatusOr<NpyArray> parsed = ParseNpy(numpy_w0, "W0.npy");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<Tensor<float>> w0 = NpyToTensor<float>(*parsed, "W0");
  ASSERT_TRUE(w0.ok()) << w0.status();
  EXPECT_EQ(SerializeNpy(*w0), numpy_w0);
}

TEST(NpySerializeTest, HeaderLayout) {
  const std::string npy = SerializeNpy(Tensor<double>({3}, {1.0, -2.5, 3.25}));
  ASSERT_GE(npy.size(), 10u);
  EXPECT_EQ(npy.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_length =
      static_cast<unsigned char>(npy[8]) | (static_cast<unsigned char>(npy[9]) << 8);
  EXPECT_EQ((10 + header_length) % 64, 0u);
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  EXPECT_EQ(npy.substr(10, dict.size()), dict);
  EXPECT_EQ(npy[10 + header_length - 1], '\n');
  EXPECT_EQ(npy.size(), 10 + header_length + 3 * 8);
  // Scalars are shape ().
  const std::string scalar = SerializeNpy(Tensor<float>(Shape{}, {7.0f}));
  EXPECT_THAT(scalar, HasSubstr("'shape': (), }"));
  absl::StatusOr<NpyArray> parsed = ParseNpy(scalar, "scalar");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->shape.empty());
}

class NpzRoundTripTest : public testing::TestWithParam<bool> {};

TEST_P(NpzRoundTripTest, WritesAndReadsBack) {
  const bool compress = GetParam();
  std::vector<float> values(64 * 64);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 7) * 0.5f - 1.0f;
  const Tensor<float> a({64, 64}, values);
  const Tensor<double> b({2, 3}, {0.1, 0.2, 0.3, -1e300, 1e-300, 6.0});
  const Tensor<float> empty({0, 5});
  const std::string path = TempPath(compress ? "rt_deflate.npz" : "rt_store.npz");
  ASSERT_TRUE(
      WriteNpzFile(path,
                   {{"a", SerializeNpy(a)}, {"b", SerializeNpy(b)}, {"empty", SerializeNpy(empty)}},
                   compress)
          .ok());

  // The first local file header's compression method (offset 8): 0 = stored, 8
  // = deflated.
  const std::string file = ReadFileToString(path).value_or("");
  ASSERT_GT(file.size(), 10u);
  EXPECT_EQ(file.substr(0, 4), "PK\x03\x04");
  EXPECT_EQ(file[8], compress ? 8 : 0);
  if (compress) {
    EXPECT_LT(file.size(),
              64 * 64 * 4u / 4);  // Highly repetitive data deflates well.
  } else {
    EXPECT_GT(file.size(), 64 * 64 * 4u);
  }

  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(path);
  ASSERT_TRUE(arrays.ok()) << arrays.status();
  ASSERT_EQ(arrays->size(), 3u);
  EXPECT_EQ((*arrays)[0].name, "a");
  EXPECT_EQ((*arrays)[1].name, "b");
  EXPECT_EQ((*arrays)[2].name, "empty");
  absl::StatusOr<Tensor<float>> a2 = NpyToTensor<float>((*arrays)[0], "a");
  absl::StatusOr<Tensor<double>> b2 = NpyToTensor<double>((*arrays)[1], "b");
  absl::StatusOr<Tensor<float>> empty2 = NpyToTensor<float>((*arrays)[2], "empty");
  ASSERT_TRUE(a2.ok() && b2.ok() && empty2.ok());
  EXPECT_EQ(a2->shape(), a.shape());
  EXPECT_EQ(a2->values(), a.values());
  EXPECT_EQ(b2->shape(), b.shape());
  EXPECT_EQ(b2->values(), b.values());
  EXPECT_EQ(empty2->shape(), (Shape{0, 5}));
  // <f8 read as float rounds like a C++ double→float conversion.
  absl::StatusOr<Tensor<float>> b_float = NpyToTensor<float>((*arrays)[1], "b");
  ASSERT_TRUE(b_float.ok());
  EXPECT_EQ(b_float->values()[0], 0.1f);
  EXPECT_EQ(b_float->values()[3], -std::numeric_limits<float>::infinity());
}

INSTANTIATE_TEST_SUITE_P(StoredAndDeflated, NpzRoundTripTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Deflated" : "Stored";
                         });

// The tensor writer (WriteNpzFile(path, map)): what the benchmark models' exporter
// (bench/export_models.cc) and tools use to write params.npz.
TEST(NpzTensorWriterTest, RoundTripIsBitExact) {
  const float inf = std::numeric_limits<float>::infinity();
  const float denorm = std::numeric_limits<float>::denorm_min();
  std::vector<float> w(2 * 3 * 4 * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.37f - 11.0f;
  w[0] = -0.0f;
  w[1] = denorm;
  w[2] = std::numeric_limits<float>::max();
  w[3] = std::numeric_limits<float>::lowest();
  w[4] = inf;  // the writer writes what it is given; LoadModel is the one that refuses non-finite
  w[5] = std::numeric_limits<float>::quiet_NaN();
  const std::map<std::string, Tensor<float>> arrays = {
      {"conv_W", Tensor<float>({2, 3, 4, 5}, w)},
      {"b", Tensor<float>({3}, {0.5f, -0.25f, 1e-30f})},
      {"scalar", Tensor<float>(Shape{}, {42.0f})},
      {"empty", Tensor<float>({0, 3})},
  };
  const std::string path = TempPath("tensors.npz");
  ASSERT_TRUE(WriteNpzFile(path, arrays).ok());

  // Stored, like numpy.savez: the first local header's compression method (offset 8) is 0, and
  // every member's .npy bytes appear verbatim in the file.
  const std::string file = ReadFileToString(path).value_or("");
  ASSERT_GT(file.size(), 10u);
  EXPECT_EQ(file.substr(0, 4), "PK\x03\x04");
  EXPECT_EQ(file[8], 0);
  for (const auto& [name, tensor] : arrays) {
    EXPECT_NE(file.find(SerializeNpy(tensor)), std::string::npos) << name;
  }

  absl::StatusOr<std::vector<NpyArray>> read = ReadNpzFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), arrays.size());
  auto expected = arrays.begin();  // members are written in name order
  for (const NpyArray& array : *read) {
    const Tensor<float>& tensor = expected->second;
    EXPECT_EQ(array.name, expected->first);
    EXPECT_EQ(array.descr, "<f4") << array.name;
    EXPECT_FALSE(array.fortran_order) << array.name;
    EXPECT_EQ(array.shape, tensor.shape()) << array.name;
    // Little-endian float32 in C order: on x86-64 exactly the tensor's memory.
    ASSERT_EQ(array.data.size(), tensor.values().size() * 4) << array.name;
    // (memcmp only for non-empty arrays: an empty vector's data() may be null.)
    EXPECT_TRUE(array.data.empty() ||
                std::memcmp(array.data.data(), tensor.values().data(), array.data.size()) == 0)
        << array.name;
    // The header is numpy's format 1.0 dict, data aligned to 64 bytes.
    const std::string npy = SerializeNpy(tensor);
    EXPECT_EQ(npy.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const size_t header_length =
        static_cast<unsigned char>(npy[8]) | (static_cast<unsigned char>(npy[9]) << 8);
    EXPECT_EQ((10 + header_length) % 64, 0u);
    EXPECT_THAT(npy.substr(10, header_length),
                HasSubstr("{'descr': '<f4', 'fortran_order': False, 'shape': "));
    ++expected;
  }
  const NpyArray& scalar = (*read)[3];
  ASSERT_EQ(scalar.name, "scalar");
  EXPECT_TRUE(scalar.shape.empty());
  absl::StatusOr<Tensor<float>> conv = NpyToTensor<float>((*read)[1], "conv_W");
  ASSERT_TRUE(conv.ok()) << conv.status();
  EXPECT_EQ(conv->shape(), (Shape{2, 3, 4, 5}));
  EXPECT_TRUE(std::signbit(conv->values()[0]));
  EXPECT_EQ(conv->values()[1], denorm);
  EXPECT_EQ(conv->values()[4], inf);
  EXPECT_TRUE(std::isnan(conv->values()[5]));
  EXPECT_EQ(conv->values()[119], w[119]);
}

// Rewriting numpy's own params.npz through tensors gives members byte-identical to numpy's.
TEST(NpzTensorWriterTest, RewritesNumpyParamsIdentically) {
  absl::StatusOr<std::vector<NpyArray>> original = ReadNpzFile(kParamsPath);
  ASSERT_TRUE(original.ok()) << original.status();
  std::map<std::string, Tensor<float>> arrays;
  for (const NpyArray& a : *original) {
    absl::StatusOr<Tensor<float>> t = NpyToTensor<float>(a, a.name);
    ASSERT_TRUE(t.ok()) << t.status();
    arrays.emplace(a.name, *std::move(t));
  }
  const std::string path = TempPath("rewritten.npz");
  ASSERT_TRUE(WriteNpzFile(path, arrays).ok());
  absl::StatusOr<std::vector<NpyArray>> rewritten = ReadNpzFile(path);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  ASSERT_EQ(rewritten->size(), original->size());
  const std::string numpy_file = ReadFileToString(kParamsPath).value_or("");
  const std::string our_file = ReadFileToString(path).value_or("");
  for (const NpyArray& ours : *rewritten) {
    const auto theirs = std::find_if(original->begin(), original->end(),
                                     [&](const NpyArray& a) { return a.name == ours.name; });
    ASSERT_NE(theirs, original->end()) << ours.name;
    EXPECT_EQ(ours.descr, theirs->descr);
    EXPECT_EQ(ours.shape, theirs->shape);
    EXPECT_EQ(ours.data, theirs->data) << ours.name;
    // The whole member (header included) is the same bytes in both archives.
    const std::string npy = SerializeNpy(arrays.at(ours.name));
    EXPECT_NE(numpy_file.find(npy), std::string::npos) << ours.name;
    EXPECT_NE(our_file.find(npy), std::string::npos) << ours.name;
  }
}

TEST(NpzTensorWriterTest, RejectsBadNamesAndPaths) {
  const Tensor<float> t({2}, {1.0f, 2.0f});
  EXPECT_EQ(WriteNpzFile(TempPath("t_none.npz"), std::map<std::string, Tensor<float>>{}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteNpzFile(TempPath("t_noname.npz"), {{"", t}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteNpzFile(TempPath("t_slash.npz"), {{"dir/W", t}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(WriteNpzFile(TempPath("no_such_dir") + "/x.npz", {{"W", t}}).ok());
}

TEST(NpyTest, ReadsVersions2And3AndBigEndian) {
  // >f4 1.0f = 3F 80 00 00; >f8 -2.0 = C0 00 ... 00.
  for (int major : {2, 3}) {
    const std::string npy = MakeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                                    std::string("\x3f\x80\x00\x00\x40\x00\x00\x00", 8), major);
    absl::StatusOr<NpyArray> array = ParseNpy(npy, "v" + std::to_string(major));
    ASSERT_TRUE(array.ok()) << array.status();
    absl::StatusOr<Tensor<float>> t = NpyToTensor<float>(*array, "be");
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_THAT(t->values(), ElementsAre(1.0f, 2.0f));
  }
  const std::string be8 = MakeNpy("{'descr': '>f8', 'fortran_order': False, 'shape': (1, 1), }",
                                  std::string("\xc0\x00\x00\x00\x00\x00\x00\x00", 8));
  absl::StatusOr<NpyArray> array = ParseNpy(be8, "be8");
  ASSERT_TRUE(array.ok()) << array.status();
  absl::StatusOr<Tensor<double>> t = NpyToTensor<double>(*array, "be8");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->values(), ElementsAre(-2.0));
  // Key order and quoting are free in a Python dict literal; Python 2 wrote
  // "20L".
  const std::string reordered =
      MakeNpy("{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<f4\"}",
              FloatBytesLE({1.5f, 2.5f}));
  ASSERT_TRUE(ParseNpy(reordered, "reordered").ok()) << ParseNpy(reordered, "reordered").status();
}

TEST(NpyTest, RejectsBadMagicAndVersion) {
  absl::StatusOr<NpyArray> a = ParseNpy("PK\x03\x04 not numpy at all", "x.npy");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("x.npy: not a .npy file"));
  EXPECT_FALSE(ParseNpy("", "empty.npy").ok());
  EXPECT_FALSE(ParseNpy("\x93NUMP", "short.npy").ok());

  std::string v4 =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", FloatBytesLE({1.0f}));
  v4[6] = 4;
  EXPECT_THAT(std::string(ParseNpy(v4, "v4.npy").status().message()),
              HasSubstr("unsupported .npy format version 4.0"));
}

TEST(NpyTest, RejectsTruncatedHeader) {
  const std::string npy =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", FloatBytesLE({1.0f}));
  absl::StatusOr<NpyArray> a = ParseNpy(npy.substr(0, 40), "cut.npy");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("cut.npy: truncated .npy header"));
  EXPECT_THAT(std::string(ParseNpy(npy.substr(0, 9), "cut9.npy").status().message()),
              HasSubstr("truncated .npy header"));
}

TEST(NpyTest, RejectsBadHeaderDicts) {
  const std::string data = FloatBytesLE({1.0f, 2.0f});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
       "unexpected key \"extra\""},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': "
       "(2,)}",
       "duplicate key \"descr\""},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
       "'fortran_order' must be True or False, got 0"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
       "'shape' must be a tuple of integers, got [2]"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
       "expected a non-negative integer dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': "
       "(99999999999999999999,)}",
       "expected a non-negative integer dimension"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
       "structured dtypes are not supported"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
       "expected ',' or '}' at offset 17"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
       "unexpected text after the dictionary"},
      {"{'descr': '<U10', 'fortran_order': False, 'shape': (2,)}", "unsupported dtype \"<U10\""},
      {"{'descr': 'O', 'fortran_order': False, 'shape': (2,)}", "unsupported dtype \"O\""},
  };
  for (const auto& [dict, error] : cases) {
    absl::StatusOr<NpyArray> a = ParseNpy(MakeNpy(dict, data), "bad.npy");
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << dict;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(error)) << dict;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr("bad.npy: ")) << dict;
  }
}

TEST(NpyTest, RejectsShapeDataMismatchAndOverflow) {
  // Too few bytes (a truncated file), too many, and a shape whose byte count
  // overflows int64.
  absl::StatusOr<NpyArray> a =
      ParseNpy(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (50, 20, 5, 5), }",
                       std::string(4000, '\0')),
               "params.npz member W1");
  EXPECT_EQ(std::string(a.status().message()),
            "params.npz member W1: data has 4000 bytes, header (50, 20, 5, 5) "
            "of <f4 needs 100000");
  absl::StatusOr<NpyArray> b = ParseNpy(
      MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", std::string(17, '\0')),
      "long.npy");
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("data has 17 bytes, header (2,) of <f8 needs 16"));
  absl::StatusOr<NpyArray> c = ParseNpy(MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                                                "(4294967296, 4294967296), }",
                                                ""),
                                        "huge.npy");
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("is too large"));
}

TEST(NpyTest, NpyToTensorRejectsOtherDtypesAndFortranOrder) {
  for (const std::string descr : {"|u1", "<i8", "<f2", "<c8", "|b1"}) {
    const std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (8,), }";
    const size_t size = descr == "|u1" || descr == "|b1" ? 8 : descr == "<f2" ? 16 : 64;
    absl::StatusOr<NpyArray> array = ParseNpy(MakeNpy(dict, std::string(size, '\0')), "a.npy");
    ASSERT_TRUE(array.ok()) << descr << ": " << array.status();  // Parsing is dtype-agnostic.
    absl::StatusOr<Tensor<float>> t = NpyToTensor<float>(*array, "params.npz member W0");
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(t.status().message()),
              "params.npz member W0: dtype \"" + descr +
                  "\" is not supported (need <f4, >f4, <f8 or >f8)");
  }
  absl::StatusOr<NpyArray> fortran = ParseNpy(
      MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", FloatBytesLE({1, 2})),
      "f.npy");
  ASSERT_TRUE(fortran.ok()) << fortran.status();
  EXPECT_TRUE(fortran->fortran_order);
  absl::StatusOr<Tensor<double>> t = NpyToTensor<double>(*fortran, "W9");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("W9: Fortran-order"));
}

TEST(NpzTest, TruncatedArchive) {
  const std::string file = ReadFileToString(kParamsPath).value_or("");
  ASSERT_GT(file.size(), 1000u);
  const std::string path = WriteTemp("half.npz", file.substr(0, file.size() / 2));
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(path);
  EXPECT_EQ(arrays.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(arrays.status().message()),
              HasSubstr(path + ": not a valid .npz (zip) archive"));
}

TEST(NpzTest, TruncatedMember) {
  const std::string w1 =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (50, 20, 5, 5), }",
              std::string(4000, 'x'));
  const std::string path = TempPath("member.npz");
  ASSERT_TRUE(
      WriteNpzFile(path, {{"W0", SerializeNpy(Tensor<float>({2}))}, {"W1", w1}}, true).ok());
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(path);
  EXPECT_EQ(arrays.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(arrays.status().message()),
            path +
                " member W1: data has 4000 bytes, header (50, 20, 5, 5) of <f4 "
                "needs 100000");
}

TEST(NpzTest, CorruptDeflatedMember) {
  std::vector<float> values(10000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  const std::string path = TempPath("corrupt.npz");
  ASSERT_TRUE(WriteNpzFile(path, {{"x", SerializeNpy(Tensor<float>({10000}, values))}}, true).ok());
  std::string file = ReadFileToString(path).value_or("");
  // Flip bits in the middle of the compressed data (well past the 30+5-byte
  // local header).
  for (size_t i = 200; i < 240; ++i) file[i] = static_cast<char>(file[i] ^ 0x5a);
  const std::string damaged = WriteTemp("corrupt2.npz", file);
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(damaged);
  EXPECT_EQ(arrays.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(arrays.status().message()),
              HasSubstr(damaged + " member x: damaged member"));
}

TEST(NpzTest, RejectsNonNpyMember) {
  // Write "readme.npy", then rename it to "readme.txt" in both the local and
  // central headers (names are not covered by the CRC).
  const std::string path = TempPath("txt.npz");
  ASSERT_TRUE(WriteNpzFile(path, {{"readme", "hello"}}, false).ok());
  std::string file = ReadFileToString(path).value_or("");
  size_t at = 0;
  int renamed = 0;
  while ((at = file.find("readme.npy", at)) != std::string::npos) {
    file.replace(at, 10, "readme.txt");
    ++renamed;
  }
  ASSERT_EQ(renamed, 2);
  const std::string renamed_path = WriteTemp("txt2.npz", file);
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(renamed_path);
  EXPECT_EQ(arrays.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(arrays.status().message()),
            renamed_path +
                ": member \"readme.txt\" is not a .npy array (names must end "
                "in \".npy\")");
}

TEST(NpzTest, RejectsMemberThatIsNotNpy) {
  const std::string path = TempPath("notnpy.npz");
  ASSERT_TRUE(WriteNpzFile(path, {{"W0", "this is text"}}, false).ok());
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(path);
  EXPECT_THAT(std::string(arrays.status().message()),
              HasSubstr(path + " member W0: not a .npy file"));
}

TEST(NpzTest, NotAZip) {
  const std::string path = WriteTemp("text.npz", "just some text, definitely not a zip archive\n");
  absl::StatusOr<std::vector<NpyArray>> arrays = ReadNpzFile(path);
  EXPECT_EQ(arrays.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(arrays.status().message()), HasSubstr("not a valid .npz (zip) archive"));
  EXPECT_FALSE(ReadNpzFile(WriteTemp("empty.npz", "")).ok());
}

TEST(NpzTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadNpzFile(TempPath("does_not_exist.npz")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadNpyFile(TempPath("does_not_exist.npy")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(NpzTest, WriteRejectsEmptyMemberList) {
  EXPECT_EQ(WriteNpzFile(TempPath("none.npz"), {}, false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteNpzFile(TempPath("noname.npz"), {{"", "x"}}, false).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NpyTest, ReadNpyFile) {
  const std::string path =
      WriteTemp("one.npy", SerializeNpy(Tensor<float>({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})));
  absl::StatusOr<NpyArray> array = ReadNpyFile(path);
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->shape, (Shape{2, 2}));
  EXPECT_EQ(array->name, "");
  EXPECT_EQ(array->data, FloatBytesLE({1.0f, 2.0f, 3.0f, 4.0f}));
}

}  // namespace
}  // namespace theano_serving
