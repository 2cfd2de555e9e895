"""A small Sphinx extension for the book's pages: the book's stylesheet, and one workaround.

Sphinx 7.4 writes a script that an extension adds inline (with a body and no file)
once per registration, so sphinx-thebe's `const THEBE_JS_URL` and
sphinx-togglebutton's setup land on a page twice and the second copy throws
(fixed upstream in Sphinx 8, which jupyter-book 1.x does not allow). Keep the
first copy of each script.
"""


from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _add_static(app, config):
    config.html_static_path.append(str(STATIC))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", js) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("config-inited", _add_static)
    app.add_css_file("leaklab.css")
    app.connect("html-page-context", _dedupe_scripts, priority=1000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
