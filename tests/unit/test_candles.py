"""Candle and funding loading: both CSV layouts, timestamp units, validation errors, helpers."""


import numpy as np
import pandas as pd
import pytest

from support import real_candle_file
from trader_core.candles import (
    Candle,
    find_gaps,
    infer_interval,
    iter_candles,
    load_candles,
    load_funding,
)
from trader_core.errors import DataError

HOUR = 3_600_000
FIVE_MIN = 300_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

SIX_HEADER = "open_time_ms,open,high,low,close,volume"
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)

# Four consistent hourly candles (open_time, open, high, low, close, volume).
ROWS = [
    (T0, 42314.0, 42603.2, 42289.6, 42503.5, 8459.477),
    (T0 + HOUR, 42503.5, 42832.0, 42462.0, 42647.9, 9043.411),
    (T0 + 2 * HOUR, 42647.9, 42700.0, 42500.0, 42600.0, 5000.0),
    (T0 + 3 * HOUR, 42600.0, 42650.0, 42400.0, 42450.5, 4000.25),
]


def _six_lines(rows=ROWS):
    return [",".join(str(v) for v in row) for row in rows]


def _kline_lines(rows=ROWS, time_factor=1):
    lines = []
    for t, o, h, l, c, v in rows:
        close_time = t + HOUR - 1
        lines.append(
            f"{t * time_factor},{o},{h},{l},{c},{v},{close_time * time_factor},"
            f"{round(v * c, 4)},1234,{v / 2},{round(v * c / 2, 4)},0"
        )
    return lines


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _expected_frame(rows=ROWS):
    frame = pd.DataFrame(rows, columns=["open_time", "open", "high", "low", "close", "volume"])
    frame["open_time"] = frame["open_time"].astype(np.int64)
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = frame[col].astype(np.float64)
    return frame


# ------------------------------------------------------------------ layouts


def test_six_column_file_loads_with_exact_values_and_dtypes(tmp_path):
    path = _write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()])
    frame = load_candles(path)
    assert list(frame.columns) == ["open_time", "open", "high", "low", "close", "volume"]
    assert frame["open_time"].dtype == np.int64
    assert all(frame[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))
    assert frame["open_time"].tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert frame["close"].tolist() == [42503.5, 42647.9, 42600.0, 42450.5]
    assert frame["volume"].tolist() == [8459.477, 9043.411, 5000.0, 4000.25]
    pd.testing.assert_frame_equal(frame, _expected_frame())


def test_kline_dump_without_header_equals_six_column_file(tmp_path):
    six = load_candles(_write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()]))
    dump = load_candles(_write(tmp_path, "dump.csv", _kline_lines()))
    pd.testing.assert_frame_equal(dump, six)


def test_kline_dump_with_header_equals_six_column_file(tmp_path):
    six = load_candles(_write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()]))
    dump = load_candles(_write(tmp_path, "dump.csv", [KLINE_HEADER, *_kline_lines()]))
    pd.testing.assert_frame_equal(dump, six)


def test_microsecond_timestamps_become_milliseconds(tmp_path):
    # 2025-style spot dump: open_time in microseconds (1_704_067_200_000_000 > 1e14).
    dump = load_candles(_write(tmp_path, "us.csv", _kline_lines(time_factor=1000)))
    assert dump["open_time"].tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert dump["open_time"].dtype == np.int64
    pd.testing.assert_frame_equal(dump, _expected_frame())


def test_microseconds_in_six_column_file_too(tmp_path):
    rows = [(t * 1000, o, h, l, c, v) for t, o, h, l, c, v in ROWS]
    frame = load_candles(_write(tmp_path, "us6.csv", [SIX_HEADER, *_six_lines(rows)]))
    assert frame["open_time"].tolist() == [r[0] for r in ROWS]


# ------------------------------------------------------------------ errors


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_candles(tmp_path / "nope.csv")


def test_empty_file_is_data_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_candles(path)


def test_seven_columns_is_data_error_naming_the_count(tmp_path):
    lines = [SIX_HEADER + ",extra"] + [line + ",1" for line in _six_lines()]
    with pytest.raises(DataError, match=r"found 7") as info:
        load_candles(_write(tmp_path, "seven.csv", lines))
    assert "6 columns" in str(info.value)


def test_nan_value_names_its_line(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    # Data row 3 (0-based index 2) sits on file line 4 (line 1 is the header).
    lines[3] = f"{T0 + 2 * HOUR},42647.9,42700.0,42500.0,,5000.0"
    with pytest.raises(DataError, match=r"line 4 has a missing or non-numeric value"):
        load_candles(_write(tmp_path, "nan.csv", lines))


def test_literal_nan_value_names_its_line(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    lines[2] = f"{T0 + HOUR},42503.5,NaN,42462.0,42647.9,9043.411"
    with pytest.raises(DataError, match=r"line 3 has a missing or non-numeric value"):
        load_candles(_write(tmp_path, "nan2.csv", lines))


def test_non_numeric_value_names_its_line(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    lines[4] = f"{T0 + 3 * HOUR},42600.0,42650.0,42400.0,abc,4000.25"
    with pytest.raises(DataError, match=r"line 5 has a missing or non-numeric value"):
        load_candles(_write(tmp_path, "abc.csv", lines))


def test_non_numeric_value_line_number_in_headerless_dump(tmp_path):
    lines = _kline_lines()
    # No header: the bad row is the 2nd line of the file.
    lines[1] = lines[1].replace("42647.9", "abc", 1)
    with pytest.raises(DataError, match=r"line 2 has a missing or non-numeric value"):
        load_candles(_write(tmp_path, "dump_bad.csv", lines))


def test_duplicated_open_time_is_data_error_with_line(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    # Row 3 repeats row 2's open_time -> reported at file line 4.
    lines[3] = f"{T0 + HOUR},42647.9,42700.0,42500.0,42600.0,5000.0"
    with pytest.raises(DataError, match=r"duplicated or out of order \(line 4\)") as info:
        load_candles(_write(tmp_path, "dup.csv", lines))
    assert "2024-01-01T01:00:00Z" in str(info.value)


def test_out_of_order_rows_are_data_error_with_line(tmp_path):
    rows = [ROWS[0], ROWS[2], ROWS[1], ROWS[3]]
    # Third data row (T0+1h) comes after T0+2h -> file line 4.
    with pytest.raises(DataError, match=r"duplicated or out of order \(line 4\)"):
        load_candles(_write(tmp_path, "order.csv", [SIX_HEADER, *_six_lines(rows)]))


def test_high_below_close_is_data_error_with_line(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    # high 42600.0 < close 42647.9 on data row 2 -> file line 3.
    lines[2] = f"{T0 + HOUR},42503.5,42600.0,42462.0,42647.9,9043.411"
    with pytest.raises(DataError, match=r"inconsistent OHLCV at line 3") as info:
        load_candles(_write(tmp_path, "ohlc.csv", lines))
    assert "2024-01-01T01:00:00Z" in str(info.value)


def test_error_message_names_the_file(tmp_path):
    lines = [SIX_HEADER, *_six_lines()]
    lines[1] = f"{T0},42314.0,42603.2,42289.6,oops,8459.477"
    path = _write(tmp_path, "named.csv", lines)
    with pytest.raises(DataError) as info:
        load_candles(path)
    assert "named.csv" in str(info.value)


def test_header_only_file_is_data_error(tmp_path):
    with pytest.raises(DataError):
        load_candles(_write(tmp_path, "hdr.csv", [SIX_HEADER]))


# ------------------------------------------------------------------ range filter


def test_start_inclusive_end_exclusive(tmp_path):
    path = _write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()])
    frame = load_candles(path, start_ms=T0 + HOUR, end_ms=T0 + 3 * HOUR)
    # keeps T0+1h (== start) and T0+2h; drops T0+3h (== end)
    assert frame["open_time"].tolist() == [T0 + HOUR, T0 + 2 * HOUR]
    assert frame.index.tolist() == [0, 1]


def test_start_only_and_end_only(tmp_path):
    path = _write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()])
    assert load_candles(path, start_ms=T0 + 3 * HOUR)["open_time"].tolist() == [T0 + 3 * HOUR]
    assert load_candles(path, end_ms=T0 + 1)["open_time"].tolist() == [T0]
    # a start between candles keeps the following ones
    assert load_candles(path, start_ms=T0 + 1)["open_time"].tolist() == [
        T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR,
    ]


def test_empty_range_is_data_error(tmp_path):
    path = _write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()])
    with pytest.raises(DataError, match="no candles in the requested date range"):
        load_candles(path, start_ms=T0 + 4 * HOUR)
    with pytest.raises(DataError, match="no candles"):
        load_candles(path, start_ms=T0 + HOUR, end_ms=T0 + HOUR)


# ------------------------------------------------------------------ helpers


def _frame_at(times):
    n = len(times)
    return pd.DataFrame({
        "open_time": np.asarray(times, dtype=np.int64),
        "open": np.full(n, 100.0), "high": np.full(n, 101.0), "low": np.full(n, 99.0),
        "close": np.full(n, 100.5), "volume": np.full(n, 1.0),
    })


def test_infer_interval_1h_and_5m(tmp_path):
    assert infer_interval(load_candles(_write(tmp_path, "h.csv", [SIX_HEADER, *_six_lines()]))) == "1h"
    assert infer_interval(_frame_at([T0 + i * FIVE_MIN for i in range(10)])) == "5m"


def test_infer_interval_uses_most_common_spacing():
    # spacings: 5m, 5m, 15m (a gap), 5m -> most common is 5m
    times = [T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN, T0 + 5 * FIVE_MIN, T0 + 6 * FIVE_MIN]
    assert infer_interval(_frame_at(times)) == "5m"


def test_infer_interval_single_candle_is_data_error():
    with pytest.raises(DataError, match="single candle"):
        infer_interval(_frame_at([T0]))


def test_find_gaps():
    # missing T0+3*5m and T0+4*5m, and T0+8*5m
    times = [T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN, T0 + 5 * FIVE_MIN, T0 + 6 * FIVE_MIN,
             T0 + 7 * FIVE_MIN, T0 + 9 * FIVE_MIN]
    assert find_gaps(_frame_at(times), FIVE_MIN) == [
        (T0 + 2 * FIVE_MIN, T0 + 5 * FIVE_MIN),
        (T0 + 7 * FIVE_MIN, T0 + 9 * FIVE_MIN),
    ]
    assert find_gaps(_frame_at([T0 + i * FIVE_MIN for i in range(5)]), FIVE_MIN) == []
    gaps = find_gaps(_frame_at(times), FIVE_MIN)
    assert all(type(a) is int and type(b) is int for a, b in gaps)


def test_iter_candles_yields_python_scalars(tmp_path):
    frame = load_candles(_write(tmp_path, "six.csv", [SIX_HEADER, *_six_lines()]))
    candles = list(iter_candles(frame))
    assert len(candles) == 4
    for candle, row in zip(candles, ROWS):
        assert isinstance(candle, Candle)
        assert type(candle.open_time) is int
        for name in ("open", "high", "low", "close", "volume"):
            assert type(getattr(candle, name)) is float
        assert (candle.open_time, candle.open, candle.high, candle.low, candle.close,
                candle.volume) == row


# ------------------------------------------------------------------ funding


def test_load_funding_happy_path_sorted(tmp_path):
    path = _write(tmp_path, "funding.csv", [
        "funding_time_ms,funding_rate",
        "1708531200000,0.0001",
        "1708502400000,0.00011242",
        "1708560000000,-0.00002",
    ])
    frame = load_funding(path)
    assert list(frame.columns) == ["funding_time", "funding_rate"]
    assert frame["funding_time"].dtype == np.int64
    assert frame["funding_time"].tolist() == [1708502400000, 1708531200000, 1708560000000]
    assert frame["funding_rate"].tolist() == [0.00011242, 0.0001, -0.00002]
    assert frame.index.tolist() == [0, 1, 2]


def test_load_funding_wrong_header(tmp_path):
    path = _write(tmp_path, "funding.csv", ["time,rate", "1708531200000,0.0001"])
    with pytest.raises(DataError, match="funding_time_ms,funding_rate"):
        load_funding(path)


def test_load_funding_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_funding(tmp_path / "nope.csv")


def test_load_funding_missing_value(tmp_path):
    path = _write(tmp_path, "funding.csv", ["funding_time_ms,funding_rate", "1708531200000,"])
    with pytest.raises(DataError, match="line 2 has a missing or non-numeric value"):
        load_funding(path)


def test_load_funding_empty_file_is_data_error(tmp_path):
    path = tmp_path / "funding.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError):
        load_funding(path)


def test_load_funding_non_numeric_rate_is_data_error(tmp_path):
    path = _write(tmp_path, "funding.csv", [
        "funding_time_ms,funding_rate", "1708502400000,0.0001", "1708531200000,abc",
    ])
    with pytest.raises(DataError):
        load_funding(path)


# ------------------------------------------------------------------ the real files

_1H = "binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
_5M = "binance_usdm_BTCUSDT_5m_20231101_20241230.csv"


def test_real_1h_file():
    frame = load_candles(real_candle_file(_1H))
    assert len(frame) == 9_227
    assert infer_interval(frame) == "1h"
    assert find_gaps(frame, HOUR) == []
    assert int(frame["open_time"].iloc[0]) == T0  # 2024-01-01 00:00 UTC
    assert int(frame["open_time"].iloc[-1]) == 1_737_280_800_000  # 2025-01-19 10:00 UTC


def test_real_5m_file():
    frame = load_candles(real_candle_file(_5M))
    assert len(frame) == 122_688
    assert infer_interval(frame) == "5m"
    assert find_gaps(frame, FIVE_MIN) == []
    assert int(frame["open_time"].iloc[0]) == 1_698_796_800_000  # 2023-11-01 00:00 UTC
    # 2024-12-31 00:00 UTC (1_735_603_200_000) minus one 5m candle = 23:55 on the 30th
    assert int(frame["open_time"].iloc[-1]) == 1_735_603_200_000 - FIVE_MIN


# ------------------------------------------------------------------ non-finite and absurd values


@pytest.mark.parametrize(
    "bad_row, message",
    [
        (f"{T0 + 2 * HOUR},42647.9,inf,42500.0,42600.0,5000.0", "line 4 has a non-finite value"),
        (f"{T0 + 2 * HOUR},42647.9,42700.0,42500.0,-inf,5000.0", "line 4 has a non-finite value"),
        (f"{T0 + 2 * HOUR},42647.9,42700.0,42500.0,42600.0,Infinity", "line 4 has a non-finite value"),
        (f"{T0 + 2 * HOUR},1e300,1e300,1e300,1e300,5000.0", r"line 4 has a price above 1e\+12"),
        (f"{T0 + 2 * HOUR},0,42700.0,0,42600.0,5000.0", r"line 4 has a price <= 0"),
        (f"{T0 + 2 * HOUR},-1,42700.0,-2,42600.0,5000.0", r"line 4 has a price <= 0"),
        (f"{T0 + 2 * HOUR},42647.9,42700.0,42500.0,42600.0,-5", "line 4 has a negative volume"),
        (f"{T0 + 2 * HOUR},42647.9,42700.0,42500.0,42600.0,1e300", "line 4 has a volume above"),
        (f"{T0 + 2 * HOUR},42600.0,42500.0,42700.0,42600.0,5000.0", "line 4 has high below low"),
        ("1e300,42647.9,42700.0,42500.0,42600.0,5000.0", "line 4 has an open time outside"),
        ("-3600000,42647.9,42700.0,42500.0,42600.0,5000.0", "line 4 has an open time outside"),
    ],
)
def test_non_finite_and_absurd_values_name_their_line(tmp_path, bad_row, message):
    lines = _six_lines()
    lines[2] = bad_row
    path = _write(tmp_path, "bad.csv", [SIX_HEADER, *lines])
    with pytest.raises(DataError, match=message) as info:
        load_candles(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 3


def test_binary_file_is_a_data_error(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match="is a binary file, not a candle CSV"):
        load_candles(path)


def test_undecodable_text_is_a_data_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("open_time_ms,open,high,low,close,volume,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        load_candles(path)


def test_undecodable_bytes_after_the_first_line_are_a_data_error(tmp_path):
    """Far past the first line (beyond what the header sniff decodes), so the CSV parser meets them."""
    rows = [f"{T0 + i * HOUR},42000.0,42100.0,41900.0,42050.0,100.0" for i in range(3000)]
    path = tmp_path / "tail.csv"
    path.write_bytes(("\n".join([SIX_HEADER, *rows]) + "\n").encode() + b"\xff\xfe\xfa,1,2,3,4,5\n")
    assert path.stat().st_size > 100_000
    with pytest.raises(DataError, match="not UTF-8 text") as info:
        load_candles(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("rate", ["inf", "nan", "1.5", "-2"])
def test_load_funding_non_finite_or_absurd_rate_is_data_error(tmp_path, rate):
    path = _write(tmp_path, "funding.csv", [
        "funding_time_ms,funding_rate", "1708502400000,0.0001", f"1708531200000,{rate}",
    ])
    with pytest.raises(DataError, match="line 3"):
        load_funding(path)


def test_load_funding_binary_file_is_data_error(tmp_path):
    path = tmp_path / "funding.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="binary file"):
        load_funding(path)
