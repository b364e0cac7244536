// ParseIsa (the programs' --isa) and what a model does with an instruction set: every one this CPU
// runs serves the embedded model (the fast engine compiled for it, Theano's answers), and one it
// lacks is refused at load with a message naming the CPU's widest.
#include "core/cpu.h"

#include <cmath>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "core/model_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/isa_test.h"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;

TEST(ParseIsaTest, AcceptsEveryIsaStringAndRoundTrips) {
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    absl::StatusOr<Isa> parsed = ParseIsa(IsaString(isa));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, isa);
  }
}

TEST(ParseIsaTest, RefusesAnythingElseNamingTheChoices) {
  for (const char* name : {"nope", "", "AVX2", "avx512f", "avx2 ", "sse41", "native"}) {
    absl::StatusOr<Isa> parsed = ParseIsa(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(),
              std::string("isa must be avx512, avx2 or portable, got \"") + name + "\"");
  }
}

std::string FashionDir() { return std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1"; }

// Every ISA the CPU runs: the fast engine is compiled for exactly it and agrees with the reference
// engine at the golden tolerance.
class ModelIsaTest : public FastIsaTest {};

TEST_P(ModelIsaTest, FastEngineRunsTheChosenIsa) {
  ModelOptions options;
  options.fast.isa = isa();
  absl::StatusOr<std::unique_ptr<Model>> model = LoadModel(FashionDir(), "", options);
  ASSERT_TRUE(model.ok()) << model.status();
  const Model& m = **model;
  ASSERT_EQ(m.engine(), Engine::kFast) << m.engine_description();
  ASSERT_TRUE(m.fast_graph()->options().isa.has_value());
  EXPECT_EQ(*m.fast_graph()->options().isa, isa());

  ModelOptions reference_options;
  reference_options.engine = Engine::kReference;
  absl::StatusOr<std::unique_ptr<Model>> reference = LoadModel(FashionDir(), "", reference_options);
  ASSERT_TRUE(reference.ok()) << reference.status();
  Tensor<float> input(m.input().BatchShape(3));
  for (int64_t i = 0; i < input.size(); ++i) input.data()[i] = static_cast<float>(i % 251) / 250;
  absl::StatusOr<Tensor<float>> got = m.Predict(input);
  absl::StatusOr<Tensor<float>> want = (*reference)->Predict(input);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ(got->shape(), want->shape());
  for (int64_t i = 0; i < got->size(); ++i) {
    EXPECT_NEAR(got->data()[i], want->data()[i], 1e-5 + 1e-4 * std::abs(want->data()[i])) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, ModelIsaTest, IsaValues(), IsaName);

// An ISA the CPU lacks: InvalidArgument from SetEngine (so from LoadModel), whichever engine,
// naming the CPU's widest. Testable only on a CPU without AVX-512.
TEST(ModelIsaRefusalTest, IsaTheCpuLacksIsRefusedAtLoad) {
  if (CpuIsa() == Isa::kAvx512) {
    GTEST_SKIP() << "this CPU has avx512, the widest there is: no ISA it lacks to refuse";
  }
  const Isa missing = static_cast<Isa>(static_cast<int>(CpuIsa()) + 1);
  for (Engine engine : {Engine::kFast, Engine::kReference}) {
    ModelOptions options;
    options.engine = engine;
    options.fast.isa = missing;
    absl::StatusOr<std::unique_ptr<Model>> model = LoadModel(FashionDir(), "", options);
    ASSERT_FALSE(model.ok()) << EngineName(engine);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().message(),
                HasSubstr(std::string(IsaString(missing)) +
                          " is not available on this CPU (it has " + IsaString(CpuIsa()) + ")"));
  }
}

}  // namespace
}  // namespace theano_serving
