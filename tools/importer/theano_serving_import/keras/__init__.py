"""The Keras frontend's parts: reading the files (h5.py), the model graph (graph.py) and one
translator per Keras layer class (layers.py). keras_import.py is the subcommand."""
