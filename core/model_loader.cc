#include "core/model_loader.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/dtype.h"
#include "core/json_util.h"
#include "core/npz.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

absl::Status Invalid(const std::string& where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

absl::StatusOr<std::vector<std::string>> StringList(const nlohmann::json& j,
                                                    const std::string& where) {
  if (!j.is_array())
    return Invalid(where, absl::StrCat("must be a list of strings, got ", j.dump()));
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) {
      return Invalid(where, absl::StrCat("must be a list of strings, got ", j.dump()));
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string Basename(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// The name of the model in `dir` when model.json gives none: the folder's name, or for a version
// folder of a repository (REPO/NAME/3) the model folder's, NAME.
std::string DefaultModelName(const std::string& dir) {
  const std::string base = Basename(dir);
  if (base.empty() || !std::all_of(base.begin(), base.end(), absl::ascii_isdigit)) return base;
  std::string parent = dir;
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  const size_t slash = parent.rfind('/');
  if (slash == std::string::npos) return base;
  const std::string name = Basename(parent.substr(0, slash + 1));
  return name.empty() || name == "." || name == ".." || name == "/" ? base : name;
}

// What LoadModel has parsed from model.json, for BuildModel.
struct ModelParts {
  std::string json_path;
  std::string npz_path;
  std::string name;
  InputSpec input;
  std::vector<std::string> classes;
  std::vector<LayerSpec> specs;
  const nlohmann::json* config;
};

// The parameters, graph and output checks of LoadModel for a model computing in T.
template <typename T>
absl::StatusOr<std::unique_ptr<Model>> BuildModel(ModelParts parts) {
  const std::string& json_path = parts.json_path;
  const std::string& npz_path = parts.npz_path;
  const nlohmann::json& config = *parts.config;
  auto bad = [&json_path](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(json_path, ": ", s.message()));
  };
  const char* dtype = DTypeName(DTypeFor<T>());
  const std::string descr = std::is_same_v<T, double> ? "<f8" : "<f4";

  // Parameters: every array must have the model's dtype, be finite, be used by some layer, and
  // (when model.json declares it in `params`) have the declared shape.
  std::map<std::string, Tensor<T>, std::less<>> params;
  std::set<std::string, std::less<>> referenced;
  for (const LayerSpec& spec : parts.specs) {
    referenced.insert(spec.params.begin(), spec.params.end());
  }
  if (!parts.input.mean_image_param.empty()) referenced.insert(parts.input.mean_image_param);
  auto arrays = ReadNpzFile(npz_path);
  if (!arrays.ok()) {
    // A model without parameters (e.g. pure pooling) needs no params file.
    if (!referenced.empty() || !absl::IsNotFound(arrays.status())) return arrays.status();
    arrays = std::vector<NpyArray>{};
  }
  for (const NpyArray& a : *arrays) {
    const std::string what = absl::StrCat(npz_path, " member ", a.name);
    if (a.descr != descr) {
      return Invalid(what, absl::StrCat("dtype ", a.descr, " does not match the model's dtype ",
                                        dtype, " (", descr,
                                        "); model.json \"dtype\" says what "
                                        "every parameter holds (Theano's floatX)"));
    }
    ASSIGN_OR_RETURN(Tensor<T> t, NpyToTensor<T>(a, what));
    for (int64_t i = 0; i < t.size(); ++i) {
      if (!std::isfinite(t.data()[i])) {
        return Invalid(
            what, absl::StrCat("element ", i, " is ", t.data()[i], "; parameters must be finite"));
      }
    }
    if (!referenced.count(a.name)) {
      return Invalid(
          what, absl::StrCat("is not used by any layer",
                             parts.input.mean_image_param.empty() ? "" : " nor as input.mean_image",
                             " (the model uses: ", absl::StrJoin(referenced, ", "), ")"));
    }
    params.emplace(a.name, std::move(t));
  }
  if (auto it = config.find("params"); it != config.end() && it->is_object()) {
    for (auto p = it->begin(); p != it->end(); ++p) {
      auto found = params.find(p.key());
      if (found == params.end()) {
        return Invalid(json_path, absl::StrCat("params declares ", p.key(), " but ", npz_path,
                                               " has no such array"));
      }
      if (auto shape = p.value().find("shape"); shape != p.value().end()) {
        Shape declared;
        if (shape->is_array()) {
          for (const auto& d : *shape)
            declared.push_back(d.is_number_integer() ? d.get<int64_t>() : -1);
        }
        if (declared != found->second.shape()) {
          return Invalid(json_path,
                         absl::StrCat("params.", p.key(), ".shape is ", shape->dump(), " but ",
                                      npz_path, " holds ", ShapeToString(found->second.shape())));
        }
      }
      if (auto d = p.value().find("dtype"); d != p.value().end() && *d != dtype) {
        return Invalid(json_path, absl::StrCat("params.", p.key(), ".dtype is ", d->dump(),
                                               " but the model's dtype is ", dtype));
      }
    }
  }

  // input.mean_image: a whole image subtracted in preprocessing (float32, as pixels are).
  if (const std::string& name = parts.input.mean_image_param; !name.empty()) {
    auto it = params.find(name);
    if (it == params.end()) {
      return Invalid(json_path, absl::StrCat("input.mean_image names ", name, " but ", npz_path,
                                             " has no such array"));
    }
    if (it->second.shape() != parts.input.shape()) {
      return Invalid(
          json_path,
          absl::StrCat("input.mean_image ", name, " has shape ", ShapeToString(it->second.shape()),
                       "; it must have the input's shape ", ShapeToString(parts.input.shape())));
    }
    parts.input.mean_image.assign(it->second.data(), it->second.data() + it->second.size());
    params.erase(it);
  }
  auto source = [&](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<T>>> {
    std::vector<Tensor<T>> out;
    for (const std::string& p : spec.params) {
      auto it = params.find(p);
      if (it == params.end()) {
        return LayerError(spec, absl::StrCat("parameter ", p, " is not in ", npz_path));
      }
      out.push_back(it->second);
    }
    return out;
  };
  auto graph = Graph<T>::Build(std::move(parts.specs), parts.input.name, source);
  if (!graph.ok()) return bad(graph.status());

  const Shape one = parts.input.BatchShape(1);
  auto layers = graph->Describe(one);
  if (!layers.ok()) {
    return bad(absl::Status(layers.status().code(), absl::StrCat("for input ", ShapeToString(one),
                                                                 ": ", layers.status().message())));
  }
  const Shape& out = layers->back().output_shape;
  if (out.empty() || out[0] != 1) {
    return Invalid(json_path, absl::StrCat("the output must keep the batch axis first, but the "
                                           "last layer gives ",
                                           ShapeToString(out), " for input ", ShapeToString(one)));
  }
  if (!parts.classes.empty()) {
    if (out.size() != 2) {
      return Invalid(json_path,
                     absl::StrCat("classes label the values of a (batch, classes) output, but the "
                                  "last layer gives ",
                                  ShapeToString(out), " for input ", ShapeToString(one)));
    }
    if (static_cast<int64_t>(parts.classes.size()) != out[1]) {
      return Invalid(json_path, absl::StrCat("classes has ", parts.classes.size(),
                                             " labels but the model outputs ", out[1], " values"));
    }
  }
  return std::make_unique<Model>(std::move(parts.name), std::move(parts.input),
                                 std::move(parts.classes), std::move(*graph), std::move(*layers));
}

}  // namespace

absl::StatusOr<LayerSpec> ParseLayerSpec(const nlohmann::json& layer, int index) {
  const std::string where = absl::StrCat("layers[", index, "]");
  if (!layer.is_object())
    return Invalid(where, absl::StrCat("must be an object, got ", layer.dump()));
  LayerSpec spec;
  spec.index = index;
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "op") {
      if (!v.is_string())
        return Invalid(where, absl::StrCat("op must be a string, got ", v.dump()));
      spec.op = v.get<std::string>();
    } else if (key == "attrs") {
      if (!v.is_object() && !v.is_null()) {
        return Invalid(where, absl::StrCat("attrs must be an object, got ", v.dump()));
      }
      if (v.is_object()) spec.attrs = v;
    } else if (key == "params") {
      ASSIGN_OR_RETURN(spec.params, StringList(v, where + ".params"));
    } else if (key == "inputs") {
      ASSIGN_OR_RETURN(spec.inputs, StringList(v, where + ".inputs"));
    } else if (key == "name") {
      if (!v.is_string() || v.get<std::string>().empty()) {
        return Invalid(where, absl::StrCat("name must be a non-empty string, got ", v.dump()));
      }
      spec.name = v.get<std::string>();
    } else {
      return Invalid(where, absl::StrCat("unknown key \"", key,
                                         "\" (a layer has op, attrs, params, name, inputs)"));
    }
  }
  if (spec.op.empty()) return Invalid(where, "op is required");
  return spec;
}

absl::StatusOr<std::vector<LayerSpec>> ParseLayerSpecs(const nlohmann::json& layers) {
  if (!layers.is_array() || layers.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers must be a non-empty list, got ", layers.dump().substr(0, 80)));
  }
  std::vector<LayerSpec> specs;
  for (size_t i = 0; i < layers.size(); ++i) {
    ASSIGN_OR_RETURN(LayerSpec spec, ParseLayerSpec(layers[i], static_cast<int>(i)));
    specs.push_back(std::move(spec));
  }
  return specs;
}

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& dir, const std::string& name,
                                                 const ModelOptions& options) {
  const std::string json_path = dir + "/model.json";
  ASSIGN_OR_RETURN(nlohmann::json config, ReadJsonFile(json_path));
  auto bad = [&json_path](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(json_path, ": ", s.message()));
  };
  if (!config.is_object()) return Invalid(json_path, "must be a JSON object");

  std::string model_name = name;
  if (model_name.empty()) {
    auto it = config.find("name");
    model_name =
        it != config.end() && it->is_string() ? it->get<std::string>() : DefaultModelName(dir);
  }

  auto input_it = config.find("input");
  if (input_it == config.end()) return Invalid(json_path, "the input object is required");
  auto input = ParseInputSpec(*input_it);
  if (!input.ok()) return bad(input.status());

  std::vector<std::string> classes;
  if (auto it = config.find("classes"); it != config.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(classes, StringList(*it, json_path + ": classes"));
  }

  auto layers_it = config.find("layers");
  if (layers_it == config.end()) return Invalid(json_path, "the layers list is required");
  auto specs = ParseLayerSpecs(*layers_it);
  if (!specs.ok()) return bad(specs.status());

  std::string params_file = "params.npz";
  if (auto it = config.find("params_file"); it != config.end()) {
    if (!it->is_string() || it->get<std::string>().empty() ||
        it->get<std::string>().find('/') != std::string::npos) {
      return Invalid(json_path, absl::StrCat("params_file must be a file name inside the model "
                                             "directory, got ",
                                             it->dump()));
    }
    params_file = it->get<std::string>();
  }

  DType dtype = DType::kFloat32;
  if (auto it = config.find("dtype"); it != config.end()) {
    auto parsed = ParseDType(it->is_string() ? it->get<std::string>() : it->dump());
    if (!parsed.ok()) return Invalid(json_path, parsed.status().message());
    dtype = *parsed;
  }
  ModelParts parts{json_path,
                   dir + "/" + params_file,
                   std::move(model_name),
                   std::move(*input),
                   std::move(classes),
                   std::move(*specs),
                   &config};
  absl::StatusOr<std::unique_ptr<Model>> model = dtype == DType::kFloat64
                                                     ? BuildModel<double>(std::move(parts))
                                                     : BuildModel<float>(std::move(parts));
  if (!model.ok()) return model.status();
  RETURN_IF_ERROR((*model)->SetEngine(options));
  return model;
}

}  // namespace theano_serving
