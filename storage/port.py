"""The one storage port the server depends on: documents, catalog, archive, webhooks,
people, sessions.

`SqlDocumentStore` (SQLite, PostgreSQL) and `MemoryDocumentStore` (tests) implement it
whole; the server never asks a store at run time what it can do.
"""

from __future__ import annotations

from typing import Protocol

from storage.archive import Archive
from storage.authorship import Authorship
from storage.base import DocumentStore
from storage.catalog import DocumentCatalog, SecretWebhookRegistry
from storage.erasure import Erasure
from storage.invitations import Invitations
from storage.people import People
from storage.sessions import Sessions
from storage.signin import SigninSessions
from storage.votes import Votes


class Storage(
    DocumentStore, DocumentCatalog, SecretWebhookRegistry, Archive, People, Sessions,
    Authorship, SigninSessions, Invitations, Erasure, Votes, Protocol,
):
    """Everything palabre keeps: the update log and states, metadata, archive, webhooks,
    the people seen, the assembly's sessions, who wrote what, the web sign-in sessions,
    the invitations, the votes on amendments; erasure of a person."""
