"""Sphinx configuration of fastnmf's documentation.

Build: ``pip install -e ".[docs]"`` then ``python -m sphinx -W -b html docs docs/_build/html``
(CI does it, warnings as errors).  Pages are Markdown (MyST); the API reference comes from
the docstrings (numpydoc); the benchmark tables are the files under ``benchmarks/results``,
included as they are; the kernel contract is the docstring of ``fastnmf._kernels``; the
example gallery (sphinx-gallery) runs every ``examples/plot_*.py`` and writes its pages to
``docs/auto_examples`` (generated, not committed; execution times in
``docs/sg_execution_times.rst``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fastnmf  # noqa: E402
import fastnmf._kernels  # noqa: E402

project = "fastnmf"
author = "the fastnmf developers"
release = version = fastnmf.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated/README.md"]
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autosummary_generate = False
autodoc_default_options = {"members": False}
html_theme = "alabaster"
html_static_path = []

# The example gallery: every examples/plot_*.py runs at build time, on data shipped inside
# installed packages (nothing is downloaded), and its figures are kept.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}

# The kernel contract, as written in fastnmf/_kernels/__init__.py, shown as it is.
_generated = Path(__file__).parent / "_generated"
_generated.mkdir(exist_ok=True)
(_generated / "kernel_contract.txt").write_text(fastnmf._kernels.__doc__)
