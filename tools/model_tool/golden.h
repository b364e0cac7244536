// Runs golden test vectors (tests/golden/README.md format: Theano 1.0.5 inputs and outputs) through
// the engine. Shared by `theano-serving-model verify` and the golden ctest.
#ifndef THEANO_SERVING_TOOLS_MODEL_TOOL_GOLDEN_H_
#define THEANO_SERVING_TOOLS_MODEL_TOOL_GOLDEN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "nlohmann/json.hpp"

namespace theano_serving {

struct Tolerance {
  double atol = 0;
  double rtol = 0;
};

// The README's recommended tolerance for a dtype: float32 1e-5/1e-4, float64 1e-12/1e-10.
Tolerance DefaultTolerance(const std::string& dtype);

struct GoldenResult {
  std::string name;
  std::string op;              // The case's op ("conv2d", "elemwise", "network", ...).
  nlohmann::json attrs;        // The case's attrs.
  std::string dtype;           // "float32" or "float64".
  bool expects_error = false;  // The case is one Theano rejects.
  bool passed = false;
  // float32 cases also run through the fast engine (core/fast) whenever it can plan the graph;
  // its output must meet the same tolerance.
  bool fast_checked = false;
  double fast_max_abs_diff = 0;  // The fast engine's output against Theano's.
  std::string message;           // Why it failed (worst element), or the error we raised.
  double max_abs_diff = 0;       // Over the output and every intermediate.
  // The smallest atol with which the case passes at `rtol_for_needed` (see RunGoldenCase).
  double needed_atol = 0;
};

// Reads a golden file and returns its cases. FailedPrecondition for JSON without a `cases` list
// (such as the set's crosscheck_summary.json); NotFound / InvalidArgument for a missing or
// malformed file.
absl::StatusOr<std::vector<nlohmann::json>> ReadGoldenCases(const std::string& path);

// Runs one case. `tolerance` overrides the per-dtype default. `rtol_for_needed` is the rtol at
// which needed_atol is computed.
// `run_fast`: also run float32 cases through the fast engine (GoldenResult::fast_checked).
GoldenResult RunGoldenCase(const nlohmann::json& golden_case, std::optional<Tolerance> tolerance,
                           double rtol_for_needed = 1e-5, bool run_fast = true);

// Parses {"dtype", "shape", "data"} (data flat C order; "inf", "-inf", "nan" strings allowed).
// float32 values are parsed as double and rounded to float, which gives the exact float32.
template <typename T>
absl::StatusOr<Tensor<T>> TensorFromJson(const nlohmann::json& j);

}  // namespace theano_serving

#endif  // THEANO_SERVING_TOOLS_MODEL_TOOL_GOLDEN_H_
