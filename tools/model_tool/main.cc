// theano-serving-model: the offline tool. Links core only (no gRPC).
//
//   verify [--atol A] [--rtol R] [--verbose] FILE.json...   run golden test vectors
//   verify MODEL_DIR --inputs X.npy --expected Y.npy         a model against Theano's outputs
//   inspect MODEL_DIR [--engine E]                           layers, shapes, FLOPs, engine plan
//   predict MODEL_DIR [--top_k K] [--json] [--engine E] INPUT...   images or .npy tensors
//   eval MODEL_DIR --images IDX --labels IDX [--json FILE] [--batch B] [--engine E]
//   bench MODEL_DIR [--batch B] [--threads T] [--streams S] [--seconds S | --runs N] [--pause_ms P]
//         [--engine E]
//         [--json] [IMAGE...]
// Wherever --engine is accepted, --isa avx512|avx2|portable sets the fast engine's instruction set.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/cpu.h"
#include "core/file_util.h"
#include "core/idx.h"
#include "core/model_loader.h"
#include "core/npz.h"
#include "core/preprocess.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/model_tool/golden.h"

namespace theano_serving {
namespace {

constexpr char kUsage[] = R"(usage: theano-serving-model COMMAND ...
  verify [--atol A] [--rtol R] [--verbose] FILE.json...
      Runs every case of golden files (Theano 1.0.5 vectors, tests/golden/README.md format).
      Default tolerance per case dtype: float32 atol 1e-5 rtol 1e-4, float64 1e-12 / 1e-10;
      --atol/--rtol replace it for every case. Last line: "N passed, M failed"; exit 1 if any failed.
  verify MODEL_DIR --inputs INPUTS.npy --expected OUTPUTS.npy [--atol A] [--rtol R] [--engine E]
      Runs a model on inputs (N, input shape...) and compares with outputs saved from Theano for
      the same inputs (e.g. numpy.save of your theano.function's result). Both engines unless
      --engine; default tolerance float32 atol 1e-5 rtol 1e-4, float64 1e-10 / 1e-8; for
      (N, K) outputs the top-1 index must also agree. Exit 1 if anything differs.
  --engine fast|reference (inspect, predict, eval, bench): the engine that runs the model;
      default fast (core/fast), reference = the specification kernels (core/ops).
  --isa avx512|avx2|portable (wherever --engine is accepted): the instruction set of the fast
      engine's kernels; default the widest this CPU runs. One the CPU lacks is refused. The
      reference kernels pick their own copy (identical results).
  --winograd auto|never|always (wherever --engine is accepted): which 3x3 stride-1 convs the
      fast engine runs as Winograd F(2x2, 3x3); default auto (where it pays); never keeps the
      direct kernel's rounding (core/fast/README.md, "Exactness").
  inspect MODEL_DIR [--threads T] [--profile_batch B [--runs N]]
      Prints the input spec, every layer's output shape, parameter count and FLOPs, and the
      engine's plan (for T intra-op threads, default 1); --profile_batch adds the fast engine's
      median time per step of the plan on N (default 200) batches of B random inputs.
  predict MODEL_DIR [--top_k K] [--json] INPUT...
      INPUT is an encoded image (PNG, JPEG, BMP, TIFF, WebP; preprocessed as model.json's input
      says) or a .npy tensor (float32/float64) of the model's input shape, with or without a
      leading batch axis, already preprocessed (its values go to the model as they are).
      --json prints [{"input": ..., "output": [every output value, flat]}, ...].
  eval MODEL_DIR --images IDX --labels IDX [--json FILE] [--batch B]
      Accuracy and confusion matrix over an IDX dataset (raw or gzip), e.g.
      /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz.
  bench MODEL_DIR [--batch B] [--threads T] [--streams S] [--seconds S | --runs N]
        [--pause_ms P] [--json] [IMAGE...]
      Runs the engine on random inputs of the model's shape (or, with IMAGEs, decodes B of them
      per batch first). T = intra-op threads per batch (default 1); S = concurrent streams, each
      running its own batches (default 1), for --seconds (default 3) or exactly --runs N batches
      per stream. P: each stream sleeps P ms before each batch (default 0), as a server whose
      requests arrive apart: the latencies exclude the pauses, images_per_s includes them.
      --json prints one object: median_ms, p90_ms, p99_ms, images_per_s, gflops (per
      batch latencies), engine, isa (the fast engine's instruction set; null when the reference
      engine runs), batch, threads, streams, batches, runs (N; 0 with --seconds), and
      memory in MiB (2^20 bytes): rss_start_mb (resident set before the model loads),
      rss_warm_mb (after every stream's first batch), rss_end_mb (after the last), rss_growth_mb
      (end - warm), peak_rss_mb (getrusage ru_maxrss: model loading included), plus
      heap_growth_bytes (bytes malloc holds in use, end - warm; with --seconds it includes the
      growing list of latencies, so look for leaks with --runs).
)";

// Minimal per-command option parsing: --name VALUE, --name=VALUE, or a bare --flag.
class Args {
 public:
  Args(int argc, char** argv, std::vector<std::string> value_options,
       std::vector<std::string> flag_options)
      : value_options_(std::move(value_options)), flag_options_(std::move(flag_options)) {
    for (int i = 0; i < argc; ++i) raw_.emplace_back(argv[i]);
  }

  absl::Status Parse() {
    for (size_t i = 0; i < raw_.size(); ++i) {
      const std::string& a = raw_[i];
      if (!absl::StartsWith(a, "--") || a == "--") {
        positional_.push_back(a);
        continue;
      }
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const bool is_value = std::count(value_options_.begin(), value_options_.end(), name) > 0;
      const bool is_flag = std::count(flag_options_.begin(), flag_options_.end(), name) > 0;
      if (is_flag && !has_value) {
        values_[name] = "true";
      } else if (is_value) {
        if (!has_value) {
          if (i + 1 >= raw_.size()) {
            return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
          }
          value = raw_[++i];
        }
        values_[name] = value;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
      }
    }
    return absl::OkStatus();
  }

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? "" : it->second;
  }
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const {
    if (!Has(name)) return def;
    double v;
    if (!absl::SimpleAtod(Get(name), &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be a number, got ", Get(name)));
    }
    return v;
  }
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const {
    if (!Has(name)) return def;
    int64_t v;
    if (!absl::SimpleAtoi(Get(name), &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be an integer, got ", Get(name)));
    }
    return v;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::string> value_options_, flag_options_, raw_, positional_;
  std::map<std::string, std::string> values_;
};

// A command's value options plus the engine's (EngineOptions reads them): --engine, --isa,
// --winograd.
std::vector<std::string> WithEngineOptions(std::vector<std::string> options) {
  for (const char* o : {"engine", "isa", "winograd"}) options.emplace_back(o);
  return options;
}

// --engine (default fast), --isa (default: the CPU's widest) and --winograd (default auto) with
// `threads` intra-op threads.
// An --isa the CPU lacks passes here: LoadModel (Model::SetEngine) refuses it, naming the CPU's.
absl::StatusOr<ModelOptions> EngineOptions(Args& args, int threads) {
  ModelOptions options;
  options.intra_op_threads = threads;
  if (args.Has("engine")) {
    auto engine = ParseEngine(args.Get("engine"));
    if (!engine.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", engine.status().message()));
    }
    options.engine = *engine;
  }
  if (args.Has("isa")) {
    auto isa = ParseIsa(args.Get("isa"));
    if (!isa.ok()) return absl::InvalidArgumentError(absl::StrCat("--", isa.status().message()));
    options.fast.isa = *isa;
  }
  if (args.Has("winograd")) {
    auto winograd = ParseWinograd(args.Get("winograd"));
    if (!winograd.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", winograd.status().message()));
    }
    options.fast.winograd = *winograd;
  }
  return options;
}

// The instruction set of the fast engine's kernels, or nullopt when the reference engine runs.
std::optional<Isa> FastIsa(const Model& m) {
  if (m.fast_graph() == nullptr) return std::nullopt;
  return m.fast_graph()->options().isa.value_or(CpuIsa());
}

int Fail(const absl::Status& s) {
  std::cerr << "theano-serving-model: " << s.message() << "\n";
  return 2;
}

// Reads a float32 or float64 .npy file.
absl::StatusOr<AnyTensor> ReadNpyTensor(const std::string& path) {
  ASSIGN_OR_RETURN(NpyArray array, ReadNpyFile(path));
  if (array.descr == "<f8" || array.descr == ">f8") return NpyToTensor<double>(array, path);
  return NpyToTensor<float>(array, path);
}

// verify MODEL_DIR --inputs X.npy --expected Y.npy: the model against outputs Theano computed for
// the same inputs, through both engines (or --engine's).
int VerifyModel(Args& args) {
  const std::string dir = args.positional()[0];
  if (args.positional().size() != 1 || !args.Has("inputs") || !args.Has("expected")) {
    return Fail(absl::InvalidArgumentError(
        "verify MODEL_DIR needs --inputs INPUTS.npy and --expected OUTPUTS.npy (and no other "
        "file)"));
  }
  auto inputs = ReadNpyTensor(args.Get("inputs"));
  if (!inputs.ok()) return Fail(inputs.status());
  auto expected_any = ReadNpyTensor(args.Get("expected"));
  if (!expected_any.ok()) return Fail(expected_any.status());
  const Tensor<double> expected = ConvertTo<double>(*expected_any);
  auto base_options = EngineOptions(args, 1);
  if (!base_options.ok()) return Fail(base_options.status());
  std::vector<Engine> engines = {Engine::kFast, Engine::kReference};
  if (args.Has("engine")) engines = {base_options->engine};
  bool all_ok = true;
  for (Engine engine : engines) {
    ModelOptions options = *base_options;
    options.engine = engine;
    auto model = LoadModel(dir, "", options);
    if (!model.ok()) return Fail(model.status());
    const Model& m = **model;
    const bool f64 = m.dtype() == DType::kFloat64;
    auto atol = args.GetDouble("atol", f64 ? 1e-10 : 1e-5);
    auto rtol = args.GetDouble("rtol", f64 ? 1e-8 : 1e-4);
    if (!atol.ok()) return Fail(atol.status());
    if (!rtol.ok()) return Fail(rtol.status());
    auto out_any = m.Predict(*inputs);
    if (!out_any.ok()) return Fail(out_any.status());
    const Tensor<double> got = ConvertTo<double>(*out_any);
    const std::string engine_line =
        m.engine_description().substr(0, m.engine_description().find('\n'));
    const std::optional<Isa> isa = FastIsa(m);
    std::cout << EngineName(engine) << " engine (" << engine_line << ", "
              << (isa ? absl::StrCat(IsaString(*isa), ", ") : "") << DTypeName(m.dtype()) << "):";
    if (got.shape() != expected.shape()) {
      std::cout << " FAIL: output shape " << ShapeToString(got.shape()) << ", expected "
                << ShapeToString(expected.shape()) << "\n";
      all_ok = false;
      continue;
    }
    int64_t outside = 0, worst = -1;
    double max_diff = 0;
    for (int64_t i = 0; i < got.size(); ++i) {
      const double a = got.data()[i], b = expected.data()[i];
      const bool same_nan = std::isnan(a) && std::isnan(b);
      const double diff = a == b ? 0.0 : std::abs(a - b);
      if (!same_nan && (std::isnan(diff) || diff > max_diff)) {
        max_diff = std::isnan(diff) ? INFINITY : diff;
        worst = i;
      }
      if (!same_nan && !(diff <= *atol + *rtol * std::abs(b))) ++outside;
    }
    std::cout << absl::StrFormat(" %d values, max |diff| %.3g", got.size(), max_diff);
    if (worst >= 0) {
      std::cout << absl::StrFormat(" (element %d: %.17g, expected %.17g)", worst, got.data()[worst],
                                   expected.data()[worst]);
    }
    std::cout << absl::StrFormat("; %d outside atol %g + rtol %g", outside, *atol, *rtol);
    bool ok = outside == 0;
    if (m.outputs_scores() && got.rank() == 2) {
      const int64_t n = got.dim(0), k = got.dim(1);
      int64_t agree = 0;
      for (int64_t r = 0; r < n; ++r) {
        const double* g = got.data() + r * k;
        const double* e = expected.data() + r * k;
        agree += std::max_element(g, g + k) - g == std::max_element(e, e + k) - e;
      }
      std::cout << absl::StrFormat("; top-1 agrees on %d/%d", agree, n);
      ok = ok && agree == n;
    }
    std::cout << (ok ? "; ok" : "; FAIL") << "\n";
    all_ok = all_ok && ok;
  }
  return all_ok ? 0 : 1;
}

int Verify(Args& args) {
  if (auto s = args.Parse(); !s.ok()) return Fail(s);
  if (args.positional().empty()) {
    return Fail(
        absl::InvalidArgumentError("verify needs FILE.json... or MODEL_DIR --inputs X.npy "
                                   "--expected Y.npy"));
  }
  if (std::filesystem::is_directory(args.positional()[0])) return VerifyModel(args);
  if (args.Has("isa") || args.Has("winograd")) {
    return Fail(absl::InvalidArgumentError(
        "--isa and --winograd apply to verify MODEL_DIR; golden files run the fast engine's "
        "defaults"));
  }
  std::optional<Tolerance> tol;
  const double rtol_for_needed = 1e-5;
  if (args.Has("atol") || args.Has("rtol")) {
    auto atol = args.GetDouble("atol", 1e-5);
    auto rtol = args.GetDouble("rtol", 1e-4);
    if (!atol.ok()) return Fail(atol.status());
    if (!rtol.ok()) return Fail(rtol.status());
    tol = Tolerance{*atol, *rtol};
  }
  const bool verbose = args.Has("verbose");
  int passed = 0, failed = 0, fast_checked = 0;
  double fast_max_abs_diff = 0;
  GoldenResult tightest;  // The float32 case that needs the largest atol at rtol_for_needed.
  for (const std::string& file : args.positional()) {
    auto cases = ReadGoldenCases(file);
    if (absl::IsFailedPrecondition(cases.status())) {  // e.g. crosscheck_summary.json
      std::cout << "skip " << cases.status().message() << "\n";
      continue;
    }
    if (!cases.ok()) {
      std::cout << "FAIL " << file << ": " << cases.status().message() << "\n";
      ++failed;
      continue;
    }
    for (const nlohmann::json& c : *cases) {
      GoldenResult r = RunGoldenCase(c, tol, rtol_for_needed);
      if (r.fast_checked) {
        ++fast_checked;
        fast_max_abs_diff = std::max(fast_max_abs_diff, r.fast_max_abs_diff);
      }
      if (r.passed) {
        ++passed;
        if (verbose) {
          std::cout << "ok   " << r.name
                    << (r.expects_error ? absl::StrCat("  (refused: ", r.message, ")")
                                        : absl::StrFormat("  max|diff| %.3g", r.max_abs_diff))
                    << "\n";
        }
      } else {
        ++failed;
        std::cout << "FAIL " << r.name << ": " << r.message << "\n";
      }
      if (r.dtype == "float32" && !r.expects_error && r.needed_atol >= tightest.needed_atol) {
        tightest = r;
      }
    }
  }
  std::cout << absl::StrFormat(
      "%d float32 cases also ran through the fast engine (largest |diff| from Theano %.3g)\n",
      fast_checked, fast_max_abs_diff);
  if (!tightest.name.empty()) {
    std::cout << absl::StrFormat(
        "tightest float32 atol at rtol %g: %.3g (case %s, max|diff| %.3g)\n", rtol_for_needed,
        tightest.needed_atol, tightest.name, tightest.max_abs_diff);
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

// B inputs of the model's shape and dtype with values in [0, 1] like scaled pixels (xorshift,
// fixed seed): what bench and inspect --profile_batch run.
AnyTensor RandomBatch(const Model& m, int64_t batch) {
  Tensor<float> input(m.input().BatchShape(batch));
  uint32_t state = 12345;
  for (int64_t i = 0; i < input.size(); ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    input.data()[i] = static_cast<float>(state % 256) / 255.0f;
  }
  return ConvertTo(AnyTensor(std::move(input)), m.dtype());
}

// The p-quantile of sorted values: element min(n - 1, p * n); 0 for none.
double SortedQuantile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

// inspect --profile_batch B: the fast engine's median time per step over --runs batches (default
// 200) of B random inputs, one line per step of the plan.
int ProfileSteps(Args& args, const Model& m) {
  auto batch = args.GetInt("profile_batch", 1);
  auto runs = args.GetInt("runs", 200);
  if (!batch.ok()) return Fail(batch.status());
  if (!runs.ok()) return Fail(runs.status());
  if (*batch < 1 || *runs < 1) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--profile_batch and --runs must be >= 1, got ", *batch, " and ", *runs)));
  }
  const FastGraph* fast = m.fast_graph();
  if (fast == nullptr) {
    return Fail(absl::FailedPreconditionError("--profile_batch needs the fast engine"));
  }
  const Tensor<float> input = ConvertTo<float>(RandomBatch(m, *batch));
  Tensor<float> output;
  std::vector<std::vector<double>> per_step;
  for (int64_t r = 0; r < *runs + 10; ++r) {
    std::vector<double> t;
    if (auto s = fast->RunTimed(input, &output, &t); !s.ok()) return Fail(s);
    if (r < 10) continue;  // Warm-up.
    per_step.resize(t.size());
    for (size_t i = 0; i < t.size(); ++i) per_step[i].push_back(t[i]);
  }
  const std::vector<std::string> lines = absl::StrSplit(fast->Describe(), '\n');
  double total = 0;
  std::vector<double> medians;
  for (std::vector<double>& v : per_step) {
    std::sort(v.begin(), v.end());
    medians.push_back(SortedQuantile(v, 0.5));
    total += medians.back();
  }
  std::cout << absl::StrFormat("median ms per step, batch %d, %d runs:\n", *batch, *runs);
  for (size_t i = 0; i < medians.size(); ++i) {
    std::cout << absl::StrFormat("%9.4f ms %5.1f%% %s\n", medians[i] * 1e3,
                                 100 * medians[i] / total,
                                 i + 1 < lines.size() ? lines[i + 1] : "");
  }
  std::cout << absl::StrFormat("%9.4f ms total\n", total * 1e3);
  return 0;
}

int Inspect(Args& args) {
  if (auto s = args.Parse(); !s.ok()) return Fail(s);
  if (args.positional().size() != 1) {
    return Fail(absl::InvalidArgumentError("inspect needs exactly one MODEL_DIR"));
  }
  auto threads = args.GetInt("threads", 1);
  if (!threads.ok()) return Fail(threads.status());
  if (*threads < 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--threads must be >= 1, got ", *threads)));
  }
  auto options = EngineOptions(args, static_cast<int>(*threads));
  if (!options.ok()) return Fail(options.status());
  auto model = LoadModel(args.positional()[0], "", *options);
  if (!model.ok()) return Fail(model.status());
  const Model& m = **model;
  const InputSpec& in = m.input();
  std::cout << "model " << m.name() << "\n";
  std::cout << "dtype " << DTypeName(m.dtype()) << "\n";
  std::cout << "input " << in.name << " " << BatchShapeToString(in.shape());
  if (!in.images) {
    std::cout << " tensors only (no encoded images)\n";
  } else {
    std::cout << absl::StrFormat(" %s images%s, scale %.9g",
                                 in.grayscale ? "grayscale" : "colour " + in.channel_order,
                                 in.image_layout == "HWC" ? " (channels last)" : "", in.scale);
    if (!in.mean.empty()) std::cout << ", mean/std per channel";
    std::cout << ", resize " << in.resize << "\n";
  }
  std::cout << absl::StrFormat("%-3s %-34s %-20s %12s %14s\n", "#", "layer", "output (N=1)",
                               "params", "FLOPs");
  for (size_t i = 0; i < m.layers().size(); ++i) {
    const LayerSummary& l = m.layers()[i];
    std::cout << absl::StrFormat("%-3d %-34s %-20s %12d %14d\n", i, l.description,
                                 ShapeToString(l.output_shape), l.num_params, l.flops);
  }
  std::cout << absl::StrFormat("total: %d parameters, %d FLOPs per image (%.3f MFLOP)\n",
                               m.NumParams(), m.FlopsPerImage(), m.FlopsPerImage() / 1e6);
  if (m.outputs_scores()) {
    std::cout << m.num_outputs() << " classes";
  } else {
    std::cout << "output " << BatchShapeToString(m.output_shape())
              << " (not one score per class: no top-k)";
  }
  if (!m.classes().empty()) {
    std::cout << ":";
    for (const std::string& c : m.classes()) std::cout << " \"" << c << "\"";
  }
  std::cout << "\n" << m.engine_description() << "\n";
  if (const std::optional<Isa> isa = FastIsa(m)) {
    std::cout << "instruction set " << IsaString(*isa)
              << (args.Has("isa") ? " (--isa" : " (the default") << "; this CPU runs up to "
              << IsaString(CpuIsa()) << ")\n";
  }
  if (args.Has("profile_batch")) return ProfileSteps(args, m);
  return 0;
}

// Loads one predict INPUT as a batch (N, input shape...): a .npy tensor (float32 or float64, with
// or without the batch axis; not preprocessed) or an encoded image (preprocessed).
absl::StatusOr<AnyTensor> LoadInput(const std::string& path, const Model& model) {
  if (absl::EndsWith(path, ".npy")) {
    ASSIGN_OR_RETURN(NpyArray array, ReadNpyFile(path));
    AnyTensor t;
    if (array.descr == "<f8" || array.descr == ">f8") {
      ASSIGN_OR_RETURN(t, NpyToTensor<double>(array, path));
    } else {
      ASSIGN_OR_RETURN(t, NpyToTensor<float>(array, path));
    }
    if (ShapeOf(t) == model.input().shape()) {
      std::visit([&](auto& x) { x.Reshape(model.input().BatchShape(1)); }, t);
    }
    return t;
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  auto batch = DecodeImages({bytes}, model.input());
  if (!batch.ok()) {
    return absl::Status(batch.status().code(), absl::StrCat(path, ": ", batch.status().message()));
  }
  return AnyTensor(*std::move(batch));
}

// Row `b` of an (N, ...) output as doubles (exact for float32 and float64).
std::vector<double> OutputRow(const AnyTensor& out, int64_t b) {
  return std::visit(
      [b](const auto& t) {
        const int64_t per_item = t.dim(0) > 0 ? t.size() / t.dim(0) : 0;
        return std::vector<double>(t.data() + b * per_item, t.data() + (b + 1) * per_item);
      },
      out);
}

int Predict(Args& args) {
  if (auto s = args.Parse(); !s.ok()) return Fail(s);
  if (args.positional().size() < 2) {
    return Fail(absl::InvalidArgumentError("predict needs MODEL_DIR and at least one INPUT"));
  }
  auto top_k = args.GetInt("top_k", 5);
  if (!top_k.ok()) return Fail(top_k.status());
  if (*top_k < 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--top_k must be >= 1, got ", *top_k)));
  }
  const bool json = args.Has("json");
  auto options = EngineOptions(args, 1);
  if (!options.ok()) return Fail(options.status());
  auto model = LoadModel(args.positional()[0], "", *options);
  if (!model.ok()) return Fail(model.status());
  const Model& m = **model;
  nlohmann::json results = nlohmann::json::array();
  for (size_t i = 1; i < args.positional().size(); ++i) {
    const std::string& path = args.positional()[i];
    auto batch = LoadInput(path, m);
    if (!batch.ok()) return Fail(batch.status());
    auto out = m.Predict(*batch);
    if (!out.ok())
      return Fail(
          absl::Status(out.status().code(), absl::StrCat(path, ": ", out.status().message())));
    const int64_t n = ShapeOf(*out)[0];
    for (int64_t b = 0; b < n; ++b) {
      const std::vector<double> row = OutputRow(*out, b);
      const std::string name = n == 1 ? path : absl::StrCat(path, "[", b, "]");
      std::vector<Prediction> top;
      if (m.outputs_scores()) {
        const std::vector<float> scores(row.begin(), row.end());
        top = m.TopK(scores.data(), *top_k);
      }
      if (json) {
        nlohmann::json o;
        o["input"] = name;
        if (m.dtype() == DType::kFloat64) {
          o["output"] = row;
        } else {
          o["output"] = std::vector<float>(row.begin(), row.end());
        }
        nlohmann::json t = nlohmann::json::array();
        for (const Prediction& p : top) {
          t.push_back({{"index", p.index}, {"label", p.label}, {"score", p.score}});
        }
        if (args.Has("top_k") && m.outputs_scores()) o["top_k"] = t;
        results.push_back(o);
      } else if (m.outputs_scores()) {
        std::cout << name << "\n";
        for (const Prediction& p : top) {
          std::cout << absl::StrFormat("  %-14s %.6f  (class %d)\n", p.label, p.score, p.index);
        }
      } else {
        // Not one score per class (features, maps): the values, flat in C order.
        std::cout << name << ": output " << ShapeToString(m.output_shape()) << "\n ";
        for (double v : row) std::cout << absl::StrFormat(" %.9g", v);
        std::cout << "\n";
      }
    }
  }
  if (json) std::cout << results.dump(1) << "\n";
  return 0;
}

int Eval(Args& args) {
  if (auto s = args.Parse(); !s.ok()) return Fail(s);
  if (args.positional().size() != 1 || !args.Has("images") || !args.Has("labels")) {
    return Fail(absl::InvalidArgumentError("eval needs MODEL_DIR --images IDX --labels IDX"));
  }
  auto batch_size = args.GetInt("batch", 100);
  if (!batch_size.ok()) return Fail(batch_size.status());
  if (*batch_size < 1) return Fail(absl::InvalidArgumentError("--batch must be >= 1"));
  auto options = EngineOptions(args, 1);
  if (!options.ok()) return Fail(options.status());
  auto model = LoadModel(args.positional()[0], "", *options);
  if (!model.ok()) return Fail(model.status());
  const Model& m = **model;
  auto images = ReadIdxFile(args.Get("images"));
  if (!images.ok()) return Fail(images.status());
  auto labels = ReadIdxFile(args.Get("labels"));
  if (!labels.ok()) return Fail(labels.status());
  const InputSpec& in = m.input();
  if (!in.images || !m.outputs_scores()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("eval needs a model that takes images and outputs one score per class; model ",
                     m.name(), " takes ", in.images ? "images" : "tensors", " and outputs ",
                     BatchShapeToString(m.output_shape()))));
  }
  // IDX images are (N, H, W) for one channel or (N, H, W, C).
  const Shape& s = images->shape;
  const int64_t channels = s.size() == 4 ? s[3] : 1;
  if (s.size() < 3 || s[1] != in.height || s[2] != in.width || channels != in.channels) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--images has shape ", ShapeToString(s), "; model ", m.name(), " takes ",
                     in.height, "x", in.width, " images with ", in.channels, " channel(s)")));
  }
  if (labels->shape.size() != 1 || labels->shape[0] != s[0]) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--labels has shape ", ShapeToString(labels->shape), ", expected (", s[0], ",)")));
  }
  const int64_t n = s[0], k = m.num_outputs();
  const int64_t image_bytes = in.height * in.width * channels;
  std::vector<std::vector<int64_t>> confusion(static_cast<size_t>(k),
                                              std::vector<int64_t>(static_cast<size_t>(k), 0));
  int64_t correct = 0;
  const bool tty = isatty(STDERR_FILENO);
  for (int64_t start = 0; start < n; start += *batch_size) {
    const int64_t b = std::min(*batch_size, n - start);
    Tensor<float> batch(in.BatchShape(b));
    for (int64_t i = 0; i < b; ++i) {
      NormalizePixels(images->data.data() + (start + i) * image_bytes, in,
                      batch.data() + i * in.channels * in.height * in.width);
    }
    auto out = m.Predict(batch);
    if (!out.ok()) return Fail(out.status());
    for (int64_t i = 0; i < b; ++i) {
      const int64_t truth = labels->data[static_cast<size_t>(start + i)];
      const int64_t pred = m.TopK(out->data() + i * k, 1)[0].index;
      if (truth >= k) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "label ", truth, " of image ", start + i, " is outside the model's ", k, " classes")));
      }
      ++confusion[static_cast<size_t>(truth)][static_cast<size_t>(pred)];
      correct += pred == truth;
    }
    if (tty) {
      const int64_t done = start + b;
      const int width = 40, filled = static_cast<int>(width * done / n);
      std::cerr << absl::StrFormat("\r[%s%s] %d/%d", std::string(filled, '#'),
                                   std::string(width - filled, ' '), done, n)
                << std::flush;
    }
  }
  if (tty) std::cerr << "\n";
  const double accuracy = n > 0 ? static_cast<double>(correct) / n : 0.0;
  std::cout << absl::StrFormat("accuracy %.4f (%d/%d)\n", accuracy, correct, n);
  std::cout << "confusion matrix [true][predicted]:\n";
  for (const auto& row : confusion) {
    for (int64_t v : row) std::cout << absl::StrFormat("%6d", v);
    std::cout << "\n";
  }
  if (args.Has("json")) {
    nlohmann::json j = {{"model", m.name()},      {"n", n},
                        {"correct", correct},     {"accuracy", accuracy},
                        {"classes", m.classes()}, {"confusion_matrix", confusion}};
    std::ofstream f(args.Get("json"));
    f << j.dump(1) << "\n";
    if (!f) {
      return Fail(absl::FailedPreconditionError(absl::StrCat("cannot write ", args.Get("json"))));
    }
  }
  return 0;
}

// Resident set size now, from /proc/self/statm (pages resident × page size), in MiB; 0 if unknown.
double CurrentRssMb() {
  std::ifstream statm("/proc/self/statm");
  long long size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0.0;
  return static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

// Peak resident set size of the process so far (getrusage ru_maxrss, KiB on Linux), in MiB.
double PeakRssMb() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0.0;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Bytes malloc holds in use (all arenas, mmapped chunks included).
int64_t HeapInUseBytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks) + static_cast<int64_t>(info.hblkhd);
}

// A meeting point of `count` worker threads and the main thread: each worker's Arrive() blocks
// until the main thread, having seen all of them arrive (AwaitAll), calls Release().
class Rendezvous {
 public:
  explicit Rendezvous(int64_t count) : count_(count) {}
  void Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }
  void AwaitAll() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return arrived_ == count_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int64_t count_;
  int64_t arrived_ = 0;
  bool released_ = false;
};

// Runs the engine (optionally with image decode) on batches in `streams` threads, each running its
// own batches with `threads` intra-op threads, and reports latency per batch and throughput.
// Memory: every stream runs its first batch, then waits until the resident set size and the heap
// in use are read (the "warm" point: plans, buffers and thread pools exist); after its last batch
// it waits again while both are read again, so a per-batch leak shows as growth.
int Bench(Args& args) {
  if (auto s = args.Parse(); !s.ok()) return Fail(s);
  if (args.positional().empty()) {
    return Fail(absl::InvalidArgumentError("bench needs MODEL_DIR [IMAGE...]"));
  }
  auto batch = args.GetInt("batch", 1);
  auto threads = args.GetInt("threads", 1);
  auto streams = args.GetInt("streams", 1);
  auto seconds = args.GetDouble("seconds", 3.0);
  auto runs = args.GetInt("runs", 0);  // 0: run for --seconds
  auto pause_ms = args.GetDouble("pause_ms", 0.0);
  if (!batch.ok()) return Fail(batch.status());
  if (!pause_ms.ok()) return Fail(pause_ms.status());
  if (!threads.ok()) return Fail(threads.status());
  if (!streams.ok()) return Fail(streams.status());
  if (!seconds.ok()) return Fail(seconds.status());
  if (!runs.ok()) return Fail(runs.status());
  if (*batch < 1 || *threads < 1 || *streams < 1 || *seconds <= 0 || !(*pause_ms >= 0)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--batch, --threads and --streams must be >= 1, --seconds > 0 and --pause_ms >= 0, got "
        "--batch ",
        *batch, " --threads ", *threads, " --streams ", *streams, " --seconds ", *seconds,
        " --pause_ms ", *pause_ms)));
  }
  if (args.Has("runs") && (*runs < 1 || args.Has("seconds"))) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--runs must be >= 1 and excludes --seconds, got --runs ", *runs,
                     args.Has("seconds") ? absl::StrCat(" --seconds ", *seconds) : "")));
  }
  auto options = EngineOptions(args, static_cast<int>(*threads));
  if (!options.ok()) return Fail(options.status());
  const double rss_start_mb = CurrentRssMb();  // the process before the model exists
  auto model = LoadModel(args.positional()[0], "", *options);
  if (!model.ok()) return Fail(model.status());
  const Model& m = **model;
  // With images, every batch decodes B of them (round robin) before running: engine + decode.
  std::vector<std::string> images;
  for (size_t i = 1; i < args.positional().size(); ++i) {
    auto bytes = ReadFileToString(args.positional()[i]);
    if (!bytes.ok()) return Fail(bytes.status());
    images.push_back(*std::move(bytes));
  }
  const AnyTensor random_input = RandomBatch(m, *batch);
  const Tensor<float>* random_float = std::get_if<Tensor<float>>(&random_input);
  const absl::Duration budget = absl::Seconds(*seconds);
  // With --runs the latency vectors never grow while running (their growth would be heap growth).
  std::vector<std::vector<double>> latencies(static_cast<size_t>(*streams));
  for (auto& l : latencies) l.reserve(static_cast<size_t>(*runs));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(*streams));
  std::atomic<bool> failed{false};
  // The two points where memory is read: every stream waits there (after its first batch, after
  // its last) until the main thread has read it, so both readings see the same live threads.
  Rendezvous warm(*streams), end(*streams);
  const absl::Time start = absl::Now();
  for (int64_t t = 0; t < *streams; ++t) {
    workers.emplace_back([&, t] {
      size_t next = static_cast<size_t>(t);
      std::vector<std::string> chunk(static_cast<size_t>(*batch));
      std::vector<double>& mine = latencies[static_cast<size_t>(t)];
      // One batch; false if it failed.
      auto run_batch = [&]() {
        if (*pause_ms > 0) absl::SleepFor(absl::Milliseconds(*pause_ms));
        const absl::Time t0 = absl::Now();
        absl::Status out;
        if (random_float != nullptr && images.empty()) {
          out = m.Predict(*random_float).status();  // float32: no conversion, no copy
        } else if (images.empty()) {
          out = m.Predict(random_input).status();
        } else {
          for (auto& c : chunk) c = images[next++ % images.size()];
          auto in = DecodeImages(chunk, m.input());
          if (!in.ok()) return false;
          out = m.Predict(*in).status();
        }
        if (!out.ok()) return false;
        mine.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        return true;
      };
      bool ok = run_batch();
      warm.Arrive();
      for (int64_t done = 1; ok && (*runs > 0 ? done < *runs : absl::Now() - start < budget);
           ++done) {
        ok = run_batch();
      }
      if (!ok) failed = true;
      end.Arrive();
    });
  }
  warm.AwaitAll();
  const double rss_warm_mb = CurrentRssMb();
  const int64_t heap_warm = HeapInUseBytes();
  warm.Release();
  end.AwaitAll();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const double rss_end_mb = CurrentRssMb();
  const int64_t heap_growth = HeapInUseBytes() - heap_warm;
  end.Release();
  for (auto& w : workers) w.join();
  // ru_maxrss is the kernel's high-water mark, which can lag the counters statm reads by a few
  // pages; the peak is never reported below an RSS this run measured.
  const double peak_rss_mb = std::max({PeakRssMb(), rss_warm_mb, rss_end_mb});
  if (failed) return Fail(absl::InternalError("a bench batch failed"));
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) { return SortedQuantile(all, p); };
  const double images_per_s = static_cast<double>(all.size()) * *batch / elapsed;
  const double gflops = images_per_s * static_cast<double>(m.FlopsPerImage()) / 1e9;
  const std::optional<Isa> isa = FastIsa(m);
  if (args.Has("json")) {
    nlohmann::json j = {{"model", m.name()},
                        {"batch", *batch},
                        {"threads", *threads},
                        {"streams", *streams},
                        {"engine", EngineName(m.engine())},
                        {"isa", isa ? nlohmann::json(IsaString(*isa)) : nlohmann::json(nullptr)},
                        {"decode", !images.empty()},
                        {"batches", all.size()},
                        {"median_ms", pct(0.5)},
                        {"p90_ms", pct(0.9)},
                        {"p99_ms", pct(0.99)},
                        {"images_per_s", images_per_s},
                        {"gflops", gflops},
                        {"runs", *runs},
                        {"pause_ms", *pause_ms},
                        {"rss_start_mb", rss_start_mb},
                        {"rss_warm_mb", rss_warm_mb},
                        {"rss_end_mb", rss_end_mb},
                        {"rss_growth_mb", rss_end_mb - rss_warm_mb},
                        {"peak_rss_mb", peak_rss_mb},
                        {"heap_growth_bytes", heap_growth}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s (%s engine%s) batch %d, %d thread(s), %d stream(s)%s: %d batches in %.2f s; per batch "
        "median %.3f ms, p90 %.3f ms, "
        "p99 %.3f ms; %.1f images/s, %.2f GFLOP/s\n",
        m.name(), EngineName(m.engine()), isa ? absl::StrCat(", ", IsaString(*isa)) : "", *batch,
        *threads, *streams, images.empty() ? "" : ", with image decode", all.size(), elapsed,
        pct(0.5), pct(0.9), pct(0.99), images_per_s, gflops);
    std::cout << absl::StrFormat(
        "memory: RSS %.2f MiB before loading, %.2f MiB after the first batch, %.2f MiB at the end "
        "(growth %+.2f MiB), peak %.2f MiB; heap in use %+d bytes since the first batch\n",
        rss_start_mb, rss_warm_mb, rss_end_mb, rss_end_mb - rss_warm_mb, peak_rss_mb, heap_growth);
  }
  return 0;
}

}  // namespace
}  // namespace theano_serving

int main(int argc, char** argv) {
  using theano_serving::Args;
  using theano_serving::WithEngineOptions;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << theano_serving::kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "verify") {
    Args args(argc - 2, argv + 2, WithEngineOptions({"atol", "rtol", "inputs", "expected"}),
              {"verbose"});
    return theano_serving::Verify(args);
  }
  if (command == "inspect") {
    Args args(argc - 2, argv + 2, WithEngineOptions({"profile_batch", "runs", "threads"}), {});
    return theano_serving::Inspect(args);
  }
  if (command == "predict") {
    Args args(argc - 2, argv + 2, WithEngineOptions({"top_k"}), {"json"});
    return theano_serving::Predict(args);
  }
  if (command == "eval") {
    Args args(argc - 2, argv + 2, WithEngineOptions({"images", "labels", "json", "batch"}), {});
    return theano_serving::Eval(args);
  }
  if (command == "bench") {
    Args args(argc - 2, argv + 2,
              WithEngineOptions({"batch", "threads", "streams", "seconds", "runs", "pause_ms"}),
              {"json"});
    return theano_serving::Bench(args);
  }
  std::cerr << "theano-serving-model: unknown command \"" << command << "\"\n"
            << theano_serving::kUsage;
  return 2;
}
