// Warm FastGraph runs allocate nothing: every global operator new of this binary is counted (a
// binary of its own, so that no other test runs with the counting allocator).
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "core/model_loader.h"
#include "gtest/gtest.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// noinline: inlined into a gtest factory, GCC 12 pairs this free() with the new-expression it can
// see there and warns about a mismatched allocation function (-Wmismatched-new-delete), although
// both halves here are the replaced global operators.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace theano_serving {
namespace {

// The Fashion LeNet's plan: planar convs and pools in an image block, dense layers, and softmax
// through the reference kernel (its tensors kept in the workspace).
TEST(FastGraphAllocTest, WarmRunsOfTheFashionModelAllocateNothing) {
  auto model = LoadModel(std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE((*model)->fast_graph(), nullptr);
  // On 2 threads too: the thread team's jobs allocate nothing either.
  auto two = LoadModel(std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1");
  ASSERT_TRUE(two.ok()) << two.status();
  ModelOptions two_threads;
  two_threads.intra_op_threads = 2;
  ASSERT_TRUE((*two)->SetEngine(two_threads).ok());
  ASSERT_NE((*two)->fast_graph(), nullptr);
  for (const FastGraph* fast : {(*model)->fast_graph(), (*two)->fast_graph()}) {
    for (int64_t batch : {1, 7, 32}) {
      Tensor<float> input({batch, 1, 28, 28});
      for (int64_t i = 0; i < input.size(); ++i)
        input.data()[i] = static_cast<float>(i % 256) / 255;
      Tensor<float> output;
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(fast->Run(input, &output).ok());  // Warm.
      const long before = g_allocations.load();
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(fast->Run(input, &output).ok());
      EXPECT_EQ(g_allocations.load() - before, 0)
          << "batch " << batch << ", " << (fast == (*two)->fast_graph() ? 2 : 1) << " thread(s)";
    }
  }
}

}  // namespace
}  // namespace theano_serving
