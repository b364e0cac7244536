#include "core/fast/vmath.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace theano_serving {
namespace {

TEST(VmathTest, TanhMatchesLibmOnAGrid) {
  std::vector<float> x, y(2001);
  for (int i = -1000; i <= 1000; ++i) x.push_back(i * 0.01f);
  fast::Tanh(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], std::tanh(x[i]), 1e-6f) << x[i];
}

}  // namespace
}  // namespace theano_serving
