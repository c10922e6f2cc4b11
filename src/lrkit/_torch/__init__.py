"""Private parts of :mod:`lrkit.torch`."""
