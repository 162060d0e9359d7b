"""Data sets: toy 2-D and 1-D mixtures (``toy``), the 8×8 UCI digits shipped with the package
(``digits``), and a reader for MNIST's IDX files at a path you give (``mnist``)."""
from .digits import load_digits
from .mnist import load_mnist
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
