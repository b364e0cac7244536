#!/usr/bin/python3
"""Cuts the fixtures of tests/unit/import_ops_test.cc out of the import cases (tests/import/,
made with Theano 1.0.5 + Lasagne 0.2.dev1 git 5d3c63c, see tests/import/README.md).

Run from the repository root with Debian's python3 (numpy): /usr/bin/python3
tests/data/import_ops/make_fixtures.py. Writes one .npz per case into this folder; the README
says which layer each array comes from. Parameters stored as pickles are read here, with numpy
only, never by the tests.
"""
import json
import os
import pickle

import numpy as np

ROOT = 'tests/import'
OUT = os.path.dirname(os.path.abspath(__file__))


def case(name):
    return os.path.join(ROOT, name)


def intermediates(name):
    return np.load(os.path.join(case(name), 'intermediates.npz'))


def save(name, **arrays):
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(os.path.join(OUT, name + '.npz'), **arrays)
    print(name, {k: v.shape for k, v in arrays.items()})


def named_params(name, values):
    """Lasagne's get_all_params order (case.json) -> {'layer.param': array}."""
    names = [p[0] for p in json.load(open(os.path.join(case(name), 'case.json')))['params']]
    assert len(names) == len(values)
    return dict(zip(names, values))


# LocalResponseNormalization2DLayer: norm1 (alpha 1e-4, k 2, beta 0.75, n 5) on a 5x5 window of
# image 0 holding pixel (2, 9), where powf and pow-rounded-to-float differ; norm2 (alpha 2e-5, k 1,
# beta 0.75, n 3) whole. PadLayer (width 1) on 3 channels of image 0.
z = intermediates('lasagne_inception_lrn')
save('lasagne_inception_lrn',
     norm1_in=z['01_conv1'][0:1, :, 0:5, 6:11], norm1_out=z['02_norm1'][0:1, :, 0:5, 6:11],
     norm2_in=z['13_dil'], norm2_out=z['14_norm2'],
     pad1_in=z['02_norm1'][0:1, 0:3], pad1_out=z['03_pad1'][0:1, 0:3])

# GlobalPoolLayer = T.mean(x.flatten(3), axis=2).
z = intermediates('lasagne_nin_avgpool')
save('lasagne_nin_avgpool', pool3_in=z['07_Conv2DLayer'], pool3_out=z['08_GlobalPoolLayer'])

# BatchNormLayer: conv1_bn on a 6x6 window of image 0, res3b_b_bn whole; GlobalPoolLayer pool5.
z = intermediates('lasagne_resnet_mini')
with open(os.path.join(case('lasagne_resnet_mini'), 'params.pkl'), 'rb') as f:
    p = named_params('lasagne_resnet_mini', pickle.load(f, encoding='latin1'))
bn = {}  # Every BatchNormLayer's parameters (the whole-intermediates test checks all eight).
for layer in ('conv1_bn', 'res2a_a_bn', 'res2a_b_bn', 'res3a_proj_bn', 'res3a_a_bn', 'res3a_b_bn',
              'res3b_a_bn', 'res3b_b_bn'):
    for k in ('gamma', 'beta', 'mean', 'inv_std'):
        bn[layer + '_' + k] = p[layer + '.' + k]
save('lasagne_resnet_mini',
     conv1_bn_in=z['01_conv1'][0:1, :, 0:6, 0:6], conv1_bn_out=z['02_conv1_bn'][0:1, :, 0:6, 0:6],
     res3b_b_bn_in=z['24_res3b_b'], res3b_b_bn_out=z['25_res3b_b_bn'],
     pool5_in=z['27_res3b_out'], pool5_out=z['28_pool5'], **bn)

# batch_norm(Conv2DLayer) (params: W, beta, gamma, mean, inv_std, ...) on a 4x4 window of image 0.
z = intermediates('lasagne_small_cnn')
w = np.load(os.path.join(case('lasagne_small_cnn'), 'model.npz'))
save('lasagne_small_cnn',
     bn_in=z['01_Conv2DLayer'][0:1, :, 0:4, 0:4], bn_out=z['02_BatchNormLayer'][0:1, :, 0:4, 0:4],
     bn_beta=w['arr_1'], bn_gamma=w['arr_2'], bn_mean=w['arr_3'], bn_inv_std=w['arr_4'])

# ScaleLayer, BiasLayer (untied), FeaturePoolLayer, DimshuffleLayer, SliceLayer, ReshapeLayer on
# image 0; ElemwiseSumLayer(coeffs=[1, -0.5]) on both images.
z = intermediates('lasagne_raw_tensor')
w = np.load(os.path.join(case('lasagne_raw_tensor'), 'params.npz'))
save('lasagne_raw_tensor',
     gconv=z['01_gconv'][0:1], scale=z['02_scale'][0:1], untied_bias=z['03_untied_bias'][0:1],
     act=z['04_act'][0:1], maxout=z['05_maxout'][0:1], transpose=z['06_transpose'][0:1],
     first_cols=z['07_first_cols'][0:1], reshape=z['08_reshape'][0:1],
     head_a=z['09_head_a'], head_b=z['10_head_b'], mix=z['11_mix'],
     scale_scales=w['scale.scales'], untied_bias_b=w['untied_bias.b'])
