"""Data sets: toy 2-D mixtures and 1-D mixtures (``toy``)."""
from .toy import (
    TOY_DATASETS,
    ToyData,
    grid,
    grid_centres,
    load_toy,
    mixture_1d,
    mixture_1d_pdf,
    ring,
    ring_centres,
    swiss_roll,
    two_moons,
)
