"""The pure core of Chinese Worker: values, stream events, errors and ports.

Nothing here performs I/O or imports a third-party library other than ``attrs``.
"""
