#include "core/npy.h"

#include <cstring>
#include <limits>
#include <set>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/file_util.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicSize = 6;

// Upper bound on the product of a header's shape, in bytes. It only exists so
// that the size arithmetic cannot overflow; the data-size check then rejects
// any header that claims more bytes than the file holds.
constexpr int64_t kMaxNpyBytes = int64_t{1} << 50;

// A value of the header dictionary. numpy writes the header with repr() of a
// dict whose values are a str (descr), a bool (fortran_order) and a tuple of
// ints (shape); nothing else is accepted.
struct HeaderValue {
  enum Kind { kString, kBool, kTuple, kOther } kind = kOther;
  std::string text;            // kString: the string; kOther: the raw text (for messages).
  bool boolean = false;        // kBool
  std::vector<int64_t> tuple;  // kTuple
};

// A parser for the subset of Python literal syntax that numpy's .npy header
// uses:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (20, 1, 5, 5), }
class HeaderParser {
 public:
  HeaderParser(absl::string_view text, absl::string_view what) : text_(text), what_(what) {}

  absl::Status Parse(std::string* descr, bool* fortran_order, Shape* shape) {
    SkipSpace();
    RETURN_IF_ERROR(Expect('{'));
    std::set<std::string> seen;
    while (true) {
      SkipSpace();
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      std::string key;
      RETURN_IF_ERROR(ParseString(&key));
      if (!seen.insert(key).second)
        return Error(absl::StrCat("duplicate key ", QuoteForMessage(key)));
      SkipSpace();
      RETURN_IF_ERROR(Expect(':'));
      SkipSpace();
      HeaderValue value;
      RETURN_IF_ERROR(ParseValue(&value));
      if (key == "descr") {
        if (value.kind != HeaderValue::kString) {
          return Error(absl::StrCat("'descr' must be a dtype string, got ", value.text,
                                    " (structured dtypes are not supported)"));
        }
        *descr = value.text;
      } else if (key == "fortran_order") {
        if (value.kind != HeaderValue::kBool) {
          return Error(absl::StrCat("'fortran_order' must be True or False, got ", value.text));
        }
        *fortran_order = value.boolean;
      } else if (key == "shape") {
        if (value.kind != HeaderValue::kTuple) {
          return Error(absl::StrCat("'shape' must be a tuple of integers, got ", value.text));
        }
        *shape = value.tuple;
      } else {
        return Error(absl::StrCat("unexpected key ", QuoteForMessage(key),
                                  " (expected 'descr', 'fortran_order' and 'shape')"));
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != '}') {
        return Error(absl::StrCat("expected ',' or '}' at offset ", pos_));
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) {
      return Error(absl::StrCat("unexpected text after the dictionary at offset ", pos_));
    }
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      if (seen.count(key) == 0) return Error(absl::StrCat("missing key '", key, "'"));
    }
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": bad .npy header ",
                     QuoteForMessage(absl::StripTrailingAsciiWhitespace(text_)), ": ", message));
  }
  absl::Status Expect(char c) {
    if (Peek() != c) {
      return Error(absl::StrCat("expected '", std::string(1, c), "' at offset ", pos_));
    }
    ++pos_;
    return absl::OkStatus();
  }
  absl::Status ParseString(std::string* out) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') {
      return Error(absl::StrCat("expected a quoted string at offset ", pos_));
    }
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == absl::string_view::npos) return Error("unterminated string");
    *out = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    if (out->find('\\') != std::string::npos) return Error("escapes in strings are not supported");
    pos_ = end + 1;
    return absl::OkStatus();
  }
  absl::Status ParseInt(int64_t* out) {
    const size_t start = pos_;
    while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    // Python 2 numpy wrote long dimensions as "20L".
    absl::string_view digits = text_.substr(start, pos_ - start);
    if (Peek() == 'L') ++pos_;
    if (digits.empty() || !absl::SimpleAtoi(digits, out)) {
      return Error(absl::StrCat("expected a non-negative integer dimension at offset ", start));
    }
    return absl::OkStatus();
  }
  absl::Status ParseValue(HeaderValue* value) {
    const size_t start = pos_;
    const char c = Peek();
    if (c == '\'' || c == '"') {
      value->kind = HeaderValue::kString;
      return ParseString(&value->text);
    }
    if (c == '(') {
      ++pos_;
      value->kind = HeaderValue::kTuple;
      while (true) {
        SkipSpace();
        if (Peek() == ')') {
          ++pos_;
          break;
        }
        int64_t dim = 0;
        RETURN_IF_ERROR(ParseInt(&dim));
        value->tuple.push_back(dim);
        SkipSpace();
        if (Peek() == ',') {
          ++pos_;
        } else if (Peek() != ')') {
          return Error(absl::StrCat("expected ',' or ')' in 'shape' at offset ", pos_));
        }
      }
      return absl::OkStatus();
    }
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      value->kind = HeaderValue::kBool;
      value->boolean = true;
      return absl::OkStatus();
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      value->kind = HeaderValue::kBool;
      value->boolean = false;
      return absl::OkStatus();
    }
    // Anything else (a list, a number, None): report it, up to the next ',' or
    // '}' at depth 0.
    int depth = 0;
    while (pos_ < text_.size()) {
      const char d = text_[pos_];
      if (d == '[' || d == '(' || d == '{') ++depth;
      if (d == ']' || d == ')' || d == '}') {
        if (depth == 0) break;
        --depth;
      }
      if (d == ',' && depth == 0) break;
      ++pos_;
    }
    value->kind = HeaderValue::kOther;
    value->text = std::string(text_.substr(start, pos_ - start));
    if (value->text.empty()) return Error(absl::StrCat("expected a value at offset ", start));
    return absl::OkStatus();
  }

  absl::string_view text_;
  absl::string_view what_;
  size_t pos_ = 0;
};

// Size in bytes of one element of a numeric dtype descr ("<f4" → 4), or an
// error for any dtype whose elements are not plain fixed-size numbers (objects,
// strings, datetimes, ...).
absl::StatusOr<int64_t> ElementSize(absl::string_view descr, absl::string_view what) {
  auto unsupported = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": unsupported dtype ", QuoteForMessage(descr),
                     " (only boolean, integer, float and complex dtypes can be read)"));
  };
  if (descr.size() < 3) return unsupported();
  if (std::string("<>|=").find(descr[0]) == std::string::npos) return unsupported();
  if (std::string("biufc?").find(descr[1]) == std::string::npos) return unsupported();
  int64_t size = 0;
  if (!absl::SimpleAtoi(descr.substr(2), &size) || size <= 0 || size > 16 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(descr[2]))) {
    return unsupported();
  }
  return size;
}

std::string ShapeTuple(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

template <typename T>
constexpr const char* kDescr = sizeof(T) == 4 ? "<f4" : "<f8";

}  // namespace

std::string QuoteForMessage(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (absl::ascii_isprint(static_cast<unsigned char>(c))) {
      out += c;
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out + "\"";
}

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, absl::string_view what) {
  if (bytes.size() < kNpyMagicSize + 2 ||
      bytes.substr(0, kNpyMagicSize) != absl::string_view(kNpyMagic, kNpyMagicSize)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": not a .npy file (expected the magic \"\\x93NUMPY\", got ",
        QuoteForMessage(bytes.substr(0, kNpyMagicSize)), ", ", bytes.size(), " bytes in all)"));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": unsupported .npy format version ",
                                                   major, ".", minor,
                                                   " (supported: 1.0, 2.0, 3.0)"));
  }
  // Version 1.0 has a 2-byte little-endian header length; 2.0 and 3.0 have 4
  // bytes.
  const size_t length_size = major == 1 ? 2 : 4;
  const size_t preamble = kNpyMagicSize + 2 + length_size;
  if (bytes.size() < preamble) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": truncated .npy header: ", bytes.size(),
                                                   " bytes, the preamble alone needs ", preamble));
  }
  uint64_t header_length = 0;
  for (size_t i = 0; i < length_size; ++i) {
    header_length |= uint64_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
  }
  if (header_length > bytes.size() - preamble) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": truncated .npy header: the header needs ", header_length,
                     " bytes after the preamble, the file has ", bytes.size() - preamble));
  }
  const absl::string_view header = bytes.substr(preamble, static_cast<size_t>(header_length));

  NpyArray array;
  HeaderParser parser(header, what);
  RETURN_IF_ERROR(parser.Parse(&array.descr, &array.fortran_order, &array.shape));
  ASSIGN_OR_RETURN(const int64_t element_size, ElementSize(array.descr, what));

  int64_t needed = element_size;
  for (int64_t dim : array.shape) {
    if (dim < 0 || (dim > 0 && needed > kMaxNpyBytes / dim)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": shape ", ShapeToString(array.shape),
                                                     " of ", array.descr, " is too large"));
    }
    needed *= dim;
  }
  const absl::string_view data = bytes.substr(preamble + static_cast<size_t>(header_length));
  if (static_cast<int64_t>(data.size()) != needed) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": data has ", data.size(),
                                                   " bytes, header ", ShapeToString(array.shape),
                                                   " of ", array.descr, " needs ", needed));
  }
  array.data = std::string(data);
  return array;
}

absl::StatusOr<NpyArray> ReadNpyFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
  return ParseNpy(bytes, path);
}

template <typename T>
absl::StatusOr<Tensor<T>> NpyToTensor(const NpyArray& array, absl::string_view what) {
  const absl::string_view descr = array.descr;
  if (descr != "<f4" && descr != ">f4" && descr != "<f8" && descr != ">f8") {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": dtype ", QuoteForMessage(descr), " is not supported (need <f4, >f4, <f8 or >f8)"));
  }
  if (array.fortran_order) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": Fortran-order (column-major) arrays are not supported; save the "
                     "array with numpy.ascontiguousarray"));
  }
  const bool big_endian = descr[0] == '>';
  const size_t element_size = descr[2] == '4' ? 4 : 8;
  int64_t count = 1;
  for (int64_t dim : array.shape) {
    if (dim < 0 || (dim > 0 && count > std::numeric_limits<int64_t>::max() / dim)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": invalid shape ", ShapeToString(array.shape)));
    }
    count *= dim;
  }
  if (array.data.size() / element_size != static_cast<uint64_t>(count) ||
      array.data.size() % element_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": data has ", array.data.size(),
                                                   " bytes, shape ", ShapeToString(array.shape),
                                                   " of ", descr, " needs ", count * element_size));
  }
  std::vector<T> values(static_cast<size_t>(count));
  const auto* bytes = reinterpret_cast<const unsigned char*>(array.data.data());
  // Assemble each element's bits as an integer in the file's byte order, then
  // reinterpret: this is correct whatever the host's byte order.
  for (size_t i = 0; i < values.size(); ++i) {
    const unsigned char* p = bytes + i * element_size;
    uint64_t bits = 0;
    for (size_t b = 0; b < element_size; ++b) {
      const size_t significance = big_endian ? element_size - 1 - b : b;
      bits |= uint64_t{p[b]} << (8 * significance);
    }
    if (element_size == 4) {
      const auto bits32 = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &bits32, sizeof(f));
      values[i] = static_cast<T>(f);
    } else {
      double d;
      std::memcpy(&d, &bits, sizeof(d));
      values[i] = static_cast<T>(d);
    }
  }
  return Tensor<T>(array.shape, std::move(values));
}

template <typename T>
std::string SerializeNpy(const Tensor<T>& tensor) {
  std::string header =
      absl::StrCat("{'descr': '", kDescr<T>,
                   "', 'fortran_order': False, 'shape': ", ShapeTuple(tensor.shape()), ", }");
  // numpy pads the header with spaces and a final newline so that the data
  // starts at a multiple of 64 bytes (10 = magic + version + 2-byte length).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kNpyMagic, kNpyMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.reserve(out.size() + tensor.values().size() * sizeof(T));
  for (T value : tensor.values()) {
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    Bits bits;
    std::memcpy(&bits, &value, sizeof(bits));
    for (size_t b = 0; b < sizeof(T); ++b) out += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

template absl::StatusOr<Tensor<float>> NpyToTensor<float>(const NpyArray&, absl::string_view);
template absl::StatusOr<Tensor<double>> NpyToTensor<double>(const NpyArray&, absl::string_view);
template std::string SerializeNpy<float>(const Tensor<float>&);
template std::string SerializeNpy<double>(const Tensor<double>&);

}  // namespace theano_serving
