// Placeholder; the kernels land here.
