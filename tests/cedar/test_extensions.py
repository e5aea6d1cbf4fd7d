"""Unit tests for Cedar's extension types (`rune.cedar.extensions`).

Each expected value below was checked against cedarpy 4.12.2; the differential tests in
`test_extensions_oracle.py` keep checking generated cases against it.
"""

from __future__ import annotations

import datetime as std_datetime
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rune.cedar.extensions as extensions
from rune.cedar.errors import EvaluationError
from rune.cedar.extensions import (
    FUNCTIONS,
    METHODS,
    ORDERED_TYPES,
    TYPES,
    Datetime,
    Decimal,
    Duration,
    ExtensionFunction,
    ExtensionMethod,
    IPAddr,
    call_extension,
    from_json,
    from_json_extn,
    is_json_extn,
    to_json,
)
from rune.cedar.values import LONG_MAX, LONG_MIN, CedarRecord, CedarSet, EntityUID, cedar_equal


def error_code(function: Any, *args: Any) -> str:
    """Call ``function`` and return the code of the `EvaluationError` it must raise."""
    with pytest.raises(EvaluationError) as info:
        function(*args)
    return info.value.code


def call(name: str, *args: Any) -> Any:
    return call_extension(name, list(args))


# ---- public surface -------------------------------------------------------------------


def test_all_is_sorted_and_public() -> None:
    names = extensions.__all__
    assert names == sorted(names)
    assert all(not n.startswith("_") for n in names)
    for name in names:
        assert hasattr(extensions, name)


def test_registries_describe_every_function_and_method() -> None:
    assert set(FUNCTIONS) == {"ip", "decimal", "datetime", "duration"}
    assert set(METHODS) == {
        "isIpv4", "isIpv6", "isLoopback", "isMulticast", "isInRange",
        "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
        "offset", "durationSince", "toDate", "toTime",
        "toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays",
    }  # fmt: skip
    for name, function in FUNCTIONS.items():
        assert isinstance(function, ExtensionFunction)
        assert (function.name, function.arity, function.argument_types) == (name, 1, ("String",))
        assert function.return_type == TYPES[function.return_type].cedar_type
    for name, method in METHODS.items():
        assert isinstance(method, ExtensionMethod)
        assert method.name == name
        assert method.arity == 1 + len(method.argument_types)
        assert method.receiver_type in TYPES
        assert method.return_type in {"Bool", "Long", *TYPES}
    assert METHODS["isInRange"].argument_types == ("ipaddr",)
    assert METHODS["offset"].argument_types == ("duration",)
    assert METHODS["offset"].return_type == "datetime"
    assert METHODS["durationSince"].return_type == "duration"
    assert METHODS["toTime"].return_type == "duration"
    assert METHODS["toDays"].return_type == "Long"


def test_registry_entries_are_frozen() -> None:
    with pytest.raises(AttributeError):
        FUNCTIONS["ip"].arity = 2  # type: ignore[misc]


def test_cedar_type_names() -> None:
    assert {cls.cedar_type for cls in TYPES.values()} == set(TYPES)
    for name, cls in TYPES.items():
        assert cls.cedar_type == name


# ---- ipaddr ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version", "address", "prefix"),
    [
        ("127.0.0.1", 4, 0x7F000001, 32),
        ("0.0.0.0/0", 4, 0, 0),
        ("255.255.255.255/32", 4, 0xFFFFFFFF, 32),
        ("10.0.0.1/24", 4, 0x0A000001, 24),
        ("::", 6, 0, 128),
        ("::1", 6, 1, 128),
        ("1::", 6, 1 << 112, 128),
        ("::1:2:3:4:5:6:7", 6, 0x0000_0001_0002_0003_0004_0005_0006_0007, 128),
        ("1:2:3:4:5:6:7::", 6, 0x0001_0002_0003_0004_0005_0006_0007_0000, 128),
        ("1:2:3:4:5:6:7:8/64", 6, 0x0001_0002_0003_0004_0005_0006_0007_0008, 64),
        ("0001::", 6, 1 << 112, 128),
        ("ABCD::ef", 6, (0xABCD << 112) | 0xEF, 128),
        ("::ffff:7f00:1", 6, 0xFFFF_7F00_0001, 128),
        ("::/0", 6, 0, 0),
        ("ff00::/128", 6, 0xFF << 120, 128),
    ],
)
def test_ip_accepts(text: str, version: int, address: int, prefix: int) -> None:
    value = IPAddr(text)
    assert (value.version, value.address, value.prefix) == (version, address, prefix)
    assert value.source == text
    assert str(value) == f'ip("{text}")'


@pytest.mark.parametrize(
    "text",
    [
        "", "1.2.3", "1.2.3.4.5", "1..2.3", "256.0.0.1", "01.0.0.1", "0.0.0.00", "0x1.2.3.4",
        "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "\u0661.2.3.4", "1.2.3.4:80",
        ":::", "1::2::3", "00001::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8::", ":1::", "1:2:3:4:5:6:7:8:", "g::", "fe80::1%eth0", "[::1]",
        "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1.2.3.4/::", "::1.2",
        "1.2.3.4/", "/8", "1.2.3.4/33", "::/129", "1.2.3.4/08", "1.2.3.4/00", "::/001",
        "1.2.3.4/008", "1.2.3.4/+8", "1.2.3.4/-0", "1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4/8/8",
        "1.2.3.4//8", "::/1.2", "1.2.3.4/\u0663", "1.2.3.4/256", "::/1000",
    ],
)  # fmt: skip
def test_ip_rejects(text: str) -> None:
    assert error_code(IPAddr, text) == "invalid-ipaddr"
    assert error_code(FUNCTIONS["ip"].impl, text) == "invalid-ipaddr"


def test_ip_equality_keeps_host_bits_and_version() -> None:
    assert IPAddr("10.0.0.1/24") == IPAddr("10.0.0.1/24")
    assert IPAddr("127.0.0.1") == IPAddr("127.0.0.1/32")
    assert IPAddr("::1") == IPAddr("0:0::1/128")
    assert IPAddr("ABCD::") == IPAddr("abcd::")
    assert IPAddr("10.0.0.1/24") != IPAddr("10.0.0.0/24")
    assert IPAddr("::ffff:7f00:1") != IPAddr("127.0.0.1")
    assert IPAddr("::") != IPAddr("0.0.0.0")
    assert hash(IPAddr("::1")) == hash(IPAddr("0::1/128"))


@pytest.mark.parametrize(
    ("text", "v4", "loopback", "multicast"),
    [
        ("127.0.0.1", True, True, False),
        ("127.0.0.1/8", True, True, False),
        ("127.0.0.1/7", True, False, False),
        ("127.1.2.3/9", True, True, False),
        ("126.0.0.1/8", True, False, False),
        ("::1", False, True, False),
        ("::1/127", False, False, False),
        ("::2", False, False, False),
        ("::ffff:7f00:1", False, False, False),
        ("224.0.0.1/4", True, False, True),
        ("224.0.0.1/3", True, False, False),
        ("239.255.255.255", True, False, True),
        ("ff00::/8", False, False, True),
        ("ff00::/7", False, False, False),
    ],
)
def test_ip_predicates(text: str, v4: bool, loopback: bool, multicast: bool) -> None:
    value = IPAddr(text)
    assert call("isIpv4", value) is v4
    assert call("isIpv6", value) is (not v4)
    assert call("isLoopback", value) is loopback
    assert call("isMulticast", value) is multicast


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        ("192.168.0.1", "192.168.0.1/24", True),
        ("192.168.0.75", "192.168.0.1/24", True),
        ("192.168.0.75", "192.168.0.1/28", False),
        ("10.0.0.0/8", "10.1.0.0/8", True),
        ("10.0.0.0/7", "10.1.0.0/8", False),
        ("0.0.0.0/0", "1.2.3.4/0", True),
        ("1:2:3:4::", "1:2:3:4::/48", True),
        ("192.168.0.1", "1:2:3:4::", False),
        ("::/0", "0.0.0.0/0", False),
    ],
)
def test_ip_is_in_range(child: str, parent: str, expected: bool) -> None:
    assert call("isInRange", IPAddr(child), IPAddr(parent)) is expected


def test_ip_from_parts_renders_canonically() -> None:
    assert str(IPAddr.from_parts(4, 0x0A000001, 24)) == 'ip("10.0.0.1/24")'
    assert str(IPAddr.from_parts(6, 0)) == 'ip("::")'
    assert IPAddr.from_parts(6, 1).text == "::1"
    assert IPAddr.from_parts(6, 1 << 112).text == "1::"
    assert IPAddr.from_parts(6, (1 << 112) | 1).text == "1::1"
    # The longest run of zero groups is compressed; a single zero group is not.
    assert IPAddr.from_parts(6, 0x0001_0000_0002_0000_0000_0003_0000_0004).text == "1:0:2::3:0:4"
    assert IPAddr.from_parts(6, 0x0001_0000_0002_0003_0004_0005_0006_0007).text == "1:0:2:3:4:5:6:7"
    assert IPAddr.from_parts(6, 0xFFFF_7F00_0001).text == "::ffff:7f00:1"
    assert IPAddr.from_parts(4, 5).source is None
    for bad in [(5, 0, None), (4, 1 << 32, None), (4, 0, 33), (6, -1, None), (6, 0, -1)]:
        with pytest.raises(ValueError):
            IPAddr.from_parts(*bad)


@given(st.integers(0, (1 << 128) - 1), st.integers(0, 128))
def test_ipv6_canonical_text_round_trips(address: int, prefix: int) -> None:
    value = IPAddr.from_parts(6, address, prefix)
    assert IPAddr(value.text) == value


@given(st.integers(0, (1 << 32) - 1), st.integers(0, 32))
def test_ipv4_canonical_text_round_trips(address: int, prefix: int) -> None:
    value = IPAddr.from_parts(4, address, prefix)
    assert IPAddr(value.text) == value


# ---- decimal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scaled"),
    [
        ("1.0", 10_000),
        ("-1.0", -10_000),
        ("123.456", 1_234_560),
        ("0.1234", 1234),
        ("-0.0123", -123),
        ("-0.5", -5000),
        ("00.000", 0),
        ("-0.0", 0),
        ("0000000000000000000000001.0", 10_000),
        ("922337203685477.5807", LONG_MAX),
        ("-922337203685477.5808", LONG_MIN),
        ("-000000000000000000922337203685477.5808", LONG_MIN),
    ],
)
def test_decimal_accepts(text: str, scaled: int) -> None:
    value = Decimal(text)
    assert value.scaled == scaled
    assert str(value) == f'decimal("{text}")'


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1234", "invalid-decimal"),
        ("1.0.", "invalid-decimal"),
        ("1.", "invalid-decimal"),
        (".1", "invalid-decimal"),
        ("1.a", "invalid-decimal"),
        ("-.", "invalid-decimal"),
        ("+1.0", "invalid-decimal"),
        ("--1.0", "invalid-decimal"),
        ("1e3.0", "invalid-decimal"),
        (" 1.0", "invalid-decimal"),
        ("1.0 ", "invalid-decimal"),
        ("1.0\n", "invalid-decimal"),
        ("\u0661.0", "invalid-decimal"),
        ("0.12345", "invalid-decimal"),
        ("1.00000", "invalid-decimal"),
        ("1000000000000000.0", "extension-overflow"),
        ("922337203685477.5808", "extension-overflow"),
        ("-922337203685477.5809", "extension-overflow"),
        ("99999999999999999999.0", "extension-overflow"),
        ("1" * 5000 + ".0", "extension-overflow"),
    ],
)
def test_decimal_rejects(text: str, code: str) -> None:
    assert error_code(Decimal, text) == code


def test_decimal_equality_is_by_value() -> None:
    assert Decimal("1.0") == Decimal("1.00")
    assert Decimal("-0.0") == Decimal("0.0")
    assert Decimal("01.0") == Decimal("1.0")
    assert Decimal("-0.5") != Decimal("0.5")
    assert hash(Decimal("1.0")) == hash(Decimal("1.0000"))
    assert CedarSet([Decimal("1.0"), Decimal("1.00")]) == CedarSet([Decimal("1.0")])


def test_decimal_comparisons() -> None:
    one, two = Decimal("1.0"), Decimal("2.0")
    assert call("lessThan", one, two) is True
    assert call("lessThan", two, one) is False
    assert call("lessThanOrEqual", one, Decimal("1.0000")) is True
    assert call("greaterThan", Decimal("-0.5"), Decimal("-0.5001")) is True
    assert call("greaterThanOrEqual", one, two) is False
    assert error_code(call, "lessThan", one, 1) == "type-error"
    assert error_code(call, "lessThan", Datetime("2024-01-01"), one) == "type-error"
    assert not Decimal.cedar_ordered
    with pytest.raises(TypeError):
        _ = one < two  # type: ignore[operator]


def test_decimal_from_scaled_renders_canonically() -> None:
    assert str(Decimal.from_scaled(10_500)) == 'decimal("1.05")'
    assert str(Decimal.from_scaled(-5000)) == 'decimal("-0.5")'
    assert str(Decimal.from_scaled(0)) == 'decimal("0.0")'
    assert Decimal.from_scaled(LONG_MIN).text == "-922337203685477.5808"
    with pytest.raises(ValueError):
        Decimal.from_scaled(LONG_MAX + 1)


@given(st.integers(LONG_MIN, LONG_MAX))
def test_decimal_canonical_text_round_trips(scaled: int) -> None:
    assert Decimal(Decimal.from_scaled(scaled).text).scaled == scaled


# ---- datetime -------------------------------------------------------------------------

DAY = 86_400_000
Y2024 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1970-01-01", 0),
        ("2024-01-01", Y2024),
        ("2024-01-01T00:00:00Z", Y2024),
        ("2024-01-01T00:00:00.000Z", Y2024),
        ("2024-01-01T00:00:00.123Z", Y2024 + 123),
        ("2024-01-01T01:00:00+0100", Y2024),
        ("2024-01-01T00:00:00.000-0000", Y2024),
        ("2023-12-31T23:00:00.500-0100", Y2024 + 500),
        ("2024-02-29", Y2024 + 59 * DAY),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0000-01-01", -62_167_219_200_000),
        ("0000-02-29", -62_167_219_200_000 + 59 * DAY),
        ("0000-01-01T00:00:00+2359", -62_167_219_200_000 - (23 * 60 + 59) * 60_000),
        ("9999-12-31T23:59:59-2359", 253_402_387_139_000),
    ],
)
def test_datetime_accepts(text: str, millis: int) -> None:
    value = Datetime(text)
    assert value.millis == millis
    assert value.source == text
    assert str(value) == f'datetime("{text}")'


@pytest.mark.parametrize(
    "text",
    [
        "", "2024", "10000-01-01", "-001-01-01", "2024-1-01", "\uff12024-01-01", "2024-01-01Z",
        "2024-01-01T", "2024-01-01t00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T01:02",
        "2024-01-01T00:00Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00z", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.1234Z",
        "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00+01", "2024-01-01T00:00:00Z\n",
        "2024-01-01\n", "2022-10-10 ", "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31",
        "2023-02-29", "2024-02-30", "1900-02-29", "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "2016-12-31T23:59:60.000Z",
        "2024-01-01T00:00:00+2400", "2024-01-01T00:00:00+0060",
    ],
)  # fmt: skip
def test_datetime_rejects(text: str) -> None:
    assert error_code(Datetime, text) == "invalid-datetime"


@given(st.datetimes(min_value=std_datetime.datetime(1, 1, 1)), st.booleans())
def test_datetime_matches_the_standard_library(moment: std_datetime.datetime, millis: bool) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000 if millis else 0)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    text = f"{moment.year:04d}{text[text.index('-') :]}"
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    epoch = std_datetime.datetime(1970, 1, 1)
    expected = (moment - epoch) // std_datetime.timedelta(milliseconds=1)
    assert Datetime(text + "Z").millis == expected
    assert Datetime(text + "+0130").millis == expected - 90 * 60_000
    if not millis and moment.time() == std_datetime.time():
        assert Datetime(text[:10]).millis == expected


def test_datetime_equality_and_order() -> None:
    assert Datetime("2024-01-01") == Datetime("2024-01-01T00:00:00Z")
    assert Datetime("2024-01-01T01:00:00+0100") == Datetime("2024-01-01")
    assert Datetime("2024-01-01") != Duration("1h")
    assert Datetime("2024-01-01") < Datetime("2024-01-02")
    assert Datetime("2024-01-02") >= Datetime("2024-01-02T00:00:00Z")
    assert not Datetime("2024-01-02") > Datetime("2024-01-02")
    assert Datetime.cedar_ordered and Duration.cedar_ordered
    with pytest.raises(TypeError):
        _ = Datetime("2024-01-01") < Duration("1h")


def test_datetime_methods() -> None:
    day = Datetime("2024-10-15")
    assert call("offset", day, Duration("1h")) == Datetime("2024-10-15T01:00:00Z")
    assert call("offset", Datetime("2024-10-16T01:00:00Z"), Duration("-1d")) == Datetime(
        "2024-10-15T01:00:00Z"
    )
    assert call("durationSince", Datetime("2024-10-15T01:00:00Z"), day) == Duration("1h")
    assert call("durationSince", Datetime("2024-10-14T23:18:00Z"), day) == Duration("-42m")
    assert call("durationSince", Datetime("2024-10-16T00:00:00-0500"), day) == Duration("1d5h")
    assert call("toDate", Datetime("2025-02-20T22:00:00-0500")) == Datetime("2025-02-21")
    assert call("toTime", Datetime("2025-02-20T10:35:00-0500")) == Duration("15h35m")
    before_epoch = Datetime("1969-12-31T23:59:59.999Z")
    assert call("toDate", before_epoch) == Datetime("1969-12-31")
    assert call("toTime", before_epoch) == Duration("23h59m59s999ms")
    assert call("toTime", Datetime("1969-12-31")) == Duration("0ms")


def test_datetime_overflow() -> None:
    top = Datetime.from_millis(LONG_MAX)
    bottom = Datetime.from_millis(LONG_MIN)
    assert error_code(call, "offset", top, Duration("1ms")) == "extension-overflow"
    assert error_code(call, "offset", bottom, Duration("-1ms")) == "extension-overflow"
    assert error_code(call, "durationSince", bottom, Datetime("1970-01-02")) == (
        "extension-overflow"
    )
    assert error_code(call, "toDate", bottom) == "extension-overflow"
    assert call("toDate", top).millis == LONG_MAX - LONG_MAX % DAY
    assert call("toTime", bottom).millis == LONG_MIN % DAY


def test_datetime_type_errors() -> None:
    day = Datetime("2024-01-01")
    assert error_code(call, "offset", day, 1) == "type-error"
    assert error_code(call, "offset", Duration("1h"), Duration("1h")) == "type-error"
    assert error_code(call, "durationSince", day, Duration("1h")) == "type-error"
    assert error_code(call, "toDate", Duration("5h")) == "type-error"
    assert error_code(call, "toTime", "2024-01-01") == "type-error"
    assert error_code(call, "toMilliseconds", day) == "type-error"
    assert error_code(call, "datetime", 20240101) == "type-error"


def test_computed_datetime_renders_as_cedar_does() -> None:
    value = call("offset", Datetime("2024-01-01"), Duration("1h"))
    assert value.source is None
    assert str(value) == 'datetime("1970-01-01").offset(duration("1704070800000ms"))'
    assert to_json(value) == {
        "__extn": {
            "fn": "offset",
            "args": [
                {"__extn": {"fn": "datetime", "arg": "1970-01-01"}},
                {"__extn": {"fn": "duration", "arg": "1704070800000ms"}},
            ],
        }
    }


# ---- duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2h30m", 9_000_000),
        ("-1d12h", -129_600_000),
        ("1h30m45s", 5_445_000),
        ("1d2h3m4s5ms", 93_784_005),
        ("0ms", 0),
        ("-0ms", 0),
        ("1m", 60_000),
        ("1ms", 1),
        ("1m1ms", 60_001),
        ("01h", 3_600_000),
        ("4m70s", 310_000),
        ("9223372036854775807ms", LONG_MAX),
        ("-9223372036854775808ms", LONG_MIN),
        ("106751991167d7h12m55s807ms", LONG_MAX),
        ("-106751991167d7h12m55s808ms", LONG_MIN),
        ("0" * 5000 + "1ms", 1),
    ],
)
def test_duration_accepts(text: str, millis: int) -> None:
    value = Duration(text)
    assert value.millis == millis
    assert str(value) == f'duration("{text}")'


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid-duration"),
        ("-", "invalid-duration"),
        ("d", "invalid-duration"),
        ("1s1d", "invalid-duration"),
        ("1s1s", "invalid-duration"),
        ("1ms1m", "invalid-duration"),
        ("1d2h3m4s5ms ", "invalid-duration"),
        (" 1h", "invalid-duration"),
        ("1d2h3m4s5ms6", "invalid-duration"),
        ("1d-1s", "invalid-duration"),
        ("--1h", "invalid-duration"),
        ("+1h", "invalid-duration"),
        ("1D", "invalid-duration"),
        ("1.5h", "invalid-duration"),
        ("1hms", "invalid-duration"),
        ("\u0661h", "invalid-duration"),
        ("1d9223372036854775807ms", "extension-overflow"),
        ("9223372036854775808ms", "extension-overflow"),
        ("-9223372036854775809ms", "extension-overflow"),
        ("106751991168d", "extension-overflow"),
        ("106751991167d7h12m55s808ms", "extension-overflow"),
        ("18446744073709551616ms", "extension-overflow"),
        ("1" * 5000 + "ms", "extension-overflow"),
    ],
)
def test_duration_rejects(text: str, code: str) -> None:
    assert error_code(Duration, text) == code


@pytest.mark.parametrize(
    ("text", "ms", "seconds", "minutes", "hours", "days"),
    [
        ("1d", 86_400_000, 86_400, 1440, 24, 1),
        ("4s100ms", 4100, 4, 0, 0, 0),
        ("4d30h", 453_600_000, 453_600, 7560, 126, 5),
        ("-7ms", -7, 0, 0, 0, 0),
        ("-1999ms", -1999, -1, 0, 0, 0),
        ("-25h", -90_000_000, -90_000, -1500, -25, -1),
        ("-9223372036854775808ms", LONG_MIN, LONG_MIN // 1000 + 1, -153722867280912,
         -2562047788015, -106751991167),
    ],
)  # fmt: skip
def test_duration_conversions_round_toward_zero(
    text: str, ms: int, seconds: int, minutes: int, hours: int, days: int
) -> None:
    value = Duration(text)
    assert call("toMilliseconds", value) == ms
    assert call("toSeconds", value) == seconds
    assert call("toMinutes", value) == minutes
    assert call("toHours", value) == hours
    assert call("toDays", value) == days


def test_duration_equality_and_order() -> None:
    assert Duration("1h") == Duration("60m")
    assert Duration("1d") == Duration("24h")
    assert Duration("-0ms") == Duration("0ms")
    assert Duration("1ms") != 1
    assert Duration("3h30m") < Duration("15000s")
    assert Duration("1h") <= Duration("3600s")
    assert Duration("-1h") > Duration("-2h")
    assert str(Duration.from_millis(-5)) == 'duration("-5ms")'
    with pytest.raises(ValueError):
        Duration.from_millis(LONG_MIN - 1)


# ---- behaviour common to the four types ------------------------------------------------

SAMPLES = [
    IPAddr("10.0.0.1/24"),
    Decimal("1.5"),
    Datetime("2024-01-01"),
    Duration("1h"),
    call("toTime", Datetime("2024-01-01T05:00:00Z")),
    call("toDate", Datetime("2024-01-01T05:00:00Z")),
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_values_are_immutable(value: Any) -> None:
    for name in ("millis", "scaled", "address", "other"):
        with pytest.raises(AttributeError):
            setattr(value, name, 1)
    with pytest.raises(AttributeError):
        del value._text
    assert not hasattr(value, "__dict__")


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_equality_with_other_types_is_false(value: Any) -> None:
    for other in (1, 0, True, "x", None, str(value), *(s for s in SAMPLES if s is not value)):
        if other.__class__ is value.__class__:
            continue
        assert value.__eq__(other) is False
        assert value.__ne__(other) is True
        assert not cedar_equal(value, other)


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_values_pickle_and_hash(value: Any) -> None:
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and hash(copy) == hash(value) and str(copy) == str(value)
    assert repr(value) == str(value)
    assert CedarRecord({"v": value}) == CedarRecord({"v": copy})


def test_ordered_types() -> None:
    assert frozenset({"datetime", "duration"}) == ORDERED_TYPES
    for name, cls in TYPES.items():
        assert cls.cedar_ordered is (name in ORDERED_TYPES)


def test_constructors_check_their_argument_type() -> None:
    for name in FUNCTIONS:
        for bad in (1, True, CedarSet(["1.0"]), CedarRecord(), EntityUID("A", "a"), Decimal("1.0")):
            assert error_code(FUNCTIONS[name].impl, bad) == "type-error"


def test_type_error_messages_name_cedar_types() -> None:
    with pytest.raises(EvaluationError) as info:
        call("isIpv4", "1.2.3.4")
    assert info.value.message == (
        "type error: expected ipaddr, got string (maybe you forgot to apply the `ip` constructor?)"
    )
    with pytest.raises(EvaluationError) as info:
        call("isIpv4", EntityUID("User", "a"))
    assert info.value.message == "type error: expected ipaddr, got (entity of type `User`)"


def test_call_extension_checks_name_and_arity() -> None:
    assert error_code(call, "foo", "x") == "unknown-extension-function"
    assert error_code(call, "ipaddr", "1.2.3.4") == "unknown-extension-function"
    assert error_code(call, "ip") == "arity-error"
    assert error_code(call, "ip", "1.2.3.4", "x") == "arity-error"
    assert error_code(call, "isIpv4", IPAddr("1.2.3.4"), IPAddr("1.2.3.4")) == "arity-error"
    assert error_code(call, "isInRange", IPAddr("1.2.3.4")) == "arity-error"


# ---- JSON -----------------------------------------------------------------------------


def extn(fn: Any, **body: Any) -> dict[str, Any]:
    return {"__extn": {"fn": fn, **body}}


def test_to_json_writes_the_source_string() -> None:
    assert to_json(IPAddr("10.0.0.1/24")) == extn("ip", arg="10.0.0.1/24")
    assert to_json(Decimal("1.50")) == extn("decimal", arg="1.50")
    assert to_json(Datetime("2024-01-01T10:00:00+0100")) == extn(
        "datetime", arg="2024-01-01T10:00:00+0100"
    )
    assert to_json(Duration("90m")) == extn("duration", arg="90m")
    assert to_json(call("toTime", Datetime("1970-01-01T00:00:01Z"))) == extn(
        "duration", arg="1000ms"
    )
    assert to_json(Decimal.from_scaled(15_000)) == extn("decimal", arg="1.5")
    assert to_json(IPAddr.from_parts(6, 1, 64)) == extn("ip", arg="::1/64")
    with pytest.raises(TypeError):
        to_json(1)


def test_from_json_extn_calls_constructors_and_methods() -> None:
    assert from_json_extn("ip", "1.2.3.4") == IPAddr("1.2.3.4")
    assert from_json_extn("ip", args=["1.2.3.4"]) == IPAddr("1.2.3.4")
    assert from_json_extn("decimal", args=["1.0"]) == Decimal("1.0")
    assert from_json_extn("duration", "1h") == Duration("60m")
    offset = from_json_extn(
        "offset", args=[extn("datetime", arg="2024-01-01"), extn("duration", arg="-5d")]
    )
    assert offset == Datetime("2023-12-27")
    assert from_json_extn("isIpv4", extn("ip", arg="1.2.3.4")) is True
    assert (
        from_json_extn(
            "isInRange", args=[extn("ip", arg="1.2.3.4"), extn("ip", args=["1.2.3.0/24"])]
        )
        is True
    )
    assert (
        from_json_extn("lessThan", args=[extn("decimal", arg="1.0"), extn("decimal", arg="2.0")])
        is True
    )
    assert from_json_extn("toMilliseconds", extn("duration", arg="1s")) == 1000
    nested = extn("toDate", arg=extn("datetime", arg="1970-01-01T10:00:00Z"))
    assert from_json_extn("offset", args=[nested, extn("duration", arg="1ms")]) == Datetime(
        "1970-01-01T00:00:00.001Z"
    )


@pytest.mark.parametrize(
    ("fn", "arg", "args", "code"),
    [
        ("ipaddr", "1.2.3.4", None, "unknown-extension-function"),
        ("foo", "x", None, "unknown-extension-function"),
        ("unknown", "x", None, "unknown-extension-function"),
        ("ip", "1.2.3", None, "invalid-ipaddr"),
        ("ip", 1, None, "type-error"),
        ("ip", True, None, "type-error"),
        ("ip", None, None, "type-error"),
        ("ip", ["1.2.3.4"], None, "type-error"),
        ("ip", {"a": 1}, None, "type-error"),
        ("ip", {"__entity": {"type": "A", "id": "a"}}, None, "type-error"),
        ("ip", extn("ip", arg="1.2.3.4"), None, "type-error"),
        ("ip", None, [], "arity-error"),
        ("ip", None, ["1.2.3.4", "2"], "arity-error"),
        ("offset", extn("datetime", arg="1970-01-01"), None, "arity-error"),
        ("offset", None, ["1970-01-01", "5ms"], "type-error"),
        ("duration", "1h1h", None, "invalid-duration"),
        ("offset", None, [extn("datetime", arg="9999-01-01"),
                          extn("duration", arg=f"{LONG_MAX}ms")], "extension-overflow"),
    ],
)  # fmt: skip
def test_from_json_extn_errors(fn: str, arg: Any, args: Any, code: str) -> None:
    if args is None:
        assert error_code(from_json_extn, fn, arg) == code
    else:
        with pytest.raises(EvaluationError) as info:
            from_json_extn(fn, args=args)
        assert info.value.code == code


@pytest.mark.parametrize(
    ("data", "escape"),
    [
        (extn("ip", arg="1.2.3.4"), True),
        (extn("ip", args=["1.2.3.4"]), True),
        (extn("ip", arg="1.2.3.4", args=["2.2.2.2"]), True),
        (extn("ip", arg="1.2.3.4", extra=1), True),
        (extn("ip"), False),
        (extn("ip", args="1.2.3.4"), False),
        (extn(1, arg="x"), False),
        ({"__extn": "ip"}, False),
        ({"__extn": {"fn": "ip", "arg": "1.2.3.4"}, "y": 1}, False),
        ("x", False),
        ([extn("ip", arg="1.2.3.4")], False),
    ],
)
def test_is_json_extn_follows_cedar(data: Any, escape: bool) -> None:
    assert is_json_extn(data) is escape


def test_from_json_prefers_arg_over_args() -> None:
    assert from_json(extn("ip", arg="1.1.1.1", args=["2.2.2.2"])) == IPAddr("1.1.1.1")
    with pytest.raises(ValueError):
        from_json(extn("ip"))
    with pytest.raises(TypeError):
        from_json_extn("ip")


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_json_round_trip(value: Any) -> None:
    assert from_json(to_json(value)) == value


def test_constructor_cache_is_bounded_and_transparent() -> None:
    from rune.cedar.extensions import _checks, ipaddr

    first = FUNCTIONS["ip"].impl("10.1.2.3")
    assert FUNCTIONS["ip"].impl("10.1.2.3") is first
    for i in range(_checks.CONSTRUCTOR_CACHE_SIZE + 10):
        FUNCTIONS["ip"].impl(f"10.0.{i // 256}.{i % 256}")
    assert len(ipaddr._CACHE) <= _checks.CONSTRUCTOR_CACHE_SIZE
    assert FUNCTIONS["ip"].impl("10.1.2.3") == first
    for function in FUNCTIONS.values():  # errors are never cached
        for _ in range(2):
            assert error_code(function.impl, "not valid") == f"invalid-{function.return_type}"
