"""Who is calling: the client certificate, checked against the CRL and the agreements.

grpcio verifies the chain during the handshake but cannot consult a CRL, so an
interceptor wraps every handler (health and reflection included) and refuses a
revoked certificate, or a valid one without an agreement, with UNAUTHENTICATED.
Server interceptors cannot hand data to handlers, so servicers ask the same
Authenticator again; parsed certificates are cached by their PEM bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509

from counterflow.errors import CounterflowError, ErrorCode
from counterflow.rpc_status import to_status
from counterflow.tls import partner_id_of
from hub.pki.crl import CrlWatcher
from hub.policy.registry import PolicyRegistry
from hub.servicers.errors import public_error

INSECURE_PARTNER_HEADER = "x-counterflow-partner-id"
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class _Peer:
    partner_id: str | None
    serial: int


class Authenticator:
    def __init__(
        self, registry: PolicyRegistry, crl: CrlWatcher | None, *, insecure: bool = False
    ) -> None:
        self._registry = registry
        self._crl = crl
        self._insecure = insecure
        self._cache: dict[bytes, _Peer] = {}
        self._lock = threading.Lock()

    def identify(self, context: grpc.ServicerContext) -> str:
        """The caller's partner id, or a CounterflowError saying why it is refused."""
        if self._insecure:
            partner_id = dict(context.invocation_metadata()).get(INSECURE_PARTNER_HEADER, "")
            return self._known(str(partner_id))
        pems = context.auth_context().get("x509_pem_cert") or []
        if not pems:
            raise CounterflowError(ErrorCode.CERTIFICATE_INVALID, "no client certificate")
        peer = self._peer(pems[0])
        if peer.partner_id is None:
            raise CounterflowError(
                ErrorCode.CERTIFICATE_INVALID, "certificate does not name a partner"
            )
        if self._crl is not None and self._crl.current().is_revoked(peer.serial):
            raise CounterflowError(
                ErrorCode.CERTIFICATE_REVOKED,
                f"certificate {peer.serial:x} of partner {peer.partner_id} has been revoked",
                {"partner_id": peer.partner_id, "serial": f"{peer.serial:x}"},
            )
        return self._known(peer.partner_id)

    def _known(self, partner_id: str) -> str:
        self._registry.reload_if_changed()
        if not partner_id or self._registry.current().get(partner_id) is None:
            raise CounterflowError(
                ErrorCode.UNKNOWN_PARTNER,
                f"partner {partner_id or '(none)'} has no agreement at this hub",
                {"partner_id": partner_id},
            )
        return partner_id

    def _peer(self, pem: bytes) -> _Peer:
        with self._lock:
            cached = self._cache.get(pem)
        if cached is not None:
            return cached
        cert = x509.load_pem_x509_certificate(pem)
        peer = _Peer(partner_id_of(cert), cert.serial_number)
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[pem] = peer
        return peer


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, authenticator: Authenticator, log: Any) -> None:
        self._auth = authenticator
        self._log = log

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _wrap(handler, self._check, handler_call_details.method)

    def _check(self, context: grpc.ServicerContext, method: str) -> None:
        try:
            self._auth.identify(context)
        except CounterflowError as exc:
            self._log.warning(
                "rpc_unauthenticated", method=method, code=exc.code.value, **exc.metadata
            )
            context.abort_with_status(to_status(public_error(exc)))


def _wrap(
    handler: grpc.RpcMethodHandler,
    check: Callable[[grpc.ServicerContext, str], None],
    method: str,
) -> grpc.RpcMethodHandler:
    def unary(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            check(context, method)
            return fn(request, context)

        return call

    def streaming(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            check(context, method)
            yield from fn(request, context)

        return call

    kinds = {
        "unary_unary": (unary, grpc.unary_unary_rpc_method_handler),
        "unary_stream": (streaming, grpc.unary_stream_rpc_method_handler),
        "stream_unary": (unary, grpc.stream_unary_rpc_method_handler),
        "stream_stream": (streaming, grpc.stream_stream_rpc_method_handler),
    }
    for attr, (wrapper, factory) in kinds.items():
        fn = getattr(handler, attr)
        if fn is not None:
            return factory(
                wrapper(fn),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler
