"""The fitted constants of the cost model behind ``solver='auto'``
(:func:`fastnmf.solvers.auto.predicted_seconds`).

Written by ``python benchmarks/fit_cost_model.py benchmarks/results/auto.json``
(2026-12-04) from the measurements of ``benchmarks/auto_table.py``;
do not edit by hand (a test checks they are that fit).
Keys: solver/loss/X/dtype.  ``per_iter`` and ``setup``: seconds per unit of each cost
feature (:func:`fastnmf.solvers.auto.cost_features`); ``iterations`` (u, v): exp(u) k^v.
The fit: ``benchmarks/results/auto.md``.
"""

COSTS = {
    'cd/frobenius/dense/float32': {
        'per_iter': [9.587e-12, 3.529e-10, 6.353e-11, 4.533e-09, 2.451e-06],
        'setup': [0.0, 6.746e-09, 0.0, 1.167e-07, 0.001953],
        'iterations': [5.48, -0.363],
    },
    'cd/frobenius/dense/float64': {
        'per_iter': [3.174e-11, 4.504e-10, 1.268e-10, 3.92e-09, 8.258e-06],
        'setup': [7.6e-11, 1.372e-08, 5.491e-10, 3.301e-08, 0.001479],
        'iterations': [5.48, -0.363],
    },
    'cd/frobenius/sparse/float32': {
        'per_iter': [2.568e-11, 2.909e-09, 7.726e-11, 0.0, 0.0],
        'setup': [1.197e-09, 6.018e-08, 6.623e-10, 0.0, 0.0],
        'iterations': [4.463, 0.07239],
    },
    'cd/frobenius/sparse/float64': {
        'per_iter': [3.76e-11, 2.793e-09, 9.215e-11, 4.006e-09, 3.281e-05],
        'setup': [0.0, 6.262e-08, 4.535e-10, 8.476e-08, 0.0006714],
        'iterations': [4.463, 0.07239],
    },
    'cd/kl/dense/float32': {
        'per_iter': [0.0, 8.329e-09, 0.0, 6.96e-07, 0.0],
        'setup': [0.0, 1.925e-08, 0.0, 1.333e-07, 0.0],
        'iterations': [4.102, 0.3154],
    },
    'cd/kl/dense/float64': {
        'per_iter': [2.524e-09, 8.363e-09, 0.0, 1.557e-08, 1.721e-05],
        'setup': [2.91e-10, 2.403e-08, 0.0, 5.014e-08, 0.001726],
        'iterations': [4.102, 0.3154],
    },
    'cd/kl/sparse/float64': {
        'per_iter': [2.068e-09, 6.863e-09, 0.0, 9.998e-09, 0.0004307],
        'setup': [7.737e-10, 6.163e-08, 0.0, 7.601e-08, 0.001594],
        'iterations': [3.641, 0.2103],
    },
    'emu/beta/dense/float64': {
        'per_iter': [0.0, 1.035e-08, 6.918e-10, 0.0, 3.374e-05],
        'setup': [0.0, 2.673e-08, 5.394e-09, 0.0, 0.001736],
        'iterations': [3.255, 0.2106],
    },
    'emu/beta/sparse/float64': {
        'per_iter': [0.0, 1.216e-07, 0.0, 1.621e-07, 0.009197],
        'setup': [0.0, 1.512e-07, 0.0, 1.04e-07, 0.009189],
        'iterations': [3.756, 0.09749],
    },
    'emu/kl/dense/float32': {
        'per_iter': [3.043e-11, 4.055e-09, 5.448e-12, 0.0, 0.0],
        'setup': [2.89e-10, 2.125e-08, 0.0, 0.0, 0.0],
        'iterations': [3.88, 0.1006],
    },
    'emu/kl/dense/float64': {
        'per_iter': [2.633e-11, 4.767e-09, 4.319e-11, 1.044e-08, 3.609e-05],
        'setup': [0.0, 2.476e-08, 3.307e-10, 1.068e-07, 0.001525],
        'iterations': [3.88, 0.1006],
    },
    'emu/kl/sparse/float64': {
        'per_iter': [3.019e-10, 5.778e-09, 3.067e-11, 2.018e-08, 3.599e-05],
        'setup': [7.25e-10, 5.979e-08, 0.0, 7.942e-08, 0.001698],
        'iterations': [3.613, 0.2705],
    },
    'hals/frobenius/dense/float32': {
        'per_iter': [3.19e-11, 4.325e-10, 5.265e-11, 1.401e-08, 2.182e-05],
        'setup': [2.407e-11, 7.053e-09, 2.932e-11, 1.037e-07, 0.002413],
        'iterations': [4.322, 0.2299],
    },
    'hals/frobenius/dense/float64': {
        'per_iter': [4.971e-11, 7.424e-10, 1.894e-10, 9.498e-09, 2.545e-05],
        'setup': [8.705e-11, 1.516e-08, 3.15e-10, 4.706e-08, 0.001625],
        'iterations': [4.322, 0.2299],
    },
    'hals/frobenius/sparse/float32': {
        'per_iter': [6.588e-11, 3.237e-09, 8.001e-11, 0.0, 0.0],
        'setup': [1.238e-09, 6.226e-08, 6.677e-10, 0.0, 0.0],
        'iterations': [2.591, 0.2765],
    },
    'hals/frobenius/sparse/float64': {
        'per_iter': [1.082e-10, 2.788e-09, 9.572e-11, 4.242e-09, 6.074e-05],
        'setup': [0.0, 6.374e-08, 4.965e-10, 8.341e-08, 0.001073],
        'iterations': [2.591, 0.2765],
    },
    'mu/beta/dense/float64': {
        'per_iter': [0.0, 1.011e-08, 8.144e-10, 0.0, 3.125e-05],
        'setup': [0.0, 2.631e-08, 3.643e-09, 0.0, 0.001895],
        'iterations': [4.012, 0.1186],
    },
    'mu/beta/sparse/float64': {
        'per_iter': [0.0, 1.213e-07, 0.0, 1.563e-07, 0.008937],
        'setup': [0.0, 1.524e-07, 0.0, 1.151e-07, 0.008091],
        'iterations': [4.064, 0.1258],
    },
    'mu/frobenius/dense/float32': {
        'per_iter': [7.651e-12, 3.705e-10, 1.126e-10, 1.295e-09, 3.732e-06],
        'setup': [0.0, 6.73e-09, 5.031e-11, 9.549e-08, 0.001588],
        'iterations': [5.058, -0.251],
    },
    'mu/frobenius/dense/float64': {
        'per_iter': [2.966e-11, 5.178e-10, 3.487e-10, 1.785e-09, 8.035e-06],
        'setup': [8.511e-11, 1.278e-08, 3.856e-10, 3.618e-08, 0.001465],
        'iterations': [5.058, -0.251],
    },
    'mu/frobenius/sparse/float32': {
        'per_iter': [0.0, 2.534e-09, 1.997e-10, 0.0, 0.0],
        'setup': [1.298e-09, 6.06e-08, 6.197e-10, 0.0, 0.0],
        'iterations': [3.039, 0.1973],
    },
    'mu/frobenius/sparse/float64': {
        'per_iter': [0.0, 2.774e-09, 1.789e-10, 5.509e-09, 3.414e-05],
        'setup': [0.0, 6.298e-08, 4.476e-10, 8.415e-08, 0.0008643],
        'iterations': [3.039, 0.1973],
    },
    'mu/kl/dense/float32': {
        'per_iter': [1.591e-11, 4.289e-09, 3.195e-11, 0.0, 0.0],
        'setup': [2.548e-10, 2.222e-08, 0.0, 0.0, 0.0],
        'iterations': [4.386, 0.09466],
    },
    'mu/kl/dense/float64': {
        'per_iter': [3.148e-11, 5.04e-09, 2.729e-11, 5.675e-09, 2.989e-05],
        'setup': [0.0, 2.124e-08, 0.0, 1.714e-07, 0.001732],
        'iterations': [4.386, 0.09466],
    },
    'mu/kl/sparse/float64': {
        'per_iter': [3.779e-10, 6.321e-09, 0.0, 1.039e-08, 3.483e-05],
        'setup': [7.481e-10, 6.01e-08, 0.0, 7.587e-08, 0.001749],
        'iterations': [4.123, 0.2212],
    },
}
