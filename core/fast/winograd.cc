// Winograd F(2x2, 3x3): weight packing, the input and output transforms (one portable body,
// compiled again with AVX2 and AVX-512 target attributes, where its channel loops become vector
// code), and RunWinogradConv's scheduling around the conv micro-kernel.
#include "core/fast/winograd.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fast/conv_kernel.h"
#include "core/fast/eltwise.h"
#include "core/fast/thread_team.h"
#include "core/ops/normalization_row.h"

namespace theano_serving {
namespace fast {

using conv_internal::KernelArgs;
using conv_internal::KernelRow;
using conv_internal::Tile;

bool WinogradApplies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 &&
         g.dil_w == 1 && g.groups == 1;
}

bool PreferWinograd(const ConvGeometry& g) {
  // Few input channels: the input transform (16 x C floats per tile) is a large share of a
  // tile's work; few output channels: the output transform's. Tiny images: a partial tile wastes
  // up to 5 of its 9 outputs.
  return g.in_channels >= 16 && g.out_channels >= 16 && g.out_h >= 4 && g.out_w >= 4;
}

WinogradWeights PackWinogradWeights(const float* filters, int64_t out_channels, int64_t in_channels,
                                    int64_t block) {
  WinogradWeights w;
  w.in_c = in_channels;
  w.out_c = out_channels;
  w.block = block;
  w.num_blocks = (out_channels + block - 1) / block;
  w.u = AllocateZeroed(16 * w.num_blocks * in_channels * block);
  // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]; U = G g G^T in double, then
  // rounded once.
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (int64_t o = 0; o < out_channels; ++o) {
    for (int64_t c = 0; c < in_channels; ++c) {
      const float* g = filters + (o * in_channels + c) * 9;
      double gg[4][3];  // G g
      for (int i = 0; i < 4; ++i) {
        for (int b = 0; b < 3; ++b) {
          gg[i][b] = kG[i][0] * g[b] + kG[i][1] * g[3 + b] + kG[i][2] * g[6 + b];
        }
      }
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          const double u = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          float* dst = w.u.get() + ((4 * i + j) * w.num_blocks + o / block) * in_channels * block;
          dst[c * block + o % block] = static_cast<float>(u);
        }
      }
    }
  }
  return w;
}

namespace {

// Channels per vector step of the transforms (the AVX-512 width; two AVX2 vectors).
constexpr int kLanes = 16;

// The tiles of a task: tiles_h x tiles_w per image, numbered image by image, row by row.
struct TileGrid {
  int64_t tiles_h, tiles_w, per_image, total;
};

// What the input transform of tiles [t0, t1) reads and writes: V[k][t - t0][c], k-planes
// `plane` floats apart.
struct InputJob {
  const ConvTask* task;
  const TileGrid* grid;
  const float* zero_row;  // task->in_c zeros: what a partial tile reads beyond the input.
  float* v;
  int64_t plane;
};

// B^T d B for channels [c, c + L) of one tile, d[4 * row + col] its 16 input pixels.
template <int L>
__attribute__((always_inline)) inline void InputChunk(const float* const* d, int64_t c, float* v,
                                                      int64_t plane) {
  float t[16][L];  // B^T d, row by row.
  for (int j = 0; j < 4; ++j) {
    const float* r0 = d[j] + c;
    const float* r1 = d[4 + j] + c;
    const float* r2 = d[8 + j] + c;
    const float* r3 = d[12 + j] + c;
    for (int l = 0; l < L; ++l) {
      t[j][l] = r0[l] - r2[l];
      t[4 + j][l] = r1[l] + r2[l];
      t[8 + j][l] = r2[l] - r1[l];
      t[12 + j][l] = r1[l] - r3[l];
    }
  }
  for (int i = 0; i < 4; ++i) {
    const float* a0 = t[4 * i];
    const float* a1 = t[4 * i + 1];
    const float* a2 = t[4 * i + 2];
    const float* a3 = t[4 * i + 3];
    float* o0 = v + (4 * i) * plane + c;
    float* o1 = o0 + plane;
    float* o2 = o1 + plane;
    float* o3 = o2 + plane;
    for (int l = 0; l < L; ++l) {
      o0[l] = a0[l] - a2[l];
      o1[l] = a1[l] + a2[l];
      o2[l] = a2[l] - a1[l];
      o3[l] = a1[l] - a3[l];
    }
  }
}

__attribute__((always_inline)) inline void TilesImpl(const InputJob& job, int64_t t0, int64_t t1) {
  const ConvTask& task = *job.task;
  const TileGrid& grid = *job.grid;
  const int64_t in_c = task.in_c;
  // The conv's padded input: out + 2 rows and columns from (in_top, in_left).
  const int64_t rows = task.out_h + 2, cols = task.out_w + 2;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / grid.per_image;
    const int64_t ty = (t % grid.per_image) / grid.tiles_w;
    const int64_t tx = t % grid.tiles_w;
    const float* d[16];
    for (int i = 0; i < 4; ++i) {
      const int64_t y = 2 * ty + i;
      for (int j = 0; j < 4; ++j) {
        const int64_t x = 2 * tx + j;
        d[4 * i + j] =
            y < rows && x < cols
                ? task.input +
                      ((n * task.in_h + y + task.in_top) * task.in_w + x + task.in_left) * in_c
                : job.zero_row;
      }
    }
    float* v = job.v + (t - t0) * in_c;
    int64_t c = 0;
    for (; c + kLanes <= in_c; c += kLanes) InputChunk<kLanes>(d, c, v, job.plane);
    for (; c < in_c; ++c) InputChunk<1>(d, c, v, job.plane);
  }
}

// What the output transform of tiles [t0, t1) reads and writes: M[k][t - t0][c - c_base]
// (k-planes `plane` floats apart, tiles `row` floats apart) for channels [c_begin, c_end), then
// the epilogue into task->output.
struct OutputJob {
  const ConvTask* task;
  const TileGrid* grid;
  const float* m;
  int64_t plane, row;
  int64_t c_base, c_begin, c_end;
};

// A^T M A for channels [c, c + L) of one tile (m at its channel c), then the epilogue into the
// pixels dst[p] (null: outside the image), as the direct kernel's: bias, batch norm, residual,
// relu.
template <int L>
__attribute__((always_inline)) inline void OutputChunk(const OutputJob& job, const float* m,
                                                       int64_t c, float* const* dst,
                                                       const float* const* res) {
  const ConvTask& task = *job.task;
  const PackedWeights& pw = *task.weights;
  float s[8][L];  // A^T M: two rows of four.
  for (int j = 0; j < 4; ++j) {
    const float* m0 = m + j * job.plane;
    const float* m1 = m0 + 4 * job.plane;
    const float* m2 = m1 + 4 * job.plane;
    const float* m3 = m2 + 4 * job.plane;
    for (int l = 0; l < L; ++l) {
      s[j][l] = m0[l] + m1[l] + m2[l];
      s[4 + j][l] = m1[l] - m2[l] - m3[l];
    }
  }
  float y[4][L];
  for (int i = 0; i < 2; ++i) {
    const float* a = s[4 * i];
    const float* b = s[4 * i + 1];
    const float* e = s[4 * i + 2];
    const float* f = s[4 * i + 3];
    for (int l = 0; l < L; ++l) {
      y[2 * i][l] = a[l] + b[l] + e[l];
      y[2 * i + 1][l] = b[l] - e[l] - f[l];
    }
  }
  const float* bias = pw.bias.get() + c;
  const float* norm = nullptr;
  if (pw.norm != nullptr) norm = pw.norm.get() + c / pw.block * 4 * pw.block + c % pw.block;
  const bool relu = task.activation == Activation::kRelu;
  for (int p = 0; p < 4; ++p) {
    if (dst[p] == nullptr) continue;
    float r[L];
    for (int l = 0; l < L; ++l) r[l] = y[p][l] + bias[l];
    if (norm != nullptr) {
      // The reference op's own row: batch_norm_inv_std written once.
      BatchNormRowImpl<float>(L, r, 1, norm, norm + pw.block, norm + 2 * pw.block,
                              norm + 3 * pw.block, r);
    }
    if (res[p] != nullptr) {
      for (int l = 0; l < L; ++l) r[l] += res[p][c + l];
    }
    if (relu) {
      for (int l = 0; l < L; ++l) r[l] = 0.5f * (r[l] + std::fabs(r[l]));
    }
    for (int l = 0; l < L; ++l) dst[p][c + l] = r[l];
  }
}

__attribute__((always_inline)) inline void TilesImpl(const OutputJob& job, int64_t t0, int64_t t1) {
  const ConvTask& task = *job.task;
  const TileGrid& grid = *job.grid;
  const int64_t out_c = task.weights->groups * task.weights->out_per_group;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / grid.per_image;
    const int64_t ty = (t % grid.per_image) / grid.tiles_w;
    const int64_t tx = t % grid.tiles_w;
    float* dst[4];
    const float* res[4];
    for (int p = 0; p < 4; ++p) {
      const int64_t oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
      const bool inside = oy < task.out_h && ox < task.out_w;
      dst[p] = inside
                   ? task.output + task.out_frame.Offset(n, oy, ox, task.out_h, task.out_w, out_c)
                   : nullptr;
      res[p] = inside && task.residual != nullptr
                   ? task.residual + task.res_frame.Offset(n, oy, ox, task.out_h, task.out_w, out_c)
                   : nullptr;
    }
    const float* m = job.m + (t - t0) * job.row - job.c_base;
    int64_t c = job.c_begin;
    for (; c + kLanes <= job.c_end; c += kLanes) OutputChunk<kLanes>(job, m + c, c, dst, res);
    for (; c < job.c_end; ++c) OutputChunk<1>(job, m + c, c, dst, res);
  }
}

// Each transform (TilesImpl: the input's or the output's, by its job) compiled once per
// instruction set.
template <typename Job>
void TilesPortable(const Job& job, int64_t t0, int64_t t1) {
  TilesImpl(job, t0, t1);
}
template <typename Job>
__attribute__((target("avx2,fma"))) void TilesAvx2(const Job& job, int64_t t0, int64_t t1) {
  TilesImpl(job, t0, t1);
}
template <typename Job>
__attribute__((target("avx512f,avx2,fma"))) void TilesAvx512(const Job& job, int64_t t0,
                                                             int64_t t1) {
  TilesImpl(job, t0, t1);
}

// The transforms' copies for one instruction set.
struct Transforms {
  void (*input)(const InputJob&, int64_t, int64_t);
  void (*output)(const OutputJob&, int64_t, int64_t);
};
Transforms TransformsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return {TilesAvx512<InputJob>, TilesAvx512<OutputJob>};
    case Isa::kAvx2:
      return {TilesAvx2<InputJob>, TilesAvx2<OutputJob>};
    case Isa::kPortable:
      break;
  }
  return {TilesPortable<InputJob>, TilesPortable<OutputJob>};
}

// Tiles per block: each block of U_k multiplies the block's transformed tiles of element k
// (tiles x C floats, at most kPlaneBytes: half of a 1 MiB L2), so U streams from L3 once per
// tile block. On VGG-16 b1, blocks of 256 tiles beat 128 by 5% (the 512-channel layers by 10%);
// 1024 lost 4%.
constexpr int64_t kPlaneBytes = 512 << 10;
constexpr int64_t kMaxTileBlock = 256;

int64_t MaxTileBlock(int64_t in_c, int max_np) {
  return std::clamp<int64_t>(kPlaneBytes / (4 * in_c), 2 * max_np, kMaxTileBlock);
}

// A share's scratch: the transformed tiles V (16 planes of tb x in_c), the products M (16 planes
// of tb x the group's channels) and a zero row of in_c.
int64_t ScratchFloats(int64_t tb, int64_t in_c, int64_t group_channels) {
  return 16 * tb * in_c + 16 * tb * group_channels + in_c;
}

alignas(64) constexpr float kZeroBias[64] = {};
constexpr int64_t kZeroTap = 0;

}  // namespace

int64_t WinogradScratchFloats(const WinogradWeights& w, Isa isa) {
  const int max_np = conv_internal::KernelsFor(isa, w.block).max_np;
  return ScratchFloats(MaxTileBlock(w.in_c, max_np), w.in_c, w.num_blocks * w.block);
}

void RunWinogradConv(const ConvTask& task, const WinogradWeights& w, const KernelEnv& env) {
  TileGrid grid;
  grid.tiles_h = (task.out_h + 1) / 2;
  grid.tiles_w = (task.out_w + 1) / 2;
  grid.per_image = grid.tiles_h * grid.tiles_w;
  grid.total = task.batch * grid.per_image;
  if (grid.total == 0) return;
  const KernelRow& row = conv_internal::KernelsFor(env.isa, w.block);
  const Transforms transforms = TransformsFor(env.isa);
  const int64_t in_c = w.in_c;
  // Tiles per block: as many as kPlaneBytes allow, then evened out over the blocks.
  const int64_t max_tb = MaxTileBlock(in_c, row.max_np);
  const int64_t num_tb = (grid.total + max_tb - 1) / max_tb;
  const int64_t tb = (grid.total + num_tb - 1) / num_tb;
  const double flops = 32.0 * static_cast<double>(grid.total) * static_cast<double>(in_c) *
                       static_cast<double>(w.out_c);
  const int threads = env.ThreadsFor(flops, kMinParallelFlops);
  // Work items: (tile block, group of output-channel blocks), the groups as many as spread the
  // items most evenly over the threads (the fewest of those): each item then transforms its
  // tiles' input itself, a 1/out_c share of its work. (Inception-v3's 8x8 448->384 convs at batch
  // 1, one tile block of six channel blocks: 3 groups of 2 kept one thread idle a third of the
  // time; 2 groups of 3 do not.)
  int64_t per_group = w.num_blocks, groups = 1;
  if (threads > 1) {
    int64_t best_load = -1;
    for (int64_t per = w.num_blocks; per >= 1; --per) {
      const int64_t g = (w.num_blocks + per - 1) / per;
      const int64_t load = (num_tb * g + threads - 1) / threads * per;
      if (best_load < 0 || load < best_load) best_load = load, per_group = per, groups = g;
    }
  }
  const int64_t m_row = per_group * w.block;
  const int64_t v_plane = tb * in_c, m_plane = tb * m_row;
  const int64_t scratch_floats = ScratchFloats(tb, in_c, m_row);
  const int64_t slice = std::max<int64_t>(
      1, (task.slice_bytes > 0 ? task.slice_bytes : DefaultReductionSliceBytes()) / (w.block * 4));
  const int64_t out_c = w.out_c;

  ParallelRanges(num_tb * groups, threads, [&](int64_t begin, int64_t end) {
    float* v = env.Scratch(scratch_floats);
    float* m = v + 16 * v_plane;
    float* zero_row = m + 16 * m_plane;
    std::memset(zero_row, 0, static_cast<size_t>(in_c) * sizeof(float));
    InputJob in_job{&task, &grid, zero_row, v, v_plane};
    KernelArgs args;
    args.taps = &kZeroTap;
    args.in_c = in_c;
    args.c_lo = 0;
    args.c_hi = in_c;
    args.bias = kZeroBias;
    args.norm = nullptr;
    args.valid = static_cast<int>(w.block);
    args.activation = Activation::kOther;
    args.prefetch = false;
    args.residual = false;
    Tile tile;
    int64_t cached = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bi = item / groups, g = item % groups;
      const int64_t t0 = bi * tb, t1 = std::min(grid.total, t0 + tb), nt = t1 - t0;
      if (bi != cached) {
        transforms.input(in_job, t0, t1);
        cached = bi;
      }
      const int64_t b0 = g * per_group, b1 = std::min(w.num_blocks, b0 + per_group);
      // The 16 products M_k = V_k U_k, block by block, in micro-kernel tiles of nearly equal size.
      const int64_t tiles = (nt + row.max_np - 1) / row.max_np;
      for (int64_t k = 0; k < 16; ++k) {
        for (int64_t b = b0; b < b1; ++b) {
          args.w = w.U(k, b);
          for (int64_t k0 = 0; k0 < in_c; k0 += slice) {
            args.k0 = k0;
            args.k1 = std::min(in_c, k0 + slice);
            args.first = k0 == 0;
            args.last = args.k1 == in_c;
            for (int64_t i = 0, q = 0; i < tiles; ++i) {
              const int np = static_cast<int>(nt / tiles + (i < nt % tiles ? 1 : 0));
              for (int j = 0; j < np; ++j) {
                tile.src[j] = v + k * v_plane + (q + j) * in_c;
                tile.dst[j] = m + k * m_plane + (q + j) * m_row + (b - b0) * w.block;
              }
              row.kernels[np - 1](tile, args);
              q += np;
            }
          }
        }
      }
      OutputJob out_job{&task,
                        &grid,
                        m,
                        m_plane,
                        m_row,
                        b0 * w.block,
                        b0 * w.block,
                        std::min(out_c, b1 * w.block)};
      transforms.output(out_job, t0, t1);
      if (task.activation == Activation::kTanh || task.activation == Activation::kSigmoid) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n = t / grid.per_image;
          const int64_t ty = (t % grid.per_image) / grid.tiles_w, tx = t % grid.tiles_w;
          for (int p = 0; p < 4; ++p) {
            const int64_t oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
            if (oy >= task.out_h || ox >= task.out_w) continue;
            float* d = task.output +
                       task.out_frame.Offset(n, oy, ox, task.out_h, task.out_w, out_c) +
                       out_job.c_begin;
            ApplyActivation(env.isa, task.activation, d, d, out_job.c_end - out_job.c_begin);
          }
        }
      }
    }
  });
}

}  // namespace fast
}  // namespace theano_serving
