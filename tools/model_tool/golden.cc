#include "tools/model_tool/golden.h"

#include <cmath>
#include <limits>
#include <map>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/fast/fast_graph.h"
#include "core/graph.h"
#include "core/json_util.h"
#include "core/model_loader.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// Keys of golden attrs that describe how the generator called Theano rather than an attribute.
constexpr const char* kGeneratorOnlyAttrs[] = {"epsilon_passed"};

struct Comparison {
  bool ok = true;
  std::string message;
  double max_abs = 0;
  double needed_atol = 0;
};

template <typename T>
void Compare(const std::string& what, const Tensor<T>& got, const Tensor<T>& want, Tolerance tol,
             double rtol_for_needed, Comparison* c) {
  if (got.shape() != want.shape()) {
    c->ok = false;
    c->needed_atol = std::numeric_limits<double>::infinity();
    absl::StrAppend(&c->message, what, ": shape ", ShapeToString(got.shape()), ", Theano ",
                    ShapeToString(want.shape()), "; ");
    return;
  }
  double worst_excess = 0;
  int64_t worst = -1;
  for (int64_t i = 0; i < got.size(); ++i) {
    const double g = got.data()[i], w = want.data()[i];
    if (!std::isfinite(w) || !std::isfinite(g)) {
      const bool same = (std::isnan(w) && std::isnan(g)) || g == w;
      if (!same) {
        c->ok = false;
        c->needed_atol = std::numeric_limits<double>::infinity();
        absl::StrAppend(&c->message, what, "[", i, "]: got ", g, ", Theano ", w, "; ");
        return;
      }
      continue;
    }
    const double d = std::fabs(g - w);
    c->max_abs = std::max(c->max_abs, d);
    c->needed_atol = std::max(c->needed_atol, d - rtol_for_needed * std::fabs(w));
    const double excess = d - (tol.atol + tol.rtol * std::fabs(w));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    c->ok = false;
    absl::StrAppend(&c->message,
                    absl::StrFormat("%s: worst element [%d] got %.9g, Theano %.9g (|diff| %.3g > "
                                    "atol %g + rtol %g * |Theano|); ",
                                    what, worst, static_cast<double>(got.data()[worst]),
                                    static_cast<double>(want.data()[worst]),
                                    std::fabs(static_cast<double>(got.data()[worst]) -
                                              static_cast<double>(want.data()[worst])),
                                    tol.atol, tol.rtol));
  }
}

template <typename T>
void RunTyped(const nlohmann::json& gc, Tolerance tol, double rtol_for_needed, bool run_fast,
              GoldenResult* r) {
  // Named inputs: "input" is the graph input, the rest are parameters.
  std::map<std::string, Tensor<T>, std::less<>> named;
  std::vector<std::string> param_names;
  for (const auto& in : gc.at("inputs")) {
    auto t = TensorFromJson<T>(in);
    if (!t.ok()) {
      r->message = absl::StrCat("bad golden input: ", t.status().message());
      return;
    }
    const std::string name = in.at("name").get<std::string>();
    if (name != "input") param_names.push_back(name);
    named.emplace(name, *std::move(t));
  }

  std::vector<LayerSpec> specs;
  if (r->op == "network") {
    auto parsed = ParseLayerSpecs(gc.at("layers"));
    if (!parsed.ok()) {
      r->message = std::string(parsed.status().message());
      return;
    }
    specs = *std::move(parsed);
  } else {
    LayerSpec spec;
    spec.op = r->op;
    spec.attrs = gc.value("attrs", nlohmann::json::object());
    if (spec.op == "elemwise") {  // {"fn": "relu", "alpha": 0.1} → op relu, attrs {alpha}.
      spec.op = spec.attrs.at("fn").get<std::string>();
      spec.attrs.erase("fn");
    }
    for (const char* key : kGeneratorOnlyAttrs) spec.attrs.erase(key);
    spec.params = param_names;
    specs.push_back(std::move(spec));
  }

  auto source = [&named](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<T>>> {
    std::vector<Tensor<T>> out;
    for (const std::string& p : spec.params) {
      auto it = named.find(p);
      if (it == named.end()) return LayerError(spec, absl::StrCat("no golden input named ", p));
      out.push_back(it->second);
    }
    return out;
  };
  Tensor<T> output;
  Tensor<T> fast_output;  // float32: the fast engine's output, when it can plan the graph.
  std::vector<Tensor<T>> intermediates;
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Graph<T> graph, Graph<T>::Build(std::move(specs), "input", source));
    RETURN_IF_ERROR(graph.Run(named.at("input"), &output, &intermediates));
    if constexpr (std::is_same_v<T, float>) {
      const Shape& in = named.at("input").shape();
      if (!run_fast || in.empty()) return absl::OkStatus();
      auto fast = FastGraph::Compile(graph, Shape(in.begin() + 1, in.end()));
      if (!fast.ok()) return absl::OkStatus();  // Not plannable (e.g. no batch axis).
      r->fast_checked = true;
      return (*fast)->Run(named.at("input"), &fast_output);
    }
    return absl::OkStatus();
  }();

  if (r->expects_error) {
    r->passed = !status.ok();
    r->message = status.ok()
                     ? absl::StrCat("Theano raises \"", gc.at("error").get<std::string>(),
                                    "\" but we returned shape ", ShapeToString(output.shape()))
                     : std::string(status.message());
    return;
  }
  if (!status.ok()) {
    r->message = absl::StrCat("unexpected error: ", status.message());
    return;
  }
  Comparison c;
  auto want = TensorFromJson<T>(gc.at("outputs").at(0));
  if (!want.ok()) {
    r->message = absl::StrCat("bad golden output: ", want.status().message());
    return;
  }
  Compare("output", output, *want, tol, rtol_for_needed, &c);
  Comparison fast;  // Kept apart: max_abs_diff and needed_atol describe the reference engine.
  if (r->fast_checked) {
    Compare("fast engine output", fast_output, *want, tol, rtol_for_needed, &fast);
    r->fast_max_abs_diff = fast.max_abs;
  }
  if (gc.contains("intermediates")) {
    const auto& inter = gc.at("intermediates");
    if (inter.size() != intermediates.size()) {
      c.ok = false;
      absl::StrAppend(&c.message, "golden has ", inter.size(), " intermediates, we have ",
                      intermediates.size(), "; ");
    } else {
      for (size_t i = 0; i < inter.size(); ++i) {
        auto w = TensorFromJson<T>(inter[i]);
        if (!w.ok()) {
          c.ok = false;
          absl::StrAppend(&c.message, w.status().message(), "; ");
          continue;
        }
        Compare(inter[i].value("name", absl::StrCat("layer", i)), intermediates[i], *w, tol,
                rtol_for_needed, &c);
      }
    }
  }
  r->passed = c.ok && fast.ok;
  r->message = c.message + fast.message;
  r->max_abs_diff = c.max_abs;
  r->needed_atol = std::max(0.0, c.needed_atol);
}

}  // namespace

Tolerance DefaultTolerance(const std::string& dtype) {
  if (dtype == "float64") return {1e-12, 1e-10};
  return {1e-5, 1e-4};
}

template <typename T>
absl::StatusOr<Tensor<T>> TensorFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("shape") || !j.contains("data")) {
    return absl::InvalidArgumentError("a tensor needs shape and data");
  }
  Shape shape;
  for (const auto& d : j.at("shape")) shape.push_back(d.get<int64_t>());
  const auto& data = j.at("data");
  if (!data.is_array() || static_cast<int64_t>(data.size()) != NumElements(shape)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data has ", data.size(), " values for shape ", ShapeToString(shape)));
  }
  std::vector<T> values;
  values.reserve(data.size());
  for (const auto& v : data) {
    double d;
    if (v.is_number()) {
      d = v.get<double>();
    } else if (v == "inf") {
      d = std::numeric_limits<double>::infinity();
    } else if (v == "-inf") {
      d = -std::numeric_limits<double>::infinity();
    } else if (v == "nan") {
      d = std::numeric_limits<double>::quiet_NaN();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad value ", v.dump()));
    }
    values.push_back(static_cast<T>(d));
  }
  return Tensor<T>(std::move(shape), std::move(values));
}

template absl::StatusOr<Tensor<float>> TensorFromJson(const nlohmann::json&);
template absl::StatusOr<Tensor<double>> TensorFromJson(const nlohmann::json&);

absl::StatusOr<std::vector<nlohmann::json>> ReadGoldenCases(const std::string& path) {
  ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  if (!j.is_object() || !j.contains("cases") || !j.at("cases").is_array()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": not a golden file (no cases list)"));
  }
  return j.at("cases").get<std::vector<nlohmann::json>>();
}

GoldenResult RunGoldenCase(const nlohmann::json& gc, std::optional<Tolerance> tolerance,
                           double rtol_for_needed, bool run_fast) {
  GoldenResult r;
  r.name = gc.value("name", "?");
  r.op = gc.value("op", "?");
  r.attrs = gc.value("attrs", nlohmann::json::object());
  r.expects_error = gc.contains("error");
  try {
    r.dtype = gc.at("inputs").at(0).value("dtype", "float32");
    const Tolerance tol = tolerance ? *tolerance : DefaultTolerance(r.dtype);
    if (r.dtype == "float64") {
      RunTyped<double>(gc, tol, rtol_for_needed, run_fast, &r);
    } else if (r.dtype == "float32") {
      RunTyped<float>(gc, tol, rtol_for_needed, run_fast, &r);
    } else {
      r.message = absl::StrCat("unsupported dtype ", r.dtype);
    }
  } catch (const nlohmann::json::exception& e) {
    r.passed = false;
    r.message = absl::StrCat("malformed golden case: ", e.what());
  }
  return r;
}

}  // namespace theano_serving
