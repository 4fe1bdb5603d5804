"""Outbound connections a tenant can aim (webhooks, provider endpoints, SMTP hosts) reach public addresses only.

A workspace chooses where the service connects, so without a guard it could
make the service call its own network: loopback, RFC 1918 and CGNAT ranges,
link-local (the cloud metadata service at 169.254.169.254), multicast,
reserved and unspecified addresses, the IPv6 equivalents (::1, fc00::/7,
fe80::/10) and every IPv6 form that carries one of those IPv4 addresses
(IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible, 6to4 2002::/16, NAT64
64:ff9b::/96). Teredo and the other IETF special ranges are not global and so
refused too.

The check runs on the address actually connected to, at connect time: a name
is resolved and every refused answer dropped (GuardedResolver, used by the
shared aiohttp session), and the socket factory checks the address once more
before connecting (it also sees IP literals, which aiohttp never resolves).
A name that resolved to a public address when the channel was saved and to
127.0.0.1 now (DNS rebinding) is therefore refused when it matters. SMTP
resolves, checks and connects to the checked address itself (connect()).

`CDP_OUTBOUND_ALLOW` (comma-separated CIDRs, empty by default) lets tests and
on-premises setups reach listed ranges (e.g. `127.0.0.0/8` for local sinks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundRefused(OSError):
    """A destination the guard refuses; an OSError so that connectors report it like any failed connect."""

    def __init__(self, host: str, address: str, why: str) -> None:
        self.host, self.address, self.why = host, address, why
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"{shown} is {why}: outbound connections there are refused")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def why_refused(ip: IPAddress) -> str | None:
    """Why an address is not a public destination (None: it is one)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped (link-local) address"
        inner = _embedded_v4(ip)
        if inner is not None:
            why = why_refused(inner)
            return f"{why} in IPv6 form" if why else None
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private or special-purpose address"
    return None


def literal(host: str) -> IPAddress | None:
    """The address a host names literally ("127.0.0.1", "[::1]", "::ffff:127.0.0.1"), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class OutboundGuard:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow = tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in allow if cidr.strip())

    @classmethod
    def parse(cls, spec: str) -> OutboundGuard:
        """From CDP_OUTBOUND_ALLOW: comma-separated CIDRs; ValueError names the bad one."""
        parts = [p for p in (spec or "").split(",") if p.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise ValueError(f"CDP_OUTBOUND_ALLOW: {part.strip()!r} is not a CIDR") from None
        return cls(parts)

    def refusal(self, ip: IPAddress) -> str | None:
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_v4(ip)
            if inner is not None and any(inner in net for net in self.allow if net.version == 4):
                return None
        return why_refused(ip)

    def check(self, host: str, address: str) -> None:
        """Raise OutboundRefused unless `address` (what `host` resolved to) may be connected to."""
        ip = ipaddress.ip_address(address)
        why = self.refusal(ip)
        if why:
            raise OutboundRefused(host, str(ip), why)

    def literal_refusal(self, host: str) -> str | None:
        """Why a host given as an IP literal is refused (None for names: they are checked at connect time)."""
        ip = literal(host)
        return None if ip is None else self.refusal(ip)

    # -- connect time ---------------------------------------------------------
    def resolver(self) -> GuardedResolver:
        return GuardedResolver(self)

    def socket_factory(self, addr_info) -> socket.socket:
        """aiohttp's socket factory: the last check, on the very address the socket connects to."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(sockaddr[0], sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)

    async def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A non-blocking socket connected to the first allowed address of `host` (SMTP and the like)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        refused: OutboundRefused | None = None
        last: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            try:
                self.check(host, sockaddr[0])
            except OutboundRefused as exc:
                refused = refused or exc
                continue
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                last = exc if isinstance(exc, OSError) else OSError(f"connect to {sockaddr[0]} timed out")
        if last is not None:
            raise last
        raise refused or OSError(f"{host} did not resolve")


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default and drops every refused address; none left: OutboundRefused."""

    def __init__(self, guard: OutboundGuard) -> None:
        self.guard = guard
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        answers: list[ResolveResult] = await self._inner.resolve(host, port, family)
        allowed, refused = [], None
        for answer in answers:
            try:
                self.guard.check(host, answer["host"])
                allowed.append(answer)
            except OutboundRefused as exc:
                refused = refused or exc
        if not allowed and refused is not None:
            raise refused
        return allowed

    async def close(self) -> None:
        await self._inner.close()
