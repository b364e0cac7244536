#!/usr/bin/env python3
"""Rounding error of a 3x3 conv in float32: direct, Winograd F(2x2, 3x3), Winograd F(4x4, 3x3).

    /usr/bin/python3 bench/winograd_error.py

One random layer per channel count (relu-like non-negative inputs, He-scaled weights, a 16x16
image with its one-pixel padding), each algorithm computed in float32 with every transform step
rounded, compared with the same conv in float64. Prints the largest absolute error, the output
scale, and how many outputs miss the golden tolerance (atol 1e-5 + rtol 1e-4) on this one layer.

Why it exists: our fast engine runs F(2x2, 3x3) (core/fast/winograd.h) and not F(4x4, 3x3), the
algorithm oneDNN's convolution_winograd mostly picks on AVX-512 (docs/PERFORMANCE.md). F(4x4)'s
transforms (entries up to 8, G's 1/6 and 1/24) cost it about 20-45x the direct kernel's error,
beyond what the golden tolerance leaves a single layer; F(2x2)'s (entries 0, +-1, +-1/2) about 2x.
Needs numpy only.
"""
import numpy as np

F32 = np.float32

# Lavin & Gray's matrices: input transform B^T, filter transform G, output transform A^T.
F2 = (
    np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], F32),
    np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
    np.array([[1, 1, 1, 0], [0, 1, -1, -1]], F32),
)
F4 = (
    np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], F32),
    np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
    np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]], F32),
)


def direct(x, w):
    """Correlation of padded x (C, H, W) with w (O, C, 3, 3), summed tap by tap in x's dtype."""
    _, h, wd = x.shape
    oh, ow = h - 2, wd - 2
    out = np.zeros((w.shape[0], oh, ow), x.dtype)
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], x[:, ky:ky + oh, kx:kx + ow])
    return out


def winograd(x, w, mats):
    """F(m x m, 3x3) in float32: U = G g G^T rounded once from float64, then per tile
    V = B^T d B, M = sum_c U . V, Y = A^T M A, each step rounded to float32."""
    bt, g, at = mats
    m = at.shape[0]
    a = m + 2
    c, h, wd = x.shape
    oh, ow = h - 2, wd - 2
    th, tw = -(-oh // m), -(-ow // m)
    xp = np.zeros((c, m * th + 2, m * tw + 2), F32)
    xp[:, :h, :wd] = x
    u = np.einsum("ij,ocjk,lk->ocil", g, w.astype(np.float64), g).astype(F32)
    out = np.zeros((w.shape[0], m * th, m * tw), F32)
    for ty in range(th):
        for tx in range(tw):
            d = xp[:, m * ty:m * ty + a, m * tx:m * tx + a]
            v = np.einsum("cik,lk->cil", np.einsum("ij,cjk->cik", bt, d).astype(F32), bt)
            mm = np.einsum("ocij,cij->oij", u, v.astype(F32)).astype(F32)
            y = np.einsum("oik,lk->oil", np.einsum("ij,ojk->oik", at, mm).astype(F32), at)
            out[:, m * ty:m * ty + m, m * tx:m * tx + m] = y.astype(F32)
    return out[:, :oh, :ow]


def main():
    rng = np.random.default_rng(17)
    print("| channels | output scale | direct max err | F(2x2,3x3) | F(4x4,3x3) "
          "| outputs beyond the golden tolerance: direct / F(2x2) / F(4x4) |")
    print("|---|---|---|---|---|---|")
    for c in (64, 256, 512):
        x = np.maximum(rng.standard_normal((c, 16, 16)), 0).astype(F32)
        x = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        w = (rng.standard_normal((32, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(F32)
        truth = direct(x.astype(np.float64), w.astype(np.float64))
        allowed = 1e-5 + 1e-4 * np.abs(truth)
        results = [direct(x, w), winograd(x, w, F2), winograd(x, w, F4)]
        errs = [np.abs(r - truth) for r in results]
        print("| %d | %.2f | %.2e | %.2e | %.2e | %d / %d / %d of %d |" % (
            c, np.abs(truth).max(), errs[0].max(), errs[1].max(), errs[2].max(),
            (errs[0] > allowed).sum(), (errs[1] > allowed).sum(), (errs[2] > allowed).sum(),
            truth.size))


if __name__ == "__main__":
    main()
