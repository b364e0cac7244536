#include "core/fast/layout.h"

#include <immintrin.h>

#include <cstring>

#include "core/fast/thread_team.h"

namespace theano_serving {
namespace fast {
namespace {

// One row of w pixels of 3 planes (stride hw) interleaved into w RGB triples, 16 pixels per step:
// two two-source permutes per 16 outputs (planes 0 and 1, then plane 2 merged in).
__attribute__((target("avx512f"))) void InterleaveRow3Avx512(const float* x, int64_t hw, int64_t w,
                                                             float* y) {
  // Output element e of vector k is pixel (16k + e) / 3, channel (16k + e) % 3.
  struct Indices {
    alignas(64) int32_t ab[3][16], cc[3][16];
    Indices() {
      for (int k = 0; k < 3; ++k) {
        for (int e = 0; e < 16; ++e) {
          const int g = 16 * k + e, p = g / 3, ch = g % 3;
          ab[k][e] = ch == 0 ? p : ch == 1 ? 16 + p : 0;
          cc[k][e] = ch == 2 ? 16 + p : e;
        }
      }
    }
  };
  static const Indices indices;
  __m512i iab[3], icc[3];
  for (int k = 0; k < 3; ++k) {
    iab[k] = _mm512_load_si512(indices.ab[k]);
    icc[k] = _mm512_load_si512(indices.cc[k]);
  }
  int64_t p = 0;
  for (; p + 16 <= w; p += 16) {
    const __m512 a = _mm512_loadu_ps(x + p), b = _mm512_loadu_ps(x + hw + p),
                 c = _mm512_loadu_ps(x + 2 * hw + p);
    for (int k = 0; k < 3; ++k) {
      const __m512 t = _mm512_permutex2var_ps(a, iab[k], b);
      _mm512_storeu_ps(y + 3 * p + 16 * k, _mm512_permutex2var_ps(t, icc[k], c));
    }
  }
  for (; p < w; ++p) {
    for (int ch = 0; ch < 3; ++ch) y[3 * p + ch] = x[ch * hw + p];
  }
}

}  // namespace

void NchwToNhwc(const float* x, int64_t n, int64_t c, int64_t h, int64_t w,
                const OutputFrame& frame, float* y, const KernelEnv& env) {
  const int64_t hw = h * w;
  const int64_t stride = frame.Stride(c);
  const bool rgb = c == 3 && stride == 3 && env.isa == Isa::kAvx512;
  const int threads = env.ThreadsFor(static_cast<double>(n * c * hw), kMinParallelFloats);
  ParallelRanges(n * h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row / h, r = row % h;
      const float* xr = x + i * c * hw + r * w;
      float* yr = y + frame.Offset(i, r, 0, h, w, c);
      if (rgb) {
        InterleaveRow3Avx512(xr, hw, w, yr);
        continue;
      }
      for (int64_t p = 0; p < w; ++p) {
        for (int64_t ch = 0; ch < c; ++ch) yr[p * stride + ch] = xr[ch * hw + p];
      }
    }
  });
}

void NhwcToNchw(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* y,
                const KernelEnv& env) {
  const int64_t hw = h * w;
  const int threads = env.ThreadsFor(static_cast<double>(n * c * hw), kMinParallelFloats);
  ParallelRanges(n * c, threads, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t i = plane / c, ch = plane % c;
      const float* xi = x + i * c * hw;
      float* yp = y + plane * hw;
      for (int64_t p = 0; p < hw; ++p) yp[p] = xi[p * c + ch];
    }
  });
}

void CopyIntoPadded(const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                    const OutputFrame& frame, float* y, const KernelEnv& env) {
  const int threads = env.ThreadsFor(static_cast<double>(n * h * w * c), kMinParallelFloats);
  const int64_t stride = frame.Stride(c);
  if (c <= 0) return;
  ParallelRanges(n * h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row / h, r = row % h;
      const float* src = x + row * w * c;
      float* dst = y + frame.Offset(i, r, 0, h, w, c);
      if (stride == c) {
        std::memcpy(dst, src, static_cast<size_t>(w * c) * sizeof(float));
        continue;
      }
      for (int64_t p = 0; p < w; ++p) {
        std::memcpy(dst + p * stride, src + p * c, static_cast<size_t>(c) * sizeof(float));
      }
    }
  });
}

void CopyIntoRows(const float* x, int64_t n, int64_t rows, int64_t blocks, int64_t block,
                  int64_t total, int64_t offset, float* y, const KernelEnv& env) {
  const int64_t run = blocks * block;  // Consecutive floats per row.
  if (run <= 0) return;
  const int threads = env.ThreadsFor(static_cast<double>(n * rows * run), kMinParallelFloats);
  ParallelRanges(n * rows, threads, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      std::memcpy(y + (r * total + offset) * block, x + r * run,
                  static_cast<size_t>(run) * sizeof(float));
    }
  });
}

void RunSlice(const float* x, int64_t items, int64_t outer, int64_t n, int64_t inner, int64_t start,
              int64_t step, int64_t length, float* y, const KernelEnv& env) {
  const int64_t rows = items * outer;
  const int threads =
      env.ThreadsFor(static_cast<double>(rows * length * inner), kMinParallelFloats);
  ParallelRanges(rows, threads, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = x + (r * n + start) * inner;
      float* dst = y + r * length * inner;
      if (step == 1) {
        std::memcpy(dst, src, static_cast<size_t>(length * inner) * sizeof(float));
        continue;
      }
      for (int64_t k = 0; k < length; ++k) {
        std::memcpy(dst + k * inner, src + k * step * inner,
                    static_cast<size_t>(inner) * sizeof(float));
      }
    }
  });
}

}  // namespace fast
}  // namespace theano_serving
