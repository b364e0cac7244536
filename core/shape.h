// Theano's output-size arithmetic, in one place (conv2d, pool_2d). See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_SHAPE_H_
#define THEANO_SERVING_CORE_SHAPE_H_

namespace theano_serving {}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_SHAPE_H_
