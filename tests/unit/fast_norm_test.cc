// The fast engine's normalization and reduction kernels (core/fast/norm.h) against the reference
// layers they reproduce (built by the layer factory and run as the graph runs them), for every
// instruction set the CPU runs, on 1 and 2 threads (split however small the work), on seeded
// random inputs of awkward sizes (c = 1, 3, 17, 64, 192; h, w = 1, 7, 14; 1 and 3 items).
// Expected: bit-identical results for batch norm (with relu), the reductions and softmax; LRN
// bit-identical for beta 1, 0.5 and other betas, within the bound stated in norm.h for beta 0.75.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "core/fast/kernel_common.h"
#include "core/fast/norm.h"
#include "core/layer.h"
#include "core/ops/reduce.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "tests/testing/layer_testing.h"
#include "tests/unit/isa_test.h"

namespace theano_serving {
namespace {

using testing_util::MakeLayer;
using testing_util::RunValid;

constexpr int64_t kChannels[] = {1, 3, 17, 64, 192};
constexpr int64_t kSides[][2] = {{1, 1}, {7, 7}, {14, 14}, {1, 7}};
constexpr int64_t kItems[] = {1, 3};
constexpr float kSentinel = -1234.5f;  // Where a kernel must not write.

Tensor<float> Random(Shape shape, std::mt19937* rng, float lo, float hi) {
  Tensor<float> t(std::move(shape));
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& v : t.values()) v = u(*rng);
  return t;
}

// (N, C, H, W) <-> (N, H, W, C).
std::vector<float> ToNhwc(const Tensor<float>& t) {
  const int64_t n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
  std::vector<float> out(static_cast<size_t>(t.size()));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t p = 0; p < hw; ++p) out[(i * hw + p) * c + ch] = t.data()[(i * c + ch) * hw + p];
    }
  }
  return out;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// Distance in ulp between two finite floats of the same sign.
int64_t UlpDistance(float a, float b) {
  if (a == b) return 0;
  if (std::signbit(a) != std::signbit(b)) return std::numeric_limits<int64_t>::max();
  return std::abs(static_cast<int64_t>(Bits(a) & 0x7FFFFFFFu) -
                  static_cast<int64_t>(Bits(b) & 0x7FFFFFFFu));
}

class FastNormTest : public FastIsaTest {
 protected:
  // With a share scratch for each of `threads` shares (ample for these tests' channel counts).
  fast::KernelEnv Env(int threads) {
    constexpr int64_t kScratchFloats = 1 << 14;
    while (scratch_.size() < static_cast<size_t>(threads)) {
      scratch_.push_back(fast::AllocateZeroed(kScratchFloats));
      scratch_ptrs_.push_back(scratch_.back().get());
    }
    fast::KernelEnv env;
    env.isa = isa();
    env.threads = threads;
    env.parallelize_any_size = true;
    env.scratch = scratch_ptrs_.data();
    env.scratch_floats = kScratchFloats;
    return env;
  }

 private:
  std::vector<fast::AlignedArray> scratch_;
  std::vector<float*> scratch_ptrs_;
};

// ---------------------------------------------------------------------------------------------
// Batch norm.

struct FrameCase {
  const char* name;
  fast::OutputFrame frame;
  int64_t total_channels;  // Channels per pixel of the buffer (c plus the slice's others).
};

TEST_P(FastNormTest, BatchNormMatchesTheReferenceBitForBit) {
  std::mt19937 rng(7);
  for (int64_t items : kItems) {
    for (int64_t c : kChannels) {
      for (const auto& side : kSides) {
        const int64_t h = side[0], w = side[1];
        std::vector<Tensor<float>> params = {Random({c}, &rng, -2, 2), Random({c}, &rng, -1, 1),
                                             Random({c}, &rng, -1, 1), Random({c}, &rng, 0.1f, 3)};
        const BatchNormParams<float> norm = {params[0].data(), params[1].data(), params[2].data(),
                                             params[3].data()};
        auto layer = MakeLayer<float>("batch_norm_inv_std", "{}", params,
                                      {"gamma", "beta", "mean", "inv_std"});
        ASSERT_TRUE(layer.ok()) << layer.status();
        auto relu = MakeLayer<float>("relu");
        ASSERT_TRUE(relu.ok()) << relu.status();
        const Tensor<float> x = Random({items, c, h, w}, &rng, -3, 3);
        const Tensor<float> plain = RunValid(**layer, x);
        const Tensor<float> relued = RunValid(**relu, plain);
        for (bool with_relu : {false, true}) {
          const Tensor<float>& expected = with_relu ? relued : plain;
          const Activation act = with_relu ? Activation::kRelu : Activation::kOther;
          for (int threads : {1, 2}) {
            const std::string where = absl::StrCat("items ", items, " c ", c, " h ", h, " w ", w,
                                                   " relu ", with_relu, " threads ", threads);
            // Channels-first, into a separate buffer and in place.
            {
              std::vector<float> y(static_cast<size_t>(x.size()), kSentinel);
              fast::RunBatchNorm(norm, x.data(), items, c, h, w, /*channels_last=*/false, {},
                                 y.data(), act, Env(threads));
              std::vector<float> in_place = x.values();
              fast::RunBatchNorm(norm, in_place.data(), items, c, h, w, false, {}, in_place.data(),
                                 act, Env(threads));
              for (int64_t i = 0; i < x.size(); ++i) {
                ASSERT_EQ(Bits(y[i]), Bits(expected.data()[i])) << where << " planar at " << i;
                ASSERT_EQ(Bits(in_place[i]), Bits(expected.data()[i]))
                    << where << " planar in place at " << i;
              }
            }
            // Channels-last: plain (also in place), padded, a channel slice, both.
            const std::vector<float> x_nhwc = ToNhwc(x);
            const std::vector<float> want = ToNhwc(expected);
            {
              std::vector<float> in_place = x_nhwc;
              fast::RunBatchNorm(norm, in_place.data(), items, c, h, w, true, {}, in_place.data(),
                                 act, Env(threads));
              for (size_t i = 0; i < want.size(); ++i) {
                ASSERT_EQ(Bits(in_place[i]), Bits(want[i])) << where << " nhwc in place at " << i;
              }
            }
            fast::OutputFrame padded;
            padded.top = 1;
            padded.left = 2;
            padded.padded_h = h + 3;
            padded.padded_w = w + 4;
            const fast::OutputFrame sliced = fast::OutputFrame().Slice(5, c + 9);
            const fast::OutputFrame both = padded.Slice(2, c + 3);
            for (const FrameCase& fc :
                 {FrameCase{"plain", {}, c}, FrameCase{"padded", padded, c},
                  FrameCase{"slice", sliced, c + 9}, FrameCase{"padded slice", both, c + 3}}) {
              const fast::OutputFrame& f = fc.frame;
              const int64_t rows = f.padded_h > 0 ? f.padded_h : h;
              const int64_t cols = f.padded_h > 0 ? f.padded_w : w;
              std::vector<float> y(static_cast<size_t>(items * rows * cols * fc.total_channels),
                                   kSentinel);
              fast::RunBatchNorm(norm, x_nhwc.data(), items, c, h, w, true, f, y.data(), act,
                                 Env(threads));
              std::vector<bool> written(y.size(), false);
              for (int64_t n = 0; n < items; ++n) {
                for (int64_t yy = 0; yy < h; ++yy) {
                  for (int64_t xx = 0; xx < w; ++xx) {
                    const int64_t o = f.Offset(n, yy, xx, h, w, c);
                    for (int64_t ch = 0; ch < c; ++ch) {
                      written[static_cast<size_t>(o + ch)] = true;
                      ASSERT_EQ(Bits(y[static_cast<size_t>(o + ch)]),
                                Bits(want[static_cast<size_t>(((n * h + yy) * w + xx) * c + ch)]))
                          << where << " " << fc.name << " at " << n << "," << yy << "," << xx << ","
                          << ch;
                    }
                  }
                }
              }
              for (size_t i = 0; i < y.size(); ++i) {
                if (!written[i]) {
                  ASSERT_EQ(y[i], kSentinel) << where << " " << fc.name << " wrote " << i;
                }
              }
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reduce.

struct ReduceCase {
  const char* op;
  ReduceKind kind;
};
constexpr ReduceCase kReduceCases[] = {{"sum", ReduceKind::kSum},
                                       {"mean", ReduceKind::kMean},
                                       {"max", ReduceKind::kMax},
                                       {"min", ReduceKind::kMin}};

// Runs the reference `op` over axes (2, 3) or (3, 2) of x (N, C, H, W) and RunReduce on both
// layouts; expects the same bits, NaN included.
void CheckReduce(const ReduceCase& rc, bool reversed_axes, const Tensor<float>& x,
                 const fast::KernelEnv& env, const std::string& where) {
  const int64_t items = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  auto layer =
      MakeLayer<float>(rc.op, reversed_axes ? R"({"axis": [3, 2]})" : R"({"axis": [2, 3]})");
  ASSERT_TRUE(layer.ok()) << layer.status();
  const Tensor<float> expected = RunValid(**layer, x);
  ASSERT_EQ(expected.size(), items * c);
  ReduceParams params;
  params.kind = rc.kind;
  if (rc.kind == ReduceKind::kMean) {
    params.divisors = reversed_axes ? std::vector<int64_t>{w, h} : std::vector<int64_t>{h, w};
  }
  const std::vector<float> x_nhwc = ToNhwc(x);
  for (bool channels_last : {false, true}) {
    std::vector<float> y(static_cast<size_t>(items * c), kSentinel);
    fast::RunReduce(params, channels_last ? x_nhwc.data() : x.data(), items, c, h * w,
                    channels_last, y.data(), env);
    ASSERT_EQ(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)), 0)
        << rc.op << " " << where << (channels_last ? " nhwc" : " planar")
        << (reversed_axes ? " axes (3, 2)" : "");
  }
}

TEST_P(FastNormTest, ReduceMatchesTheReferenceBitForBit) {
  std::mt19937 rng(11);
  for (int64_t items : kItems) {
    for (int64_t c : kChannels) {
      for (const auto& side : kSides) {
        const int64_t h = side[0], w = side[1];
        // Values of very different sizes, so that the double sum's order shows.
        Tensor<float> x = Random({items, c, h, w}, &rng, -1, 1);
        for (float& v : x.values())
          v = std::ldexp(v, std::uniform_int_distribution<int>(-30, 30)(rng));
        for (const ReduceCase& rc : kReduceCases) {
          for (int threads : {1, 2}) {
            const std::string where =
                absl::StrCat("items ", items, " c ", c, " h ", h, " w ", w, " threads ", threads);
            CheckReduce(rc, /*reversed_axes=*/false, x, Env(threads), where);
            if (rc.kind == ReduceKind::kMean) CheckReduce(rc, true, x, Env(threads), where);
          }
        }
      }
    }
  }
}

// Max and min on ties of +0 and -0 (the first of equal values is kept) and NaN (the reference's
// quiet NaN, whatever the input's payload), bit for bit.
TEST_P(FastNormTest, ReduceMaxMinKeepTheReferencesZerosAndNaNs) {
  std::mt19937 rng(13);
  const float values[] = {0.0f, -0.0f, 1.0f, -1.0f};
  for (int64_t c : {3, 17, 64}) {
    Tensor<float> x({2, c, 7, 7});
    for (float& v : x.values()) v = values[std::uniform_int_distribution<int>(0, 3)(rng)];
    for (const ReduceCase& rc : kReduceCases) CheckReduce(rc, false, x, Env(1), "zeros");
    // A NaN (with a payload) in a few channels, at the first, a middle and the last pixel.
    uint32_t payload = 0x7FA00001u;  // A signalling NaN: the reduction gives the quiet one.
    float nan;
    std::memcpy(&nan, &payload, sizeof(nan));
    x.data()[0] = nan;
    x.data()[(1 * c + 2) * 49 + 24] = std::numeric_limits<float>::quiet_NaN();
    x.data()[(0 * c + c - 1) * 49 + 48] = -std::numeric_limits<float>::quiet_NaN();
    for (const ReduceCase& rc : kReduceCases) CheckReduce(rc, false, x, Env(2), "NaN");
  }
}

// ReduceGroups (maxout's groups of channels) against the reference's ReduceValues, bit for bit,
// for groups of 1-5 values drawn from ties of +0 and -0, infinities, ordinary values and NaNs
// (with a payload and negative), every kind.
TEST(FastReduceGroupsTest, MatchesReduceValuesBitForBit) {
  std::mt19937 rng(19);
  uint32_t payload = 0x7FA00001u;
  float signalling;
  std::memcpy(&signalling, &payload, sizeof(signalling));
  const float inf = std::numeric_limits<float>::infinity();
  const float values[] = {
      0.0f, -0.0f, 1.5f,    -2.25f,     inf,
      -inf, 3e38f, -1e-40f, signalling, -std::numeric_limits<float>::quiet_NaN()};
  for (ReduceKind kind :
       {ReduceKind::kMax, ReduceKind::kMin, ReduceKind::kSum, ReduceKind::kMean}) {
    ReduceParams reduce;
    reduce.kind = kind;
    for (int64_t n = 1; n <= 5; ++n) {
      if (kind == ReduceKind::kMean) reduce.divisors = {n};
      const int64_t groups = 4000;
      std::vector<float> x(static_cast<size_t>(groups * n)), y(static_cast<size_t>(groups));
      // Mostly finite, so that a NaN is the exception in a group, as in real data.
      std::uniform_int_distribution<int> pick(0, 63);
      for (float& v : x) {
        const int k = pick(rng);
        v = k < 10 ? values[k] : std::uniform_real_distribution<float>(-4, 4)(rng);
      }
      fast::ReduceGroups(reduce, x.data(), groups, n, y.data());
      for (int64_t o = 0; o < groups; ++o) {
        const float* g = x.data() + o * n;
        const float want = ReduceValues<float>(
            kind, n, [g](int64_t k) { return g[k]; }, reduce.divisors);
        uint32_t got_bits, want_bits;
        std::memcpy(&got_bits, &y[static_cast<size_t>(o)], 4);
        std::memcpy(&want_bits, &want, 4);
        ASSERT_EQ(got_bits, want_bits)
            << "kind " << static_cast<int>(kind) << ", n " << n << ", group " << o;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax.

TEST_P(FastNormTest, SoftmaxMatchesTheReferenceBitForBit) {
  std::mt19937 rng(17);
  for (bool log : {false, true}) {
    auto layer = MakeLayer<float>(log ? "log_softmax" : "softmax");
    ASSERT_TRUE(layer.ok()) << layer.status();
    for (int64_t rows : {1, 3, 17}) {
      for (int64_t cols : {1, 3, 17, 64, 1000}) {
        const Tensor<float> x = Random({rows, cols}, &rng, -20, 20);
        const Tensor<float> expected = RunValid(**layer, x);
        for (int threads : {1, 2}) {
          const std::string where = absl::StrCat(log ? "log_softmax" : "softmax", " rows ", rows,
                                                 " cols ", cols, " threads ", threads);
          std::vector<float> y(static_cast<size_t>(x.size()), kSentinel);
          fast::RunSoftmax(x.data(), rows, cols, log, y.data(), Env(threads));
          EXPECT_EQ(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)), 0) << where;
          std::vector<float> in_place = x.values();
          fast::RunSoftmax(in_place.data(), rows, cols, log, in_place.data(), Env(threads));
          EXPECT_EQ(std::memcmp(in_place.data(), expected.data(), y.size() * sizeof(float)), 0)
              << where << " in place";
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LRN.

struct LrnCase {
  float alpha, k, beta;
  int64_t n;
};

TEST_P(FastNormTest, LrnMatchesTheReferenceWithinItsBound) {
  std::mt19937 rng(19);
  // Lasagne's defaults (alpha 1e-4, k 2, beta 0.75, n 5), a larger alpha so that the squares
  // dominate k, n = 3, n wider than the channels, and the betas computed exactly (1, 0.5, an
  // integer, the powf of the reference for 0.6).
  const LrnCase cases[] = {{1e-4f, 2, 0.75f, 5},    {0.05f, 1, 0.75f, 5}, {0.05f, 1, 0.75f, 3},
                           {0.02f, 1.5f, 0.75f, 9}, {0.05f, 1, 0.6f, 5},  {0.05f, 1, 0.6f, 3},
                           {0.05f, 1, 1.0f, 5},     {0.05f, 1, 0.5f, 3},  {0.05f, 1, 2.0f, 5}};
  int64_t max_ulp = 0;
  for (const LrnCase& lc : cases) {
    auto layer = MakeLayer<float>("local_response_normalization",
                                  absl::StrCat(R"({"alpha": )", lc.alpha, R"(, "k": )", lc.k,
                                               R"(, "beta": )", lc.beta, R"(, "n": )", lc.n, "}"));
    ASSERT_TRUE(layer.ok()) << layer.status();
    const LrnParams<float> params = {lc.alpha, lc.k, lc.beta, lc.n};
    for (int64_t items : kItems) {
      for (int64_t c : kChannels) {
        for (const auto& side : kSides) {
          const int64_t h = side[0], w = side[1];
          const Tensor<float> x = Random({items, c, h, w}, &rng, -10, 10);
          const std::vector<float> want = ToNhwc(RunValid(**layer, x));
          const std::vector<float> x_nhwc = ToNhwc(x);
          for (int threads : {1, 2}) {
            const std::string where =
                absl::StrCat("alpha ", lc.alpha, " k ", lc.k, " beta ", lc.beta, " n ", lc.n,
                             " items ", items, " c ", c, " h ", h, " w ", w, " threads ", threads);
            // Into a channel slice of a padded buffer (the frame's addressing is the batch norm
            // test's), and in place.
            fast::OutputFrame frame;
            frame.top = 1;
            frame.left = 1;
            frame.padded_h = h + 2;
            frame.padded_w = w + 2;
            frame = frame.Slice(1, c + 2);
            std::vector<float> y(static_cast<size_t>(items * (h + 2) * (w + 2) * (c + 2)),
                                 kSentinel);
            fast::RunLrn(params, x_nhwc.data(), items, h, w, c, frame, y.data(), Env(threads));
            std::vector<float> in_place = x_nhwc;
            fast::RunLrn(params, in_place.data(), items, h, w, c, {}, in_place.data(),
                         Env(threads));
            std::vector<bool> written(y.size(), false);
            for (int64_t n = 0; n < items; ++n) {
              for (int64_t yy = 0; yy < h; ++yy) {
                for (int64_t xx = 0; xx < w; ++xx) {
                  const int64_t o = frame.Offset(n, yy, xx, h, w, c);
                  for (int64_t ch = 0; ch < c; ++ch) {
                    written[static_cast<size_t>(o + ch)] = true;
                    const size_t i = static_cast<size_t>(((n * h + yy) * w + xx) * c + ch);
                    const float got = y[static_cast<size_t>(o + ch)];
                    ASSERT_EQ(Bits(got), Bits(in_place[i])) << where << " in place at " << i;
                    if (lc.beta == 0.75f) {
                      const int64_t ulp = UlpDistance(got, want[i]);
                      max_ulp = std::max(max_ulp, ulp);
                      ASSERT_LE(ulp, 5) << where << " at " << i << ": " << got << " vs " << want[i];
                      ASSERT_LE(std::fabs(got - want[i]), 1e-5f + 1e-4f * std::fabs(want[i]));
                    } else {
                      ASSERT_EQ(Bits(got), Bits(want[i])) << where << " at " << i;
                    }
                  }
                }
              }
            }
            for (size_t i = 0; i < y.size(); ++i) {
              if (!written[i]) {
                ASSERT_EQ(y[i], kSentinel) << where << " wrote " << i;
              }
            }
          }
        }
      }
    }
  }
  std::cout << "LRN beta 0.75: at most " << max_ulp << " ulp from the reference\n";
}

// LrnPow075 against powf (std::pow of floats, what the reference's ConstantPow calls for beta 0.75)
// on every 61st float bit pattern (positive and negative, denormals, infinities and NaNs
// included): at most 4 ulp apart (norm.h's bound), NaN where powf is NaN; and every instruction
// set's copy gives the portable copy's bits.
TEST_P(FastNormTest, LrnPow075IsWithinFourUlpOfPowf) {
  std::vector<float> s;
  for (uint64_t b = 0; b <= 0xFFFFFFFFull; b += 61) {
    float f;
    const uint32_t u = static_cast<uint32_t>(b);
    std::memcpy(&f, &u, sizeof(f));
    s.push_back(f);
  }
  for (float f : {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::max(), 1.0f, 2.0f, 16.0f, 1e-4f, 2.0001f}) {
    s.push_back(f);
  }
  std::vector<float> p(s.size()), portable(s.size());
  fast::LrnPow075(isa(), s.data(), p.data(), static_cast<int64_t>(s.size()));
  fast::LrnPow075(Isa::kPortable, s.data(), portable.data(), static_cast<int64_t>(s.size()));
  ASSERT_EQ(std::memcmp(p.data(), portable.data(), p.size() * sizeof(float)), 0);
  int64_t off_by_one = 0, max_ulp = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const float want = std::pow(s[i], 0.75f);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(p[i])) << s[i];
      continue;
    }
    const int64_t ulp = UlpDistance(p[i], want);
    ASSERT_LE(ulp, 4) << "s = " << s[i] << " (bits " << Bits(s[i]) << "): " << p[i] << " vs powf "
                      << want;
    off_by_one += ulp > 0;
    max_ulp = std::max(max_ulp, ulp);
  }
  std::cout << "LrnPow075: " << off_by_one << " of " << s.size() << " values differ from powf, by "
            << "at most " << max_ulp << " ulp\n";
}

INSTANTIATE_TEST_SUITE_P(Isa, FastNormTest, IsaValues(), IsaName);

}  // namespace
}  // namespace theano_serving
