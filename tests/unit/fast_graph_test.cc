#include "core/fast/fast_graph.h"

#include "gtest/gtest.h"

namespace theano_serving {
namespace {

TEST(FastGraphTest, Placeholder) { SUCCEED(); }

}  // namespace
}  // namespace theano_serving
