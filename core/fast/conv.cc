// RunConv's scheduling (work items, reduction slices, the taps each pixel sums) and the weight
// packing; the micro-kernels it calls are in conv_{portable,avx2,avx512}.cc.
#include "core/fast/conv.h"

#include <unistd.h>

#include <algorithm>

#include "core/fast/conv_kernel.h"
#include "core/fast/norm.h"
#include "core/fast/thread_team.h"

namespace theano_serving {
namespace fast {

using conv_internal::KernelArgs;
using conv_internal::KernelRow;
using conv_internal::KernelsFor;
using conv_internal::kMaxChunk;
using conv_internal::kMaxTilePixels;
using conv_internal::MicroKernel;
using conv_internal::Tile;

// Weights per reduction slice: a 64-channel block of a 3x3x512 conv is 1.2 MB, more than this
// machine's 1 MB L2 cache; slicing keeps each slice in L2 while a chunk's tiles reuse it. Three
// quarters of the L2 (the rest holds the tiles' inputs and outputs) measured best: 256 KiB slices
// cost CIFAR-VGG b32 2% (its 3x3x256 blocks, 590 KB, were cut in three), and L1-sized ones 5-10%
// (docs/PERFORMANCE.md).
int64_t DefaultReductionSliceBytes() {
  static const int64_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);  // 0 or -1 where unknown.
    return (l2 > 0 ? static_cast<int64_t>(l2) : int64_t{1} << 20) / 4 * 3;
  }();
  return bytes;
}

int64_t ChooseBlock(Isa isa, int64_t out_channels, bool few_rows) {
  if (isa != Isa::kAvx512) return few_rows ? 32 : 16;
  // Few rows: wide blocks give one row enough independent accumulators, but not wider than the
  // layer (a 10-class output in 64-channel blocks streams 6x the weights it uses).
  if (few_rows) return out_channels <= 16 ? 16 : out_channels <= 32 ? 32 : 64;
  // AVX-512: the widest block that wastes no more lanes than a narrower one.
  int64_t best = 16;
  for (int64_t b : {32, 64}) {
    if ((out_channels + b - 1) / b * b <= (out_channels + best - 1) / best * best) best = b;
  }
  return best;
}

namespace {

// The batch norm of `channels` output channels in the packed blocks' layout: per (group, block),
// [gamma, beta, mean, inv_std][block], zero beyond the group's channels.
AlignedArray PackNorm(const BatchNormParams<float>& norm, int64_t groups, int64_t out_per_group,
                      int64_t num_blocks, int64_t block) {
  AlignedArray p = AllocateZeroed(groups * num_blocks * 4 * block);
  const float* params[4] = {norm.gamma, norm.beta, norm.mean, norm.inv_std};
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t o = 0; o < out_per_group; ++o) {
      const int64_t b = o / block, l = o % block;
      float* dst = p.get() + (g * num_blocks + b) * 4 * block;
      for (int k = 0; k < 4; ++k) dst[k * block + l] = params[k][g * out_per_group + o];
    }
  }
  return p;
}

}  // namespace

PackedWeights PackConvWeights(const float* filters, int64_t out_channels, int64_t in_per_group,
                              int64_t kh, int64_t kw, int64_t groups, const float* bias,
                              int64_t block, const BatchNormParams<float>* norm) {
  PackedWeights p;
  p.groups = groups;
  p.out_per_group = out_channels / groups;
  p.in_per_group = in_per_group;
  p.taps = kh * kw;
  p.block = block;
  p.num_blocks = (p.out_per_group + block - 1) / block;
  if (filters != nullptr) {
    p.data = AllocateZeroed(groups * p.num_blocks * p.taps * in_per_group * block);
  }
  p.bias = AllocateZeroed(groups * p.num_blocks * block);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < p.num_blocks; ++b) {
      float* dst = p.data.get() + (g * p.num_blocks + b) * p.taps * in_per_group * block;
      for (int64_t l = 0; l < block; ++l) {
        const int64_t o = b * block + l;  // Within the group.
        if (o >= p.out_per_group) break;
        const int64_t oc = g * p.out_per_group + o;
        if (bias != nullptr)
          p.bias[static_cast<size_t>((g * p.num_blocks + b) * block + l)] = bias[oc];
        if (filters == nullptr) continue;
        for (int64_t t = 0; t < p.taps; ++t) {
          for (int64_t c = 0; c < in_per_group; ++c) {
            dst[(t * in_per_group + c) * block + l] = filters[(oc * in_per_group + c) * p.taps + t];
          }
        }
      }
    }
  }
  if (norm != nullptr) p.norm = PackNorm(*norm, groups, p.out_per_group, p.num_blocks, block);
  return p;
}

PackedWeights PackDenseWeights(const float* w, int64_t n_in, int64_t n_out, const float* bias,
                               int64_t block, const int64_t* nhwc_chw,
                               const BatchNormParams<float>* norm) {
  PackedWeights p;
  p.groups = 1;
  p.out_per_group = n_out;
  p.in_per_group = n_in;
  p.taps = 1;
  p.block = block;
  p.num_blocks = (n_out + block - 1) / block;
  p.data = AllocateZeroed(p.num_blocks * n_in * block);
  p.bias = AllocateZeroed(p.num_blocks * block);
  for (int64_t o = 0; o < n_out && bias != nullptr; ++o) p.bias[static_cast<size_t>(o)] = bias[o];
  for (int64_t k = 0; k < n_in; ++k) {
    // Row of W that input position k (in the input's memory order) multiplies.
    int64_t row = k;
    if (nhwc_chw != nullptr) {
      const int64_t c_dim = nhwc_chw[0], w_dim = nhwc_chw[2], hw = nhwc_chw[1] * nhwc_chw[2];
      const int64_t c = k % c_dim;
      const int64_t pix = k / c_dim;  // y * W + x
      row = c * hw + (pix / w_dim) * w_dim + pix % w_dim;
    }
    for (int64_t o = 0; o < n_out; ++o) {
      const int64_t b = o / block;
      p.data[static_cast<size_t>((b * n_in + k) * block + o % block)] = w[row * n_out + o];
    }
  }
  if (norm != nullptr) p.norm = PackNorm(*norm, 1, n_out, p.num_blocks, block);
  return p;
}

namespace {

// The part of a conv's reduction one output pixel sums: k in [kb, ke), and of each tap's channels
// only [c_lo, c_hi) (kb == ke: none).
struct TapRange {
  int64_t kb, ke, c_lo, c_hi;
  bool operator==(const TapRange& o) const {
    return kb == o.kb && ke == o.ke && c_lo == o.c_lo && c_hi == o.c_hi;
  }
};

// How RunConv cuts one call: pixel chunks x channel blocks as work items, reduction slices, and
// which pixels sum fewer taps than all (those whose window covers zero padding).
struct ConvSchedule {
  const ConvTask* task;
  const PackedWeights* w;
  int max_np;   // The widest tile of the kernel row.
  int threads;  // The call's (env.ThreadsFor its FLOPs).
  int64_t pixels, plane, out_c;
  int64_t num_chunks, blocks;
  int64_t total_k, k_slice;
  // Taps on zero padding add nothing, so each pixel sums only the taps on the image: the kernel
  // rows on real input rows and, when the kernel columns are merged into the channel axis, the
  // columns on real input columns.
  bool skip_rows, skip_cols;
  int64_t k_per_row, column_c;
  // Rows [full_y0, full_y1) and columns [full_x0, full_x1) sum every tap (range `full`).
  TapRange full;
  int64_t full_y0, full_y1, full_x0, full_x1;
};

ConvSchedule MakeSchedule(const ConvTask& task, int max_np, const KernelEnv& env) {
  const PackedWeights& w = *task.weights;
  ConvSchedule s;
  s.task = &task;
  s.w = &w;
  s.max_np = max_np;
  s.pixels = task.batch * task.out_h * task.out_w;
  s.plane = task.out_h * task.out_w;
  s.out_c = w.groups * w.out_per_group;
  s.total_k = w.taps * w.in_per_group;
  s.threads = env.ThreadsFor(2.0 * static_cast<double>(s.pixels) * static_cast<double>(s.out_c) *
                                 static_cast<double>(s.total_k),
                             kMinParallelFlops);
  // Pixel chunks of at most 16 tiles, all about the same size (ChunkBegin), so that the threads'
  // shares of (chunk, block) items are even: 196 pixels are 3 chunks of 66, 66 and 64 rather than
  // 96, 96 and 4; and as many chunks as give every thread the same number of items (ResNet-50's
  // and Inception-v3's 17x17 layers: 4 chunks of 78, 78, 78 and 55 pixels gave one of 2 threads
  // 156 pixels and the other 133; 72, 72, 72 and 73 do not). (Chunk sizes vary by less than a
  // tile, so the chunks number at least pixels / (16 tiles - 1 tile).)
  const int64_t max_chunk = max_np * 15 + 1;
  s.blocks = w.groups * w.num_blocks;
  s.num_chunks = std::max<int64_t>(1, (s.pixels + max_chunk - 1) / max_chunk);
  if (s.threads > 1 && s.num_chunks * s.blocks % s.threads != 0 &&
      s.pixels >= s.threads * static_cast<int64_t>(max_np)) {
    s.num_chunks = (s.num_chunks + s.threads - 1) / s.threads * s.threads;
  }
  s.k_slice = task.feature_pool > 1 ? std::max<int64_t>(1, s.total_k)
                                    : std::max<int64_t>(1, task.slice_bytes / (w.block * 4));
  // (ResNet-18's 7x7 and CIFAR-VGG's 8x8 layers spend 16-18% of their taps on padding.)
  s.skip_rows = task.kh > 0 && task.rows_hi > task.rows_lo;
  s.k_per_row = s.skip_rows ? s.total_k / task.kh : s.total_k;
  // (Columns only on narrow images: on wide ones the edge columns are few, and their groups'
  // extra partial tiles cost more than the taps they skip; measured on ResNet-18 b1.)
  s.skip_cols =
      s.skip_rows && task.kw_merged > 0 && task.cols_hi > task.cols_lo && task.out_w <= 16;
  s.column_c = s.skip_cols ? w.in_per_group / task.kw_merged : 0;
  s.full = TapRange{0, s.total_k, 0, w.in_per_group};
  s.full_y0 = s.skip_rows ? (task.rows_lo + task.stride_h - 1) / task.stride_h : 0;
  s.full_y1 = s.skip_rows ? (task.rows_hi - 1 - (task.kh - 1) * task.dil_h) / task.stride_h + 1
                          : task.out_h;
  s.full_x0 = s.skip_cols ? (task.cols_lo + task.stride_w - 1) / task.stride_w : 0;
  s.full_x1 = s.skip_cols ? (task.cols_hi - task.kw_merged) / task.stride_w + 1 : task.out_w;
  return s;
}

// The first pixel of chunk ci (ci = num_chunks: the end): chunk boundaries on whole tiles, the
// chunks within a tile of each other in size.
int64_t ChunkBegin(const ConvSchedule& s, int64_t ci) {
  if (ci >= s.num_chunks) return s.pixels;
  return ci * s.pixels / s.num_chunks / s.max_np * s.max_np;
}

// The taps output pixel (oy, ox) sums.
TapRange RangeOf(const ConvSchedule& s, int64_t oy, int64_t ox) {
  const ConvTask& task = *s.task;
  const int64_t in_per_group = s.w->in_per_group;
  if (oy >= s.full_y0 && oy < s.full_y1 && ox >= s.full_x0 && ox < s.full_x1) return s.full;
  TapRange r{0, s.total_k, 0, in_per_group};
  int64_t lo = 0, hi = 1;
  if (s.skip_rows) {
    const int64_t y0 = oy * task.stride_h;
    hi = task.kh;
    while (lo < hi && y0 + lo * task.dil_h < task.rows_lo) ++lo;
    while (hi > lo && y0 + (hi - 1) * task.dil_h >= task.rows_hi) --hi;
  }
  if (s.skip_cols) {
    const int64_t x0 = ox * task.stride_w;
    int64_t xl = 0, xh = task.kw_merged;
    while (xl < xh && x0 + xl < task.cols_lo) ++xl;
    while (xh > xl && x0 + xh - 1 >= task.cols_hi) --xh;
    r.c_lo = xl * s.column_c, r.c_hi = xh * s.column_c;
  }
  if (lo >= hi || r.c_lo >= r.c_hi) return TapRange{0, 0, 0, in_per_group};  // No tap.
  r.kb = lo * s.k_per_row + r.c_lo;
  r.ke = hi * s.k_per_row - in_per_group + r.c_hi;
  return r;
}

// One pixel chunk's offsets, its pixels grouped by tap range: group i is
// order[group_begin[i], group_begin[i + 1]), of range ranges[i]. (At most one group per pixel,
// the full range and one widened group per pixel.)
struct ChunkPixels {
  static constexpr int kMaxGroups = 2 * kMaxChunk + 1;
  int64_t src_off[kMaxChunk], dst_off[kMaxChunk], res_off[kMaxChunk];
  int order[kMaxChunk], group_of[kMaxChunk], group_begin[kMaxGroups + 1];
  TapRange ranges[kMaxGroups];
  int groups = 0;
};

// A group with less than a tile whose columns are cut (the edge columns of a wide image: a
// one-pixel tile costs more than the taps it skips) sums its rows' every column instead, joining
// that group.
void WidenSmallGroups(const ConvSchedule& s, int64_t count_pixels, ChunkPixels* c) {
  const int64_t in_per_group = s.w->in_per_group;
  int count[ChunkPixels::kMaxGroups], target[ChunkPixels::kMaxGroups];
  std::fill(count, count + c->groups, 0);
  for (int64_t i = 0; i < count_pixels; ++i) ++count[c->group_of[i]];
  const int found = c->groups;
  for (int k = 0; k < found; ++k) {
    const TapRange& g_range = c->ranges[k];
    target[k] = k;
    if (count[k] >= s.max_np || g_range.kb == g_range.ke ||
        (g_range.c_lo == 0 && g_range.c_hi == in_per_group)) {
      continue;
    }
    const TapRange wide{g_range.kb - g_range.c_lo, g_range.ke - g_range.c_hi + in_per_group, 0,
                        in_per_group};
    int t = 0;
    while (t < c->groups && !(c->ranges[t] == wide)) ++t;
    if (t == c->groups) c->ranges[c->groups++] = wide;
    target[k] = t;
  }
  for (int64_t i = 0; i < count_pixels; ++i) c->group_of[i] = target[c->group_of[i]];
}

// Orders the chunk's pixels by group (a stable counting sort).
void SortByGroup(int64_t count_pixels, ChunkPixels* c) {
  if (c->groups == 1) {
    for (int i = 0; i < count_pixels; ++i) c->order[i] = i;
    c->group_begin[0] = 0, c->group_begin[1] = static_cast<int>(count_pixels);
    return;
  }
  std::fill(c->group_begin, c->group_begin + c->groups + 1, 0);
  for (int64_t i = 0; i < count_pixels; ++i) ++c->group_begin[c->group_of[i] + 1];
  for (int k = 0; k < c->groups; ++k) c->group_begin[k + 1] += c->group_begin[k];
  int fill[ChunkPixels::kMaxGroups];
  std::copy(c->group_begin, c->group_begin + c->groups, fill);
  for (int64_t i = 0; i < count_pixels; ++i) c->order[fill[c->group_of[i]]++] = static_cast<int>(i);
}

// Fills *c for the pixels [p0, p1).
void GatherChunk(const ConvSchedule& s, int64_t p0, int64_t p1, ChunkPixels* c) {
  const ConvTask& task = *s.task;
  int64_t n = p0 / s.plane;
  int64_t oy = (p0 - n * s.plane) / task.out_w;
  int64_t ox = p0 - n * s.plane - oy * task.out_w;
  c->groups = 1;
  c->ranges[0] = s.full;
  int last = 0;
  TapRange r = s.full;
  // Most chunks lie in one image's full rows: every pixel sums every tap.
  const int64_t n_end = (p1 - 1) / s.plane;
  const bool all_full =
      !s.skip_cols && (!s.skip_rows || (n_end == n && oy >= s.full_y0 &&
                                        (p1 - 1 - n * s.plane) / task.out_w < s.full_y1));
  for (int64_t p = p0; p < p1; ++p) {
    const int i = static_cast<int>(p - p0);
    c->src_off[i] = ((n * task.in_h + oy * task.stride_h + task.in_top) * task.in_w +
                     ox * task.stride_w + task.in_left) *
                    task.in_c;
    c->dst_off[i] =
        task.out_frame.Offset(n, oy, ox, task.out_h, task.out_w, s.out_c / task.feature_pool);
    c->res_off[i] = task.res_frame.Offset(n, oy, ox, task.out_h, task.out_w, s.out_c);
    c->group_of[i] = 0;
    if (!all_full) {
      // (Without column cuts, a row's pixels share its range: found once per row.)
      if (s.skip_cols || p == p0 || ox == 0) r = RangeOf(s, oy, ox);
      if (!(c->ranges[last] == r)) {
        last = 0;
        while (last < c->groups && !(c->ranges[last] == r)) ++last;
        if (last == c->groups) c->ranges[c->groups++] = r;
      }
      c->group_of[i] = last;
    }
    if (++ox == task.out_w) {
      ox = 0;
      if (++oy == task.out_h) oy = 0, ++n;
    }
  }
  if (s.skip_cols) WidenSmallGroups(s, p1 - p0, c);
  SortByGroup(p1 - p0, c);
}

// Pools the np rows of a tile computed into `rows` (block floats apart; `valid` channels each) over
// groups of task.feature_pool channels into their outputs: the tile's j-th pixel's at `out[j]`.
void FeaturePoolRows(const ConvTask& task, const float* rows, int64_t block, int valid, int np,
                     float* const* out) {
  for (int j = 0; j < np; ++j) {
    ReduceGroups(task.feature_pool_reduce, rows + j * block, valid / task.feature_pool,
                 task.feature_pool, out[j]);
  }
}

// Runs the tiles of one (chunk, group g's block b) work item: every reduction slice over every
// tap-range group of the chunk's pixels. With a feature pool, each tile goes to `pool_scratch`
// first and its pooled channels to the output.
void RunItem(const ConvSchedule& s, const ChunkPixels& c, int64_t g, int64_t b,
             const MicroKernel* kernels, float* pool_scratch) {
  const ConvTask& task = *s.task;
  const PackedWeights& w = *s.w;
  KernelArgs args;
  args.taps = task.tap_offsets;
  args.in_c = w.in_per_group;
  args.w = w.BlockWeights(g, b);
  args.bias = w.BlockBias(g, b);
  args.norm = w.BlockNorm(g, b);
  args.valid = static_cast<int>(std::min(w.block, w.out_per_group - b * w.block));
  args.activation = task.activation;
  args.prefetch = task.in_h == 1 && task.in_w == 1 && task.out_h == 1 && task.out_w == 1;
  args.residual = task.residual != nullptr;
  const float* src = task.input + g * w.in_per_group;
  const int64_t channel = g * w.out_per_group + b * w.block;  // The block's first.
  const bool pooled = task.feature_pool > 1;
  float* dst = task.output + channel / task.feature_pool;
  const float* res = args.residual ? task.residual + channel : dst;
  float* pooled_out[kMaxTilePixels];
  Tile tile;
  for (int64_t k0 = 0; k0 < s.total_k; k0 += s.k_slice) {
    for (int gi = 0; gi < c.groups; ++gi) {
      // This slice's part of the group's range (a group with no tap at all, every tap on
      // padding, still runs once: bias and activation only).
      const TapRange& r = c.ranges[gi];
      if (r.kb == r.ke) {
        if (k0 > 0) continue;
        args.k0 = args.k1 = r.kb;
      } else {
        args.k0 = std::max(k0, r.kb);
        args.k1 = std::min(k0 + s.k_slice, r.ke);
        if (args.k0 >= args.k1) continue;
      }
      args.first = args.k0 == r.kb;
      args.last = args.k1 == r.ke;
      args.c_lo = r.c_lo;
      args.c_hi = r.c_hi;
      // Tiles of nearly equal size: 49 pixels are 4 x 6 + 5 x 5 rather than 8 x 6 + 1 (a
      // one-pixel tile waits on the FMA latency; ResNet-18's 7x7 layers at batch 1).
      const int s0 = c.group_begin[gi], s1 = c.group_begin[gi + 1];
      const int tiles = (s1 - s0 + s.max_np - 1) / s.max_np;
      for (int t = 0, q = s0; t < tiles; ++t) {
        const int np = (s1 - s0) / tiles + (t < (s1 - s0) % tiles ? 1 : 0);
        for (int j = 0; j < np; ++j) {
          const int i = c.order[q + j];
          tile.src[j] = src + c.src_off[i];
          tile.dst[j] = pooled ? pool_scratch + j * w.block : dst + c.dst_off[i];
          tile.res[j] = res + c.res_off[i];
          pooled_out[j] = dst + c.dst_off[i];
        }
        kernels[np - 1](tile, args);
        // (Unsliced: the tile is final.)
        if (pooled) FeaturePoolRows(task, pool_scratch, w.block, args.valid, np, pooled_out);
        q += np;
      }
    }
  }
}

}  // namespace

namespace conv_internal {

const KernelRow& KernelsFor(Isa isa, int64_t block) {
  switch (isa) {
    case Isa::kAvx512:
      return conv_internal::Avx512Kernels(block);
    case Isa::kAvx2:
      return conv_internal::Avx2Kernels(block);
    case Isa::kPortable:
      break;
  }
  return conv_internal::PortableKernels(block);
}

}  // namespace conv_internal

void RunConv(const ConvTask& task, const KernelEnv& env) {
  const KernelRow& row = KernelsFor(env.isa, task.weights->block);
  const ConvSchedule s = MakeSchedule(task, row.max_np, env);
  const MicroKernel* kernels = row.kernels;
  // Work items are (pixel chunk, channel block), chunk-major; a thread's range of items shares each
  // chunk's window origins and tap groups, computed once per chunk.
  const int64_t scratch_floats = FeaturePoolScratchFloats(task, *task.weights);
  ParallelRanges(s.num_chunks * s.blocks, s.threads, [&](int64_t begin, int64_t end) {
    float* pool_scratch = scratch_floats > 0 ? env.Scratch(scratch_floats) : nullptr;
    ChunkPixels chunk;
    int64_t cached = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t ci = item / s.blocks;
      const int64_t gb = item % s.blocks;
      if (ci != cached) {
        GatherChunk(s, ChunkBegin(s, ci), ChunkBegin(s, ci + 1), &chunk);
        cached = ci;
      }
      RunItem(s, chunk, gb / s.w->num_blocks, gb % s.w->num_blocks, kernels, pool_scratch);
    }
  });
}

int64_t FeaturePoolScratchFloats(const ConvTask& task, const PackedWeights& weights) {
  return task.feature_pool > 1 ? kMaxTilePixels * weights.block : 0;
}

bool CanFeaturePool(const PackedWeights& weights, int64_t size) {
  return size > 1 && weights.groups == 1 && weights.block % size == 0 &&
         weights.out_per_group % size == 0;
}

}  // namespace fast
}  // namespace theano_serving
