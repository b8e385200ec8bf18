"""The palabre Python client: a pycrdt Doc kept in sync with a palabre document.

Use ``async with client.connect(base_url, doc_id, token) as session:``, then
``await session.synced()`` and edit ``session.doc``.
"""

from client._replica import RemoteOrigin as RemoteOrigin
from client.backoff import Backoff as Backoff
from client.errors import ConnectionLost as ConnectionLost
from client.errors import Forbidden as Forbidden
from client.errors import ProtocolRejected as ProtocolRejected
from client.errors import SessionClosed as SessionClosed
from client.errors import SessionError as SessionError
from client.errors import Unauthenticated as Unauthenticated
from client.presence import JsonObject as JsonObject
from client.presence import JsonValue as JsonValue
from client.session import Session as Session
from client.session import connect as connect
