"""The Theano-graph frontend's parts (theano_import.py is the subcommand): ir.py (the importer's
own small graph: constants vs run-time tensors with static shapes), walker.py (Apply nodes of a
pickled graph -> IR, folding what does not depend on the input), ops.py (one translator per
Theano op class and the table OPS), scalar.py (Elemwise scalar ops and Composite fusions),
emit.py (Theano idioms, then model.json layers through the ModelBuilder)."""
