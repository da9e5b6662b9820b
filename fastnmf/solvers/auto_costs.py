"""The fitted constants of the cost model behind ``solver='auto'``
(:func:`fastnmf.solvers.auto.predicted_seconds`).

Written by ``python benchmarks/fit_cost_model.py benchmarks/results/auto.json``
(2026-12-06) from the measurements of ``benchmarks/auto_table.py``;
do not edit by hand (a test checks they are that fit).
Keys: solver/loss/X/dtype.  ``per_iter`` and ``setup``: seconds per unit of each cost
feature (:func:`fastnmf.solvers.auto.cost_features`); ``iterations`` (u, v): exp(u) k^v.
The fit: ``benchmarks/results/auto.md``.
"""

COSTS = {
    'cd/frobenius/dense/float32': {
        'per_iter': [1.641e-11, 1.786e-10, 9.103e-11, 4.396e-09, 1.844e-05],
        'setup': [0.0, 1.157e-08, 0.0, 2.298e-07, 0.001996],
        'iterations': [5.444, -0.3438],
    },
    'cd/frobenius/dense/float64': {
        'per_iter': [4.084e-11, 2.319e-10, 1.574e-10, 3.058e-09, 2.408e-05],
        'setup': [4.192e-10, 2.46e-08, 0.0, 6.675e-08, 0.002068],
        'iterations': [5.444, -0.3438],
    },
    'cd/frobenius/sparse/float32': {
        'per_iter': [3.575e-11, 0.0, 7.922e-11, 0.0, 0.001004],
        'setup': [2.706e-09, 5.974e-08, 4.825e-10, 0.0, 0.0],
        'iterations': [4.463, 0.07239],
    },
    'cd/frobenius/sparse/float64': {
        'per_iter': [1.288e-11, 2.026e-09, 1.048e-10, 3.802e-09, 5.408e-05],
        'setup': [1.25e-10, 5.167e-08, 6.193e-10, 7.047e-08, 0.0016],
        'iterations': [4.463, 0.07239],
    },
    'cd/kl/dense/float32': {
        'per_iter': [2.69e-09, 8.68e-09, 0.0, 0.0, 0.0],
        'setup': [6.406e-10, 3.048e-08, 0.0, 0.0, 0.0],
        'iterations': [4.102, 0.3154],
    },
    'cd/kl/dense/float64': {
        'per_iter': [3.584e-09, 8.744e-09, 0.0, 4.921e-09, 2.656e-05],
        'setup': [6.864e-10, 2.959e-08, 0.0, 1.574e-07, 0.001942],
        'iterations': [4.102, 0.3154],
    },
    'cd/kl/sparse/float64': {
        'per_iter': [2.565e-09, 8.946e-09, 2.035e-10, 1.491e-08, 0.0003255],
        'setup': [1.493e-09, 4.275e-08, 1.331e-09, 5.411e-08, 0.001913],
        'iterations': [3.641, 0.2103],
    },
    'emu/beta/dense/float64': {
        'per_iter': [0.0, 8.054e-09, 0.0, 8.34e-08, 3.068e-05],
        'setup': [0.0, 8.164e-08, 0.0, 0.0, 0.001647],
        'iterations': [3.255, 0.2106],
    },
    'emu/beta/sparse/float64': {
        'per_iter': [0.0, 1.056e-07, 0.0, 2.389e-07, 0.01575],
        'setup': [0.0, 1.199e-07, 0.0, 2.643e-07, 0.01006],
        'iterations': [3.756, 0.09749],
    },
    'emu/kl/dense/float32': {
        'per_iter': [7.498e-11, 2.656e-09, 0.0, 0.0, 0.0],
        'setup': [8.543e-10, 2.215e-08, 0.0, 0.0, 0.0],
        'iterations': [3.88, 0.1006],
    },
    'emu/kl/dense/float64': {
        'per_iter': [1.089e-10, 3.448e-09, 0.0, 1.231e-08, 8.614e-05],
        'setup': [5.297e-10, 3.258e-08, 0.0, 1.494e-07, 0.002194],
        'iterations': [3.88, 0.1006],
    },
    'emu/kl/sparse/float64': {
        'per_iter': [4.346e-10, 1.097e-08, 6.653e-11, 2.163e-08, 0.0001021],
        'setup': [9.097e-10, 5.032e-08, 0.0, 8.525e-08, 0.001374],
        'iterations': [3.613, 0.2705],
    },
    'hals/frobenius/dense/float32': {
        'per_iter': [4.965e-11, 2.656e-10, 8.013e-11, 1.419e-08, 3.848e-05],
        'setup': [9.641e-11, 1.569e-08, 0.0, 1.198e-07, 0.002937],
        'iterations': [4.322, 0.2299],
    },
    'hals/frobenius/dense/float64': {
        'per_iter': [1.289e-10, 7.766e-10, 1.224e-10, 6.384e-09, 4.647e-05],
        'setup': [2.453e-10, 2.243e-08, 0.0, 1.466e-07, 0.002086],
        'iterations': [4.322, 0.2299],
    },
    'hals/frobenius/sparse/float32': {
        'per_iter': [7.101e-11, 2.232e-09, 8.854e-11, 0.0, 0.0],
        'setup': [0.0, 0.0, 5.081e-10, 7.202e-08, 0.03193],
        'iterations': [2.591, 0.2765],
    },
    'hals/frobenius/sparse/float64': {
        'per_iter': [1.128e-10, 2.159e-09, 9.497e-11, 4.798e-09, 6.804e-05],
        'setup': [2.522e-10, 4.828e-08, 3.753e-10, 9.896e-08, 0.001883],
        'iterations': [2.591, 0.2765],
    },
    'mu/beta/dense/float64': {
        'per_iter': [0.0, 1.531e-08, 1.596e-11, 0.0, 3.114e-05],
        'setup': [0.0, 3.696e-08, 7.696e-09, 0.0, 0.002085],
        'iterations': [4.012, 0.1186],
    },
    'mu/beta/sparse/float64': {
        'per_iter': [0.0, 1.136e-07, 0.0, 1.978e-07, 0.01695],
        'setup': [0.0, 1.404e-07, 0.0, 8.499e-08, 0.01302],
        'iterations': [4.064, 0.1258],
    },
    'mu/frobenius/dense/float32': {
        'per_iter': [1.792e-11, 3.854e-10, 1.393e-10, 5.036e-10, 6.354e-06],
        'setup': [5.027e-11, 9.388e-09, 0.0, 1.982e-07, 0.001994],
        'iterations': [5.058, -0.251],
    },
    'mu/frobenius/dense/float64': {
        'per_iter': [7.049e-11, 5.309e-10, 1.837e-10, 4.233e-09, 7.965e-06],
        'setup': [3.305e-10, 2.742e-08, 0.0, 6.822e-08, 0.001907],
        'iterations': [5.058, -0.251],
    },
    'mu/frobenius/sparse/float32': {
        'per_iter': [0.0, 1.958e-09, 1.224e-10, 0.0, 0.0],
        'setup': [2.434e-09, 0.0, 4.428e-10, 0.0, 0.03059],
        'iterations': [3.039, 0.1973],
    },
    'mu/frobenius/sparse/float64': {
        'per_iter': [0.0, 2.005e-09, 1.73e-10, 3.454e-09, 7.453e-05],
        'setup': [8.446e-11, 4.787e-08, 4.201e-10, 8.579e-08, 0.001161],
        'iterations': [3.039, 0.1973],
    },
    'mu/kl/dense/float32': {
        'per_iter': [5.313e-11, 3.858e-09, 0.0, 0.0, 0.0],
        'setup': [0.0, 0.0, 0.0, 2.42e-07, 0.01344],
        'iterations': [4.386, 0.09466],
    },
    'mu/kl/dense/float64': {
        'per_iter': [6.572e-11, 4.392e-09, 0.0, 1.855e-08, 3.522e-05],
        'setup': [6.108e-11, 4.081e-08, 0.0, 2.825e-07, 0.001901],
        'iterations': [4.386, 0.09466],
    },
    'mu/kl/sparse/float64': {
        'per_iter': [4.171e-10, 1.119e-08, 0.0, 1.374e-08, 1.889e-05],
        'setup': [4.62e-10, 6.148e-08, 0.0, 1.051e-07, 0.000875],
        'iterations': [4.123, 0.2212],
    },
}
