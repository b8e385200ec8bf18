"""Pure, synchronous CRDT layer: the y-protocols codec, awareness and document helpers."""

from crdt.awareness import AwarenessEntry as AwarenessEntry
from crdt.awareness import AwarenessRegistry as AwarenessRegistry
from crdt.errors import CrdtError as CrdtError
from crdt.errors import InvalidUpdate as InvalidUpdate
from crdt.errors import ProtocolError as ProtocolError
from crdt.errors import SchemaError as SchemaError
from crdt.protocol import CloseCode as CloseCode
from crdt.protocol import MessageType as MessageType
from crdt.protocol import SyncStep as SyncStep
