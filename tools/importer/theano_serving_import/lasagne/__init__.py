"""The Lasagne frontend's internals (the command is lasagne_import.py).

* standins.py  — stand-ins for `lasagne`, `theano`, `theano.tensor` (and nolearn's NeuralNet) that
  the user's unchanged network code runs against: layers record their configuration with
  Lasagne's own attribute names, defaults and normalisation, and infer shapes as Lasagne does.
* graph.py     — reads a layer graph, whether built from stand-ins or unpickled into
  safe_pickle.Record objects: classes, attributes, get_all_layers / get_all_params order.
* layers.py    — one translator per Lasagne layer class (shape inference beside it) and THE table
  of supported classes.
* nonlinearities.py — every lasagne.nonlinearities function, as Lasagne computes it.
* usercode.py  — runs NET.py (translating Python 2 code with lib2to3) with the stand-ins installed.
"""
