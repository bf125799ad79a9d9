"""The documented import path of the binary tensor format's client helpers (README: ``from
service import binary_body``); they live in :mod:`service.transport.binary`."""

from .transport.binary import ALIGN, HEADER_LENGTH, MEDIA_TYPE, pack, unpack

__all__ = ["ALIGN", "HEADER_LENGTH", "MEDIA_TYPE", "pack", "unpack"]
