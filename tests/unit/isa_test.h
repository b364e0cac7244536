// Value-parameterised test fixtures that run each test once per instruction set (core/cpu.h):
// AVX-512 (2), AVX2+FMA (1) and portable (0), skipping what the CPU lacks.
//
// * FastIsaTest: for the fast engine, which takes its instruction set per compiled graph; tests
//   put isa() into FastOptions::isa. Nothing process-wide changes.
// * IsaTest: for kernels that dispatch on the process-wide HasAvx512() / HasAvx2Fma() (vmath's
//   ISA-less functions, the reference ops' AVX2 copies): forces them down for the test's duration.
#ifndef THEANO_SERVING_TESTS_UNIT_ISA_TEST_H_
#define THEANO_SERVING_TESTS_UNIT_ISA_TEST_H_

#include <string>

#include "core/cpu.h"
#include "gtest/gtest.h"

namespace theano_serving {

class FastIsaTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (isa() > CpuIsa()) GTEST_SKIP() << "no " << IsaString(isa()) << " on this CPU";
  }
  Isa isa() const { return static_cast<Isa>(GetParam()); }
};

class IsaTest : public FastIsaTest {
 protected:
  void SetUp() override {
    FastIsaTest::SetUp();
    if (IsSkipped()) return;
    ForceNoAvx512() = isa() < Isa::kAvx512;
    ForcePortableKernels() = isa() == Isa::kPortable;
  }
  void TearDown() override {
    ForceNoAvx512() = false;
    ForcePortableKernels() = false;
  }
};

// INSTANTIATE_TEST_SUITE_P(Prefix, Fixture, IsaValues(), IsaName) names the runs
// Avx512/Avx2/Portable.
inline auto IsaValues() { return ::testing::Values(2, 1, 0); }
inline std::string IsaName(const ::testing::TestParamInfo<int>& info) {
  return info.param == 2 ? "Avx512" : info.param == 1 ? "Avx2" : "Portable";
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_UNIT_ISA_TEST_H_
