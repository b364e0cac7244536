// Differential test of the kernels that have an AVX2+FMA copy (conv2d's row update, dense's
// rows) against their portable copy: seeded random sweeps of shapes and attributes must give
// bit-identical outputs, so a model's answer does not depend on the CPU it runs on.
#include <cstring>
#include <random>
#include <vector>

#include "core/cpu.h"
#include "core/layer_factory.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

template <typename T>
Tensor<T> Random(Shape shape, std::mt19937* rng) {
  Tensor<T> t(std::move(shape));
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(d(*rng));
  return t;
}

// Runs the layer once with the AVX2 copies (when the CPU has them) and once forced portable.
template <typename T>
void ExpectSameOnBothPaths(const LayerSpec& spec, std::vector<Tensor<T>> params,
                           const Tensor<T>& input) {
  auto layer = CreateLayer<T>(spec, std::move(params));
  ASSERT_TRUE(layer.ok()) << layer.status();
  auto shape = (*layer)->OutputShape({input.shape()});
  ASSERT_TRUE(shape.ok()) << shape.status();
  Tensor<T> fast(*shape), portable(*shape);
  const Tensor<T>* in[] = {&input};
  (*layer)->Run(in, &fast);
  ForcePortableKernels() = true;
  (*layer)->Run(in, &portable);
  ForcePortableKernels() = false;
  ASSERT_EQ(0, std::memcmp(fast.data(), portable.data(), sizeof(T) * fast.size()))
      << spec.op << " " << spec.attrs.dump() << " input " << ShapeToString(input.shape());
}

TEST(CpuDispatchTest, Conv2dAvx2AndPortableCopiesAreBitIdentical) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> size(1, 19), ch(1, 5), k(1, 5), s(1, 3);
  for (int trial = 0; trial < 60; ++trial) {
    const int c = ch(rng), o = ch(rng), kh = k(rng), kw = k(rng);
    LayerSpec spec;
    spec.op = "conv2d";
    spec.attrs = {{"border_mode", trial % 3 == 0   ? "full"
                                  : trial % 3 == 1 ? "half"
                                                   : "valid"},
                  {"subsample", {s(rng), s(rng)}},
                  {"filter_flip", trial % 2 == 0}};
    const int h = size(rng) + kh, w = size(rng) + kw;
    ExpectSameOnBothPaths<float>(spec, {Random<float>({o, c, kh, kw}, &rng)},
                                 Random<float>({2, c, h, w}, &rng));
    ExpectSameOnBothPaths<double>(spec, {Random<double>({o, c, kh, kw}, &rng)},
                                  Random<double>({1, c, h, w}, &rng));
  }
}

TEST(CpuDispatchTest, DenseAvx2AndPortableCopiesAreBitIdentical) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> n(1, 300), rows(1, 9);
  for (int trial = 0; trial < 40; ++trial) {
    const int n_in = n(rng), n_out = n(rng);
    LayerSpec spec;
    spec.op = "dense";
    ExpectSameOnBothPaths<float>(spec,
                                 {Random<float>({n_in, n_out}, &rng), Random<float>({n_out}, &rng)},
                                 Random<float>({rows(rng), n_in}, &rng));
    ExpectSameOnBothPaths<double>(
        spec, {Random<double>({n_in, n_out}, &rng), Random<double>({n_out}, &rng)},
        Random<double>({rows(rng), n_in}, &rng));
  }
}

}  // namespace
}  // namespace theano_serving
