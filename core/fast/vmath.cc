#include "core/fast/vmath.h"

#include <cmath>

namespace theano_serving {
namespace fast {

// Placeholder: the libm loops. (The AVX2 versions replace these.)
void Tanh(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void Exp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void Sigmoid(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v < -88.0f ? 0.0f : v > 15.0f ? 1.0f : 1.0f / (1.0f + std::exp(-v));
  }
}

}  // namespace fast
}  // namespace theano_serving
