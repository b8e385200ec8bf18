"""Every quantity a client controls, bounded: the limits model and its defaults.

Each limit is a setting: ``PALABRE_LIMIT_<NAME>`` (e.g. ``PALABRE_LIMIT_AWARENESS_STATE_BYTES``).
Past a limit a client gets a clear refusal — a close code on a socket, a 4xx with a reason
on HTTP — nothing of what it sent is stored, and no other client is affected. Limits that
predate this model keep their own settings: ``PALABRE_MAX_MESSAGE_BYTES`` (a socket
message), ``PALABRE_API_MAX_BODY_BYTES`` (an HTTP body), ``PALABRE_MAX_FILE_BYTES`` (a
library file), and the socket and HTTP rates (``PALABRE_SOCKET_UPDATE_RATE_PER_SECOND``,
``PALABRE_HTTP_RATE_PER_SECOND``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The bounds on what one client may make the server hold or do."""

    awareness_state_bytes: int = 8 * 1024
    """Largest awareness state of one client (its JSON); a larger one closes the socket."""
    awareness_clients_per_connection: int = 8
    """Awareness client ids one connection may introduce (a page has one per document)."""
    awareness_rate_per_second: float = 30.0
    """Awareness updates a second per connection (cursor moves); past it, 1013."""
    awareness_burst: int = 60
    """Awareness updates a connection may send at once before the rate applies."""
    block_chars: int = 100_000
    """Longest text of one block (paragraph, heading, list item) of a text document."""
    attribute_chars: int = 2_048
    """Longest string in a mark of a text document (a link's ``href``)."""
    document_bytes: int = 32 * 1024 * 1024
    """Largest state of one document; an update that would grow it past this is refused."""
    data_entries_per_collection: int = 5_000
    """Entries of one collection of a data document (projects, resources, entries, events)."""
    data_depth: int = 8
    """Deepest nesting of a data document's JSON."""
    data_string_chars: int = 20_000
    """Longest string in a data document."""
    data_values_per_write: int = 5_000
    """Most JSON values (objects, arrays, strings, numbers, at every level, with what the
    server stamps on new items) one merge patch or socket write carries: it bounds the work
    one write holds the event loop for (about 0.2 s at this default)."""
    documents_per_socket: int = 64
    """Documents one Hocuspocus socket may join at once."""
    sockets_per_principal: int = 64
    """Sockets one principal may hold open at once, on this node (its documents included)."""
    streams_per_principal: int = 8
    """Event streams (``/data/events``) one principal may hold open at once, on this node."""
    comment_chars: int = 20_000
    """Longest comment or reply body."""
    amendment_chars: int = 20_000
    """Longest amendment text or justification."""
