// The conv micro-kernel in plain C++, for CPUs without AVX2+FMA (and as the reference the vector
// copies are tested against): NP pixels x (8 * NV) output channels.
#include <cmath>

#include "core/fast/conv_kernel.h"

namespace theano_serving {
namespace fast {
namespace conv_internal {
namespace {

template <int NP, int NV>
void MicroKernelPortable(const Tile& t, const KernelArgs& a) {
  constexpr int kBlock = 8 * NV;
  float acc[NP][kBlock] = {};
  if (!a.first) {
    for (int j = 0; j < NP; ++j) {
      for (int l = 0; l < a.valid; ++l) acc[j][l] = t.dst[j][l];
    }
  }
  TapWalk<kBlock> walk(a);
  int64_t off, c0, c1;
  const float* w;
  while (walk.Next(&off, &c0, &c1, &w)) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int j = 0; j < NP; ++j) {
        const float x = t.src[j][off + c];
        for (int l = 0; l < kBlock; ++l) acc[j][l] += w[l] * x;
      }
      w += kBlock;
    }
  }
  const bool last = a.last;
  for (int j = 0; j < NP; ++j) {
    for (int l = 0; l < a.valid; ++l) {
      float r = acc[j][l];
      if (last) {
        r += a.bias[l];
        if (a.norm != nullptr) {
          // The reference's batch norm: fma((r - mean) * gamma, inv_std, beta).
          const float* n = a.norm + l;
          r = std::fma((r - n[2 * kBlock]) * n[0], n[3 * kBlock], n[kBlock]);
        }
        if (a.residual) r += t.res[j][l];
        if (a.activation == Activation::kRelu) r = 0.5f * (r + std::fabs(r));
      }
      t.dst[j][l] = r;
    }
  }
  if (last) FinishRows(t, NP, a, Isa::kPortable);
}

template <int NP, int B>
struct PortableK {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelPortable<NP, B / 8>(t, a); }
};

}  // namespace

const KernelRow& PortableKernels(int64_t block) {
  static const KernelRow portable16 = Row<PortableK, 16, 6>();
  static const KernelRow portable32 = Row<PortableK, 32, 6>();
  static const KernelRow portable64 = Row<PortableK, 64, 6>();
  return block == 16 ? portable16 : block == 32 ? portable32 : portable64;
}

}  // namespace conv_internal
}  // namespace fast
}  // namespace theano_serving
