"""The API calls a whole assembly needs beyond `PalabreApi`: stages, freeze, adoption,
sessions.

Also patient with the server's rate limit: a scenario drives hundreds of requests with a
handful of tokens, so a ``429`` is waited out (with back-off) instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

import anyio
import httpx

from client.api import ApiError, JsonObject, PalabreApi

SnapshotFormat = Literal["md", "html", "text", "json", "yjs"]
SNAPSHOT_FORMATS: tuple[SnapshotFormat, ...] = ("md", "html", "text", "json", "yjs")
_RATE_LIMITED = 429
_MAX_WAITS = 12


class AssemblyApi(PalabreApi):
    """`PalabreApi` plus snapshots, stages, freeze and adoption; waits out rate limits."""

    async def _call(
        self, method: str, path: str, *, json: JsonObject | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        delay = 0.25
        for attempt in range(_MAX_WAITS + 1):
            try:
                return await super()._call(method, path, json=json, params=params)
            except ApiError as exc:
                if exc.status != _RATE_LIMITED or attempt == _MAX_WAITS:
                    raise
            await anyio.sleep(delay)
            delay = min(delay * 2, 4.0)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def create_snapshot(self, doc_id: str, label: str, stage: str) -> JsonObject:
        """Archive the live text as a stage (facilitators); the snapshot's metadata.

        Raises:
            ApiError: refused.
        """
        response = await self._call("POST", f"/documents/{doc_id}/snapshots",
                                    json={"label": label, "stage": stage})
        return _object(response)

    async def list_snapshots(self, doc_id: str) -> list[JsonObject]:
        """Every snapshot of a document by number, without content.

        Raises:
            ApiError: refused.
        """
        body = _object(await self._call("GET", f"/documents/{doc_id}/snapshots"))
        return cast(list[JsonObject], body["snapshots"])

    async def list_stages(self, doc_id: str) -> list[JsonObject]:
        """The document's stages in order, each with its snapshots.

        Raises:
            ApiError: refused.
        """
        body = _object(await self._call("GET", f"/documents/{doc_id}/stages"))
        return cast(list[JsonObject], body["stages"])

    async def snapshot_content(self, doc_id: str, snapshot_id: str, fmt: SnapshotFormat) -> bytes:
        """A snapshot's content in one format, as the raw bytes served.

        Raises:
            ApiError: refused.
        """
        path = f"/documents/{doc_id}/snapshots/{snapshot_id}/content"
        return (await self._call("GET", path, params={"format": fmt})).content

    async def freeze(self, doc_id: str, *, comments_open: bool = False) -> JsonObject:
        """Freeze the text (facilitators); the freeze state.

        Raises:
            ApiError: refused.
        """
        response = await self._call("POST", f"/documents/{doc_id}/freeze",
                                    json={"comments_open": comments_open})
        return _object(response)

    async def adopt(self, doc_id: str, label: str, *, comments_open: bool = True) -> JsonObject:
        """Freeze and archive the adopted version (facilitators); its snapshot.

        Raises:
            ApiError: refused.
        """
        response = await self._call("POST", f"/documents/{doc_id}/adopt",
                                    json={"label": label, "comments_open": comments_open})
        return _object(response)

    async def open_session(self, doc_id: str, title: str, kind: str) -> JsonObject:
        """Open a session of the document (facilitators); the session.

        Raises:
            ApiError: refused (one is already open: 409).
        """
        response = await self._call("POST", f"/documents/{doc_id}/sessions",
                                    json={"title": title, "kind": kind})
        return _object(response)

    async def close_session(self, doc_id: str, number: int) -> JsonObject:
        """Close a session (facilitators); its minutes.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("POST", f"/documents/{doc_id}/sessions/{number}/close"))

    async def raise_hand(self, doc_id: str, number: int) -> JsonObject:
        """Raise the caller's hand in an open session; the queue.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("POST", f"/documents/{doc_id}/sessions/{number}/hands"))

    async def give_floor(self, doc_id: str, number: int) -> JsonObject:
        """Give the floor to the first raised hand (facilitators); the queue.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("POST", f"/documents/{doc_id}/sessions/{number}/floor",
                                        json={}))


    async def set_amendments_open(self, doc_id: str, open_: bool) -> JsonObject:
        """Open (or close) amendments to citizens (facilitators); the document.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("PATCH", f"/documents/{doc_id}",
                                        json={"amendments_open": open_}))

    async def propose_amendment(
        self, doc_id: str, paragraph_id: str, text: str, justification: str
    ) -> JsonObject:
        """Propose a new wording for a paragraph; the amendment.

        Raises:
            ApiError: refused.
        """
        body: JsonObject = {"paragraph_id": paragraph_id, "kind": "replace", "text": text,
                            "justification": justification}
        return _object(await self._call("POST", f"/documents/{doc_id}/amendments", json=body))

    async def get_amendment(self, doc_id: str, amendment_id: str) -> JsonObject:
        """One amendment, with its three-way view (`base`, `now`, `text`, `outdated`).

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("GET", f"/documents/{doc_id}/amendments/{amendment_id}"))

    async def support_amendment(self, doc_id: str, amendment_id: str) -> JsonObject:
        """Support an amendment (once); the amendment.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call(
            "POST", f"/documents/{doc_id}/amendments/{amendment_id}/support"))

    async def rebase_amendment(self, doc_id: str, amendment_id: str, text: str) -> JsonObject:
        """Rebase an outdated amendment on the current wording, with `text`; the amendment.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call(
            "POST", f"/documents/{doc_id}/amendments/{amendment_id}/rebase", json={"text": text}))

    async def open_vote(
        self, doc_id: str, amendment_ids: list[str], *, ballot: str, rule: str
    ) -> JsonObject:
        """Put amendments to a vote in the open session (facilitators); the vote.

        Raises:
            ApiError: refused.
        """
        body: JsonObject = {"amendment_ids": list(amendment_ids), "ballot": ballot, "rule": rule}
        return _object(await self._call("POST", f"/documents/{doc_id}/votes", json=body))

    async def cast_ballot(
        self, doc_id: str, vote_id: str, amendment_id: str, choice: str
    ) -> JsonObject:
        """Vote (or change one's vote) on one amendment of an open vote; the counts.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call(
            "POST", f"/documents/{doc_id}/votes/{vote_id}/ballots",
            json={"amendment_id": amendment_id, "choice": choice}))

    async def close_vote(self, doc_id: str, vote_id: str) -> JsonObject:
        """Close a vote (facilitators): each amendment decided; the vote and its results.

        Raises:
            ApiError: refused.
        """
        return _object(await self._call("POST", f"/documents/{doc_id}/votes/{vote_id}/close"))

def _object(response: httpx.Response) -> JsonObject:
    value = response.json()
    if not isinstance(value, dict):
        raise ApiError(response.status_code, "bad_response", "expected a JSON object")
    return value
