// DType and AnyTensor: a model computes in float32 or float64 (Theano's floatX when it was
// trained; model.json "dtype"), and the serving path carries tensors of either dtype.
#ifndef THEANO_SERVING_CORE_DTYPE_H_
#define THEANO_SERVING_CORE_DTYPE_H_

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace theano_serving {

enum class DType { kFloat32, kFloat64 };

// "float32" / "float64" (numpy's and Theano's names).
inline const char* DTypeName(DType dtype) {
  return dtype == DType::kFloat64 ? "float64" : "float32";
}

// "float32" or "float64"; InvalidArgument naming the value otherwise.
inline absl::StatusOr<DType> ParseDType(absl::string_view name) {
  if (name == "float32") return DType::kFloat32;
  if (name == "float64") return DType::kFloat64;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype must be \"float32\" or \"float64\", got \"", name, "\""));
}

template <typename T>
constexpr DType DTypeFor() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  return std::is_same_v<T, double> ? DType::kFloat64 : DType::kFloat32;
}

// A tensor of either dtype. Default-constructed: an empty float32 tensor.
using AnyTensor = std::variant<Tensor<float>, Tensor<double>>;

inline DType DTypeOf(const AnyTensor& t) {
  return std::holds_alternative<Tensor<double>>(t) ? DType::kFloat64 : DType::kFloat32;
}

inline const Shape& ShapeOf(const AnyTensor& t) {
  return std::visit([](const auto& x) -> const Shape& { return x.shape(); }, t);
}

// The values of `t` as a new Tensor<T>: a copy, converted element by element when the dtype
// differs (float64 -> float32 rounds to nearest, as numpy's astype does).
template <typename T>
Tensor<T> ConvertTo(const AnyTensor& t) {
  return std::visit(
      [](const auto& x) {
        Tensor<T> out(x.shape());
        std::transform(x.data(), x.data() + x.size(), out.data(),
                       [](auto v) { return static_cast<T>(v); });
        return out;
      },
      t);
}

// The same, moving instead of copying when `t` already holds a Tensor<T>.
template <typename T>
Tensor<T> ConvertTo(AnyTensor&& t) {
  if (auto* same = std::get_if<Tensor<T>>(&t)) return std::move(*same);
  return ConvertTo<T>(static_cast<const AnyTensor&>(t));
}

// `t` converted to `dtype` (a move when it already has it).
inline AnyTensor ConvertTo(AnyTensor t, DType dtype) {
  if (dtype == DType::kFloat64) return ConvertTo<double>(std::move(t));
  return ConvertTo<float>(std::move(t));
}

// A zero-filled tensor of `dtype` and `shape`.
inline AnyTensor MakeTensor(DType dtype, Shape shape) {
  if (dtype == DType::kFloat64) return Tensor<double>(std::move(shape));
  return Tensor<float>(std::move(shape));
}

// Rows [first, first + count) of `t` along axis 0 (a copy, same dtype).
inline AnyTensor SliceRows(const AnyTensor& t, int64_t first, int64_t count) {
  return std::visit(
      [first, count](const auto& x) -> AnyTensor {
        Shape shape = x.shape();
        const int64_t per_row = shape[0] > 0 ? x.size() / shape[0] : 0;
        shape[0] = count;
        std::remove_cv_t<std::remove_reference_t<decltype(x)>> out(std::move(shape));
        std::copy(x.data() + first * per_row, x.data() + (first + count) * per_row, out.data());
        return out;
      },
      t);
}

// The tensors stacked along axis 0. They must share the dtype and every axis but the first
// (callers check that); `parts` is not empty.
inline AnyTensor ConcatRows(const std::vector<const AnyTensor*>& parts) {
  return std::visit(
      [&parts](const auto& first) -> AnyTensor {
        using TensorT = std::remove_cv_t<std::remove_reference_t<decltype(first)>>;
        Shape shape = first.shape();
        shape[0] = 0;
        for (const AnyTensor* p : parts) shape[0] += ShapeOf(*p)[0];
        TensorT out(std::move(shape));
        auto* dst = out.data();
        for (const AnyTensor* p : parts) {
          const TensorT& x = std::get<TensorT>(*p);
          dst = std::copy(x.data(), x.data() + x.size(), dst);
        }
        return out;
      },
      *parts.front());
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_DTYPE_H_
