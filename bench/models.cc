#include "bench/models.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/npz.h"
#include "core/status_macros.h"

namespace theano_serving::bench {
namespace {

using nlohmann::json;

// Appends layers and their parameters. Parameter names follow the layer names ("c1" → "c1_W",
// "c1_b"); layers without an explicit name get an automatic one so every parameter is unique.
class SpecBuilder {
 public:
  explicit SpecBuilder(uint64_t seed) : rng_(seed) {}

  // conv2d with filters (out_c, in_c, k, k) drawn with std gain / sqrt(in_c·k·k), then bias_add.
  // The LeNet layout (conv, pool, bias) calls Conv and Bias separately.
  void Conv(const std::string& name, int64_t in_c, int64_t out_c, int64_t k, json border_mode,
            int64_t stride, double gain, std::vector<std::string> inputs = {},
            int64_t dilation = 1) {
    LayerSpec spec;
    spec.name = name;
    spec.op = "conv2d";
    spec.attrs = {{"border_mode", std::move(border_mode)},
                  {"subsample", {stride, stride}},
                  {"filter_flip", true},
                  {"filter_dilation", {dilation, dilation}},
                  {"num_groups", 1}};
    spec.inputs = std::move(inputs);
    const std::string w = name + "_W";
    spec.params = {w};
    params_[w] = Normal({out_c, in_c, k, k}, gain / std::sqrt(static_cast<double>(in_c * k * k)));
    Add(std::move(spec));
  }
  void Bias(const std::string& conv_name, int64_t channels, const std::string& name = "") {
    LayerSpec spec;
    spec.name = name;
    spec.op = "bias_add";
    spec.attrs = {{"axis", 1}};
    const std::string b = conv_name + "_b";
    spec.params = {b};
    params_[b] = Normal({channels}, 0.05);
    Add(std::move(spec));
  }
  void Act(const std::string& op, const std::string& name = "") {
    LayerSpec spec;
    spec.name = name;
    spec.op = op;
    if (op == "relu") spec.attrs = {{"alpha", 0}};
    Add(std::move(spec));
  }
  void Pool(int64_t ws, int64_t stride, int64_t pad, const std::string& mode,
            const std::string& name = "") {
    LayerSpec spec;
    spec.name = name;
    spec.op = "pool_2d";
    spec.attrs = {{"ws", {ws, ws}},
                  {"stride", {stride, stride}},
                  {"pad", {pad, pad}},
                  {"ignore_border", true},
                  {"mode", mode}};
    Add(std::move(spec));
  }
  // ignore_border=False: Theano keeps the partial windows at the end.
  void PoolNoBorder(int64_t ws, int64_t stride, const std::string& mode) {
    LayerSpec spec;
    spec.op = "pool_2d";
    spec.attrs = {
        {"ws", {ws, ws}}, {"stride", {stride, stride}}, {"ignore_border", false}, {"mode", mode}};
    Add(std::move(spec));
  }
  void Flatten() {
    LayerSpec spec;
    spec.op = "flatten";
    spec.attrs = {{"ndim", 2}, {"order", "C"}};
    Add(std::move(spec));
  }
  void Dense(const std::string& name, int64_t n_in, int64_t n_out, double gain) {
    LayerSpec spec;
    spec.name = name;
    spec.op = "dense";
    const std::string w = name + "_W", b = name + "_b";
    spec.params = {w, b};
    params_[w] = Normal({n_in, n_out}, gain / std::sqrt(static_cast<double>(n_in)));
    params_[b] = Normal({n_out}, 0.05);
    Add(std::move(spec));
  }
  void Sum(const std::string& a, const std::string& b) {
    LayerSpec spec;
    spec.op = "add";
    spec.inputs = {a, b};
    Add(std::move(spec));
  }
  void Softmax() {
    LayerSpec spec;
    spec.op = "softmax";
    Add(std::move(spec));
  }

  std::vector<LayerSpec> TakeSpecs() { return std::move(specs_); }
  std::map<std::string, Tensor<float>> TakeParams() { return std::move(params_); }

 private:
  void Add(LayerSpec spec) {
    spec.index = static_cast<int>(specs_.size());
    specs_.push_back(std::move(spec));
  }
  Tensor<float> Normal(Shape shape, double stddev) {
    Tensor<float> t(std::move(shape));
    std::normal_distribution<float> dist(0.0f, static_cast<float>(stddev));
    for (float& v : t.values()) v = dist(rng_);
    return t;
  }

  std::mt19937_64 rng_;
  std::vector<LayerSpec> specs_;
  std::map<std::string, Tensor<float>> params_;
};

const double kRelu = std::sqrt(2.0);  // He gain before relu
const double kTanh = 1.0;             // LeCun gain before tanh (and for logits)

// The Fashion LeNet's shape (models/fashion_lenet/1/model.json): conv, pool, bias, tanh twice.
void LeNet(SpecBuilder* b) {
  b->Conv("c1", 1, 20, 5, "valid", 1, kTanh);
  b->Pool(2, 2, 0, "max");
  b->Bias("c1", 20);
  b->Act("tanh");
  b->Conv("c2", 20, 50, 5, "valid", 1, kTanh);
  b->Pool(2, 2, 0, "max");
  b->Bias("c2", 50);
  b->Act("tanh");
  b->Flatten();
  b->Dense("fc1", 800, 500, kTanh);
  b->Act("tanh");
  b->Dense("fc2", 500, 10, 4.0);  // logits with std ~4, so the softmax is not flat
  b->Softmax();
}

void CifarVgg(SpecBuilder* b) {
  int64_t in_c = 3;
  int n = 0;
  for (int64_t c : {64, 128, 256}) {
    for (int rep = 0; rep < 2; ++rep) {
      const std::string name = absl::StrCat("c", ++n);
      b->Conv(name, in_c, c, 3, "half", 1, kRelu);
      b->Bias(name, c);
      b->Act("relu");
      in_c = c;
    }
    b->Pool(2, 2, 0, "max");
  }
  b->Flatten();
  b->Dense("fc1", 256 * 4 * 4, 512, kRelu);
  b->Act("relu");
  b->Dense("fc2", 512, 10, 4.0);
  b->Softmax();
}

// ResNet-18 with batch norm folded into the convolutions' biases, as inference graphs hold it.
// Block p computes relu(bias(conv(relu(bias(conv(x))))) + shortcut), shortcut = x or a 1x1
// stride-2 projection of x; the block output is named p so the next block can read it.
void ResNet18(SpecBuilder* b) {
  b->Conv("conv1", 3, 64, 7, json::array({3, 3}), 2, kRelu);
  b->Bias("conv1", 64);
  b->Act("relu");
  b->Pool(3, 2, 1, "max", "stem");
  std::string x = "stem";
  int64_t in_c = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t c = int64_t{64} << stage;
    for (int rep = 0; rep < 2; ++rep) {
      const int64_t stride = (stage > 0 && rep == 0) ? 2 : 1;
      const std::string p = absl::StrCat("s", stage + 1, "b", rep + 1);
      b->Conv(p + "a", in_c, c, 3, json::array({1, 1}), stride, kRelu, {x});
      b->Bias(p + "a", c);
      b->Act("relu");
      // The branch's last conv is scaled down so activations do not grow block after block.
      b->Conv(p + "b", c, c, 3, "half", 1, 0.5);
      b->Bias(p + "b", c, p + "branch");
      std::string shortcut = x;
      if (stride != 1 || in_c != c) {
        b->Conv(p + "p", in_c, c, 1, "valid", stride, 1.0, {x});
        b->Bias(p + "p", c, p + "proj");
        shortcut = p + "proj";
      }
      b->Sum(p + "branch", shortcut);
      b->Act("relu", p);
      x = p;
      in_c = c;
    }
  }
  b->Pool(7, 7, 0, "average_exc_pad");
  b->Flatten();
  b->Dense("fc", 512, 1000, 4.0);
  b->Softmax();
}

// Not a benchmark: the Theano rules the peers' lowering translates (full and asymmetric
// border_mode, subsample, filter_dilation, ignore_border=False partial windows, pooling padding
// with average_inc_pad), for the harness's smoke test. Shapes: (3, 17, 19) → conv full /2 →
// (8, 10, 11) → max 3x3 /2 partial → (8, 5, 5) → conv dilated, padding ((1, 0), (2, 1)) →
// (16, 2, 4) → average_inc_pad 2x2 pad 1 → (16, 2, 3) → dense → 10.
void Edges(SpecBuilder* b) {
  b->Conv("e1", 3, 8, 3, "full", 2, kRelu);
  b->Bias("e1", 8);
  b->Act("relu");
  b->PoolNoBorder(3, 2, "max");
  b->Conv("e2", 8, 16, 3, json::array({json::array({1, 0}), json::array({2, 1})}), 1, kTanh, {}, 2);
  b->Bias("e2", 16);
  b->Act("tanh");
  b->Pool(2, 2, 1, "average_inc_pad");
  b->Flatten();
  b->Dense("fc", 16 * 2 * 3, 10, 4.0);
  b->Softmax();
}

}  // namespace

const std::vector<std::string>& BenchModelNames() {
  static const auto* names = new std::vector<std::string>{"lenet", "cifar_vgg", "resnet18"};
  return *names;
}

std::vector<int64_t> DefaultBatches(absl::string_view model) {
  if (model == "resnet18") return {1, 8};
  if (model == "edges") return {3};
  return {1, 32};
}

absl::StatusOr<std::unique_ptr<BenchModel>> MakeBenchModel(absl::string_view name, uint64_t seed) {
  auto model = std::make_unique<BenchModel>();
  model->name = std::string(name);
  SpecBuilder builder(seed);
  if (name == "lenet") {
    model->item_shape = {1, 28, 28};
    LeNet(&builder);
    model->specs = builder.TakeSpecs();
  } else if (name == "cifar_vgg") {
    model->item_shape = {3, 32, 32};
    CifarVgg(&builder);
    model->specs = builder.TakeSpecs();
  } else if (name == "edges") {
    model->item_shape = {3, 17, 19};
    Edges(&builder);
    model->specs = builder.TakeSpecs();
  } else if (name == "resnet18") {
    model->item_shape = {3, 224, 224};
    ResNet18(&builder);
    model->specs = builder.TakeSpecs();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown benchmark model \"", name, "\" (known: lenet, cifar_vgg, resnet18, edges)"));
  }
  model->params = builder.TakeParams();
  const auto& params = model->params;
  Graph<float>::ParamSource source =
      [&params](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<float>>> {
    std::vector<Tensor<float>> out;
    for (const std::string& p : spec.params) {
      auto it = params.find(p);
      if (it == params.end()) {
        return absl::InternalError(absl::StrCat(spec.Describe(), ": no parameter ", p));
      }
      out.push_back(it->second);
    }
    return out;
  };
  ASSIGN_OR_RETURN(Graph<float> graph, Graph<float>::Build(model->specs, "input", source));
  model->graph = std::make_unique<Graph<float>>(std::move(graph));
  Shape one = {1};
  one.insert(one.end(), model->item_shape.begin(), model->item_shape.end());
  ASSIGN_OR_RETURN(std::vector<LayerSummary> summary, model->graph->Describe(one));
  for (const LayerSummary& s : summary) model->flops_per_image += s.flops;
  return model;
}

absl::Status WriteModelDir(const BenchModel& model, const std::string& dir, uint64_t seed) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  using ordered = nlohmann::ordered_json;
  ordered layers = ordered::array();
  for (const LayerSpec& spec : model.specs) {
    ordered layer = ordered::object();
    if (!spec.name.empty()) layer["name"] = spec.name;
    layer["op"] = spec.op;
    if (!spec.inputs.empty()) layer["inputs"] = spec.inputs;
    if (!spec.attrs.is_null() && !spec.attrs.empty()) {
      layer["attrs"] = ordered::parse(spec.attrs.dump());
    }
    if (!spec.params.empty()) layer["params"] = spec.params;
    layers.push_back(std::move(layer));
  }
  ordered declared = ordered::object();
  for (const auto& [name, tensor] : model.params) {
    declared[name] = {{"shape", tensor.shape()}, {"dtype", "float32"}};
  }
  ordered input = {{"shape", model.item_shape},
                   {"grayscale", model.item_shape.at(0) == 1},
                   {"scale", 1.0 / 255.0}};
  ordered config = {
      {"name", model.name},
      {"description", absl::StrCat("issue 3 benchmark network \"", model.name,
                                   "\" with seeded random weights (bench/models.cc, seed ", seed,
                                   "); the weights bench_peers runs with the same seed")},
      {"input", std::move(input)},
      {"layers", std::move(layers)},
      {"params", std::move(declared)},
  };
  const std::string json_path = dir + "/model.json";
  {
    std::ofstream out(json_path, std::ios::trunc);
    out << config.dump(1) << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", json_path));
  }
  return WriteNpzFile(dir + "/params.npz", model.params);
}

Tensor<float> RandomInput(const Shape& item_shape, int64_t batch, uint64_t seed) {
  Shape shape = {batch};
  shape.insert(shape.end(), item_shape.begin(), item_shape.end());
  Tensor<float> t(std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  for (float& v : t.values()) v = dist(rng);
  return t;
}

}  // namespace theano_serving::bench
