"""The webhook registry as the server uses it: secrets sealed at rest, URLs checked.

A webhook's secret signs every delivery, so whoever reads the database could forge
deliveries. `SealedWebhooks` stores it sealed under a key derived from the server's
secret (`server.access.seal`, purpose `WEBHOOK_SECRETS`) and opens it for the
dispatcher. Rows written before (plain text) still work: a stored secret that does not
open is used as it is, and `seal_plain_secrets` (run at start) seals them in place.
Registering a URL whose host is a refused address literal fails here too
(`OutboundPolicy.url_problem`), whichever route registers it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from server.access.outbound import OutboundPolicy
from server.access.seal import WEBHOOK_SECRETS, SecretSeal
from server.errors import Invalid
from storage.catalog import DeliveryAttempt, SecretWebhookRegistry, Webhook

log = logging.getLogger("palabre.webhooks")


class SealedWebhooks:
    """A `WebhookRegistry` over a stored one, sealing secrets and checking URLs."""

    def __init__(
        self, registry: SecretWebhookRegistry, secret: bytes, policy: OutboundPolicy
    ) -> None:
        self._registry = registry
        self._seal = SecretSeal(secret, purpose=WEBHOOK_SECRETS)
        self._policy = policy

    async def add_webhook(
        self,
        *,
        url: str,
        secret: str,
        events: Sequence[str],
        doc_id: str | None,
        created_by: str | None,
    ) -> Webhook:
        """Register a receiver, its secret stored sealed; the webhook with its plain secret.

        Raises:
            Invalid: the URL is not acceptable (`OutboundPolicy.url_problem`).
            StorageUnavailable: the database failed.
        """
        problem = self._policy.url_problem(url)
        if problem is not None:
            raise Invalid(f"url: {problem}")
        stored = await self._registry.add_webhook(
            url=url, secret=self._seal.close(secret), events=events, doc_id=doc_id,
            created_by=created_by,
        )
        return dataclasses.replace(stored, secret=secret)

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        """The stored webhooks with their secrets opened.

        Raises:
            StorageUnavailable: the database failed.
        """
        webhooks = await self._registry.list_webhooks(doc_id=doc_id)
        return [dataclasses.replace(w, secret=self._open(w.secret)) for w in webhooks]

    async def remove_webhook(self, webhook_id: str) -> None:
        """Unregister (see `WebhookRegistry.remove_webhook`).

        Raises:
            WebhookNotFound: no such webhook.
            StorageUnavailable: the database failed.
        """
        await self._registry.remove_webhook(webhook_id)

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one delivery attempt.

        Raises:
            StorageUnavailable: the database failed.
        """
        await self._registry.record_attempt(attempt)

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        """The latest attempts of a webhook, newest first.

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """
        return await self._registry.list_attempts(webhook_id, limit=limit)

    async def seal_plain_secrets(self) -> int:
        """Seal in place every secret still stored in plain text; how many were.

        Raises:
            StorageUnavailable: the database failed.
        """
        sealed = 0
        for webhook in await self._registry.list_webhooks():
            # Sealed under another key (a node whose secret differs) is not plain text:
            # sealing it again would nest it, and grow it, at every start of every node.
            if not SecretSeal.is_sealed(webhook.secret):
                sealed_secret = self._seal.close(webhook.secret)
                await self._registry.set_webhook_secret(webhook.webhook_id, sealed_secret)
                sealed += 1
        if sealed:
            log.info("sealed %d webhook secret(s) stored in plain text", sealed)
        return sealed

    def _open(self, stored: str) -> str:
        if not SecretSeal.is_sealed(stored):
            return stored  # A row from before sealing: plain text (sealed at next start).
        opened = self._seal.open(stored)
        if opened is None:
            # Sealed under another secret: the nodes of a cluster must share secret.key.
            log.error("a webhook secret was sealed under another server secret")
            return stored
        return opened
