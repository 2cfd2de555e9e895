"""Sliders: a live one for Jupyter (ipywidgets, needs a kernel) and a static one for the HTML book."""

import html
import json
import re
import uuid

import matplotlib.pyplot as plt
from IPython.display import HTML, display

from .. import records
from . import figures

# In a batch run the live sliders are not made: no one can move them, the book removes their cell's output, and a
# widget made in a kernel no one talks to can hang the client that executes the notebook for good
# (jupyter/nbclient#312; seen here three times, each beside another busy process).
# tests/test_browser.py moves every live slider in a real JupyterLab instead.
NOT_IN_BATCH = HTML("<p><i>The live slider is made only in Jupyter, where it can be moved.</i></p>")



def eps_seed_slider(grid, initial, seed, recompute, draw, figsize=(13, 3.7)):
    """A live slider over `grid` (index `initial` first) and a seed box, in the running kernel (ipywidgets).

    A new seed calls `recompute(seed)` once, which does all the work for every value of the grid (the caller
    batches it), so that moving the slider only calls `draw(state, index, fig)`: it draws into the figure and
    returns a line of HTML for the status. Moving a slider must answer in well under a second.
    """
    if records.in_batch():
        return NOT_IN_BATCH
    import ipywidgets as W

    slider = W.SelectionSlider(options=[(f"{e:.2f}", i) for i, e in enumerate(grid)], value=initial,
                               description="eps", continuous_update=True, layout=W.Layout(width="60%"))
    seed_box = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    status = W.HTML()
    out = W.Output()
    state = {}
    with plt.ioff():
        fig = plt.figure(figsize=figsize, facecolor="white")

    def redraw(_=None):
        status.value = draw(state["computed"], slider.value, fig)
        with out:
            out.clear_output(wait=True)
            display(fig)

    def new_seed(_=None):
        status.value = "<i>computing…</i>"
        state["computed"] = recompute(seed_box.value)
        redraw()

    slider.observe(redraw, names="value")
    seed_box.observe(new_seed, names="value")
    new_seed()
    box = W.VBox([W.HBox([slider, seed_box]), status, out])
    box.eps_slider, box.seed_box, box.status = slider, seed_box, status  # for tests and benchmarks
    return box


def eps_slider(draw, eps_max, step, description="eps (/255)", choices=(), choice_label=""):
    """A live slider from 0 to `eps_max` in the running kernel; each move calls `draw(eps)`, which returns a
    new figure to show (and that is then closed). With `choices`, `draw(eps, choice)` is called instead, the choice
    picked by buttons beside the slider where there are two or more."""
    if records.in_batch():
        return NOT_IN_BATCH
    import ipywidgets as W

    slider = W.FloatSlider(value=0.0, min=0.0, max=eps_max, step=step, description=description,
                           continuous_update=False, layout=W.Layout(width="60%"))
    picker = W.ToggleButtons(options=list(choices), description=choice_label) if len(choices) > 1 else None
    out = W.Output()

    def redraw(_=None):
        fig = draw(slider.value, picker.value if picker else choices[0]) if choices else draw(slider.value)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    slider.observe(redraw, names="value")
    if picker:
        picker.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([slider, picker]) if picker else slider, out])
    box.slider, box.picker = slider, picker
    return box


def frame_slider(frames, label, initial=0):
    """A slider over precomputed frames that works in a static HTML page, with no kernel.

    frames: list of dicts with `value` (shown beside the slider), `caption` (HTML) and `png` (bytes); or
    {choice: such a list}, each list over the same values, with a button per choice that switches between them at
    the slider's position. Everything is inlined: no request leaves the page.
    """
    uid = "ll-" + uuid.uuid4().hex[:8]
    sets = frames if isinstance(frames, dict) else {"": frames}
    data = [[{"value": f["value"], "caption": f["caption"],
              "alt": f"figure at {label} = {f['value']}: " + re.sub("<[^>]+>", "", f["caption"]),
              "src": figures.data_uri(f["png"])} for f in chosen] for chosen in sets.values()]
    first = data[0][initial]
    buttons = "" if len(sets) < 2 else '<div class="ll-choices" style="margin:4px 0">' + "".join(
        f'<label style="margin-right:1em"><input type="radio" name="{uid}-choice" value="{i}"'
        f'{" checked" if i == 0 else ""}> {html.escape(name)}</label>' for i, name in enumerate(sets)) + "</div>"
    return HTML(f"""
<div id="{uid}" class="leaklab-frame-slider" style="background:#fff;padding:4px 0">
  {buttons}
  <label style="font-weight:600">{html.escape(label)} =
    <output class="ll-value">{html.escape(first['value'])}</output></label>
  <input class="ll-range" type="range" min="0" max="{len(data[0]) - 1}" step="1" value="{initial}"
         aria-label="{html.escape(label)}" style="width:60%;vertical-align:middle">
  <div class="ll-caption" style="margin:4px 0">{first['caption']}</div>
  <img class="ll-frame" src="{first['src']}" alt="{html.escape(first['alt'])}" style="max-width:100%;background:#fff">
</div>
<script>
(function() {{
  const sets = {json.dumps(data)};
  const root = document.getElementById("{uid}");
  const range = root.querySelector(".ll-range");
  let chosen = 0;
  function show(i) {{
    const f = sets[chosen][i];
    root.querySelector(".ll-value").textContent = f.value;
    root.querySelector(".ll-caption").innerHTML = f.caption;
    const img = root.querySelector(".ll-frame");
    img.src = f.src;
    img.alt = f.alt;
  }}
  range.addEventListener("input", () => show(Number(range.value)));
  root.querySelectorAll("input[type=radio]").forEach(button => button.addEventListener("change", () => {{
    chosen = Number(button.value);
    show(Number(range.value));
  }}));
}})();
</script>""")
