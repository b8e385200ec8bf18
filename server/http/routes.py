"""Every route of the app, in one list: probes, the ``/api`` mount, embeds and web pages."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from server.http.amendments import AmendmentsApi
from server.http.annotations import Annotations
from server.http.archive import Archives
from server.http.context import ApiContext
from server.http.data_api import DataApi
from server.http.documents import Documents
from server.http.embed import MapTiles, embed_routes
from server.http.governance import GovernanceApi
from server.http.invitations import guest_routes, invitation_routes
from server.http.oidc import Provider, oidc_routes
from server.http.openapi import OpenApi
from server.http.people import people_routes
from server.http.probes import ClusterHealth, probe_routes
from server.http.provenance import ProvenanceApi
from server.http.publish import PublishApi
from server.http.sessions import SessionsApi
from server.http.signin import signin_routes
from server.http.votes import VotesApi
from server.http.web import load_web_assets, web_routes
from server.http.webhooks import webhook_routes
from server.metrics import Metrics
from server.modules.agenda import AgendaImporter
from server.modules.files import FileStore
from server.modules.invitations import InvitationService
from server.modules.people import PeopleService


def routes(
    context: ApiContext, *, metrics: Metrics, files: FileStore, agenda: AgendaImporter,
    max_file_bytes: int, people: PeopleService, invitations: InvitationService,
    map_tiles: MapTiles, provider: Provider | None, secret: bytes,
    cluster: ClusterHealth | None = None,
) -> list[BaseRoute]:
    """The app's routes; `create_app` hands them to Starlette as they are."""
    web = load_web_assets()
    data_api = DataApi(context, context.data, files, agenda, max_file_bytes=max_file_bytes)
    publish = PublishApi(context)
    return [
        *probe_routes(context, metrics, cluster),
        *publish.page_routes(),
        Mount("/api", routes=[
            *webhook_routes(context),
            *people_routes(context, people),
            *invitation_routes(context, invitations),
            *GovernanceApi(context).routes(),
            *data_api.routes(),
            *Documents(context).routes(),
            *Annotations(context).routes(),
            *AmendmentsApi(context).routes(),
            *SessionsApi(context, context.sessions).routes(),
            *VotesApi(context, context.votes).routes(),
            *OpenApi().routes(),
            *Archives(context).routes(),
            *ProvenanceApi(context).routes(),
            *publish.routes(),
        ]),
        *signin_routes(context),
        *guest_routes(context, invitations),
        *oidc_routes(context, provider, secret, invitations),
        *embed_routes(context, web=web, map_tiles=map_tiles),
        *web_routes(on_document_page=context.governance.feed.announce_if_exists, web=web),
    ]
