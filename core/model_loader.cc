#include "core/model_loader.h"

#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    model_name = it != config.end() && it->is_string() ? it->get<std::string>() : Basename(dir);
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
  const std::string npz_path = dir + "/" + params_file;

  // Parameters: every array must be float32, finite, used by some layer, and
  // (when model.json declares it in `params`) of the declared shape.
  std::map<std::string, Tensor<float>, std::less<>> params;
  std::set<std::string, std::less<>> referenced;
  for (const LayerSpec& spec : *specs) referenced.insert(spec.params.begin(), spec.params.end());
  auto arrays = ReadNpzFile(npz_path);
  if (!arrays.ok()) {
    // A model without parameters (e.g. pure pooling) needs no params file.
    if (!referenced.empty() || !absl::IsNotFound(arrays.status())) return arrays.status();
    arrays = std::vector<NpyArray>{};
  }
  for (const NpyArray& a : *arrays) {
    const std::string what = absl::StrCat(npz_path, " member ", a.name);
    if (a.descr != "<f4") {
      return Invalid(what, absl::StrCat("dtype ", a.descr,
                                        " is not supported; parameters must be float32 (<f4), "
                                        "as Theano holds them with floatX=float32"));
    }
    ASSIGN_OR_RETURN(Tensor<float> t, NpyToTensor<float>(a, what));
    for (int64_t i = 0; i < t.size(); ++i) {
      if (!std::isfinite(t.data()[i])) {
        return Invalid(
            what, absl::StrCat("element ", i, " is ", t.data()[i], "; parameters must be finite"));
      }
    }
    if (!referenced.count(a.name)) {
      return Invalid(what, absl::StrCat("is not used by any layer (layers use: ",
                                        absl::StrJoin(referenced, ", "), ")"));
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
      if (auto dtype = p.value().find("dtype"); dtype != p.value().end() && *dtype != "float32") {
        return Invalid(json_path, absl::StrCat("params.", p.key(), ".dtype is ", dtype->dump(),
                                               "; only float32 is supported"));
      }
    }
  }

  auto source = [&](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<float>>> {
    std::vector<Tensor<float>> out;
    for (const std::string& p : spec.params) {
      auto it = params.find(p);
      if (it == params.end()) {
        return LayerError(spec, absl::StrCat("parameter ", p, " is not in ", npz_path));
      }
      out.push_back(it->second);
    }
    return out;
  };
  auto graph = Graph<float>::Build(std::move(*specs), input->name, source);
  if (!graph.ok()) return bad(graph.status());

  Shape one = input->shape();
  one.insert(one.begin(), 1);
  auto layers = graph->Describe(one);
  if (!layers.ok()) {
    return bad(absl::Status(layers.status().code(), absl::StrCat("for input ", ShapeToString(one),
                                                                 ": ", layers.status().message())));
  }
  const Shape& out = layers->back().output_shape;
  if (out.size() != 2) {
    return Invalid(json_path, absl::StrCat("a classifier's output must be (batch, classes), but "
                                           "the last layer gives ",
                                           ShapeToString(out), " for input ", ShapeToString(one)));
  }
  if (!classes.empty() && static_cast<int64_t>(classes.size()) != out[1]) {
    return Invalid(json_path, absl::StrCat("classes has ", classes.size(),
                                           " labels but the model outputs ", out[1], " values"));
  }
  auto model = std::make_unique<Model>(std::move(model_name), std::move(*input), std::move(classes),
                                       std::move(*graph), std::move(*layers));
  RETURN_IF_ERROR(model->SetEngine(options));
  return model;
}

}  // namespace theano_serving
