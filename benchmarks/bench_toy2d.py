"""Benchmark the toy's interactive and batch costs on this machine; prints a table.

    python benchmarks/bench_toy2d.py

Rows, measured side by side in one run with the quick profile's nets:
- live slider, one move: what the Jupyter slider costs per move (redraw of precomputed nets);
- live slider, new seed: the batched recompute of every radius on the slider;
- one fresh net at one radius: what a move would cost if it retrained (the design the slider avoids);
- the quick population (200 seeds) and sweep (50 seeds x 16 radii), as the notebook runs them.
"""

import time
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import torch  # noqa: E402

from leaklab import experiments, toy2d  # noqa: E402
from leaklab.pages import toy2d as toy2d_page  # noqa: E402


def timed(fn, repeat=1):
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - start) / repeat, out


def main():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    p = SimpleNamespace(**experiments.resolve("toy2d", "quick"))
    rows = []
    build, box = timed(lambda: toy2d_page.live_slider(p))
    n = len(box.eps_slider.options)

    def sweep_slider():
        for i in range(n):
            box.eps_slider.value = i

    move, _ = timed(sweep_slider)
    rows.append(("live slider, one move (redraw)", move / n))
    new_seed, _ = timed(lambda: setattr(box.seed_box, "value", p.seed + 1))
    rows.append((f"live slider, new seed ({n} radii at once)", new_seed))
    rows.append(("live slider, first display", build))
    originals = toy2d.train_originals([p.seed], p.n_points, p.hidden, p.depth, p.steps, p.lr)
    one, _ = timed(lambda: toy2d.distil(originals, [p.eps], p.attack, p.attack_steps, p.hidden, p.depth,
                                        p.student_steps, p.lr))
    rows.append(("one fresh net at one radius (attack + train)", one))
    seeds = list(range(p.seed, p.seed + p.n_seeds))
    t_orig, originals = timed(lambda: toy2d.train_originals(seeds, p.n_points, p.hidden, p.depth, p.steps, p.lr))
    rows.append((f"originals, {p.n_seeds} seeds", t_orig))
    t_pop, _ = timed(lambda: toy2d.distil(originals, [p.eps], p.attack, p.attack_steps, p.hidden, p.depth,
                                          p.student_steps, p.lr, control=True))
    rows.append((f"population at eps, {p.n_seeds} seeds (+ control)", t_pop))
    grid = toy2d.eps_grid(p.sweep_eps_max, p.sweep_points)
    t_sweep, _ = timed(lambda: toy2d.distil(originals.first(p.sweep_seeds), grid, p.attack, p.attack_steps,
                                            p.hidden, p.depth, p.student_steps, p.lr))
    rows.append((f"sweep, {p.sweep_seeds} seeds x {len(grid)} radii", t_sweep))

    print(f"toy2d benchmark ({torch.get_num_threads()} threads, torch {torch.__version__})")
    print(f"{'what':<50} {'seconds':>8}")
    for what, seconds in rows:
        print(f"{what:<50} {seconds:8.3f}")
    print(f"{'per-move cost, precomputed vs retrained (ratio)':<50} {one / (move / n):8.1f}x")


if __name__ == "__main__":
    main()
