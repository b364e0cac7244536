#include "bench/models.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

  // ---- Lasagne layers, as `theano-serving-import lasagne` writes them ----
  // (tools/importer/theano_serving_import/lasagne/layers.py): the ops of one Lasagne layer are
  // named "<layer>/<op>" but the last, which takes the layer's name; parameters are
  // "<layer>.W", "<layer>.b", "<layer>.gamma", ... (ParamName); attributes only where they differ
  // from Theano's defaults (filter_flip always); `inputs` only where a layer does not read the op
  // before it. Each returns the name of the layer's output.

  // Conv2DLayer (flip_filters default True) / dnn.Conv2DDNNLayer (False): conv2d, then bias_add
  // unless b=None, then relu unless the nonlinearity is None / linear.
  struct LasagneConv {
    std::string name;
    std::string input;  // "" = the op before
    int64_t in_c = 0, out_c = 0;
    int64_t kh = 1, kw = 1;
    int64_t pad_h = 0, pad_w = 0;
    int64_t stride = 1;
    bool flip = false;
    bool bias = true;
    bool relu = true;
    double gain = std::sqrt(2.0);  // filters drawn with std gain / sqrt(in_c·kh·kw)
  };
  std::string ConvLayer(const LasagneConv& c) {
    json attrs = json::object();
    if (c.pad_h != 0 || c.pad_w != 0) attrs["border_mode"] = {c.pad_h, c.pad_w};
    if (c.stride != 1) attrs["subsample"] = {c.stride, c.stride};
    attrs["filter_flip"] = c.flip;
    const std::string w = ParamName(c.name, "W");
    params_[w] = Normal({c.out_c, c.in_c, c.kh, c.kw},
                        c.gain / std::sqrt(static_cast<double>(c.in_c * c.kh * c.kw)));
    const bool last_is_conv = !c.bias && !c.relu;
    Emit(last_is_conv ? c.name : c.name + "/conv2d", "conv2d", std::move(attrs), {w}, c.input);
    if (c.bias) {
      const std::string b = ParamName(c.name, "b");
      params_[b] = Normal({c.out_c}, 0.05);
      Emit(c.relu ? c.name + "/bias_add" : c.name, "bias_add", {{"axis", 1}}, {b});
    }
    if (c.relu) Emit(c.name, "relu", json::object(), {});
    return c.name;
  }
  // BatchNormLayer (axes 'auto', inference): batch_norm_inv_std [gamma, beta, mean, inv_std],
  // each (C,). inv_std = exp(N(0, 0.3)) (0.55 to 1.8, var + epsilon 0.3 to 3.3, within 2 sigma),
  // gamma = U(0.8, 1.2) · scale / inv_std, mean and beta N(0, 0.1): the layer scales by 0.8–1.2 ·
  // scale.
  std::string BatchNorm(const std::string& name, int64_t channels, double scale = 1.0,
                        const std::string& input = "") {
    Tensor<float> gamma({channels}), beta({channels}), mean({channels}), inv_std({channels});
    std::normal_distribution<double> log_inv_std(0.0, 0.3), small(0.0, 0.1);
    std::uniform_real_distribution<double> gain(0.8, 1.2);
    for (int64_t c = 0; c < channels; ++c) {
      const double is = std::exp(log_inv_std(rng_));
      inv_std.data()[c] = static_cast<float>(is);
      gamma.data()[c] = static_cast<float>(gain(rng_) * scale / is);
      mean.data()[c] = static_cast<float>(small(rng_));
      beta.data()[c] = static_cast<float>(small(rng_));
    }
    std::vector<std::string> names;
    for (const char* p : {"gamma", "beta", "mean", "inv_std"}) names.push_back(ParamName(name, p));
    params_[names[0]] = std::move(gamma);
    params_[names[1]] = std::move(beta);
    params_[names[2]] = std::move(mean);
    params_[names[3]] = std::move(inv_std);
    Emit(name, "batch_norm_inv_std", json::object(), std::move(names), input);
    return name;
  }
  // NonlinearityLayer(rectify) / (softmax).
  std::string Nonlinearity(const std::string& name, const std::string& op,
                           const std::string& input = "") {
    Emit(name, op, json::object(), {}, input);
    return name;
  }
  // Pool2DLayer (ignore_border default True), dnn.MaxPool2DDNNLayer / Pool2DDNNLayer (always
  // True; mode 'average' is average_inc_pad): pool_2d.
  std::string LasagnePool(const std::string& name, int64_t ws, int64_t stride, int64_t pad,
                          bool ignore_border, const std::string& mode,
                          const std::string& input = "") {
    json attrs = {{"ws", {ws, ws}}, {"ignore_border", ignore_border}};
    if (stride != ws) attrs["stride"] = {stride, stride};
    if (pad != 0) attrs["pad"] = {pad, pad};
    attrs["mode"] = mode;
    Emit(name, "pool_2d", std::move(attrs), {}, input);
    return name;
  }
  // LocalResponseNormalization2DLayer.
  std::string Lrn(const std::string& name, double alpha, double k, double beta, int64_t n) {
    Emit(name, "local_response_normalization",
         {{"alpha", alpha}, {"k", k}, {"beta", beta}, {"n", n}}, {});
    return name;
  }
  // ConcatLayer (axis 1).
  std::string Concat(const std::string& name, const std::vector<std::string>& inputs) {
    EmitMany(name, "concatenate", {{"axis", 1}}, {}, inputs);
    return name;
  }
  // ElemwiseSumLayer([a, b]) (coeffs 1).
  std::string ElemwiseSum(const std::string& name, const std::string& a, const std::string& b) {
    EmitMany(name, "add", json::object(), {}, {a, b});
    return name;
  }
  // GlobalPoolLayer (T.mean): flatten to 3 axes, mean over the last.
  std::string GlobalPool(const std::string& name) {
    Emit(name + "/flatten", "flatten", {{"ndim", 3}}, {});
    Emit(name, "mean", {{"axis", 2}}, {});
    return name;
  }
  // FlattenLayer (outdim 2).
  std::string LasagneFlatten(const std::string& name) {
    Emit(name, "flatten", {{"ndim", 2}}, {});
    return name;
  }
  // DenseLayer: flatten (when its input has more than 2 axes), dense [W, b], then the
  // nonlinearity ("relu", "softmax" or "" for None). W (n_in, n_out) with std gain / sqrt(n_in).
  std::string LasagneDense(const std::string& name, int64_t n_in, int64_t n_out, bool flatten,
                           const std::string& nonlinearity, double gain) {
    if (flatten) Emit(name + "/flatten", "flatten", {{"ndim", 2}}, {});
    const std::string w = ParamName(name, "W"), b = ParamName(name, "b");
    params_[w] = Normal({n_in, n_out}, gain / std::sqrt(static_cast<double>(n_in)));
    params_[b] = Normal({n_out}, 0.05);
    Emit(nonlinearity.empty() ? name : name + "/dense", "dense", json::object(), {w, b});
    if (!nonlinearity.empty()) Emit(name, nonlinearity, json::object(), {});
    return name;
  }

  std::vector<LayerSpec> TakeSpecs() { return std::move(specs_); }
  std::map<std::string, Tensor<float>> TakeParams() { return std::move(params_); }

 private:
  void Add(LayerSpec spec) {
    spec.index = static_cast<int>(specs_.size());
    specs_.push_back(std::move(spec));
  }
  // "<layer>.<param>", as the importer names parameters, with any '/' of the layer name
  // (GoogLeNet's "conv1/7x7_s2") as '_': WriteNpzFile refuses '/' in array names.
  static std::string ParamName(const std::string& layer, const char* param) {
    std::string name = layer;
    std::replace(name.begin(), name.end(), '/', '_');
    return absl::StrCat(name, ".", param);
  }
  // A named op reading `input` ("" = the op before), written without `inputs` when that is the op
  // before, as the importer does.
  void Emit(const std::string& name, const std::string& op, json attrs,
            std::vector<std::string> params, const std::string& input = "") {
    EmitMany(name, op, std::move(attrs), std::move(params),
             input.empty() ? std::vector<std::string>{} : std::vector<std::string>{input});
  }
  void EmitMany(const std::string& name, const std::string& op, json attrs,
                std::vector<std::string> params, std::vector<std::string> inputs) {
    LayerSpec spec;
    spec.name = name;
    spec.op = op;
    spec.attrs = std::move(attrs);
    spec.params = std::move(params);
    const std::string before = specs_.empty() ? "input" : specs_.back().name;
    if (!(inputs.size() == 1 && inputs[0] == before)) spec.inputs = std::move(inputs);
    Add(std::move(spec));
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
// with average_inc_pad, a batch norm that no conv precedes, Lasagne's LRN with an alpha large
// enough that dividing it by n, as oneDNN and Caffe do, fails the check), for the harness's smoke
// test. Shapes: (3, 17, 19) → conv full /2 → (8, 10, 11) → max 3x3 /2 partial → (8, 5, 5) → conv
// dilated, padding ((1, 0), (2, 1)) → (16, 2, 4) → average_inc_pad 2x2 pad 1 → (16, 2, 3) →
// batch_norm_inv_std + relu → LRN n 3 → dense → 10.
void Edges(SpecBuilder* b) {
  b->Conv("e1", 3, 8, 3, "full", 2, kRelu);
  b->Bias("e1", 8);
  b->Act("relu");
  b->PoolNoBorder(3, 2, "max");
  b->Conv("e2", 8, 16, 3, json::array({json::array({1, 0}), json::array({2, 1})}), 1, kTanh, {}, 2);
  b->Bias("e2", 16);
  b->Act("tanh");
  b->Pool(2, 2, 1, "average_inc_pad", "epool");
  b->BatchNorm("ebn", 16, 3.0);
  b->Nonlinearity("ebn_relu", "relu");
  b->Lrn("elrn", 0.2, 1.0, 0.75, 3);
  b->Flatten();
  b->Dense("fc", 16 * 2 * 3, 10, 4.0);
  b->Softmax();
}

// ---- The model-zoo networks (Lasagne/Recipes modelzoo/*.py) ----
// Each is its Recipes file layer for layer, written as `theano-serving-import lasagne` writes it:
// the same ops, attributes and parameter shapes, in the same order (Lasagne's get_all_layers:
// depth first, a merge layer's inputs in order, so a branch's layers come before the next
// branch's). Names are the recipe's where it gives them (name= or its net[...] keys).

using LasagneConv = SpecBuilder::LasagneConv;

LasagneConv ConvSpec(const std::string& name, int64_t in_c, int64_t out_c, int64_t kh, int64_t kw,
                     int64_t pad_h, int64_t pad_w, int64_t stride, bool flip,
                     const std::string& input = "") {
  LasagneConv c;
  c.name = name;
  c.input = input;
  c.in_c = in_c;
  c.out_c = out_c;
  c.kh = kh;
  c.kw = kw;
  c.pad_h = pad_h;
  c.pad_w = pad_w;
  c.stride = stride;
  c.flip = flip;
  return c;
}

// Logits: the last dense (or 1x1 conv) layer's weights are scaled so that the logits have a
// standard deviation of a few units on these networks' features and the softmax is neither flat
// nor one-hot (measured with `bench_export_models --stats`).
constexpr double kLogitsGain = 4.0;

// modelzoo/vgg16.py: dnn.Conv2DDNNLayer 3x3 pad 1 (cross-correlation, relu), Pool2DLayer(2),
// DenseLayer 4096 twice (relu; the DropoutLayers are the identity at inference), fc8 linear,
// softmax. fc6 reads 512 · (size/32)² values.
void Vgg16(SpecBuilder* b, int64_t size) {
  const int64_t widths[5] = {64, 128, 256, 512, 512};
  const int reps[5] = {2, 2, 3, 3, 3};
  int64_t in_c = 3;
  for (int stage = 0; stage < 5; ++stage) {
    for (int rep = 0; rep < reps[stage]; ++rep) {
      b->ConvLayer(ConvSpec(absl::StrCat("conv", stage + 1, "_", rep + 1), in_c, widths[stage], 3,
                            3, 1, 1, 1, false));
      in_c = widths[stage];
    }
    b->LasagnePool(absl::StrCat("pool", stage + 1), 2, 2, 0, true, "max");
  }
  const int64_t side = size / 32;
  b->LasagneDense("fc6", 512 * side * side, 4096, true, "relu", kRelu);
  b->LasagneDense("fc7", 4096, 4096, false, "relu", kRelu);
  b->LasagneDense("fc8", 4096, 1000, false, "", kLogitsGain);
  b->Nonlinearity("prob", "softmax");
}

// GoogLeNet's weights come from Caffe, whose inputs are 0–255 pixels minus the mean: its
// activations are in the tens, where the two LRN layers (k 1, alpha 1e-4 / 5) divide them by
// about 1.3 (up to 2) instead of ~1.0001. The first conv is scaled up so that ours are too (RMS
// ~50) on [0, 1) inputs — so an LRN with the wrong alpha (divided by n once more) fails the
// peers' check; the later convs keep that scale (He gain) and the logits layer brings it back.
constexpr double kGoogLeNetInputGain = 60.0;
constexpr double kGoogLeNetFeatureScale = 40.0;  // rough RMS of its pooled features

// One inception module of modelzoo/googlenet.py: 1x1; 1x1 → 3x3; 1x1 → 5x5; 3x3 max pool
// (stride 1, pad 1) → 1x1; concatenated. Every conv dnn.Conv2DDNNLayer with bias and relu.
std::string GoogLeNetInception(SpecBuilder* b, const std::string& in, int64_t in_c,
                               const std::string& name, int64_t n1x1, int64_t n3x3r, int64_t n3x3,
                               int64_t n5x5r, int64_t n5x5, int64_t npool, int64_t* out_c) {
  auto conv = [&](const std::string& suffix, const std::string& input, int64_t ci, int64_t co,
                  int64_t k) {
    return b->ConvLayer(ConvSpec(name + suffix, ci, co, k, k, k / 2, k / 2, 1, false, input));
  };
  const std::string a = conv("/1x1", in, in_c, n1x1, 1);
  conv("/3x3_reduce", in, in_c, n3x3r, 1);
  const std::string c3 = conv("/3x3", "", n3x3r, n3x3, 3);
  conv("/5x5_reduce", in, in_c, n5x5r, 1);
  const std::string c5 = conv("/5x5", "", n5x5r, n5x5, 5);
  b->LasagnePool(name + "/pool", 3, 1, 1, true, "max", in);
  const std::string p = conv("/pool_proj", "", in_c, npool, 1);
  *out_c = n1x1 + n3x3 + n5x5 + npool;
  return b->Concat(name + "/output", {a, c3, c5, p});
}

// modelzoo/googlenet.py (its flip() is the identity outside its Caffe comparison): conv 7x7/2,
// max pool 3x3/2 pad 1, LRN, 1x1, 3x3, LRN, max pool, 9 inception modules with two more pools,
// average pool 7x7 (Pool2DDNNLayer mode 'average' = average_inc_pad; it covers the final map, of
// side size / 32), logits as a 1x1 conv, FlattenLayer, softmax.
void GoogLeNet(SpecBuilder* b, int64_t size) {
  LasagneConv conv1 = ConvSpec("conv1/7x7_s2", 3, 64, 7, 7, 3, 3, 2, false);
  conv1.gain = kRelu * kGoogLeNetInputGain;
  b->ConvLayer(conv1);
  b->LasagnePool("pool1/3x3_s2", 3, 2, 1, true, "max");
  b->Lrn("pool1/norm1", 0.0001 / 5, 1, 0.75, 5);
  b->ConvLayer(ConvSpec("conv2/3x3_reduce", 64, 64, 1, 1, 0, 0, 1, false));
  b->ConvLayer(ConvSpec("conv2/3x3", 64, 192, 3, 3, 1, 1, 1, false));
  b->Lrn("conv2/norm2", 0.0001 / 5, 1, 0.75, 5);
  std::string x = b->LasagnePool("pool2/3x3_s2", 3, 2, 1, true, "max");
  int64_t c = 192;
  struct Module {
    const char* name;
    int64_t n1x1, n3x3r, n3x3, n5x5r, n5x5, npool;
    const char* pool_after;  // a max pool 3x3/2 pad 1 after the module, or null
  };
  static constexpr Module kModules[] = {
      {"inception_3a", 64, 96, 128, 16, 32, 32, nullptr},
      {"inception_3b", 128, 128, 192, 32, 96, 64, "pool3/3x3_s2"},
      {"inception_4a", 192, 96, 208, 16, 48, 64, nullptr},
      {"inception_4b", 160, 112, 224, 24, 64, 64, nullptr},
      {"inception_4c", 128, 128, 256, 24, 64, 64, nullptr},
      {"inception_4d", 112, 144, 288, 32, 64, 64, nullptr},
      {"inception_4e", 256, 160, 320, 32, 128, 128, "pool4/3x3_s2"},
      {"inception_5a", 256, 160, 320, 32, 128, 128, nullptr},
      {"inception_5b", 384, 192, 384, 48, 128, 128, nullptr},
  };
  for (const Module& m : kModules) {
    int64_t out_c = 0;
    x = GoogLeNetInception(b, x, c, m.name, m.n1x1, m.n3x3r, m.n3x3, m.n5x5r, m.n5x5, m.npool,
                           &out_c);
    c = out_c;
    if (m.pool_after != nullptr) x = b->LasagnePool(m.pool_after, 3, 2, 1, true, "max");
  }
  b->LasagnePool("pool5/7x7_s1", size / 32, 1, 0, true, "average_inc_pad");
  LasagneConv logits = ConvSpec("prob", 1024, 1000, 1, 1, 0, 0, 1, false);
  logits.relu = false;
  logits.gain = kLogitsGain / kGoogLeNetFeatureScale;
  b->ConvLayer(logits);
  b->LasagneFlatten("prob_flat");
  b->Nonlinearity("prob_softmax", "softmax");
}

// ResNet-50's residual branches end in a batch norm without relu whose scale is kept small, as
// in trained ResNets, so that 16 residual sums do not grow the activations block after block.
constexpr double kResidualBranchScale = 0.25;

// modelzoo/resnet50.py: conv 7x7/2 with bias (its build_simple_block passes pad and stride
// swapped when use_bias, which gives stride 2, pad 3) + BatchNormLayer + relu, max pool 3x3/2
// with ignore_border=False, 16 bottleneck blocks (3, 4, 6, 3) of bias-free Conv2DLayer
// (flip_filters=False) + BatchNormLayer (+ relu): 1x1 (stride 2 in the first block of stages 3–5)
// → 3x3 → 1x1 ×4, summed (ElemwiseSumLayer) with the input or, in each stage's first block, a
// 1x1 projection + batch norm, then relu; average_exc_pad pool 7x7 with ignore_border=False (any
// smaller final map too), DenseLayer 1000 linear, softmax. Layer names are the recipe's keys.
void ResNet50(SpecBuilder* b) {
  LasagneConv conv1 = ConvSpec("conv1", 3, 64, 7, 7, 3, 3, 2, false);
  conv1.relu = false;
  b->ConvLayer(conv1);
  b->BatchNorm("bn_conv1", 64);
  b->Nonlinearity("conv1_relu", "relu");
  std::string x = b->LasagnePool("pool1", 3, 2, 0, false, "max");
  int64_t in_c = 64;
  const int kBlocks[4] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t{64} << stage;
    for (int k = 0; k < kBlocks[stage]; ++k) {
      const std::string ix = absl::StrCat(stage + 2, std::string(1, static_cast<char>('a' + k)));
      const int64_t stride = (stage > 0 && k == 0) ? 2 : 1;
      // build_simple_block: a bias-free conv, BatchNormLayer, then relu unless nonlin=None.
      auto simple = [&](const std::string& branch, const std::string& input, int64_t ci, int64_t co,
                        int64_t ksize, int64_t s, bool relu, double bn_scale) {
        LasagneConv c = ConvSpec(absl::StrCat("res", ix, "_branch", branch), ci, co, ksize, ksize,
                                 ksize / 2, ksize / 2, s, false, input);
        c.bias = false;
        c.relu = false;
        b->ConvLayer(c);
        std::string out = b->BatchNorm(absl::StrCat("bn", ix, "_branch", branch), co, bn_scale);
        if (relu)
          out = b->Nonlinearity(absl::StrCat("res", ix, "_branch", branch, "_relu"), "relu");
        return out;
      };
      // ElemwiseSumLayer([left, right]): the left branch (the projection) comes first.
      std::string left = x;
      if (k == 0) left = simple("1", x, in_c, 4 * width, 1, stride, false, 1.0);
      simple("2a", x, in_c, width, 1, stride, true, 1.0);
      simple("2b", "", width, width, 3, 1, true, 1.0);
      const std::string right =
          simple("2c", "", width, 4 * width, 1, 1, false, kResidualBranchScale);
      b->ElemwiseSum(absl::StrCat("res", ix), left, right);
      x = b->Nonlinearity(absl::StrCat("res", ix, "_relu"), "relu");
      in_c = 4 * width;
    }
  }
  b->LasagnePool("pool5", 7, 1, 0, false, "average_exc_pad");
  b->LasagneDense("fc1000", 2048, 1000, true, "", kLogitsGain / 2);  // features RMS ~2.4
  b->Nonlinearity("prob", "softmax");
}

// modelzoo/inception_v3.py's bn_conv: Conv2DLayer (flip_filters=True: a true convolution) passed
// through lasagne.layers.batch_norm, which removes its bias and nonlinearity and adds
// BatchNormLayer "<name>_bn" and NonlinearityLayer "<name>_bn_nonlin" (rectify).
std::string BnConv(SpecBuilder* b, const std::string& name, const std::string& input, int64_t in_c,
                   int64_t out_c, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w,
                   int64_t stride = 1) {
  LasagneConv c = ConvSpec(name, in_c, out_c, kh, kw, pad_h, pad_w, stride, true, input);
  c.bias = false;
  c.relu = false;
  b->ConvLayer(c);
  b->BatchNorm(name + "_bn", out_c);
  return b->Nonlinearity(name + "_bn_nonlin", "relu");
}

// The five module types of modelzoo/inception_v3.py. `in` is the module's input with `*c`
// channels; *c becomes the output's. Branch k's j-th conv is "<block>/branch<k>_<j>".
std::string InceptionA(SpecBuilder* b, const std::string& block, const std::string& in, int64_t* c,
                       int64_t pool_proj) {
  auto n = [&](int k, int j) { return absl::StrCat(block, "/branch", k, "_", j); };
  const std::string l1 = BnConv(b, n(1, 1), in, *c, 64, 1, 1, 0, 0);
  BnConv(b, n(2, 1), in, *c, 48, 1, 1, 0, 0);
  const std::string l2 = BnConv(b, n(2, 2), "", 48, 64, 5, 5, 2, 2);
  BnConv(b, n(3, 1), in, *c, 64, 1, 1, 0, 0);
  BnConv(b, n(3, 2), "", 64, 96, 3, 3, 1, 1);
  const std::string l3 = BnConv(b, n(3, 3), "", 96, 96, 3, 3, 1, 1);
  b->LasagnePool(block + "/branch4_pool", 3, 1, 1, true, "average_exc_pad", in);
  const std::string l4 = BnConv(b, n(4, 1), "", *c, pool_proj, 1, 1, 0, 0);
  *c = 64 + 64 + 96 + pool_proj;
  return b->Concat(block + "/join", {l1, l2, l3, l4});
}

std::string InceptionB(SpecBuilder* b, const std::string& block, const std::string& in,
                       int64_t* c) {
  auto n = [&](int k, int j) { return absl::StrCat(block, "/branch", k, "_", j); };
  const std::string l1 = BnConv(b, n(1, 1), in, *c, 384, 3, 3, 0, 0, 2);
  BnConv(b, n(2, 1), in, *c, 64, 1, 1, 0, 0);
  BnConv(b, n(2, 2), "", 64, 96, 3, 3, 1, 1);
  const std::string l2 = BnConv(b, n(2, 3), "", 96, 96, 3, 3, 0, 0, 2);
  const std::string l3 = b->LasagnePool(block + "/branch3_pool", 3, 2, 0, true, "max", in);
  *c = 384 + 96 + *c;
  return b->Concat(block + "/join", {l1, l2, l3});
}

std::string InceptionC(SpecBuilder* b, const std::string& block, const std::string& in, int64_t* c,
                       int64_t w) {
  auto n = [&](int k, int j) { return absl::StrCat(block, "/branch", k, "_", j); };
  const std::string l1 = BnConv(b, n(1, 1), in, *c, 192, 1, 1, 0, 0);
  BnConv(b, n(2, 1), in, *c, w, 1, 1, 0, 0);
  BnConv(b, n(2, 2), "", w, w, 1, 7, 0, 3);
  const std::string l2 = BnConv(b, n(2, 3), "", w, 192, 7, 1, 3, 0);
  BnConv(b, n(3, 1), in, *c, w, 1, 1, 0, 0);
  BnConv(b, n(3, 2), "", w, w, 7, 1, 3, 0);
  BnConv(b, n(3, 3), "", w, w, 1, 7, 0, 3);
  BnConv(b, n(3, 4), "", w, w, 7, 1, 3, 0);
  const std::string l3 = BnConv(b, n(3, 5), "", w, 192, 1, 7, 0, 3);
  b->LasagnePool(block + "/branch4_pool", 3, 1, 1, true, "average_exc_pad", in);
  const std::string l4 = BnConv(b, n(4, 1), "", *c, 192, 1, 1, 0, 0);
  *c = 4 * 192;
  return b->Concat(block + "/join", {l1, l2, l3, l4});
}

std::string InceptionD(SpecBuilder* b, const std::string& block, const std::string& in,
                       int64_t* c) {
  auto n = [&](int k, int j) { return absl::StrCat(block, "/branch", k, "_", j); };
  BnConv(b, n(1, 1), in, *c, 192, 1, 1, 0, 0);
  const std::string l1 = BnConv(b, n(1, 2), "", 192, 320, 3, 3, 0, 0, 2);
  BnConv(b, n(2, 1), in, *c, 192, 1, 1, 0, 0);
  BnConv(b, n(2, 2), "", 192, 192, 1, 7, 0, 3);
  BnConv(b, n(2, 3), "", 192, 192, 7, 1, 3, 0);
  const std::string l2 = BnConv(b, n(2, 4), "", 192, 192, 3, 3, 0, 0, 2);
  const std::string l3 = b->LasagnePool(block + "/branch3_pool", 3, 2, 0, true, "max", in);
  *c = 320 + 192 + *c;
  return b->Concat(block + "/join", {l1, l2, l3});
}

std::string InceptionE(SpecBuilder* b, const std::string& block, const std::string& in, int64_t* c,
                       const std::string& pool_mode) {
  auto n = [&](int k, int j) { return absl::StrCat(block, "/branch", k, "_", j); };
  const std::string l1 = BnConv(b, n(1, 1), in, *c, 320, 1, 1, 0, 0);
  const std::string l2 = BnConv(b, n(2, 1), in, *c, 384, 1, 1, 0, 0);
  const std::string l2a = BnConv(b, n(2, 2), l2, 384, 384, 1, 3, 0, 1);
  const std::string l2b = BnConv(b, n(2, 3), l2, 384, 384, 3, 1, 1, 0);
  BnConv(b, n(3, 1), in, *c, 448, 1, 1, 0, 0);
  const std::string l3 = BnConv(b, n(3, 2), "", 448, 384, 3, 3, 1, 1);
  const std::string l3a = BnConv(b, n(3, 3), l3, 384, 384, 1, 3, 0, 1);
  const std::string l3b = BnConv(b, n(3, 4), l3, 384, 384, 3, 1, 1, 0);
  b->LasagnePool(block + "/branch4_pool", 3, 1, 1, true, pool_mode, in);
  const std::string l4 = BnConv(b, n(4, 1), "", *c, 192, 1, 1, 0, 0);
  *c = 320 + 4 * 384 + 192;
  return b->Concat(block + "/join", {l1, l2a, l2b, l3a, l3b, l4});
}

// modelzoo/inception_v3.py: the stem (3x3/2, 3x3, 3x3 pad 1, max pool 3x3/2, 1x1, 3x3, max
// pool), modules A ×3, B, C ×4, D, E ×2 (average_exc_pad, then max pooling branch), GlobalPoolLayer
// (mean), DenseLayer 1008 with softmax. 299x299 inputs; 75x75 is the smallest it takes.
void InceptionV3(SpecBuilder* b) {
  BnConv(b, "conv", "", 3, 32, 3, 3, 0, 0, 2);
  BnConv(b, "conv_1", "", 32, 32, 3, 3, 0, 0);
  BnConv(b, "conv_2", "", 32, 64, 3, 3, 1, 1);
  b->LasagnePool("pool", 3, 2, 0, true, "max");
  BnConv(b, "conv_3", "", 64, 80, 1, 1, 0, 0);
  BnConv(b, "conv_4", "", 80, 192, 3, 3, 0, 0);
  std::string x = b->LasagnePool("pool_1", 3, 2, 0, true, "max");
  int64_t c = 192;
  x = InceptionA(b, "mixed", x, &c, 32);
  x = InceptionA(b, "mixed_1", x, &c, 64);
  x = InceptionA(b, "mixed_2", x, &c, 64);
  x = InceptionB(b, "mixed_3", x, &c);
  x = InceptionC(b, "mixed_4", x, &c, 128);
  x = InceptionC(b, "mixed_5", x, &c, 160);
  x = InceptionC(b, "mixed_6", x, &c, 160);
  x = InceptionC(b, "mixed_7", x, &c, 192);
  x = InceptionD(b, "mixed_8", x, &c);
  x = InceptionE(b, "mixed_9", x, &c, "average_exc_pad");
  x = InceptionE(b, "mixed_10", x, &c, "max");
  b->GlobalPool("pool3");
  b->LasagneDense("softmax", c, 1008, false, "softmax", kLogitsGain);
}

}  // namespace

const std::vector<std::string>& BenchModelNames() {
  static const auto* names = new std::vector<std::string>{
      "lenet", "cifar_vgg", "resnet18", "vgg16", "googlenet", "resnet50", "inception_v3"};
  return *names;
}

std::vector<int64_t> DefaultBatches(absl::string_view model) {
  if (model == "lenet" || model == "cifar_vgg") return {1, 32};
  if (model == "edges") return {3};
  if (absl::EndsWith(model, "_small")) return {2};
  return {1, 8};
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
  } else if (name == "vgg16" || name == "vgg16_small") {
    const int64_t size = name == "vgg16" ? 224 : 64;
    model->item_shape = {3, size, size};
    Vgg16(&builder, size);
    model->specs = builder.TakeSpecs();
  } else if (name == "googlenet" || name == "googlenet_small") {
    const int64_t size = name == "googlenet" ? 224 : 64;
    model->item_shape = {3, size, size};
    GoogLeNet(&builder, size);
    model->specs = builder.TakeSpecs();
  } else if (name == "resnet50" || name == "resnet50_small") {
    const int64_t size = name == "resnet50" ? 224 : 64;
    model->item_shape = {3, size, size};
    ResNet50(&builder);
    model->specs = builder.TakeSpecs();
  } else if (name == "inception_v3" || name == "inception_v3_small") {
    const int64_t size = name == "inception_v3" ? 299 : 75;
    model->item_shape = {3, size, size};
    InceptionV3(&builder);
    model->specs = builder.TakeSpecs();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown benchmark model \"", name, "\" (known: ", absl::StrJoin(BenchModelNames(), ", "),
        ", edges, vgg16_small, googlenet_small, resnet50_small, inception_v3_small)"));
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
      {"description", absl::StrCat("benchmark network \"", model.name,
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
