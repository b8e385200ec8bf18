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
    """Largest awareness state of one client (its JSON); a larger one closes the socket
    with 1009, unrelayed."""
    awareness_clients_per_connection: int = 8
    """Awareness client ids one connection may introduce (a page has one per document);
    past it, or setting or removing another connection's id, closes the socket with 4403."""
    awareness_principal_bytes: int = 64 * 1024
    """Awareness state bytes one principal (public: one address) may hold in one
    document, over all its connections; past it, 1009."""
    awareness_document_bytes: int = 4 * 1024 * 1024
    """Awareness state bytes of one document, everyone's: what a newcomer receives on
    joining, kept well under ``PALABRE_OUTBOUND_BUFFER_BYTES`` so that nobody is closed
    as too slow on joining. Past it a new state is refused with permission-denied (the
    socket stays; the presence is not shown)."""
    awareness_rate_per_second: float = 60.0
    """Awareness tokens a second per principal over its sockets on this node: a state
    costs one, or one per started KiB if more (a cursor move 1, an 8 KiB state 8), a
    query-awareness one; past it, 1013. 60 lets a cursor follow a 60 Hz mouse drag.
    0: off."""
    awareness_burst: int = 120
    """Awareness tokens a principal may spend at once before the rate applies."""
    block_chars: int = 100_000
    """Longest text of one block (paragraph, heading, list item) of a text document."""
    text_depth: int = 48
    """Deepest nesting of elements in a text document (a list inside a list item adds two:
    48 is 23 nested lists); deeper is refused with permission-denied."""
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
    proposals_awaiting_per_person: int = 50
    """Actors one contributor without the edit right may have awaiting review in one map
    (state ``proposed``): what a citizen adds to the map, and to their own view of it,
    waits for a facilitator past this many."""
    citizen_values_per_write: int = 100
    """The same bound for a citizen's or the public's write (a proposal or a monitoring
    entry is one item of about a dozen values; judging and applying 500 held the event
    loop 10-15 ms, which members' and facilitators' imports may take, strangers' writes
    at their rate may not). At most `data_values_per_write`."""
    documents_per_socket: int = 64
    """Documents one Hocuspocus socket may join at once; past it that document gets
    permission-denied and the socket stays. 0: no bound."""
    sockets_per_principal: int = 64
    """Sockets one principal (token ``sub``) may hold open at once on this node, each
    document of a Hocuspocus socket counted as one socket; past it a ``/ws`` socket is
    closed with 1013, a Hocuspocus document gets permission-denied. 0: no bound."""
    socket_opens_per_second: float = 10.0
    """Sockets (and Hocuspocus documents) one principal (public: one address) may open a
    second on this node, refused ones included: each costs a handshake and a catalogue
    read. Past it a ``/ws`` handshake is answered 429 before the socket exists (before
    uvicorn's WebSocket upgrade, once this node has verified the token), a Hocuspocus
    document gets permission-denied. 0: off."""
    socket_opens_burst: int = 60
    """Sockets a principal may open at once before `socket_opens_per_second` applies (a
    page opens two per document, a reconnecting hall many)."""
    refused_socket_cost: float = 10.0
    """Openings a socket refused for what its client asked or sent costs its principal
    on top of its own opening: a document it may not open (unknown, deleted, not
    readable: 4403), a malformed, oversized or forbidden message (1002, 1003, 1007,
    1009, 4403), updates or awareness past their rate (1013; not a slow reader's 1013).
    A principal refused in a loop is soon refused at the handshake (429)
    for a while: at the defaults, about one such socket a second. A principal in that
    debt is refused (1013) even while its sockets wait for their catalogue check.
    Hocuspocus documents refused so cost the same. 0: off."""
    refusal_delay: float = 1.0
    """Seconds a ``429`` (a handshake past its openings, a request past its rate, a stream
    past its count) is held before it is answered, reading nothing more from that
    connection: a client that loops on refusals instead of waiting ``Retry-After`` makes
    one attempt per held connection per delay (`server.access.pacing`). 0: answered at once."""
    refusals_held_per_key: int = 32
    """Refusals held at once for one principal (public: one address); past it, answered
    at once."""
    refusals_held: int = 512
    """Refusals held at once on this node (each holds a connection open); past it,
    answered at once."""
    admissions_per_principal: int = 2
    """Sockets (and Hocuspocus documents) of one principal whose document is checked in
    the catalogue at once, on this node; more wait their turn. The catalogue shares its
    database connections with the rooms' commits: one principal opening many sockets at
    once does not hold them all. 0: no bound."""
    public_sockets_per_address: int = 512
    """The same bound for clients without a token, per client address (a hall of readers
    may share one address)."""
    streams_per_principal: int = 8
    """Event streams (``/data/events``) one principal may hold open at once, on this node."""
    reader_message_bytes: int = 256 * 1024
    """Largest WebSocket message on a ``/ws`` socket whose principal may not edit its
    document (a citizen or the public on a text): what it sends is a state vector,
    awareness and queries. Bounded from the handshake, so that its first frame already is
    (reading and unmasking a 4 MiB frame held the event loop 5-9 ms); past it, 1009.
    Editors: ``PALABRE_MAX_MESSAGE_BYTES``. 0: that bound for everyone."""
    citizen_json_bytes: int = 256 * 1024
    """Largest JSON body a citizen or the public may send to ``/api`` (a comment, an
    amendment, a proposal: a few KiB). Parsing and checking a body holds the event loop
    for as long as it is large (2 MiB: 20-40 ms); past it, 413 before the body is read,
    and 411 for a JSON body of theirs without a declared length. Members and facilitators:
    ``PALABRE_API_MAX_BODY_BYTES``. 0: no bound of its own."""
    comment_chars: int = 20_000
    """Longest comment or reply body."""
    amendment_chars: int = 20_000
    """Longest amendment text or justification."""
    export_state_bytes: int = 4 * 1024 * 1024
    """Largest version (its Yjs state) exported as a file or a redline; past it, 413.
    A 100-article text is about 60 KiB."""
    export_seconds: float = 60.0
    """Longest one export may render (in a worker thread) before the request gets 503."""
    exports_at_once: int = 2
    """Exports rendered at once on this node; more wait their turn (within
    ``export_seconds``)."""
    amendments_per_person: int = 50
    """Amendments one person (token ``sub``) may propose on one document, withdrawn ones
    included."""
