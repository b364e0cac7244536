#include "core/layer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace theano_serving {

std::string LayerSpec::Describe() const {
  if (!name.empty()) return absl::StrCat(op, " \"", name, "\"");
  if (index >= 0) return absl::StrCat("layer ", index, " (", op, ")");
  return op;
}

absl::Status LayerError(const LayerSpec& spec, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(spec.Describe(), ": ", message));
}

absl::Status ExpectParamCount(const LayerSpec& spec, size_t got,
                              std::initializer_list<absl::string_view> names) {
  if (got == names.size()) return absl::OkStatus();
  return LayerError(
      spec, absl::StrCat("expects ", names.size(), names.size() == 1 ? " parameter" : " parameters",
                         " (", absl::StrJoin(names, ", "), "), got ", got));
}

absl::Status ExpectInputCount(const LayerSpec& spec, size_t got, int min_inputs, int max_inputs) {
  if (static_cast<int>(got) >= min_inputs && static_cast<int>(got) <= max_inputs) {
    return absl::OkStatus();
  }
  std::string want = min_inputs == max_inputs ? absl::StrCat(min_inputs)
                     : max_inputs > 1000      ? absl::StrCat("at least ", min_inputs)
                                              : absl::StrCat(min_inputs, " to ", max_inputs);
  return LayerError(spec,
                    absl::StrCat("takes ", want, " input", want == "1" ? "" : "s", ", got ", got));
}

AttrReader::AttrReader(const LayerSpec& spec) : spec_(spec) {}

absl::Status AttrReader::Error(absl::string_view message) const {
  return LayerError(spec_, message);
}

const nlohmann::json* AttrReader::Raw(absl::string_view key) {
  known_.emplace(key);
  if (!spec_.attrs.is_object()) return nullptr;
  auto it = spec_.attrs.find(std::string(key));
  if (it == spec_.attrs.end() || it->is_null()) return nullptr;
  return &*it;
}

bool AttrReader::Has(absl::string_view key) { return Raw(key) != nullptr; }

namespace {

std::string Dump(const nlohmann::json& j) { return j.dump(); }

}  // namespace

absl::StatusOr<int64_t> AttrReader::Int(absl::string_view key,
                                        std::optional<int64_t> default_value) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Error(absl::StrCat("attribute ", key, " is required"));
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    // In range before converting: 3.3e27 (a JSON integer too large for int64 arrives as a double)
    // would be undefined behaviour (found by fuzz_model_json).
    const double d = v->get<double>();
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        d == static_cast<double>(static_cast<int64_t>(d))) {
      return static_cast<int64_t>(d);
    }
  }
  return Error(absl::StrCat("attribute ", key, " must be an integer, got ", Dump(*v)));
}

absl::StatusOr<double> AttrReader::Number(absl::string_view key,
                                          std::optional<double> default_value) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Error(absl::StrCat("attribute ", key, " is required"));
  }
  if (v->is_number()) return v->get<double>();
  return Error(absl::StrCat("attribute ", key, " must be a number, got ", Dump(*v)));
}

absl::StatusOr<bool> AttrReader::Bool(absl::string_view key, std::optional<bool> default_value) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Error(absl::StrCat("attribute ", key, " is required"));
  }
  if (v->is_boolean()) return v->get<bool>();
  return Error(absl::StrCat("attribute ", key, " must be true or false, got ", Dump(*v)));
}

absl::StatusOr<std::string> AttrReader::String(absl::string_view key,
                                               std::optional<std::string> default_value) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Error(absl::StrCat("attribute ", key, " is required"));
  }
  if (v->is_string()) return v->get<std::string>();
  return Error(absl::StrCat("attribute ", key, " must be a string, got ", Dump(*v)));
}

absl::StatusOr<std::array<int64_t, 2>> AttrReader::IntPair(
    absl::string_view key, std::optional<std::array<int64_t, 2>> default_value, bool allow_scalar) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Error(absl::StrCat("attribute ", key, " is required"));
  }
  if (allow_scalar && v->is_number_integer()) {
    int64_t n = v->get<int64_t>();
    return std::array<int64_t, 2>{n, n};
  }
  if (v->is_array() && v->size() == 2 && (*v)[0].is_number_integer() &&
      (*v)[1].is_number_integer()) {
    return std::array<int64_t, 2>{(*v)[0].get<int64_t>(), (*v)[1].get<int64_t>()};
  }
  return Error(
      absl::StrCat("attribute ", key, " must be a pair of integers [a, b], got ", Dump(*v)));
}

absl::Status AttrReader::Finish() const {
  std::vector<std::string> unknown;
  if (spec_.attrs.is_object()) {
    for (auto it = spec_.attrs.begin(); it != spec_.attrs.end(); ++it) {
      if (known_.find(it.key()) == known_.end()) unknown.push_back(it.key());
    }
  } else if (!spec_.attrs.is_null()) {
    return Error(absl::StrCat("attrs must be a JSON object, got ", Dump(spec_.attrs)));
  }
  if (unknown.empty()) return absl::OkStatus();
  return Error(absl::StrCat("unknown attribute", unknown.size() > 1 ? "s " : " ",
                            absl::StrJoin(unknown, ", "), " (known: ", absl::StrJoin(known_, ", "),
                            ")"));
}

}  // namespace theano_serving
