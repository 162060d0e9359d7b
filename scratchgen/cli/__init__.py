"""The ``scratchgen`` command line (entry point ``scratchgen = "scratchgen.cli:main"``).

``main.py``: the parser and ``main``; ``common.py``: options generated from the configs, the run
options and the summary line; one module per family: ``gan.py`` (``train gan``, ``reject``),
``images.py`` (``train dcgan|cgan|ssgan``, ``eval``), ``diffusion.py`` (``train ddpm``, ``sample``).
Library modules never import this package.
"""
from .common import config_from_args, metrics_line
from .main import build_parser, main

__all__ = ["main", "build_parser", "config_from_args", "metrics_line"]
