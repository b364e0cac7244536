// A value-parameterised test fixture that runs each test once per instruction set the kernels
// dispatch on (core/cpu.h): AVX-512 (2), AVX2+FMA (1) and portable (0), skipping what the CPU
// lacks.
#ifndef THEANO_SERVING_TESTS_UNIT_ISA_TEST_H_
#define THEANO_SERVING_TESTS_UNIT_ISA_TEST_H_

#include <string>

#include "core/cpu.h"
#include "gtest/gtest.h"

namespace theano_serving {

class IsaTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const int isa = GetParam();
    if (isa == 2 && !HasAvx512()) GTEST_SKIP() << "no AVX-512F on this CPU";
    if (isa == 1 && !HasAvx2Fma()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
    ForceNoAvx512() = isa < 2;
    ForcePortableKernels() = isa == 0;
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
