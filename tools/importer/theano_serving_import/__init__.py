"""theano-serving-import: Theano-era model files -> a theano-serving model directory.

Reads what Theano users have on disk — Lasagne network code and weights, whole pickled Lasagne
networks, pickled Theano functions and graphs, Keras .h5 files made on the Theano backend —
without Theano, Lasagne or Keras installed, and writes `model.json` + `params.npz`
(docs/MODEL_FORMAT.md) that the C++ engine and server load as they are. docs/IMPORT.md is the
user's guide.
"""

__version__ = "0.1.0"
