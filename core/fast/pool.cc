#include "core/fast/pool.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "core/fast/eltwise.h"
#include "core/fast/thread_team.h"
#include "core/fast/vmath_avx512.h"

namespace theano_serving {
namespace fast {
namespace {

// One output pixel of pool_2d for channels [c0, c1), scalar; the reference's exact arithmetic.
void PoolPixelScalar(const float* in, int64_t w, int64_t c, PoolWindow wy, PoolWindow wx,
                     PoolMode mode, float divisor, int64_t c0, int64_t c1, float* out) {
  for (int64_t ch = c0; ch < c1; ++ch) {
    float r;
    if (mode == PoolMode::kMax) {
      if (wy.begin >= wy.end || wx.begin >= wx.end) {
        r = -std::numeric_limits<float>::infinity();
      } else {
        r = in[(wy.begin * w + wx.begin) * c + ch];
        for (int64_t y = wy.begin; y < wy.end; ++y) {
          for (int64_t x = wx.begin; x < wx.end; ++x) {
            const float a = in[(y * w + x) * c + ch];
            r = a > r ? a : r;
          }
        }
      }
    } else {
      float sum = 0;
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) sum += in[(y * w + x) * c + ch];
      }
      r = mode == PoolMode::kSum ? sum : sum / divisor;
    }
    out[ch] = r;
  }
}

// The same for 8 channels at a time; returns the first channel not done.
__attribute__((target("avx2,fma"))) int64_t PoolPixelAvx2(const float* in, int64_t w, int64_t c,
                                                          PoolWindow wy, PoolWindow wx,
                                                          PoolMode mode, float divisor,
                                                          float* out) {
  if (wy.begin >= wy.end || wx.begin >= wx.end) return 0;
  int64_t ch = 0;
  for (; ch + 8 <= c; ch += 8) {
    __m256 r;
    if (mode == PoolMode::kMax) {
      r = _mm256_loadu_ps(in + (wy.begin * w + wx.begin) * c + ch);
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
          r = _mm256_max_ps(_mm256_loadu_ps(in + (y * w + x) * c + ch), r);
        }
      }
    } else {
      r = _mm256_setzero_ps();
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          r = _mm256_add_ps(r, _mm256_loadu_ps(in + (y * w + x) * c + ch));
        }
      }
      if (mode != PoolMode::kSum) r = _mm256_div_ps(r, _mm256_set1_ps(divisor));
    }
    _mm256_storeu_ps(out + ch, r);
  }
  return ch;
}

// The same for every channel, 16 at a time with a masked tail; returns c.
__attribute__((target("avx512f"))) int64_t PoolPixelAvx512(const float* in, int64_t w, int64_t c,
                                                           PoolWindow wy, PoolWindow wx,
                                                           PoolMode mode, float divisor,
                                                           float* out) {
  if (wy.begin >= wy.end || wx.begin >= wx.end) return 0;
  for (int64_t ch = 0; ch < c; ch += 16) {
    const __mmask16 m = static_cast<__mmask16>(c - ch >= 16 ? 0xFFFFu : (1u << (c - ch)) - 1u);
    __m512 r;
    if (mode == PoolMode::kMax) {
      r = _mm512_maskz_loadu_ps(m, in + (wy.begin * w + wx.begin) * c + ch);
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
          // (The mask form: GCC 12's plain _mm512_max_ps trips -Wmaybe-uninitialized.)
          r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_maskz_loadu_ps(m, in + (y * w + x) * c + ch), r);
        }
      }
    } else {
      r = _mm512_setzero_ps();
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, in + (y * w + x) * c + ch));
        }
      }
      if (mode != PoolMode::kSum) r = _mm512_div_ps(r, _mm512_set1_ps(divisor));
    }
    _mm512_mask_storeu_ps(out + ch, m, r);
  }
  return c;
}

}  // namespace

void RunPool(const float* input, int64_t batch, int64_t h, int64_t w, int64_t c,
             const PoolConfig& config, int64_t out_h, int64_t out_w, const OutputFrame& frame,
             float* output, Activation activation, const KernelEnv& env) {
  const Isa isa = env.isa;
  const int64_t stride = frame.Stride(c);
  const int threads = env.ThreadsFor(static_cast<double>(batch * h * w * c), kMinParallelFloats);
  ParallelRanges(batch * out_h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / out_h;
      const int64_t oy = row % out_h;
      const float* in = input + n * h * w * c;
      float* out_row = output + frame.Offset(n, oy, 0, out_h, out_w, c);
      const PoolWindow wy = ClippedPoolWindow(oy, h, config.ws[0], config.stride[0], config.pad[0]);
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const PoolWindow wx =
            ClippedPoolWindow(ox, w, config.ws[1], config.stride[1], config.pad[1]);
        const float divisor = static_cast<float>(
            PoolDivisor(config.mode, config.ignore_border, config.ws[0], config.ws[1], wy, wx));
        float* out = out_row + ox * stride;
        const int64_t done =
            isa == Isa::kAvx512 ? PoolPixelAvx512(in, w, c, wy, wx, config.mode, divisor, out)
            : isa == Isa::kAvx2 ? PoolPixelAvx2(in, w, c, wy, wx, config.mode, divisor, out)
                                : 0;
        PoolPixelScalar(in, w, c, wy, wx, config.mode, divisor, done, c, out);
        if (stride != c) ApplyActivation(isa, activation, out, out, c);
      }
      if (stride == c) ApplyActivation(isa, activation, out_row, out_row, out_w * c);
    }
  });
}

namespace {

// The de-interleaving loads of a max pool 2 columns wide at column stride 2, for n <= 16 output
// columns: each window row is 2n floats, loaded as two masked registers.
struct MaxPool2Loads {
  __mmask16 m0, m1;
  __m512i evens, odds;
};
inline __attribute__((target("avx512f"))) MaxPool2Loads MakeMaxPool2Loads(int64_t n) {
  MaxPool2Loads l;
  l.m0 = static_cast<__mmask16>(2 * n >= 16 ? 0xFFFFu : (1u << (2 * n)) - 1u);
  l.m1 = static_cast<__mmask16>(2 * n <= 16 ? 0u : (1u << (2 * n - 16)) - 1u);
  l.evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  l.odds = _mm512_add_epi32(l.evens, _mm512_set1_epi32(1));
  return l;
}

// One output row of such a pool: the max over `rows` window rows from p (row stride w), combined
// in the reference's order — r = first, then r = max(next, r), i.e. a > r ? a : r, NaN included.
inline __attribute__((target("avx512f"))) __m512 MaxPool2Row(const MaxPool2Loads& l, const float* p,
                                                             int64_t w, int64_t rows) {
  __m512 a = _mm512_maskz_loadu_ps(l.m0, p), b = _mm512_maskz_loadu_ps(l.m1, p + 16);
  __m512 r = _mm512_permutex2var_ps(a, l.evens, b);
  r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.odds, b), r);
  for (int64_t y = 1; y < rows; ++y) {
    p += w;
    a = _mm512_maskz_loadu_ps(l.m0, p);
    b = _mm512_maskz_loadu_ps(l.m1, p + 16);
    r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.evens, b), r);
    r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.odds, b), r);
  }
  return r;
}

// PoolPlaneAvx512 for max pooling with windows 2 columns wide at column stride 2 (the common
// 2x2 / 2): per window row, one load of 32 floats de-interleaved into the even and odd columns.
__attribute__((target("avx512f"))) void MaxPool2PlaneAvx512(const float* plane, int64_t w,
                                                            const PlanarPool& rows, int64_t out_w,
                                                            float* out, int64_t count) {
  const int64_t out_h = static_cast<int64_t>(rows.wy.size());
  for (int64_t o = rows.x_lo; o < rows.x_hi; o += 16) {
    const int64_t n = std::min<int64_t>(16, rows.x_hi - o);
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
    const MaxPool2Loads loads = MakeMaxPool2Loads(n);
    for (int64_t i = 0; i < count; ++i) {
      const float* base = plane + i * rows.h * w + o * 2 - rows.config.pad[1];
      float* dst = out + i * out_h * out_w;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const PoolWindow wy = rows.wy[static_cast<size_t>(oy)];
        if (wy.begin >= wy.end) continue;  // Left to the scalar path.
        _mm512_mask_storeu_ps(dst + oy * out_w + o, m,
                              MaxPool2Row(loads, base + wy.begin * w, w, wy.end - wy.begin));
      }
    }
  }
}

constexpr int64_t kMaxFusedShiftColumns = 16;  // Kernel columns (shifted copies).

// Whether MaxPool2ShiftPlaneAvx512 takes a pool writing shifted copies: a max pool 2 columns wide
// at column stride 2 whose every output (at most 16 per row) is on the vector path, and shifted
// rows of at most 16.
bool FusedPoolShift(const PlanarPool& pool, const ShiftGeometry& g) {
  if (pool.config.mode != PoolMode::kMax || pool.config.ws[1] != 2 || pool.config.stride[1] != 2 ||
      pool.x_lo != 0 || pool.x_hi != pool.out_w || pool.out_w > 16 || g.out_w > 16 ||
      g.kw > kMaxFusedShiftColumns) {
    return false;
  }
  for (const PoolWindow& wy : pool.wy) {
    if (wy.begin >= wy.end) return false;
  }
  return true;
}

// One plane of a FusedPoolShift pool: each output row is pooled, activated and permuted into its
// kw shifted rows in registers (MaxPool2PlaneAvx512's arithmetic, then the activation's vector
// function, so the same values as pooling, ApplyActivation and ShiftPlane in turn).
__attribute__((target("avx512f"))) void MaxPool2ShiftPlaneAvx512(const float* plane, int64_t w,
                                                                 const PlanarPool& pool,
                                                                 Activation activation,
                                                                 const ShiftGeometry& g,
                                                                 float* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t n = pool.out_w;
  const MaxPool2Loads loads = MakeMaxPool2Loads(n);
  const __mmask16 store = static_cast<__mmask16>((1u << g.out_w) - 1u);
  const int64_t block = g.shifted_h * g.out_w;  // One kx's copy.
  const float* base = plane - pool.config.pad[1];
  // Rows of padding above and below: zero in every copy.
  for (int64_t kx = 0; kx < g.kw; ++kx) {
    for (int64_t ys = 0; ys < g.shifted_h; ++ys) {
      if (ys >= g.top && ys < g.top + g.h) continue;
      _mm512_mask_storeu_ps(out + kx * block + ys * g.out_w, store, _mm512_setzero_ps());
    }
  }
  // Shifted row lane j of copy kx = pooled column j + kx * dil_w - left, zero outside [0, n).
  __m512i idx[kMaxFusedShiftColumns];
  __mmask16 valid[kMaxFusedShiftColumns];
  for (int64_t kx = 0; kx < g.kw; ++kx) {
    idx[kx] = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(kx * g.dil_w - g.left)));
    valid[kx] = _mm512_cmpge_epi32_mask(idx[kx], _mm512_setzero_si512()) &
                _mm512_cmplt_epi32_mask(idx[kx], _mm512_set1_epi32(static_cast<int>(n)));
  }
  const __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t oy = 0; oy < pool.out_h; ++oy) {
    const PoolWindow wy = pool.wy[static_cast<size_t>(oy)];
    __m512 r = MaxPool2Row(loads, base + wy.begin * w, w, wy.end - wy.begin);
    switch (activation) {
      case Activation::kRelu:
        r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
        break;
      case Activation::kTanh:
        r = Tanh16(r);
        break;
      case Activation::kSigmoid:
        r = Sigmoid16(r);
        break;
      case Activation::kOther:
        break;
    }
    float* row = out + (oy + g.top) * g.out_w;
    for (int64_t kx = 0; kx < g.kw; ++kx, row += block) {
      _mm512_mask_storeu_ps(row, store, _mm512_maskz_permutexvar_ps(valid[kx], idx[kx], r));
    }
  }
}

// The unclipped columns [x_lo, x_hi) of every row of one plane, up to 16 at a time: each window
// element (y, dx) is one vector of columns, combined in the reference's order. Column stride 1:
// loads at x0 + dx; stride 2: the row's span is loaded once (two registers) and each dx is a
// de-interleaving permute. Only for column strides 1 and 2.
__attribute__((target("avx512f"))) void PoolPlaneAvx512(const float* plane, int64_t w,
                                                        const PoolConfig& config,
                                                        const PlanarPool& rows, int64_t out_w,
                                                        float* out, int64_t count) {
  const int64_t sx = config.stride[1], wsx = config.ws[1];
  const bool max = config.mode == PoolMode::kMax;
  const int64_t out_h = static_cast<int64_t>(rows.wy.size());
  if (max && sx == 2 && wsx == 2) {
    MaxPool2PlaneAvx512(plane, w, rows, out_w, out, count);
    return;
  }
  if (count != 1) {
    for (int64_t i = 0; i < count; ++i) {
      PoolPlaneAvx512(plane + i * rows.h * w, w, config, rows, out_w, out + i * out_h * out_w, 1);
    }
    return;
  }
  // Stride 2: lanes per chunk such that the span 2 * (n - 1) + wsx fits two registers.
  const int64_t chunk = sx == 1 ? 16 : std::min<int64_t>(16, (32 - wsx) / 2 + 1);  // wsx <= 32
  const __m512i evens =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t o = rows.x_lo; o < rows.x_hi; o += chunk) {
    const int64_t n = std::min<int64_t>(chunk, rows.x_hi - o);
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
    const int64_t span = (n - 1) * sx + wsx;  // Elements the chunk's windows read in a row.
    const __mmask16 m0 = static_cast<__mmask16>(span >= 16 ? 0xFFFFu : (1u << span) - 1u);
    const __mmask16 m1 = static_cast<__mmask16>(span <= 16 ? 0u : (1u << (span - 16)) - 1u);
    const float* base = plane + o * sx - config.pad[1];
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const PoolWindow wy = rows.wy[static_cast<size_t>(oy)];
      if (wy.begin >= wy.end) continue;  // Left to the scalar path.
      __m512 r = _mm512_setzero_ps();
      bool first = true;
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        const float* p = base + y * w;
        __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
        if (sx == 2) {
          a = _mm512_maskz_loadu_ps(m0, p);
          b = _mm512_maskz_loadu_ps(m1, p + 16);
        }
        for (int64_t dx = 0; dx < wsx; ++dx) {
          const __m512 v =
              sx == 1 ? _mm512_maskz_loadu_ps(m, p + dx)
                      : _mm512_permutex2var_ps(
                            a, _mm512_add_epi32(evens, _mm512_set1_epi32(static_cast<int>(dx))), b);
          if (!max) {
            r = _mm512_add_ps(r, v);
          } else if (first) {
            r = v;
          } else {
            // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
            r = _mm512_mask_max_ps(r, 0xFFFF, v, r);
          }
          first = false;
        }
      }
      if (!max && config.mode != PoolMode::kSum) {
        r = _mm512_div_ps(r, _mm512_set1_ps(rows.divisor[static_cast<size_t>(oy)]));
      }
      _mm512_mask_storeu_ps(out + oy * out_w + o, m, r);
    }
  }
}

}  // namespace

PlanarPool PreparePlanarPool(int64_t h, int64_t w, const PoolConfig& config, int64_t out_h,
                             int64_t out_w) {
  PlanarPool p;
  p.h = h, p.w = w, p.out_h = out_h, p.out_w = out_w;
  p.config = config;
  const int64_t sx = config.stride[1], px = config.pad[1], wsx = config.ws[1];
  // The vector path: column stride 1, or 2 with windows of at most 32 columns (a chunk's span
  // must fit the two registers it is de-interleaved from).
  if (sx == 1 || (sx == 2 && wsx <= 32)) {
    p.x_lo = std::min(out_w, (px + sx - 1) / sx);
    p.x_hi = std::max(p.x_lo, std::min(out_w, w + px - wsx >= 0 ? (w + px - wsx) / sx + 1 : 0));
  }
  const PoolWindow full = {0, wsx};
  p.all_vector = p.x_lo == 0 && p.x_hi == out_w;
  for (int64_t oy = 0; oy < out_h; ++oy) {
    p.wy.push_back(ClippedPoolWindow(oy, h, config.ws[0], config.stride[0], config.pad[0]));
    p.all_vector = p.all_vector && p.wy.back().begin < p.wy.back().end;
    p.divisor.push_back(static_cast<float>(
        PoolDivisor(config.mode, config.ignore_border, config.ws[0], wsx, p.wy.back(), full)));
  }
  return p;
}

void RunPoolPlanar(const PlanarPool& pool, const float* input, int64_t planes, float* output,
                   Activation activation, const ShiftGeometry* shift_into, const KernelEnv& env) {
  const PoolConfig& config = pool.config;
  const int64_t h = pool.h, w = pool.w, out_h = pool.out_h, out_w = pool.out_w;
  const int64_t plane_out = out_h * out_w;
  const Isa isa = env.isa;
  const bool avx512 = isa == Isa::kAvx512;
  const bool vector = avx512 && pool.x_lo < pool.x_hi;
  const bool fused = avx512 && shift_into != nullptr && FusedPoolShift(pool, *shift_into);
  const int threads = env.ThreadsFor(static_cast<double>(planes * h * w), kMinParallelFloats);
  ParallelRanges(planes, threads, [&](int64_t begin, int64_t end) {
    // With shift_into, each plane is pooled into `scratch` and then copied into its consumer's
    // shifted copies.
    float* scratch = shift_into != nullptr ? env.Scratch(plane_out) : nullptr;
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* in = input + plane * h * w;
      if (fused) {
        MaxPool2ShiftPlaneAvx512(in, w, pool, activation, *shift_into,
                                 output + plane * shift_into->kw * shift_into->Plane());
        continue;
      }
      float* out = shift_into != nullptr ? scratch : output + plane * plane_out;
      if (vector && pool.all_vector && shift_into == nullptr) {
        // Every output on the vector path: the rest of the range at once.
        PoolPlaneAvx512(in, w, config, pool, out_w, out, end - plane);
        break;
      }
      if (vector) PoolPlaneAvx512(in, w, config, pool, out_w, out, 1);
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const PoolWindow wy = pool.wy[static_cast<size_t>(oy)];
        const bool vector_row = vector && wy.begin < wy.end;
        for (int64_t ox = 0; ox < out_w; ++ox) {
          if (vector_row && ox == pool.x_lo) ox = pool.x_hi;  // Done by PoolPlaneAvx512.
          if (ox >= out_w) break;
          const PoolWindow wx =
              ClippedPoolWindow(ox, w, config.ws[1], config.stride[1], config.pad[1]);
          const float divisor = static_cast<float>(
              PoolDivisor(config.mode, config.ignore_border, config.ws[0], config.ws[1], wy, wx));
          PoolPixelScalar(in, w, 1, wy, wx, config.mode, divisor, 0, 1, out + oy * out_w + ox);
        }
      }
      if (shift_into != nullptr) {
        ApplyActivation(isa, activation, out, out, plane_out);
        ShiftPlane(out, *shift_into, isa, output + plane * shift_into->kw * shift_into->Plane());
      }
    }
    // Planes are small (LeNet's 12x12 and 4x4): one call over the whole range.
    if (shift_into == nullptr) {
      ApplyActivation(isa, activation, output + begin * plane_out, output + begin * plane_out,
                      (end - begin) * plane_out);
    }
  });
}

}  // namespace fast
}  // namespace theano_serving
