// Layer: one Theano op of a model graph, with its attributes parsed and its parameters bound.
//
// A Layer is immutable after construction: Run() is const and safe to call from many threads at
// once. Attributes and parameters are validated when the layer is made (MakeXxx in core/ops/), and
// input shapes by OutputShape(), which the model loader calls for every layer before a model may
// serve; kernels then assume valid input.
#ifndef THEANO_SERVING_CORE_LAYER_H_
#define THEANO_SERVING_CORE_LAYER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/lowering.h"
#include "core/tensor.h"
#include "nlohmann/json.hpp"

namespace theano_serving {

// What model.json (or a golden case) says about one layer.
struct LayerSpec {
  std::string name;  // Optional user-given name ("conv1"); other layers' `inputs` may refer to it.
  int index = -1;    // Position in model.json's `layers`, or -1 outside a model.
  std::string op;    // Theano's op name: "conv2d", "pool_2d", "tanh", ...
  nlohmann::json attrs = nlohmann::json::object();  // Theano's own attribute names.
  std::vector<std::string> params;  // Names of the parameter arrays (npz names), in op order.
  std::vector<std::string> inputs;  // Names of the layers it reads; empty = the previous layer.

  // How error messages name the layer: `conv2d "conv1"`, `layer 3 (conv2d)` or `conv2d`.
  std::string Describe() const;
};

template <typename T>
class Layer {
 public:
  explicit Layer(LayerSpec spec) : spec_(std::move(spec)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const LayerSpec& spec() const { return spec_; }

  // How many graph inputs the op takes: `add` and `concatenate` take two or more, the rest one.
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }

  // Checks `inputs` (one shape per graph input) against the op's rules, attributes and parameters.
  // Returns the output shape, or InvalidArgument naming the layer and the offending values.
  virtual absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const = 0;

  // Computes the op. Precondition: OutputShape() of the inputs' shapes succeeded and `output`
  // already has that shape (its contents are overwritten).
  virtual void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const = 0;

  // Floating-point operations of one Run() on inputs of these shapes (a multiply-add counts 2).
  virtual int64_t Flops(absl::Span<const Shape> inputs) const {
    (void)inputs;
    return 0;
  }

  // Number of parameter scalars the layer holds.
  virtual int64_t NumParams() const { return 0; }

  // How the fast engine may run this layer on inputs of these (already validated) shapes;
  // LoweredKind::kNone (the default) means only Run(). See core/lowering.h.
  virtual Lowering<T> Lower(absl::Span<const Shape> inputs) const {
    (void)inputs;
    return {};
  }

 private:
  LayerSpec spec_;
};

template <typename T>
using LayerPtr = std::unique_ptr<Layer<T>>;

// InvalidArgument("<layer>: <message>").
absl::Status LayerError(const LayerSpec& spec, absl::string_view message);

// Checks that the layer got exactly the parameters named in `names` (e.g. {"filters"}) and returns
// InvalidArgument otherwise, e.g. `dense "fc": expects 2 parameters (W, b), got 1`.
absl::Status ExpectParamCount(const LayerSpec& spec, size_t got,
                              std::initializer_list<absl::string_view> names);

// Checks that the layer got between min_inputs and max_inputs graph inputs.
absl::Status ExpectInputCount(const LayerSpec& spec, size_t got, int min_inputs, int max_inputs);

// Reads a layer's attributes with Theano's names, applying Theano's defaults for absent (or null)
// keys, and reports attributes that the op does not know. Every getter records the key as known.
// Errors are InvalidArgument naming the layer, the attribute and the value:
//   conv2d "conv1": attribute subsample must be a pair of positive integers, got [0, 1]
class AttrReader {
 public:
  explicit AttrReader(const LayerSpec& spec);

  // True if the attribute is present and not null.
  bool Has(absl::string_view key);
  // The raw JSON value or nullptr if absent/null.
  const nlohmann::json* Raw(absl::string_view key);

  absl::StatusOr<int64_t> Int(absl::string_view key, std::optional<int64_t> default_value);
  absl::StatusOr<double> Number(absl::string_view key, std::optional<double> default_value);
  absl::StatusOr<bool> Bool(absl::string_view key, std::optional<bool> default_value);
  absl::StatusOr<std::string> String(absl::string_view key,
                                     std::optional<std::string> default_value);
  // A pair given as [a, b] (a single integer n means [n, n] only if `allow_scalar`).
  absl::StatusOr<std::array<int64_t, 2>> IntPair(
      absl::string_view key, std::optional<std::array<int64_t, 2>> default_value,
      bool allow_scalar = false);

  // InvalidArgument naming every attribute that no getter asked for.
  absl::Status Finish() const;

  // LayerError(spec, message).
  absl::Status Error(absl::string_view message) const;

 private:
  const LayerSpec& spec_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_LAYER_H_
