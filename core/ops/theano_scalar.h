// Scalar functions exactly as Theano 1.0.5's generated C code computes them
// (theano/scalar/basic.py) and as its graph optimizer rewrites them (theano/tensor/opt.py), shared
// by the element-wise, arithmetic, reduction and normalization ops. All functions are pure and
// thread-safe. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_THEANO_SCALAR_H_
#define THEANO_SERVING_CORE_OPS_THEANO_SCALAR_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace theano_serving {
namespace theano_scalar {

// ScalarMaximum: `z = y > x ? y : (x >= y ? x : nan(""))`. NaN if either operand is NaN; of two
// equal values (+0 and -0) the first.
template <typename T>
inline T Maximum(T x, T y) {
  return y > x ? y : (x >= y ? x : std::numeric_limits<T>::quiet_NaN());
}

// ScalarMinimum: `z = y < x ? y : (x <= y ? x : nan(""))`.
template <typename T>
inline T Minimum(T x, T y) {
  return y < x ? y : (x <= y ? x : std::numeric_limits<T>::quiet_NaN());
}

// relu(x, alpha) for alpha != 0: Theano's graph `f1 * x + f2 * abs(x)`, f1 = 0.5 * (1 + alpha) and
// f2 = 0.5 * (1 - alpha) constant-folded in T, as g++ compiles it with FMA contraction of the
// second product: fma(f2, |x|, f1 * x) (relu(-100, 0.1) = -10.000001f, as in the golden data). The
// fast engine's vector copies (core/fast/eltwise.cc) compute the same operations.
template <typename T>
inline T LeakyRelu(T x, T f1, T f2) {
  return std::fma(f2, std::fabs(x), f1 * x);
}

// Inv: `z = 1.0 / x`; the literal is a double, so a float32 x is divided in double and rounded
// once (the same value as 1.0f / x: a quotient rounded twice this way is still correctly rounded).
template <typename T>
inline T Inv(T x) {
  return static_cast<T>(1.0 / static_cast<double>(x));
}

// Clip: `z = x < lo ? lo : x > hi ? hi : x` (NaN passes through; lo > hi gives hi or lo, never x).
template <typename T>
inline T Clip(T x, T lo, T hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

// pow(x, y) for a constant exponent y, as Theano computes it after its optimizer has rewritten the
// graph: local_pow_canonicalize (y = 0 -> 1, y = 1 -> x), local_pow_specialize (y = 2 -> sqr,
// 0.5 -> sqrt, -0.5 -> inv(sqrt), -1 -> inv, -2 -> inv(sqr)) and, on the CPU,
// local_pow_specialize_device: an integer |y| <= 512 becomes a product of repeated squares,
// x^13 = ((x^8 * x^4) * x), inverted for y < 0. Any other y: the C code's pow(x, y) in T (powf for
// float32).
template <typename T>
class ConstantPow {
 public:
  explicit ConstantPow(T y) : y_(y) {
    const T ay = std::fabs(y);
    if (y == T(0)) {
      kind_ = Kind::kOne;
    } else if (y == T(1)) {
      kind_ = Kind::kIdentity;
    } else if (y == T(2)) {
      kind_ = Kind::kSqr;
    } else if (y == T(0.5)) {
      kind_ = Kind::kSqrt;
    } else if (y == T(-0.5)) {
      kind_ = Kind::kInvSqrt;
    } else if (y == T(-1)) {
      kind_ = Kind::kInv;
    } else if (y == T(-2)) {
      kind_ = Kind::kInvSqr;
    } else if (ay <= T(512) && ay == std::floor(ay)) {
      kind_ = Kind::kSquarings;
      int64_t todo = static_cast<int64_t>(ay);
      while (todo > 0) {
        int log2 = 0;
        while ((int64_t{2} << log2) <= todo) ++log2;
        factors_.push_back(log2);
        todo -= int64_t{1} << log2;
      }
      num_squares_ = factors_.front();
      invert_ = y < T(0);
    } else {
      kind_ = Kind::kPow;
    }
  }

  T operator()(T x) const {
    switch (kind_) {
      case Kind::kOne:
        return T(1);
      case Kind::kIdentity:
        return x;
      case Kind::kSqr:
        return x * x;
      case Kind::kSqrt:
        return std::sqrt(x);
      case Kind::kInvSqrt:
        return Inv(std::sqrt(x));
      case Kind::kInv:
        return Inv(x);
      case Kind::kInvSqr:
        return Inv(x * x);
      case Kind::kSquarings: {
        T squares[10];  // x, x^2, x^4, ..., x^512
        squares[0] = x;
        for (int i = 1; i <= num_squares_; ++i) squares[i] = squares[i - 1] * squares[i - 1];
        T r = squares[factors_[0]];
        for (size_t i = 1; i < factors_.size(); ++i) r = r * squares[factors_[i]];
        return invert_ ? Inv(r) : r;
      }
      case Kind::kPow:
        break;
    }
    return std::pow(x, y_);
  }

 private:
  enum class Kind { kOne, kIdentity, kSqr, kSqrt, kInvSqrt, kInv, kInvSqr, kSquarings, kPow };
  T y_;
  Kind kind_ = Kind::kPow;
  std::vector<int> factors_;  // kSquarings: the powers of two of |y|, highest first (log2).
  int num_squares_ = 0;
  bool invert_ = false;
};

}  // namespace theano_scalar
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_THEANO_SCALAR_H_
