"""The optional dependencies: import one on use, or say which package or extra to install.

``import jrnn`` needs only jax and numpy. safetensors, torch, flax, optax, matplotlib and tqdm are
imported where a feature needs them, through :func:`require`, so that a missing one names the
feature, the package and the install command instead of a bare ``No module named ...``.
"""

import importlib
from types import ModuleType


def require(module_name: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module_name`` (e.g. ``"safetensors.numpy"``), or say what to install.

    The package to install is the module's top-level name (``safetensors``, ``torch``, ``flax``,
    ``optax``, ``matplotlib``, ``tqdm``: each is its own PyPI name).

    Args:
        module_name: the module to import.
        extra: the jrnn extra that installs it, e.g. ``"io"``.
        feature: what needs it, for the message, e.g. ``"`jrnn.save`"``.

    Returns:
        The imported module.

    Raises:
        ModuleNotFoundError: the package is not installed (an ``ImportError``). An error raised
            inside an installed package (say, one of its own dependencies missing) propagates
            as it is.

    Example:
        >>> from jrnn._optional import require
        >>> require("json", extra="io", feature="`jrnn.save`").__name__
        'json'

    """
    package = module_name.partition(".")[0]
    try:
        importlib.import_module(package)  # first, so a cached submodule can't hide a missing one
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if not (module_name == missing or module_name.startswith(missing + ".")):
            raise  # something inside the package is missing, not the package itself
        raise ModuleNotFoundError(
            f"{error}: {feature} needs the optional package {package}. Install it with "
            f"`pip install {package}`, or with jrnn's `{extra}` extra: "
            f'`pip install -e ".[{extra}]"` from the root of a jrnn clone.',
            name=missing,
        ) from error
