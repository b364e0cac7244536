// Tensor: a dense, row-major (C order) array of float or double with an arbitrary rank.
// Images flow through the engine as NCHW tensors. A Tensor owns its data; copies are deep.
// Not thread-safe for concurrent mutation; concurrent const access is safe.
#ifndef THEANO_SERVING_CORE_TENSOR_H_
#define THEANO_SERVING_CORE_TENSOR_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace theano_serving {

// A tensor's dimensions, outermost first. Rank 0 (a scalar) has an empty Shape.
using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for rank 0). Dimensions must be non-negative.
int64_t NumElements(const Shape& shape);

// "(2, 3, 4)": the way Theano and numpy print shapes, used in every error message.
std::string ShapeToString(const Shape& shape);

// "(N, 3, 4)" for an item shape (3, 4): a batch of any size of items of that shape.
std::string BatchShapeToString(const Shape& item_shape);

template <typename T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;
  // A zero-filled tensor of `shape`.
  explicit Tensor(Shape shape)
      : shape_(std::move(shape)), data_(static_cast<size_t>(NumElements(shape_))) {}
  // Takes `data` (C order); requires data.size() == NumElements(shape).
  Tensor(Shape shape, std::vector<T> data) : shape_(std::move(shape)), data_(std::move(data)) {}

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t size() const { return static_cast<int64_t>(data_.size()); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  std::vector<T>& values() { return data_; }
  const std::vector<T>& values() const { return data_; }

  // Changes the shape to `shape` and the element count to match, keeping the existing prefix of
  // the data (new elements are zero). Does not release capacity, so reusing a Tensor as an output
  // buffer does not allocate once it has reached its largest size.
  void Resize(Shape shape) {
    shape_ = std::move(shape);
    data_.resize(static_cast<size_t>(NumElements(shape_)));
  }
  // Reinterprets the same elements with another shape of equal element count.
  void Reshape(Shape shape) { shape_ = std::move(shape); }

 private:
  Shape shape_;
  std::vector<T> data_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_TENSOR_H_
