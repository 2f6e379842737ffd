"""URLs, rule set "url-v1": the WHATWG parse by ada (can-ada 3.0.0, pinned).

URL libraries disagree on the same input (percent signs, spaces, backslashes),
so every node must use this one parser at this one version; the shared test
vectors catch any drift. The canonical value is host[:port]path?query without
the scheme: ads flip between http and https for the same page, and a match
should not depend on which one a partner saw. Fragments never reach the server
and userinfo is not part of the page, so both are dropped. See
docs/canonicalisation.md for every rule and the ones deliberately left out.
"""

from __future__ import annotations

import re

import can_ada

from node.canonical.errors import CanonicalError, Reason, trimmed

RULES = "url-v1"
# Generous for tracking-laden ad links; stops pathological cells early.
MAX_CHARS = 8192
_WEB_SCHEMES = frozenset({"http:", "https:"})
# "name:" at the start is a scheme unless digits follow, as in "example.com:8080/".
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?!\d)")


def canonical_url(raw: str) -> str:
    """E.g. "example.com/path?q=1" for "HTTPS://Example.com:443/path?q=1#top"."""
    text = trimmed(raw)
    if len(text) > MAX_CHARS:
        raise _invalid("URL is longer than 8192 characters")
    try:
        url = can_ada.parse(_with_scheme(text))
    except ValueError:
        raise _invalid("URL could not be parsed") from None
    if url.protocol not in _WEB_SCHEMES:
        raise _invalid("URL scheme is not http or https")
    host = _host(url.hostname)
    port = f":{url.port}" if url.port else ""
    path = "" if url.pathname == "/" and not url.search else url.pathname
    return f"{host}{port}{path}{url.search}"


def _with_scheme(text: str) -> str:
    if text.startswith("//"):
        return "http:" + text
    if _SCHEME.match(text):
        return text
    return "http://" + text


def _host(hostname: str) -> str:
    # "example.com." names the same host as "example.com" in DNS.
    host = hostname[:-1] if hostname.endswith(".") else hostname
    if host.startswith("["):
        return host  # IPv6 literal, already compressed and lowercased by ada
    labels = host.split(".")
    if len(labels) < 2 or "" in labels:
        raise _invalid("URL host is not a dotted domain name or IPv4 address")
    return host


def _invalid(message: str) -> CanonicalError:
    return CanonicalError(Reason.URL_INVALID, message)
