"""Telling "the hub refused my certificate" from "the hub is down".

grpcio reports both as UNAVAILABLE ("Socket closed"), with nothing in the text
to tell them apart. One TLS 1.2 handshake with the node's own certificate does:
under TLS 1.2 a server that refuses the client certificate fails the handshake
itself, whereas a hub that is down refuses the TCP connection (or accepts the
handshake when the outage was elsewhere).
"""

from __future__ import annotations

import enum
import socket
import ssl

from node.settings import NodeSettings

PROBE_TIMEOUT_SECONDS = 5.0


class Probe(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


def probe(settings: NodeSettings) -> Probe:
    host, _, port = settings.hub.rpartition(":")
    host = host.strip("[]")
    files = settings.tls_files()
    context = ssl.create_default_context(cafile=str(files.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.cert), str(files.key))
    try:
        raw = socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_SECONDS)
    except OSError:
        return Probe.UNREACHABLE
    try:
        with context.wrap_socket(raw, server_hostname=settings.hub_server_name or host) as tls:
            # The server checks our certificate before its Finished: reading proves it passed.
            tls.setblocking(True)
            return Probe.ACCEPTED
    except ssl.SSLCertVerificationError:
        # It is the hub's certificate that failed our check: not a refusal of ours.
        return Probe.UNREACHABLE
    except ssl.SSLError:
        # An alert or a hang-up inside the handshake: the hub would not take our certificate.
        return Probe.REFUSED
    except OSError:
        # A reset or a timeout says nothing about the certificate: treat as an outage.
        return Probe.UNREACHABLE
    finally:
        raw.close()
