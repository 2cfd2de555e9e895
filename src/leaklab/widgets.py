"""Sliders: a live one for Jupyter (ipywidgets, needs a kernel) and a static one for the HTML book."""

import html
import json
import uuid

import matplotlib.pyplot as plt
from IPython.display import HTML, display

from . import fgsm_leak, figures, toy2d
from .experiments import EXPERIMENTS


def toy_live(p, eps_step=0.01):
    """An eps slider (and a seed box) that recompute the toy in the running kernel.

    Moving the slider must answer in well under a second, but one small net's
    1000 Adam steps alone take about that long on a CPU, whatever their size,
    because the time goes to per-step overhead. So when the seed changes, the
    attack and a fresh net are computed for every radius on the slider at once,
    as one batched run (about as long as one net), and moving the slider then
    only redraws.
    """
    import ipywidgets as W

    n_steps = round(p.sweep_eps_max / eps_step)
    grid = [round(i * eps_step, 6) for i in range(n_steps + 1)]
    eps_slider = W.SelectionSlider(options=[(f"{e:.2f}", i) for i, e in enumerate(grid)],
                                   value=min(range(len(grid)), key=lambda i: abs(grid[i] - p.eps)),
                                   description="eps", continuous_update=True,
                                   layout=W.Layout(width="60%"))
    seed_box = W.BoundedIntText(value=p.seed, min=0, max=2**31 - 1, description="seed")
    status = W.HTML()
    out = W.Output()
    state = {}
    with plt.ioff():
        fig = plt.figure(figsize=(13, 3.7), facecolor="white")

    def compute(_=None):
        status.value = "<i>training the original net and one fresh net per radius…</i>"
        originals = toy2d.train_originals([seed_box.value], p.n_points, p.hidden, p.depth, p.steps, p.lr)
        state["originals"] = originals
        state["distilled"] = toy2d.distil(originals, grid, p.attack, p.attack_steps, p.hidden, p.depth,
                                          p.student_steps, p.lr)
        draw()

    paper = EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper

    def draw(_=None):
        case = toy2d.case(state["originals"], state["distilled"], 0, eps_slider.value)
        figures.toy_panels(case, fig)
        status.value = (f"new net: <b>{case['student_correct']}/{case['n_points']}</b> correct "
                        f"on the original points (paper: {paper:g}/32, chance: {case['n_points'] // 2})")
        with out:
            out.clear_output(wait=True)
            display(fig)

    eps_slider.observe(draw, names="value")
    seed_box.observe(compute, names="value")
    compute()
    box = W.VBox([W.HBox([eps_slider, seed_box]), status, out])
    box.eps_slider, box.seed_box, box.status = eps_slider, seed_box, status  # for tests and benchmarks
    return box


def fgsm_live(model, images, labels, classes, curve_eps, curve_loss, paper_points=None, eps_max=16.0,
              step=0.25):
    """An eps slider that attacks `images` with the trained model in the running kernel, at any eps up to
    eps_max (beyond the curve's range too): one gradient and one forward pass on 8 images per move."""
    import ipywidgets as W

    slider = W.FloatSlider(value=0.0, min=0.0, max=eps_max, step=step, description="eps (/255)",
                           continuous_update=False, layout=W.Layout(width="60%"))
    out = W.Output()

    def draw(_=None):
        frames, predicted, p_true = fgsm_leak.adversarial_images(model, images, labels, [slider.value])
        fig = figures.fgsm_frame(frames[0], predicted[0], labels, p_true[0], classes, slider.value, curve_eps,
                                 curve_loss, paper_points)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    slider.observe(draw, names="value")
    draw()
    box = W.VBox([slider, out])
    box.slider = slider
    return box


def frame_slider(frames, label, initial=0):
    """A slider over precomputed frames that works in a static HTML page, with no kernel.

    frames: list of dicts with `value` (shown beside the slider), `caption`
    (HTML) and `png` (bytes). Everything is inlined: no request leaves the page.
    """
    uid = "ll-" + uuid.uuid4().hex[:8]
    data = [{"value": f["value"], "caption": f["caption"], "src": figures.data_uri(f["png"])} for f in frames]
    first = data[initial]
    return HTML(f"""
<div id="{uid}" class="leaklab-frame-slider" style="background:#fff;padding:4px 0">
  <label style="font-weight:600">{html.escape(label)} =
    <output class="ll-value">{html.escape(first['value'])}</output></label>
  <input class="ll-range" type="range" min="0" max="{len(data) - 1}" step="1" value="{initial}"
         aria-label="{html.escape(label)}" style="width:60%;vertical-align:middle">
  <div class="ll-caption" style="margin:4px 0">{first['caption']}</div>
  <img class="ll-frame" src="{first['src']}" alt="figure at {html.escape(label)} = {html.escape(first['value'])}"
       style="max-width:100%;background:#fff">
</div>
<script>
(function() {{
  const frames = {json.dumps(data)};
  const root = document.getElementById("{uid}");
  const range = root.querySelector(".ll-range");
  function show(i) {{
    const f = frames[i];
    root.querySelector(".ll-value").textContent = f.value;
    root.querySelector(".ll-caption").innerHTML = f.caption;
    const img = root.querySelector(".ll-frame");
    img.src = f.src;
    img.alt = "figure at {html.escape(label)} = " + f.value;
  }}
  range.addEventListener("input", () => show(Number(range.value)));
}})();
</script>""")
