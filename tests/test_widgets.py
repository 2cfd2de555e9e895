"""The sliders: the live one recomputes in the kernel, the static one carries every frame inline."""

import re

import matplotlib

matplotlib.use("Agg")

from leaklab import toy2d  # noqa: E402
from leaklab.pages import toy2d as toy2d_page  # noqa: E402
from leaklab.pages import figures, widgets  # noqa: E402
from leaklab.experiments import resolve  # noqa: E402


def small_params(**kw):
    from types import SimpleNamespace

    return SimpleNamespace(**resolve("toy2d", "quick", {"seed": 0, "steps": 300, "student_steps": 200,
                                                        "n_points": 16, "sweep_eps_max": 0.2, **kw}))


def _scores(seed, p, grid):
    """The new nets' scores at every radius of the slider, computed without the widget."""
    originals = toy2d.train_originals([seed], p.n_points, p.hidden, p.depth, p.steps, p.lr)
    return toy2d.distil(originals, grid, p.attack, p.attack_steps, p.hidden, p.depth, p.student_steps,
                        p.lr).student_correct.tolist()


def test_live_slider_redraws_and_the_seed_box_recomputes():
    p = small_params()
    box = toy2d_page.live_slider(p, eps_step=0.05)
    slider, seed_box, status = box.eps_slider, box.seed_box, box.status
    assert [label for label, _ in slider.options] == ["0.00", "0.05", "0.10", "0.15", "0.20"]
    assert slider.label == "0.10"  # the nearest radius to eps = 0.12

    def shown():
        return int(re.search(r"<b>(\d+)/16</b>", status.value).group(1))

    grid = [0.0, 0.05, 0.1, 0.15, 0.2]
    seed0 = _scores(0, p, grid)
    assert len(set(seed0)) > 1  # else a slider stuck on one radius would pass the loop below
    assert shown() == seed0[2]
    seen = []
    for i in range(len(grid)):
        slider.value = i
        seen.append(shown())
    assert seen == seed0  # each position shows that radius's new net, not a stale one

    seed1 = _scores(1, p, grid)
    differ = [i for i in range(len(grid)) if seed0[i] != seed1[i]]
    assert differ, "seeds 0 and 1 score alike everywhere: pick another seed for this check"
    slider.value = differ[0]
    seed_box.value = 1  # a new seed retrains the original and the fresh nets
    assert shown() == seed1[differ[0]]


def test_frame_slider_inlines_every_frame():
    originals = toy2d.train_originals([0], n_points=8, steps=100)
    d = toy2d.distil(originals, [0.0, 0.1], steps=50)
    frames = [{"value": f"{e:.2f}", "caption": f"score {i}",
               "png": figures.png_bytes(figures.toy_panels(toy2d.case(originals, d, 0, i, resolution=20)))}
              for i, e in enumerate(d.eps)]
    html = widgets.frame_slider(frames, "eps", initial=1).data
    assert html.count("data:image/png;base64,") == 2 + 1  # both frames in the script, the initial one in <img>
    assert 'max="1"' in html and 'value="1"' in html and "score 1" in html
    assert "http" not in html  # nothing fetched from anywhere
    # two sets of frames over the same values: a button for each, every frame inlined, the first set shown
    html = widgets.frame_slider({"step A": frames, "step B": frames[::-1]}, "eps", initial=1).data
    assert html.count("data:image/png;base64,") == 4 + 1 and html.count('type="radio"') == 2
    assert "step A" in html and "step B" in html and 'value="0" checked' in html
    assert 'alt="figure at eps = 0.10: score 1"' in html  # the frame's alt text: its value and caption, no markup


def test_a_batch_run_makes_no_live_slider(monkeypatch):
    """Under `leaklab run` or `leaklab book` no one can move a live slider, and making one can hang the client that
    executes the notebook (jupyter/nbclient#312): the cell shows a line instead."""
    from leaklab import records

    monkeypatch.setenv(records.BATCH_ENV, "1")
    assert widgets.eps_slider(lambda eps: None, 16.0, 0.25) is widgets.NOT_IN_BATCH
    assert toy2d_page.live_slider(small_params()) is widgets.NOT_IN_BATCH


def test_a_live_slider_draws_with_its_choice_one_offered_or_picked_from_two():
    """fgsm_leak's live slider offers the two steps where the model was measured both ways, leak_conditions' one:
    either way each move draws with a choice, and a second choice is a button that redraws."""
    import matplotlib.pyplot as plt

    calls = []

    def draw(eps, choice):
        calls.append((eps, choice))
        return plt.figure()

    one = widgets.eps_slider(draw, 4.0, 0.5, choices=["in eval mode"], choice_label="step")
    assert calls == [(0.0, "in eval mode")] and one.picker is None
    one.slider.value = 1.0
    assert calls[-1] == (1.0, "in eval mode")
    two = widgets.eps_slider(draw, 4.0, 0.5, choices=["in eval mode", "as trained"], choice_label="step")
    two.picker.value = "as trained"
    assert calls[-1] == (0.0, "as trained")
