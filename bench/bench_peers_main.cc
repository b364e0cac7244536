// bench_peers: issue 3's comparison of our engine with the peers that Debian packages provide,
// on the same random weights and the same random input, in one process:
//
//   bench_peers [--models=lenet,cifar_vgg,resnet18,vgg16,googlenet,resnet50,inception_v3]
//               [--batches=1,32] [--threads=1,2] [--isa=avx512|avx2|portable] [--quick]
//               [--seconds=S] [--json=PATH|-] [--engines=reference,onednn,onednn_winograd,...]
//               [--winograd=auto|never|always]
//
// Peers (--engines): "onednn" creates every conv with convolution_auto, oneDNN's own choice (in
// oneDNN 2.6 that is its direct kernels for every conv of these nets); "onednn_winograd" asks for
// convolution_winograd wherever oneDNN has it (f32 3x3 stride 1 on AVX-512 only: F(4x4, 3x3) or
// F(2x2, 3x3) by its choice; not run under --isa=avx2/portable, where it would equal "onednn", nor
// on nets without a 3x3 stride-1 conv, e.g. LeNet).
// Its F(4x4, 3x3) rounds far worse than the golden tolerance allows a layer (docs/PERFORMANCE.md,
// bench/winograd_error.py), so it is reported, not the peer the "peer/ours" target is set against.
// --winograd sets our engine's FastOptions::winograd (default auto: F(2x2, 3x3) where it pays).
// GFLOP/s and "% of FMA peak" count a direct conv's multiply-adds, whatever the algorithm: a
// Winograd conv does fewer, so it can pass 100%.
// --isa limits our engine (FastOptions::isa) and oneDNN (ONEDNN_MAX_CPU_ISA, set before oneDNN
// first runs: avx512 → AVX512_CORE, avx2 → AVX2, portable → SSE41, its least) to one instruction
// set; the "% of FMA peak" column then divides by that ISA's peak (AVX2's for avx2 and portable).
// Without it our engine takes the widest the CPU runs and oneDNN what ONEDNN_MAX_CPU_ISA says
// (unset: everything). An --isa the CPU lacks exits with status 77 (ctest's "skipped").
//
// For each (model, batch, threads) every engine is built, checked once against the reference
// Graph (ours element by element at the golden tolerance, atol 1e-5 + rtol 1e-4; the peers at
// max |diff| ≤ 1e-3 · max |reference|; else the run stops with exit status 1), then timed in
// paired rounds: each round runs every engine once, in an order rotated round by round, so
// slow drifts of a shared machine hit all engines alike (on more than one thread with a 20 ms
// pause and then an untimed run of the same engine before each timed run, so that no engine's
// idle workers spin into the next one's time and each finds its own workers awake). The
// table reports the median per engine and the median of the per-round ratios peer time / our time
// (> 1: we are faster).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/engines.h"
#include "bench/fma_peak.h"
#include "bench/models.h"
#include "bench/peer_net.h"
#include "core/cpu.h"
#include "core/fast/fast_graph.h"
#include "core/fast/thread_team.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, models, "lenet,cifar_vgg,resnet18,vgg16,googlenet,resnet50,inception_v3",
          "models to run, comma-separated (also: edges, vgg16_small, googlenet_small, "
          "resnet50_small, inception_v3_small)");
ABSL_FLAG(std::string, batches, "",
          "batch sizes for every model, comma-separated (default: lenet and cifar_vgg 1,32; "
          "resnet18 and the model-zoo networks 1,8)");
ABSL_FLAG(std::string, isa, "",
          "instruction set of our engine and oneDNN: avx512, avx2 or portable (default: the "
          "widest this CPU runs; oneDNN as ONEDNN_MAX_CPU_ISA says)");
ABSL_FLAG(std::string, threads, "1,2", "thread counts, comma-separated");
ABSL_FLAG(bool, quick, false, "short timing (a smoke run: figures are not meaningful)");
ABSL_FLAG(double, seconds, 0, "timing budget per (model, batch, threads); default 6, quick 0.3");
ABSL_FLAG(std::string, json, "", "also write the rows as JSON to this path (- = stdout)");
ABSL_FLAG(uint64_t, seed, 42, "seed of the weights and inputs");
ABSL_FLAG(std::string, engines, "reference,onednn,onednn_winograd,opencv,im2col",
          "peers to run besides ours, comma-separated (reference runs for lenet only; "
          "onednn_winograd only where oneDNN has f32 Winograd: AVX-512)");
ABSL_FLAG(std::string, winograd, "auto",
          "our engine's Winograd choice (FastOptions::winograd): auto, never or always");

namespace theano_serving::bench {
namespace {

// The pause before each timed run on more than one thread (see its use): longer than every
// engine's idle spin (ours 2 ms; oneDNN's OpenMP workers as GOMP_SPINCOUNT says, which
// scripts/bench_peers.sh sets to about as long), short enough that the machine does not go cold
// (after 50 ms idle both engines ran GoogLeNet b1 t2 2x slower on this VM).
constexpr std::chrono::milliseconds kSettle{20};
static_assert(std::chrono::nanoseconds(fast::ThreadTeam::kSpinNanos) * 5 <= kSettle,
              "the pause must outlast our idle workers' spin");

// After the pause, untimed runs of the engine for at least this long (at least one run) before
// the timed one: a worker woken after the pause takes up to a few ms to arrive on this VM, and an
// engine that does not wait for it (ours since issue 17: its members claim shares) is not warm
// after one short run. An engine that waits (OpenMP's barrier) was warm after one, as before.
constexpr std::chrono::milliseconds kWarmUp{2};

using Clock = std::chrono::steady_clock;

struct Row {
  std::string model;
  int64_t batch;
  int threads;
  std::string engine;
  double median_ms;
  double images_per_s;
  double gflops;
  double percent_peak = 0;  // filled at the end, against the best peak measured
  double ratio;             // median over rounds of engine time / our time
  std::string isa;          // --isa, or "default"
};

absl::StatusOr<std::vector<int64_t>> ParseInts(const std::string& list, const char* flag) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--%s: \"%s\" is not a positive integer", flag, part));
    }
    out.push_back(v);
  }
  return out;
}

// --isa: our engine's instruction set and oneDNN's ONEDNN_MAX_CPU_ISA value.
struct IsaChoice {
  std::optional<Isa> ours;  // unset: the widest this CPU runs
  const char* onednn = nullptr;
};

// The flag's name (core's ParseIsa), then its oneDNN counterpart. FailedPrecondition (exit status
// 77) with CheckFastOptions' message for an instruction set this CPU lacks.
absl::StatusOr<IsaChoice> ParseIsaFlag(const std::string& flag) {
  IsaChoice choice;
  if (flag.empty()) return choice;
  absl::StatusOr<Isa> isa = ParseIsa(flag);
  if (!isa.ok()) return absl::InvalidArgumentError(absl::StrCat("--", isa.status().message()));
  choice.ours = *isa;
  switch (*isa) {
    case Isa::kAvx512:
      choice.onednn = "AVX512_CORE";
      break;
    case Isa::kAvx2:
      choice.onednn = "AVX2";
      break;
    case Isa::kPortable:
      choice.onednn = "SSE41";
      break;
  }
  FastOptions options;
  options.isa = *isa;
  if (const absl::Status s = CheckFastOptions(options); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("--isa=", flag, ": ", s.message()));
  }
  return choice;
}

// Whether some conv of `net` is 3x3, stride 1 and undilated, the only shape oneDNN 2.6 has f32
// Winograd kernels for: without one, "onednn_winograd" would time "onednn" again.
bool HasWinogradShapedConv(const PeerNet& net) {
  for (const PeerOp& op : net.ops) {
    if (op.kind == PeerOp::Kind::kConv && op.kernel[0] == 3 && op.kernel[1] == 3 &&
        op.stride[0] == 1 && op.stride[1] == 1 && op.dilation[0] == 1 && op.dilation[1] == 1) {
      return true;
    }
  }
  return false;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Max |a − b| over all elements; a and b have the same shape.
double MaxAbsDiff(const Tensor<float>& a, const Tensor<float>& b) {
  double m = 0.0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]);
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  }
  return m;
}

// True if every |a - b| <= atol + rtol * |b| (b the reference): the golden tolerance, which our
// engine is held to (issue 3); the peers only to 1e-3 of the output scale.
bool WithinGoldenTolerance(const Tensor<float>& a, const Tensor<float>& b) {
  for (int64_t i = 0; i < a.size(); ++i) {
    const double want = b.data()[i];
    if (!(std::fabs(static_cast<double>(a.data()[i]) - want) <= 1e-5 + 1e-4 * std::fabs(want))) {
      return false;
    }
  }
  return true;
}

// Images whose arg-max agrees.
int64_t SameTop1(const Tensor<float>& a, const Tensor<float>& b) {
  const int64_t n = a.dim(0), k = a.size() / n;
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* pa = a.data() + i * k;
    const float* pb = b.data() + i * k;
    same += (std::max_element(pa, pa + k) - pa) == (std::max_element(pb, pb + k) - pb);
  }
  return same;
}

double TimeRun(Engine& engine, const Tensor<float>& input, Tensor<float>* output,
               absl::Status* status) {
  const auto t0 = Clock::now();
  *status = engine.Run(input, output);
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Measures the AVX2 and AVX-512 FMA peaks for each thread count, prints them and raises
// (*peak)[t] to the best of the two if higher (to the AVX2 one if `avx2_only`: the engines are
// limited to AVX2 or less).
void MeasurePeaks(const std::vector<int64_t>& thread_counts, bool quick, bool avx2_only,
                  const char* when, std::vector<double>* peak) {
  for (int64_t t : thread_counts) {
    const size_t i = static_cast<size_t>(t);
    if (i >= peak->size()) peak->resize(i + 1, 0.0);
    const double seconds = quick ? 0.1 : 0.3;
    const double avx2 = MeasureFmaPeakGflops(VectorIsa::kAvx2, static_cast<int>(t), seconds);
    const double avx512 = MeasureFmaPeakGflops(VectorIsa::kAvx512, static_cast<int>(t), seconds);
    (*peak)[i] = std::max((*peak)[i], avx2_only ? avx2 : std::max(avx2, avx512));
    std::printf("# FP32 FMA peak %s, %lld thread(s): AVX2 %.1f GFLOP/s, AVX-512 %s GFLOP/s\n", when,
                static_cast<long long>(t), avx2,
                avx512 > 0 ? absl::StrFormat("%.1f", avx512).c_str() : "n/a");
  }
  std::fflush(stdout);
}

absl::Status RunAll(std::vector<Row>* rows, std::vector<double>* peak) {
  const bool quick = absl::GetFlag(FLAGS_quick);
  double budget_s = absl::GetFlag(FLAGS_seconds);
  if (budget_s <= 0) budget_s = quick ? 0.3 : 6.0;
  const int min_rounds = quick ? 3 : 7;
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  ASSIGN_OR_RETURN(std::vector<int64_t> thread_counts,
                   ParseInts(absl::GetFlag(FLAGS_threads), "threads"));
  ASSIGN_OR_RETURN(std::vector<int64_t> batch_override,
                   ParseInts(absl::GetFlag(FLAGS_batches), "batches"));
  std::vector<std::string> models =
      absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty());
  const std::set<std::string> wanted =
      absl::StrSplit(absl::GetFlag(FLAGS_engines), ',', absl::SkipEmpty());
  ASSIGN_OR_RETURN(const IsaChoice isa, ParseIsaFlag(absl::GetFlag(FLAGS_isa)));
  absl::StatusOr<FastOptions::Winograd> winograd = ParseWinograd(absl::GetFlag(FLAGS_winograd));
  if (!winograd.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", winograd.status().message()));
  }
  const bool avx2_only = isa.ours.has_value() && *isa.ours < Isa::kAvx512;
  // oneDNN 2.6's f32 Winograd kernels are AVX-512 only: elsewhere every conv would fall back to
  // the direct kernels of "onednn".
  const bool onednn_winograd =
      wanted.count("onednn_winograd") != 0 && !avx2_only && CpuIsa() == Isa::kAvx512;

  std::printf("# bench_peers: %u hardware threads, load average %s\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::printf("# thread runtime settings:");
  for (const char* var : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT"}) {
    const char* value = std::getenv(var);
    std::printf(" %s=%s", var, value != nullptr ? value : "(unset)");
  }
  std::printf("\n");
  const char* onednn_max = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::printf(
      "# instruction sets: ours %s%s, oneDNN %s (ONEDNN_MAX_CPU_ISA=%s); OpenCV and OpenBLAS "
      "choose their own\n",
      IsaString(isa.ours.value_or(CpuIsa())), isa.ours ? " (--isa)" : " (the CPU's widest)",
      wanted.count("onednn") != 0 ? OneDnnCpuIsa().c_str() : "not run",
      onednn_max != nullptr ? onednn_max : "(unset)");
  std::printf(
      "# convolution algorithms: ours --winograd=%s; oneDNN convolution_auto (its own choice)%s\n",
      absl::GetFlag(FLAGS_winograd).c_str(),
      onednn_winograd ? ", and \"oneDNN winograd\" convolution_winograd where it has it"
      : wanted.count("onednn_winograd") != 0 ? " (no f32 Winograd in oneDNN at this ISA: "
                                               "onednn_winograd not run)"
                                             : "");
  // The peak is measured before and after the timings and the higher figure used: on a shared
  // machine a single measurement can land on a busy moment.
  MeasurePeaks(thread_counts, quick, avx2_only, "before", peak);
  std::fflush(stdout);

  for (const std::string& model_name : models) {
    ASSIGN_OR_RETURN(std::unique_ptr<BenchModel> model, MakeBenchModel(model_name, seed));
    LowerOptions fused;
    LowerOptions theano_order;  // im2col: Theano's layer order, batch norm in the conv epilogue
    theano_order.hoist_bias_over_max_pool = false;
    theano_order.fold_batch_norm = false;
    ASSIGN_OR_RETURN(PeerNet net, Lower(*model, fused));
    ASSIGN_OR_RETURN(PeerNet net_theano, Lower(*model, theano_order));
    std::printf("# %s: %s, %.3f GFLOP per image, %zu layers (%zu fused peer ops)\n",
                model_name.c_str(), ShapeToString(model->item_shape).c_str(),
                static_cast<double>(model->flops_per_image) / 1e9, model->specs.size(),
                net.ops.size());
    const std::vector<int64_t> batches =
        batch_override.empty() ? DefaultBatches(model_name) : batch_override;
    for (int64_t batch : batches) {
      const Tensor<float> input = RandomInput(model->item_shape, batch, seed + 1000 + batch);
      Tensor<float> reference;
      RETURN_IF_ERROR(model->graph->Run(input, &reference));
      double scale = 0.0;
      for (float v : reference.values()) scale = std::max(scale, std::fabs(double{v}));
      for (int64_t threads : thread_counts) {
        SetAllThreads(static_cast<int>(threads));
        std::vector<std::unique_ptr<Engine>> engines;
        ASSIGN_OR_RETURN(engines.emplace_back(),
                         MakeOursEngine(*model, static_cast<int>(threads), isa.ours, *winograd));
        if (model_name == "lenet" && wanted.count("reference") != 0) {
          ASSIGN_OR_RETURN(engines.emplace_back(), MakeReferenceEngine(*model));
        }
        if (wanted.count("onednn") != 0) {
          ASSIGN_OR_RETURN(engines.emplace_back(),
                           MakeOneDnnEngine(net, batch, OneDnnConvAlgo::kAuto));
        }
        if (onednn_winograd && HasWinogradShapedConv(net)) {
          ASSIGN_OR_RETURN(engines.emplace_back(),
                           MakeOneDnnEngine(net, batch, OneDnnConvAlgo::kWinograd));
        }
        if (wanted.count("opencv") != 0) {
          ASSIGN_OR_RETURN(engines.emplace_back(), MakeOpenCvEngine(net, batch));
        }
        if (wanted.count("im2col") != 0) {
          ASSIGN_OR_RETURN(engines.emplace_back(), MakeIm2colBlasEngine(net_theano, batch));
        }
        const size_t e_count = engines.size();
        std::vector<Tensor<float>> outputs(e_count);
        std::vector<double> warm_ms(e_count);
        // Check (which is also the first warm-up run), then one more warm-up run each.
        for (size_t e = 0; e < e_count; ++e) {
          absl::Status s;
          TimeRun(*engines[e], input, &outputs[e], &s);
          RETURN_IF_ERROR(s);
          if (outputs[e].shape() != reference.shape()) {
            return absl::InternalError(absl::StrFormat(
                "%s on %s b%d: output shape %s, reference %s", engines[e]->name(), model_name,
                batch, ShapeToString(outputs[e].shape()), ShapeToString(reference.shape())));
          }
          const double diff = MaxAbsDiff(outputs[e], reference);
          // engines[0] is ours: the golden tolerance element by element.
          const bool ok =
              e == 0 ? WithinGoldenTolerance(outputs[e], reference) : diff <= 1e-3 * scale;
          // Notes may span lines (FastGraph's plan); the check line shows the first.
          const std::string notes = engines[e]->notes();
          const std::string first_note = notes.substr(0, notes.find('\n'));
          std::printf(
              "# check %s b%lld t%lld %-26s max|diff| %.3g (output scale %.3g), top-1 %lld/%lld "
              "%s%s\n",
              model_name.c_str(), static_cast<long long>(batch), static_cast<long long>(threads),
              engines[e]->name().c_str(), diff, scale,
              static_cast<long long>(SameTop1(outputs[e], reference)),
              static_cast<long long>(batch), ok ? "OK" : "FAILED",
              first_note.empty() ? "" : ("  [" + first_note + "]").c_str());
          std::fflush(stdout);
          if (!ok) {
            return absl::InternalError(absl::StrFormat(
                "%s disagrees with the reference Graph on %s batch %d: max |diff| %g (allowed: %s)",
                engines[e]->name(), model_name, batch, diff,
                e == 0 ? "atol 1e-5 + rtol 1e-4 per element" : absl::StrCat("1e-3 * ", scale)));
          }
          warm_ms[e] = TimeRun(*engines[e], input, &outputs[e], &s);
          RETURN_IF_ERROR(s);
        }
        double round_ms = 0.0;
        const double warm_up_ms = std::chrono::duration<double, std::milli>(kWarmUp).count();
        // (On more than one thread every timed run follows untimed ones.)
        for (double ms : warm_ms) round_ms += threads > 1 ? ms + std::max(ms, warm_up_ms) : ms;
        const int rounds =
            std::max(min_rounds,
                     std::min(1000, static_cast<int>(budget_s * 1e3 / std::max(round_ms, 1e-3))));
        std::vector<std::vector<double>> times(e_count,
                                               std::vector<double>(static_cast<size_t>(rounds)));
        for (int r = 0; r < rounds; ++r) {
          for (size_t k = 0; k < e_count; ++k) {
            const size_t e = (k + static_cast<size_t>(r)) % e_count;
            // With worker threads, a pause first: the previous engine's idle workers (ours spin
            // for ThreadTeam::kSpinNanos, oneDNN's GOMP_SPINCOUNT) must not take this engine's
            // cores. Then untimed runs of this engine for kWarmUp, so that the timed one finds
            // its workers and both cores awake, as under steady load (after the pause alone,
            // waking the second core of this VM cost LeNet b32 on 2 threads 0.5 -> 6 ms, and
            // every engine alike).
            absl::Status s;
            if (threads > 1) {
              std::this_thread::sleep_for(kSettle);
              const Clock::time_point warm_start = Clock::now();
              do {
                TimeRun(*engines[e], input, &outputs[e], &s);
                RETURN_IF_ERROR(s);
              } while (Clock::now() - warm_start < kWarmUp);
            }
            times[e][static_cast<size_t>(r)] = TimeRun(*engines[e], input, &outputs[e], &s);
            RETURN_IF_ERROR(s);
          }
        }
        const double flops = static_cast<double>(model->flops_per_image * batch);
        for (size_t e = 0; e < e_count; ++e) {
          std::vector<double> ratios(static_cast<size_t>(rounds));
          for (int r = 0; r < rounds; ++r)
            ratios[static_cast<size_t>(r)] =
                times[e][static_cast<size_t>(r)] / times[0][static_cast<size_t>(r)];
          Row row;
          row.model = model_name;
          row.batch = batch;
          row.threads = static_cast<int>(threads);
          row.engine = engines[e]->name();
          row.median_ms = Median(times[e]);
          row.images_per_s = static_cast<double>(batch) * 1e3 / row.median_ms;
          row.gflops = flops / row.median_ms / 1e6;
          row.ratio = Median(ratios);
          row.isa = absl::GetFlag(FLAGS_isa).empty() ? "default" : absl::GetFlag(FLAGS_isa);
          rows->push_back(row);
        }
        std::printf("# timed %s b%lld t%lld: %d paired rounds\n", model_name.c_str(),
                    static_cast<long long>(batch), static_cast<long long>(threads), rounds);
        std::fflush(stdout);
      }
    }
  }
  MeasurePeaks(thread_counts, quick, avx2_only, "after", peak);
  for (Row& row : *rows) {
    const double p = (*peak)[static_cast<size_t>(row.threads)];
    row.percent_peak = p > 0 ? 100.0 * row.gflops / p : 0.0;
  }
  for (int64_t t : thread_counts) {
    std::printf("# %% of FMA peak uses %.1f GFLOP/s for %lld thread(s)\n",
                (*peak)[static_cast<size_t>(t)], static_cast<long long>(t));
  }
  return absl::OkStatus();
}

// --isa=X sets ONEDNN_MAX_CPU_ISA for oneDNN, which reads it once, when it first needs the CPU's
// instruction set: so before any oneDNN call (oneDNN's verbose log, ONEDNN_VERBOSE=1, then names
// the kernels it runs, e.g. "brgconv:avx2").
absl::Status SetOneDnnIsaFromFlag() {
  ASSIGN_OR_RETURN(const IsaChoice isa, ParseIsaFlag(absl::GetFlag(FLAGS_isa)));
  if (isa.onednn != nullptr && setenv("ONEDNN_MAX_CPU_ISA", isa.onednn, 1) != 0) {
    return absl::InternalError("cannot set ONEDNN_MAX_CPU_ISA");
  }
  return absl::OkStatus();
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "\n| model | batch | threads | engine | median ms | images/s | GFLOP/s | %% of FMA peak | "
      "peer/ours |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %lld | %d | %s | %.3f | %.0f | %.1f | %.1f | %.2f |\n", r.model.c_str(),
                static_cast<long long>(r.batch), r.threads, r.engine.c_str(), r.median_ms,
                r.images_per_s, r.gflops, r.percent_peak, r.ratio);
  }
}

absl::Status WriteJson(const std::vector<Row>& rows, const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& r : rows) {
    out.push_back({{"model", r.model},
                   {"batch", r.batch},
                   {"threads", r.threads},
                   {"engine", r.engine},
                   {"median_ms", r.median_ms},
                   {"images_per_s", r.images_per_s},
                   {"gflops", r.gflops},
                   {"percent_peak", r.percent_peak},
                   {"ratio_vs_ours", r.ratio},
                   {"isa", r.isa}});
  }
  if (path == "-") {
    std::printf("%s\n", out.dump(1).c_str());
    return absl::OkStatus();
  }
  std::ofstream f(path);
  f << out.dump(1) << "\n";
  if (!f) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace
}  // namespace theano_serving::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs our engine and the peers (oneDNN, OpenCV DNN, im2col + OpenBLAS) on the benchmark "
      "models and prints a Markdown table.");
  absl::ParseCommandLine(argc, argv);
  // Before anything runs oneDNN.
  if (const absl::Status s = theano_serving::bench::SetOneDnnIsaFromFlag(); !s.ok()) {
    std::fprintf(stderr, "bench_peers: %s\n", std::string(s.message()).c_str());
    // 77: ctest's "skipped", for an --isa this CPU lacks.
    return absl::IsFailedPrecondition(s) ? 77 : 2;
  }
  std::vector<theano_serving::bench::Row> rows;
  std::vector<double> peak;
  const absl::Status status = theano_serving::bench::RunAll(&rows, &peak);
  theano_serving::bench::PrintTable(rows);
  if (!absl::GetFlag(FLAGS_json).empty()) {
    const absl::Status s = theano_serving::bench::WriteJson(rows, absl::GetFlag(FLAGS_json));
    if (!s.ok()) std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  }
  if (!status.ok()) {
    std::fprintf(stderr, "\nbench_peers FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
