"""Data sets: toy 2-D and 1-D sets, with exact log-densities where known, or the rows of a .npy file
(``toy``), the 8×8 UCI digits shipped with the package (``digits``), and a reader for MNIST's IDX
files at a path you give (``mnist``)."""
from .digits import load_digits
from .mnist import load_mnist
from .toy import (
    TOY_DATASETS,
    TOY_LOG_DENSITIES,
    ToyData,
    check_toy_data,
    checkerboard,
    checkerboard_log_density,
    gauss8,
    gauss8_log_density,
    grid,
    grid_centres,
    is_toy_file,
    load_toy,
    mixture_1d,
    mixture_1d_pdf,
    mixture_log_density,
    monte_carlo_entropy,
    ring,
    ring_centres,
    swiss_roll,
    toy_file_rows,
    two_moons,
)
