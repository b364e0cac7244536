#include "core/fast/planar_conv.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "core/fast/conv.h"
#include "core/fast/eltwise.h"
#include "core/fast/thread_team.h"

namespace theano_serving {
namespace fast {
namespace {

constexpr int kPlanarMaxTile = 6;     // Output channels per register tile.
constexpr int kPlanarMaxVectors = 4;  // 16-pixel vectors per register tile.

struct PlanarArgs {
  const float* s;      // The image's shifted copies, at the tile's first pixel.
  const int32_t* off;  // Per k.
  int64_t k;
  const float* w;     // [k][tile]
  const float* bias;  // [tile]
  int tile;           // Output channels per tile (the packing's).
  int valid;          // Of them, the ones that exist.
  int vectors;        // 16-pixel vectors in this tile.
  int last_lanes;     // Pixels in the last vector (1..16).
  float* out;         // The tile's first output channel, at the tile's first pixel.
  int64_t pixels;     // Output plane size (the stride between output channels).
  Activation activation;
  Isa isa;  // The plan's, for the tanh / sigmoid pass.
};

void FinishPlanar(const PlanarArgs& a) {
  if (a.activation != Activation::kTanh && a.activation != Activation::kSigmoid) return;
  const int64_t n = 16 * (a.vectors - 1) + a.last_lanes;
  for (int o = 0; o < a.valid; ++o) {
    ApplyActivation(a.isa, a.activation, a.out + o * a.pixels, a.out + o * a.pixels, n);
  }
}

void PlanarKernelPortable(const PlanarArgs& a) {
  float acc[kPlanarMaxTile][kPlanarMaxVectors * 16] = {};
  const int n = 16 * (a.vectors - 1) + a.last_lanes;
  for (int64_t k = 0; k < a.k; ++k) {
    const float* x = a.s + a.off[k];
    const float* w = a.w + k * a.tile;
    for (int o = 0; o < a.tile; ++o) {
      for (int p = 0; p < n; ++p) acc[o][p] += w[o] * x[p];
    }
  }
  for (int o = 0; o < a.valid; ++o) {
    for (int p = 0; p < n; ++p) {
      float r = acc[o][p] + a.bias[o];
      if (a.activation == Activation::kRelu) r = 0.5f * (r + std::fabs(r));
      a.out[o * a.pixels + p] = r;
    }
  }
  FinishPlanar(a);
}

// NOC output channels x NPV vectors of 16 pixels: NOC * NPV <= 24 accumulators; per k, NPV loads
// and NOC broadcasts.
template <int NOC, int NPV>
__attribute__((target("avx512f"))) void PlanarKernelAvx512(const PlanarArgs& a) {
  const __mmask16 last = static_cast<__mmask16>((1u << a.last_lanes) - 1u);
  __m512 acc[NOC][NPV];
#pragma GCC unroll 8
  for (int o = 0; o < NOC; ++o) {
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) acc[o][v] = _mm512_setzero_ps();
  }
  const float* w = a.w;
  for (int64_t k = 0; k < a.k; ++k) {
    const float* x = a.s + a.off[k];
    __m512 xv[NPV];
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) {
      xv[v] = v + 1 < NPV ? _mm512_loadu_ps(x + 16 * v) : _mm512_maskz_loadu_ps(last, x + 16 * v);
    }
#pragma GCC unroll 8
    for (int o = 0; o < NOC; ++o) {
      const __m512 wb = _mm512_set1_ps(w[o]);
#pragma GCC unroll 4
      for (int v = 0; v < NPV; ++v) acc[o][v] = _mm512_fmadd_ps(wb, xv[v], acc[o][v]);
    }
    w += NOC;
  }
  const __m512 half = _mm512_set1_ps(0.5f);
#pragma GCC unroll 8
  for (int o = 0; o < NOC; ++o) {
    if (o >= a.valid) break;
    const __m512 b = _mm512_set1_ps(a.bias[o]);
    float* out = a.out + o * a.pixels;
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) {
      __m512 r = _mm512_add_ps(acc[o][v], b);
      if (a.activation == Activation::kRelu) {
        r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
      }
      if (v + 1 < NPV) {
        _mm512_storeu_ps(out + 16 * v, r);
      } else {
        _mm512_mask_storeu_ps(out + 16 * v, last, r);
      }
    }
  }
  FinishPlanar(a);
}

using PlanarKernel = void (*)(const PlanarArgs&);

template <int NOC, size_t... V>
constexpr std::array<PlanarKernel, kPlanarMaxVectors> PlanarRow(std::index_sequence<V...>) {
  return {&PlanarKernelAvx512<NOC, static_cast<int>(V) + 1>...};
}

// The AVX-512 kernel for (tile, vectors).
PlanarKernel PlanarAvx512(int tile, int vectors) {
  static const std::array<std::array<PlanarKernel, kPlanarMaxVectors>, kPlanarMaxTile> table = {
      PlanarRow<1>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<2>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<3>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<4>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<5>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<6>(std::make_index_sequence<kPlanarMaxVectors>())};
  return table[static_cast<size_t>(tile - 1)][static_cast<size_t>(vectors - 1)];
}

// Output channels per planar tile: the width in [3, 6] that pads out_channels least (the widest
// on ties); fewer channels than 3 are one tile.
int64_t PlanarTile(int64_t out_channels) {
  if (out_channels < 3) return out_channels;
  int64_t best = kPlanarMaxTile;
  for (int64_t t = kPlanarMaxTile; t >= 3; --t) {
    if ((out_channels + t - 1) / t * t < (out_channels + best - 1) / best * best) best = t;
  }
  return best;
}

// One (plane, kx) block of ShiftForPlanar: rows of out_w floats, columns [lo, hi) copied from
// src + y * w + shift, the rest zero; 16 columns per masked load and store.
__attribute__((target("avx512f"))) void ShiftBlockAvx512(const float* src, const ShiftGeometry& g,
                                                         int64_t shift, int64_t lo, int64_t hi,
                                                         float* dst) {
  const int64_t y0 = std::clamp<int64_t>(g.top, 0, g.shifted_h);  // Rows [y0, y1) are inside.
  const int64_t y1 = std::clamp<int64_t>(g.top + g.h, y0, g.shifted_h);
  for (int64_t o = 0; o < g.out_w; o += 16) {
    const int64_t n = std::min<int64_t>(16, g.out_w - o);
    const int64_t a = std::clamp<int64_t>(lo - o, 0, n), b = std::clamp<int64_t>(hi - o, a, n);
    const __mmask16 copy = static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
    const __mmask16 store = static_cast<__mmask16>((1u << n) - 1u);
    float* d = dst + o;
    for (int64_t ys = 0; ys < y0; ++ys)
      _mm512_mask_storeu_ps(d + ys * g.out_w, store, _mm512_setzero_ps());
    const float* from = src + (y0 - g.top) * g.w + o + shift;
    int64_t ys = y0;
    if (g.out_w <= 8) {
      // Two rows per vector: lanes [out_w, 2 * out_w) hold the next row, read from w floats on.
      const __mmask16 upper = static_cast<__mmask16>(copy << g.out_w);
      const __mmask16 store2 = static_cast<__mmask16>((1u << (2 * g.out_w)) - 1u);
      for (; ys + 1 < y1; ys += 2, from += 2 * g.w) {
        __m512 v = _mm512_maskz_loadu_ps(copy, from);
        v = _mm512_mask_loadu_ps(v, upper, from + g.w - g.out_w);
        _mm512_mask_storeu_ps(d + ys * g.out_w, store2, v);
      }
    }
    for (; ys < y1; ++ys, from += g.w) {
      _mm512_mask_storeu_ps(d + ys * g.out_w, store, _mm512_maskz_loadu_ps(copy, from));
    }
    for (int64_t yz = y1; yz < g.shifted_h; ++yz) {
      _mm512_mask_storeu_ps(d + yz * g.out_w, store, _mm512_setzero_ps());
    }
  }
}

}  // namespace

PlanarWeights PackPlanarWeights(const float* filters, int64_t out_channels, int64_t in_channels,
                                int64_t kh, int64_t kw, const float* bias) {
  PlanarWeights p;
  p.out_channels = out_channels;
  p.k = in_channels * kh * kw;
  p.tile = PlanarTile(out_channels);
  p.num_tiles = (out_channels + p.tile - 1) / p.tile;
  p.data = AllocateZeroed(p.num_tiles * p.k * p.tile);
  p.bias = AllocateZeroed(p.num_tiles * p.tile);
  for (int64_t o = 0; o < out_channels; ++o) {
    const int64_t t = o / p.tile, l = o % p.tile;
    if (bias != nullptr) p.bias[static_cast<size_t>(o)] = bias[o];
    for (int64_t k = 0; k < p.k; ++k) {  // filters (O, C, kh, kw): k = (c, ky, kx) already.
      p.data[static_cast<size_t>((t * p.k + k) * p.tile + l)] = filters[o * p.k + k];
    }
  }
  return p;
}

bool PreferPlanar(Isa isa, int64_t out_channels, int64_t pixels) {
  if (isa != Isa::kAvx512 || pixels < 16) return false;
  const int64_t block = ChooseBlock(isa, out_channels, false);
  const double nhwc = static_cast<double>(out_channels) /
                      static_cast<double>((out_channels + block - 1) / block * block);
  const int64_t tile = PlanarTile(out_channels);
  const double planar = static_cast<double>(out_channels) /
                        static_cast<double>((out_channels + tile - 1) / tile * tile) *
                        static_cast<double>(pixels) / static_cast<double>((pixels + 15) / 16 * 16);
  return planar > nhwc + 0.1;
}

void ShiftPlane(const float* src, const ShiftGeometry& g, Isa isa, float* dst) {
  for (int64_t kx = 0; kx < g.kw; ++kx, dst += g.shifted_h * g.out_w) {
    // Output columns whose source column ox + kx * dil_w - left lies in [0, w).
    const int64_t shift = kx * g.dil_w - g.left;
    const int64_t lo = std::clamp<int64_t>(-shift, 0, g.out_w);
    const int64_t hi = std::clamp<int64_t>(g.w - shift, lo, g.out_w);
    if (isa == Isa::kAvx512) {
      ShiftBlockAvx512(src, g, shift, lo, hi, dst);
      continue;
    }
    float* d = dst;
    for (int64_t ys = 0; ys < g.shifted_h; ++ys, d += g.out_w) {
      const int64_t y = ys - g.top;
      if (y < 0 || y >= g.h) {
        std::fill(d, d + g.out_w, 0.0f);
        continue;
      }
      std::fill(d, d + lo, 0.0f);
      std::copy(src + y * g.w + lo + shift, src + y * g.w + hi + shift, d + lo);
      std::fill(d + hi, d + g.out_w, 0.0f);
    }
  }
}

ShiftGeometry ShiftForConv(const ConvGeometry& g) {
  ShiftGeometry s;
  s.c = g.in_channels, s.h = g.in_h, s.w = g.in_w;
  s.top = g.pad_top, s.left = g.pad_left;
  s.kw = g.kw, s.dil_w = g.dil_w;
  s.shifted_h = (g.out_h - 1) + (g.kh - 1) * g.dil_h + 1;
  s.out_w = g.out_w;
  return s;
}

void ShiftForPlanar(const float* x, int64_t n, const ShiftGeometry& g, float* s,
                    const KernelEnv& env) {
  const int threads = env.ThreadsFor(static_cast<double>(n * g.PerImage()), kMinParallelFloats);
  ParallelRanges(n * g.c, threads, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      ShiftPlane(x + plane * g.h * g.w, g, env.isa, s + plane * g.kw * g.Plane());
    }
  });
}

void RunPlanarConv(const PlanarConvTask& task, const KernelEnv& env) {
  const PlanarWeights& w = *task.weights;
  const int64_t vectors = (task.pixels + 15) / 16;
  const int64_t pixel_tiles = (vectors + kPlanarMaxVectors - 1) / kPlanarMaxVectors;
  const int64_t per_image = pixel_tiles * w.num_tiles;
  const bool avx512 = env.isa == Isa::kAvx512;
  const double flops = 2.0 * static_cast<double>(task.batch * task.pixels * w.out_channels * w.k);
  const int threads = env.ThreadsFor(flops, kMinParallelFlops);
  // Items (image, pixel tile, channel tile), channel tiles innermost: a pixel tile's input stays
  // in cache while every channel tile reads it.
  ParallelRanges(task.batch * per_image, threads, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / per_image;
      const int64_t pt = (item % per_image) / w.num_tiles;
      const int64_t ot = item % w.num_tiles;
      const int64_t v0 = pt * kPlanarMaxVectors;
      PlanarArgs a;
      a.vectors = static_cast<int>(std::min<int64_t>(kPlanarMaxVectors, vectors - v0));
      a.last_lanes = static_cast<int>(task.pixels - (v0 + a.vectors - 1) * 16);
      a.last_lanes = std::min(a.last_lanes, 16);
      a.s = task.shifted + n * task.shifted_per_image + v0 * 16;
      a.off = task.offsets;
      a.k = w.k;
      a.w = w.data.get() + ot * w.k * w.tile;
      a.bias = w.bias.get() + ot * w.tile;
      a.tile = static_cast<int>(w.tile);
      a.valid = static_cast<int>(std::min(w.tile, w.out_channels - ot * w.tile));
      a.pixels = task.pixels;
      a.out = task.output + (n * w.out_channels + ot * w.tile) * task.pixels + v0 * 16;
      a.activation = task.activation;
      a.isa = env.isa;
      if (avx512) {
        PlanarAvx512(a.tile, a.vectors)(a);
      } else {
        PlanarKernelPortable(a);
      }
    }
  });
}

}  // namespace fast
}  // namespace theano_serving
