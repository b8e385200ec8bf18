"""Async persistence of Yjs documents: the store port, an in-memory store, SQL storage.

`SqlDocumentStore` lives in `storage.sql` and the engine helpers in `storage.engine`;
they are not re-exported here, so that importing the port does not load SQLAlchemy.
"""

from storage.archive import Archive as Archive
from storage.archive import AuditEntry as AuditEntry
from storage.archive import ChainReport as ChainReport
from storage.archive import FreezeState as FreezeState
from storage.archive import Snapshot as Snapshot
from storage.archive import SnapshotNotFound as SnapshotNotFound
from storage.base import ANNOTATIONS_SUFFIX as ANNOTATIONS_SUFFIX
from storage.base import DOC_ID_LENGTH as DOC_ID_LENGTH
from storage.base import STORED_DOC_ID_LENGTH as STORED_DOC_ID_LENGTH
from storage.base import AppendResult as AppendResult
from storage.base import DocumentNotFound as DocumentNotFound
from storage.base import DocumentStore as DocumentStore
from storage.base import LogEntry as LogEntry
from storage.base import StorageError as StorageError
from storage.base import StorageUnavailable as StorageUnavailable
from storage.base import StoredDocument as StoredDocument
from storage.catalog import DeliveryAttempt as DeliveryAttempt
from storage.catalog import DocumentCatalog as DocumentCatalog
from storage.catalog import DocumentExists as DocumentExists
from storage.catalog import DocumentMeta as DocumentMeta
from storage.catalog import Webhook as Webhook
from storage.catalog import WebhookNotFound as WebhookNotFound
from storage.catalog import WebhookRegistry as WebhookRegistry
from storage.memory import CommitGate as CommitGate
from storage.memory import MemoryDocumentStore as MemoryDocumentStore
from storage.port import Storage as Storage
from storage.stats import StoreStats as StoreStats
