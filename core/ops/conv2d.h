// Convolutions: theano.tensor.nnet.conv2d (CorrMM), the legacy theano.tensor.nnet.conv.conv2d
// (ConvOp) and theano.tensor.signal.conv.conv2d. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_CONV2D_H_
#define THEANO_SERVING_CORE_OPS_CONV2D_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "conv2d": attrs border_mode, subsample, filter_flip, filter_dilation, num_groups;
// params (filters) of shape (out_channels, in_channels / num_groups, kh, kw), stored unflipped.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2d(LayerSpec spec, std::vector<Tensor<T>> params);

// "conv2d_legacy": attrs border_mode ("valid" | "full"), subsample; always a true convolution.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2dLegacy(LayerSpec spec, std::vector<Tensor<T>> params);

// "signal_conv2d": 2-D or 3-D image and 2-D or 3-D kernel; attrs border_mode, subsample.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSignalConv2d(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_CONV2D_H_
