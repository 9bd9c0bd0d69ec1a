"""lamoo-nas: one-shot neural architecture search with LaMOO and MathNAS.

The one installed import root. Its subpackages are the repository's top-level folders:
:mod:`lamoo_nas.supernet` (the search space, the weight-sharing supernet, exact costs),
:mod:`lamoo_nas.search` (LaMOO and the other strategies, the block model and its exact
programme), :mod:`lamoo_nas.runtime` (the run platform: files, run directories, typed
settings, data), :mod:`lamoo_nas.train` (training), :mod:`lamoo_nas.evaluate`
(scoring, search over a supernet, retraining, export), :mod:`lamoo_nas.commands` (every
command, the pipeline, the Python API) and :mod:`lamoo_nas.conf` (the Hydra configs).

Example:
    >>> import lamoo_nas
    >>> from lamoo_nas.supernet import load_space
    >>> load_space("tiny").name
    'tiny'
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lamoo-nas")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
