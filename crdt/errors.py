"""Errors raised by the pure CRDT layer."""

from __future__ import annotations


class CrdtError(Exception):
    """Base class of every error raised by `crdt`."""


class ProtocolError(CrdtError):
    """A frame breaks the y-protocols wire format (bad varint, truncation, unknown type)."""


class InvalidUpdate(CrdtError):
    """Bytes that claim to be a Yjs update cannot be decoded as one."""


class SchemaError(CrdtError):
    """A document does not have the shape its kind requires."""
