"""Cedar's `ipaddr` extension type: the `ip()` constructor and its five methods.

Accepted text, as cedar-policy 4.12 accepts it (checked against cedarpy):

* IPv4: exactly four decimal octets `0`-`255` separated by `.`, ASCII digits only,
  no leading zeros (`01.0.0.1` is rejected), no sign, no whitespace anywhere.
* IPv6: one to four hex digits per group (either case, leading zeros allowed inside a
  group), eight groups, or fewer with exactly one `::` standing for at least one zero
  group. No zone (`%eth0`), no brackets, and no embedded IPv4: a string with at least
  two `:` and at least two `.` is rejected outright (`::ffff:1.2.3.4`).
* An optional `/prefix` after the first `/`: ASCII digits, no leading zeros (`/08` is
  rejected, `/0` is fine), at most 32 for IPv4 and 128 for IPv6.

A value keeps its host bits: `ip("10.0.0.1/24") != ip("10.0.0.0/24")`, while
`ip("127.0.0.1") == ip("127.0.0.1/32")` (a single address is a /32 or /128).
IPv4 and IPv6 values are never equal, even for `::ffff:7f00:1` and `127.0.0.1`.
"""

from __future__ import annotations

import re
from typing import Any

from rune.cedar.errors import EvaluationError
from rune.cedar.extensions._checks import (
    INVALID_IPADDR,
    cached_constructor,
    raise_type_error,
)

__all__ = [
    "IPAddr",
    "ip",
    "is_in_range",
    "is_ipv4",
    "is_ipv6",
    "is_loopback",
    "is_multicast",
    "parse_ipaddr",
]

# Octets without leading zeros; the 0-255 range is checked after int().
_IPV4 = re.compile(
    r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})"
)
_HEX_GROUPS = re.compile(r"[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*")

_V4_LOOPBACK_NET = 127 << 24
_V6_LOOPBACK = 1


class IPAddr:
    """A Cedar `ipaddr` value: an IPv4 or IPv6 address with a prefix length.

    Attributes:
        version: 4 or 6.
        address: the address as an unsigned integer, host bits kept.
        prefix: the prefix length, 32 (IPv4) or 128 (IPv6) for a single address.
    """

    __slots__ = ("_text", "address", "prefix", "version")

    cedar_type = "ipaddr"
    cedar_ordered = False  # `<` on ipaddr is a Cedar type error

    version: int
    address: int
    prefix: int
    _text: str | None

    def __init__(self, text: str) -> None:
        """Parse ``text`` as Cedar's `ip()` does; raise `EvaluationError` if it is invalid."""
        parsed = parse_ipaddr(text)
        _set_version(self, parsed.version)
        _set_address(self, parsed.address)
        _set_prefix(self, parsed.prefix)
        _set_text(self, text)

    @classmethod
    def from_parts(cls, version: int, address: int, prefix: int | None = None) -> IPAddr:
        """Build a value from its parts; ``prefix`` defaults to a single address.

        Raises:
            ValueError: the version, address or prefix is out of range.
        """
        if version not in (4, 6):
            raise ValueError(f"ip version must be 4 or 6, not `{version}`")
        bits = 32 if version == 4 else 128
        if not 0 <= address < (1 << bits):
            raise ValueError(f"address `{address}` does not fit in IPv{version}")
        if prefix is None:
            prefix = bits
        if not 0 <= prefix <= bits:
            raise ValueError(f"prefix `{prefix}` is out of range for IPv{version}")
        return _make(version, address, prefix, None)

    @property
    def source(self) -> str | None:
        """The string this value was parsed from; None when built from parts."""
        return self._text

    @property
    def text(self) -> str:
        """The string this value was parsed from, or a canonical one when built from parts."""
        if self._text is not None:
            return self._text
        if self.version == 4:
            a = self.address
            body = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
        else:
            body = _format_ipv6(self.address)
        if self.prefix == (32 if self.version == 4 else 128):
            return body
        return f"{body}/{self.prefix}"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"`IPAddr` is immutable: cannot set `{name}`")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"`IPAddr` is immutable: cannot delete `{name}`")

    def __eq__(self, other: object) -> bool:
        return (
            other.__class__ is IPAddr
            and self.address == other.address  # type: ignore[attr-defined]
            and self.prefix == other.prefix  # type: ignore[attr-defined]
            and self.version == other.version  # type: ignore[attr-defined]
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.version, self.address, self.prefix))

    def __str__(self) -> str:
        return f'ip("{self.text}")'

    __repr__ = __str__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make, (self.version, self.address, self.prefix, self._text))


_new = object.__new__
_set_version = IPAddr.__dict__["version"].__set__
_set_address = IPAddr.__dict__["address"].__set__
_set_prefix = IPAddr.__dict__["prefix"].__set__
_set_text = IPAddr.__dict__["_text"].__set__


def _make(version: int, address: int, prefix: int, text: str | None) -> IPAddr:
    value = _new(IPAddr)
    _set_version(value, version)
    _set_address(value, address)
    _set_prefix(value, prefix)
    _set_text(value, text)
    return value


def _parse_ipv6(text: str) -> int | None:
    """The address `text` denotes under Rust's `Ipv6Addr` grammar (no embedded IPv4)."""
    gap = text.find("::")
    if gap < 0:
        if _HEX_GROUPS.fullmatch(text) is None:
            return None
        groups = text.split(":")
        if len(groups) != 8:
            return None
        value = 0
        for group in groups:
            value = (value << 16) | int(group, 16)
        return value
    head_text = text[:gap]
    tail_text = text[gap + 2 :]
    head = head_text.split(":") if head_text else []
    tail = tail_text.split(":") if tail_text else []
    # INVARIANT: `::` stands for at least one zero group, so at most 7 explicit groups.
    if len(head) + len(tail) > 7:
        return None
    if head and _HEX_GROUPS.fullmatch(head_text) is None:
        return None
    if tail and _HEX_GROUPS.fullmatch(tail_text) is None:
        return None
    value = 0
    for group in head:
        value = (value << 16) | int(group, 16)
    value <<= 16 * (8 - len(head))
    low = 0
    for group in tail:
        low = (low << 16) | int(group, 16)
    return value | low


def _invalid(message: str) -> EvaluationError:
    return EvaluationError(message, code=INVALID_IPADDR)


def _parse_address(text: str) -> tuple[int, int] | None:
    match = _IPV4.fullmatch(text)
    if match is not None:
        first, second, third, fourth = match.groups()
        a, b, c, d = int(first), int(second), int(third), int(fourth)
        if a > 255 or b > 255 or c > 255 or d > 255:
            return None
        return 4, (a << 24) | (b << 16) | (c << 8) | d
    if ":" in text:
        value = _parse_ipv6(text)
        if value is not None:
            return 6, value
    return None


def parse_ipaddr(text: str) -> IPAddr:
    """Parse an `ip()` argument exactly as Cedar 4.12 does.

    Raises:
        EvaluationError: code ``invalid-ipaddr`` when Cedar rejects the string.
    """
    if text.count(":") >= 2 and text.count(".") >= 2:
        raise _invalid(
            f"ip address `{text}` embeds IPv4 in IPv6 (e.g. `::ffff:127.0.0.1`); "
            "write it in hexadecimal IPv6 form"
        )
    slash = text.find("/")
    if slash < 0:
        parsed = _parse_address(text)
        if parsed is None:
            raise _invalid(f"invalid ip address `{text}`")
        version, address = parsed
        return _make(version, address, 32 if version == 4 else 128, text)
    parsed = _parse_address(text[:slash])
    if parsed is None:
        raise _invalid(f"invalid ip address `{text[:slash]}` in `{text}`")
    version, address = parsed
    prefix_text = text[slash + 1 :]
    limit = 32 if version == 4 else 128
    if not prefix_text:
        raise _invalid(f"missing prefix length after `/` in `{text}`")
    if len(prefix_text) > (2 if version == 4 else 3):
        raise _invalid(f"prefix length `{prefix_text}` is too long in `{text}`")
    if not (prefix_text.isascii() and prefix_text.isdigit()):
        raise _invalid(f"prefix length `{prefix_text}` is not a number in `{text}`")
    if len(prefix_text) > 1 and prefix_text[0] == "0":
        raise _invalid(f"prefix length `{prefix_text}` has leading zeros in `{text}`")
    prefix = int(prefix_text)
    if prefix > limit:
        raise _invalid(f"prefix length {prefix} is larger than the limit {limit} in `{text}`")
    return _make(version, address, prefix, text)


def _format_ipv6(address: int) -> str:
    """RFC 5952 text: lowercase, the longest run of two or more zero groups as `::`."""
    groups = [(address >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    best_start, best_len, start = -1, 1, -1
    for i, group in enumerate([*groups, 1]):
        if group == 0 and start < 0:
            start = i
        elif group != 0 and start >= 0:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = -1
    if best_start < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best_start])
    tail = ":".join(f"{g:x}" for g in groups[best_start + best_len :])
    return f"{head}::{tail}"


# ---- Cedar functions and methods (receiver first) -------------------------------------




ip = cached_constructor(
    parse_ipaddr, "Cedar `ip(string)` (recently parsed strings are cached)."
)
_CACHE = ip.cache  # type: ignore[attr-defined]


def is_ipv4(value: Any) -> bool:
    """Cedar `ipaddr.isIpv4()`."""
    if value.__class__ is not IPAddr:
        raise_type_error("ipaddr", value)
    return value.version == 4  # type: ignore[no-any-return]


def is_ipv6(value: Any) -> bool:
    """Cedar `ipaddr.isIpv6()`."""
    if value.__class__ is not IPAddr:
        raise_type_error("ipaddr", value)
    return value.version == 6  # type: ignore[no-any-return]


def is_loopback(value: Any) -> bool:
    """Cedar `ipaddr.isLoopback()`: the whole range lies in 127.0.0.0/8 or is exactly ::1."""
    if value.__class__ is not IPAddr:
        raise_type_error("ipaddr", value)
    if value.version == 4:
        return value.address >> 24 == _V4_LOOPBACK_NET >> 24 and value.prefix >= 8  # type: ignore[no-any-return]
    return value.address == _V6_LOOPBACK and value.prefix == 128  # type: ignore[no-any-return]


def is_multicast(value: Any) -> bool:
    """Cedar `ipaddr.isMulticast()`: the whole range lies in 224.0.0.0/4 or ff00::/8."""
    if value.__class__ is not IPAddr:
        raise_type_error("ipaddr", value)
    if value.version == 4:
        return value.address >> 28 == 0xE and value.prefix >= 4  # type: ignore[no-any-return]
    return value.address >> 120 == 0xFF and value.prefix >= 8  # type: ignore[no-any-return]


def is_in_range(child: Any, parent: Any) -> bool:
    """Cedar `ipaddr.isInRange(ipaddr)`: every address of ``child`` lies in ``parent``.

    Host bits are ignored on both sides; IPv4 is never in an IPv6 range or vice versa.
    """
    if child.__class__ is not IPAddr:
        raise_type_error("ipaddr", child)
    if parent.__class__ is not IPAddr:
        raise_type_error("ipaddr", parent)
    if child.version != parent.version:
        return False
    bits = 32 if child.version == 4 else 128
    # A range is contained iff it is no wider and agrees on the parent's network bits.
    if child.prefix < parent.prefix:
        return False
    shift = bits - parent.prefix
    return child.address >> shift == parent.address >> shift  # type: ignore[no-any-return]
