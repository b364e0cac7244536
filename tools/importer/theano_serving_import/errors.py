"""The importer's one error type."""


class ImporterError(Exception):
    """Why an import cannot proceed, for the user: names the layer/op/file and the values.

    The command prints the message (no traceback) and exits with status 1.
    Example: ``Conv2DLayer "conv1": weights file has W of shape (16, 3, 5, 5), the network
    expects (16, 3, 3, 3)``.
    """
