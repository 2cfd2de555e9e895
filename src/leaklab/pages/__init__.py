"""The page layer: what a chapter shows, drawn from records. Nothing below it imports it.

One module per chapter (`pages.NAME` beside the computation `leaklab.NAME`): its tables, figures, sliders and the
verdicts and phrases its notebook glues. `figures` and `widgets` are the generic pieces (they take data and
callables, and import no experiment); `paper_scale` is each chapter's section of committed paper-scale records.
Only this layer imports matplotlib or ipywidgets, so every computation runs on a bare machine without them.
"""
