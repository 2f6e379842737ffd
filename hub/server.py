"""Building the hub's gRPC server: the same function serves production and tests.

`build_server` returns `(server, port)` like grpc's examples, so tests bind to
127.0.0.1:0 and learn the port. mTLS is required unless settings.insecure, which
exists for local development only and says so loudly.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from counterflow.errors import ConfigError
from counterflow.logs import get as get_logger
from counterflow.tls import load_certificate, server_credentials
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from hub.pki.crl import CrlWatcher
from hub.policy.registry import PolicyRegistry
from hub.servicers.auth import Authenticator, AuthInterceptor
from hub.servicers.submission import HubContext, SubmissionServicer
from hub.services.clock import Clock, system_clock
from hub.services.ingest import IngestLimits
from hub.settings import HubSettings
from hub.storage.interface import Storage

SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["Submission"].full_name,
    health.SERVICE_NAME,
    reflection.SERVICE_NAME,
)


@dataclass
class RunningHub:
    server: grpc.Server
    port: int
    context: HubContext
    health: health.HealthServicer

    def stop(self, grace: float | None = 2.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.context.storage.close()


def build_server(
    settings: HubSettings,
    *,
    storage: Storage,
    registry: PolicyRegistry,
    clock: Clock = system_clock,
) -> RunningHub:
    log = get_logger("counterflow.hub.server")
    crl = None
    if not settings.insecure and settings.tls.crl is not None:
        # The CRL must be signed by the CA partners are issued by, or it is refused.
        crl = CrlWatcher(
            settings.tls.crl, issuer=load_certificate(settings.tls.ca, "CA certificate")
        )
    authenticator = Authenticator(registry, crl, insecure=settings.insecure)
    context = HubContext(
        storage=storage,
        registry=registry,
        authenticator=authenticator,
        crl=crl,
        clock=clock,
        limits=IngestLimits(settings.max_batch_items, settings.max_future_weeks),
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="hub-rpc"),
        interceptors=[AuthInterceptor(authenticator, log)],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
            # A node whose network died must not hold a worker thread until TCP gives up.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_connection_idle_ms", 300_000),
            ("grpc.max_connection_age_ms", 900_000),
            ("grpc.max_connection_age_grace_ms", 120_000),
        ],
        maximum_concurrent_rpcs=settings.workers * 4,
    )
    pb_grpc.add_SubmissionServicer_to_server(SubmissionServicer(context), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(SERVICE_NAMES, server)
    port = _bind(server, settings, log)
    for name in (*SERVICE_NAMES[:1], ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningHub(server=server, port=port, context=context, health=health_servicer)


def _bind(server: grpc.Server, settings: HubSettings, log: object) -> int:
    try:
        if settings.insecure:
            get_logger("counterflow.hub.server").warning(
                "INSECURE_MODE",
                detail="plaintext gRPC, partner id from request metadata: local development only",
            )
            port: int = server.add_insecure_port(settings.listen)
        else:
            credentials = server_credentials(settings.tls.files())
            port = server.add_secure_port(settings.listen, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        raise ConfigError(f"could not listen on {settings.listen}")
    return port
