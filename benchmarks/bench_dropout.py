"""reglab.dropout against torch.nn.functional.dropout on the CPU (or the device given).

For 256x256 and 4096x4096 float32 tensors: forward, forward+backward, and the
bytes saved for backward, measured in one run with the two implementations
alternating. Statistics are checked on the side (keep rate within 5 binomial
standard errors of 1 - p) so a fast but wrong dropout cannot pass.

    python benchmarks/bench_dropout.py [--p 0.5] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
import torch.nn.functional as F
from _timing import interleaved

from reglab import dropout


def saved_bytes(fn, x: torch.Tensor) -> int:
    sizes: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, nargs="+", default=[0.5, 0.2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}\n")
    print(f"{'size':>10s} {'p':>4s} {'pass':>9s} {'torch':>10s} {'reglab':>10s} {'speed-up':>9s}")
    for p in args.p:
        for n in (256, 4096):
            x = torch.randn(n, n, device=device, requires_grad=True)
            grad = torch.randn(n, n, device=device)
            sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
            repeats = args.repeats if n == 256 else max(3, args.repeats // 3)

            def fwd(f):
                def run():
                    with torch.no_grad():
                        f(x, p)
                    sync()

                return run

            def fwd_bwd(f):
                def run():
                    f(x, p).backward(grad)
                    sync()

                return run

            for name, wrap in (("forward", fwd), ("fwd+bwd", fwd_bwd)):
                times = interleaved({"torch": wrap(F.dropout), "reglab": wrap(dropout)}, repeats=repeats * 3)
                t_torch, t_reglab = statistics.median(times["torch"]), statistics.median(times["reglab"])
                ns = 1e9 / (n * n)
                print(
                    f"{n:>4d}x{n:<5d} {p:4.2f} {name:>9s} {t_torch * ns:7.2f} ns {t_reglab * ns:7.2f} ns "
                    f"{t_torch / t_reglab:8.2f}x"
                )
            b_torch, b_reglab = saved_bytes(lambda t: F.dropout(t, p), x), saved_bytes(lambda t: dropout(t, p), x)
            print(
                f"{'':>15s} saved for backward: torch {b_torch / x.numel():.2f} B/elem, "
                f"reglab {b_reglab / x.numel():.2f} B/elem"
            )
            with torch.no_grad():
                keep = (dropout(torch.ones(n, n, device=device), p) != 0).double().mean().item()
            se = math.sqrt(p * (1 - p) / (n * n))
            verdict = "ok" if abs(keep - (1 - p)) < 5 * se else "WRONG"
            print(f"{'':>15s} keep rate {keep:.5f} (1-p = {1 - p:.2f}, 5 SE = {5 * se:.5f}): {verdict}")
    print("\ntimes are medians per element; speed-up = torch / reglab, measured alternately in this run")


if __name__ == "__main__":
    main()
