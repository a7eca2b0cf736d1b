"""Sphinx configuration for the sklearn-lth documentation."""

import sklearn_lth

project = "sklearn-lth"
author = "The sklearn-lth developers"
copyright = "2026, The sklearn-lth developers"
release = sklearn_lth.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_title = "sklearn-lth"

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    # Our mixins' methods (predict, predict_proba) but not scikit-learn's.
    "inherited-members": "BaseEstimator,ClassifierMixin,RegressorMixin",
    # scikit-learn's generated metadata-routing methods cite its own docs.
    "exclude-members": (
        "set_fit_request,set_partial_fit_request,set_score_request,get_metadata_routing"
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# No intersphinx: the docs build offline, without fetching inventories.

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "doc_module": ("sklearn_lth",),
    "backreferences_dir": "generated",
    "reference_url": {"sklearn_lth": None},
    "filename_pattern": "/plot_",
    "download_all_examples": False,
}
