"""The conditional norms' gamma and beta computed from class borders: the same values as the
dense convs (to float round-off), with a fraction of the work on a CPU.

A conditional norm computes hidden = ReLU(conv3x3(one-hot label map)), then
gamma, beta = conv3x3(hidden). With a one-hot input, the hidden vector at a pixel depends only on
the labels of its 3x3 window, so wherever that window is one class c inside the image it is one
constant, hbar_c. Write hidden = hbar[label] + r. Then

    conv(hidden) = conv(hbar[label]) + conv(r)
                 = conv(one-hot, P) + conv(r),        P_k = W_k @ hbar   (C inputs, not 128),

and r is zero except at the pixels whose 3x3 window holds two labels ("border pixels", counting
the outside of the image as a label; typically 10-30% of a scene). A border pixel's r depends only
on its window, and a scene has far fewer distinct border windows than border pixels (1,700 for
13,000 on the benchmark's scenes), so r and its 9 taps are computed once per distinct window and
spread to the pixels they feed by a sparse matrix. conv(one-hot, P) is likewise one row per
class, corrected at border pixels. The hidden map is never built, and the work left grows with
the distinct border windows rather than with the pixels.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


class LabelWindows:
    """The 3x3 windows of a label map where they hold two labels, indexed for
    `border_modulation`.

    labels (B, H, W) int64 class ids in [0, C). Label C stands for outside the image, so pixels
    on the image's edge are border pixels too. A window is named by table rows: tap t (conv
    weight order, t = 3 dy + dx) holding label l -> row t * (C+1) + l.
    """

    def __init__(self, labels: torch.Tensor, num_classes: int):
        B, H, W = labels.shape
        C, device = num_classes, labels.device
        self.num_classes, self.labels = C, labels.flatten()                        # (BHW,)
        padded = F.pad(labels[:, None].float(), (1, 1, 1, 1), value=C)           # (B, 1, H+2, W+2)
        is_border = F.max_pool2d(padded, 3, 1) != -F.max_pool2d(-padded, 3, 1)    # (B, 1, H, W)
        border = is_border.flatten().nonzero()[:, 0]                               # (n,) pixel index
        b, y, x = border // (H * W), border // W % H, border % W
        t = torch.arange(9, device=device)
        corner = (b * (H + 2) + y) * (W + 2) + x                                   # window's top left
        windows = padded.flatten().long()[corner[:, None] + t // 3 * (W + 2) + t % 3]   # (n, 9)
        patterns, pattern_of = unique_rows(windows, C + 1)                         # (u, 9), (n,)
        self.patterns = patterns + t * (C + 1)                                     # (u, 9) table rows
        # what each border pixel adds: its pattern's correction (row 9u + i of the spread
        # source) to itself, and its pattern's tap t (row 9i + t) to pixel q - (dy-1, dx-1)
        ty, tx = y[:, None] + 1 - t // 3, x[:, None] + 1 - t % 3                   # (n, 9)
        inside = (ty >= 0) & (ty < H) & (tx >= 0) & (tx < W)
        target = torch.cat([border, ((b[:, None] * H + ty) * W + tx)[inside]])
        source = torch.cat([9 * len(patterns) + pattern_of, (pattern_of[:, None] * 9 + t)[inside]])
        self._spread = (target, source, B * H * W)
        self._matrices: dict[tuple[torch.dtype, bool], torch.Tensor] = {}

    def spread(self, dtype: torch.dtype, transposed: bool = False) -> torch.Tensor:
        """The sparse (BHW, 10u) matrix that takes pattern values to the pixels they feed, or
        its transpose (for the backward pass only). CSR, built once per dtype."""
        key = (dtype, transposed)
        if key not in self._matrices:
            target, source, pixels = self._spread
            shape = (pixels, 10 * len(self.patterns))
            self._matrices[key] = (csr(source, target, shape[::-1], dtype) if transposed
                                   else csr(target, source, shape, dtype))
        return self._matrices[key]

    def lookup(self, dtype: torch.dtype) -> torch.Tensor:
        """(u, 9 (C+1)) the patterns as 9-hot rows over the table."""
        out = torch.zeros(len(self.patterns), 9 * (self.num_classes + 1), dtype=dtype,
                          device=self.patterns.device)
        return out.scatter_(1, self.patterns, 1.0)


def csr(rows: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """A sparse CSR matrix of ones at (rows, cols) (no duplicate entries)."""
    order = torch.argsort(rows, stable=True)
    crow = F.pad(torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0), (1, 0))
    ones = torch.ones(len(rows), dtype=dtype, device=rows.device)
    with warnings.catch_warnings():   # "sparse CSR support is in beta": its product is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols[order], ones, shape, check_invariants=False)


def unique_rows(rows: torch.Tensor, base: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct rows of (N, 9) ints in [0, base) -> (distinct rows (u, 9), index of each row's).
    Rows are numbered in base `base` when that fits in int64 (one sort of N numbers)."""
    if base ** 9 >= 2 ** 63:
        return torch.unique(rows, dim=0, return_inverse=True)
    powers = base ** torch.arange(8, -1, -1, device=rows.device)
    codes, inverse = torch.unique(rows @ powers, return_inverse=True)
    return codes[:, None] // powers % base, inverse


class _AddSpread(torch.autograd.Function):
    """base += windows' spread matrix @ values, in place (base: (BHW, out), values: (10u, out))."""

    @staticmethod
    def forward(ctx, base, values, windows):
        ctx.windows = windows
        ctx.mark_dirty(base)
        return base.addmm_(windows.spread(base.dtype), values)

    @staticmethod
    def backward(ctx, grad):
        return grad, ctx.windows.spread(grad.dtype, transposed=True) @ grad.contiguous(), None


def dense_weight(conv: torch.nn.Conv2d) -> torch.Tensor:
    """A grouped conv's weight (O, I/g, k, k) as the equivalent ungrouped one (O, I, k, k)."""
    w, g = conv.weight, conv.groups
    if g == 1:
        return w
    blocks = w.unflatten(0, (g, -1))                                              # (g, O/g, I/g, k, k)
    eye = torch.eye(g, dtype=w.dtype, device=w.device)
    return torch.einsum("goikl,gh->gohikl", blocks, eye).flatten(0, 1).flatten(1, 2)


def border_modulation(shared: torch.nn.Conv2d, params: list[torch.nn.Conv2d],
                      windows: LabelWindows) -> torch.Tensor:
    """The conditional norm's convs (`shared` then ReLU, then each of `params` on the hidden map,
    3x3, padding 1) on the one-hot map of `windows` -> (B*H*W, sum of params' outputs): their
    outputs side by side, one row per pixel (channels-last order).

    (F.embedding picks rows rather than indexing: its backward sums in a fixed order, and
    indexing's does not, which would break exact resume.)"""
    C = windows.num_classes
    w_shared = dense_weight(shared)                                               # (hidden, C, 3, 3)
    w_params = torch.cat([dense_weight(p) for p in params])                       # (out, hidden, 3, 3)
    b_params = torch.cat([p.bias for p in params])
    hidden, out = w_shared.shape[0], w_params.shape[0]
    hbar = torch.relu(shared.bias[:, None] + w_shared.sum((2, 3)))                # (hidden, C)
    # conv(hbar[label]) = conv(one-hot, P): per tap and class W_tap @ hbar_c; outside the image 0
    per_class = torch.einsum("ohkl,hc->klco", w_params, hbar)                     # (3, 3, C, out)
    inside = b_params + per_class.sum((0, 1))                                     # (C, out): window all c
    result = F.embedding(windows.labels, inside)                                  # (BHW, out)
    # at a border pixel, conv(one-hot, P) is its window's 9 table rows, not `inside`
    lookup = windows.lookup(result.dtype)                                         # (u, 9 (C+1))
    table = F.pad(per_class, (0, 0, 0, 1)).reshape(9 * (C + 1), out)
    centre = windows.patterns[:, 4] - 4 * (C + 1)                                 # (u,) labels
    correction = lookup @ table + b_params - F.embedding(centre, inside)          # (u, out)
    # conv(r): r at each distinct border window, then its 9 taps
    shared_table = F.pad(w_shared.permute(2, 3, 1, 0).reshape(9, C, hidden), (0, 0, 0, 1))
    h = torch.relu(lookup @ shared_table.reshape(9 * (C + 1), hidden) + shared.bias)  # (u, hidden)
    r = h - F.embedding(centre, hbar.t())
    taps = r @ w_params.permute(1, 2, 3, 0).reshape(hidden, 9 * out)              # (u, 9 out)
    values = torch.cat([taps.view(-1, out), correction])                          # (10u, out)
    return _AddSpread.apply(result, values, windows)
