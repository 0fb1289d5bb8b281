"""CSV rows from a byte stream: quotes, new lines in fields, delimiters, headers, ragged and
malformed rows, lazy quotes, a byte order mark, and feeding in chunks of any size."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.connectors.csv_rows import CsvOptions, CsvRows, check_delimiter

PLANT = (
    b"\xef\xbb\xbftag,value,unit,note\r\n"
    b'line1.temp,21.5,C,"ok, nominal"\r\n'
    b'line1.pressure,1.02,bar,"maintenance\r\ndue ""soon"""\r\n'
    b"\r\n"
    b"line2.flow,3.4,m3/h,\r\n"
)


def rows(data: bytes, chunk: int = 0, **options: Any) -> tuple[list[Any], CsvRows]:
    """(index, value, error) of every row, feeding `data` in chunks of `chunk` bytes."""
    parser = CsvOptions(**options).open("plant.csv")
    size = chunk or len(data) or 1
    got = []
    for i in range(0, len(data), size):
        got += parser.feed(data[i : i + size])
    got += parser.finish()
    return [(r.index, r.value, r.error) for r in got], parser


def values(data: bytes, chunk: int = 0, **options: Any) -> list[Any]:
    found, parser = rows(data, chunk, **options)
    assert parser.failed is None, parser.failed
    return [value for _, value, _ in found]


def test_a_header_keys_each_row_with_quotes_delimiters_and_new_lines_kept() -> None:
    assert values(PLANT) == [
        {"tag": "line1.temp", "value": "21.5", "unit": "C", "note": "ok, nominal"},
        {
            "tag": "line1.pressure",
            "value": "1.02",
            "unit": "bar",
            "note": 'maintenance\r\ndue "soon"',
        },
        {"tag": "line2.flow", "value": "3.4", "unit": "m3/h", "note": ""},
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16, 64])
def test_any_chunking_gives_the_same_rows_and_offsets(chunk: int) -> None:
    whole, parser = rows(PLANT)
    assert rows(PLANT, chunk)[0] == whole
    assert parser.consumed == len(PLANT)


def test_rows_come_as_soon_as_their_bytes_are_fed() -> None:
    parser = CsvOptions().open()
    assert parser.feed(b"a,b\n1,2\n3,") != []
    assert [r.value for r in parser.feed(b'"x\n')] == []  # inside a quoted field: waits
    assert [r.value for r in parser.feed(b'y"\n')] == [{"a": "3", "b": "x\ny"}]
    assert parser.consumed == len(b'a,b\n1,2\n3,"x\ny"\n')


def test_without_a_header_each_row_is_an_array_and_blank_lines_are_skipped() -> None:
    found, _ = rows(b"1,2\n\n3,4\n5,6", parse_header_row=False)
    assert found == [(0, ["1", "2"], None), (1, ["3", "4"], None), (2, ["5", "6"], None)]


@pytest.mark.parametrize(("delimiter", "sep"), [(";", b";"), ("\t", b"\t")])
def test_a_custom_delimiter(delimiter: str, sep: bytes) -> None:
    data = sep.join([b"tag", b"value"]) + b"\n" + sep.join([b"a,b", b'"1' + sep + b'5"']) + b"\n"
    assert values(data, delimiter=delimiter) == [{"tag": "a,b", "value": "1" + delimiter + "5"}]


def test_delimiters_are_one_character() -> None:
    assert check_delimiter("") == ","
    assert check_delimiter(";") == ";"
    assert check_delimiter("\\t") == "\t"  # a tab written as in YAML's single quotes
    with pytest.raises(ValueError, match="expected one character, got ';;'"):
        check_delimiter(";;")
    with pytest.raises(ValueError, match="cannot separate CSV fields"):
        check_delimiter('"')


def test_a_byte_order_mark_opens_the_header_not_its_first_name() -> None:
    found = values(b"\xef\xbb\xbfname\nx\n", chunk=1)
    assert found == [{"name": "x"}]
    # only at the start of the stream
    assert values(b"name\n\xef\xbb\xbfx\n") == [{"name": "\ufeffx"}]


def test_ragged_rows_are_errors_for_the_scanner() -> None:
    data = b"a,b\n1,2\n3,4,5\n6,7\n"
    found, parser = rows(data)
    assert found == [(0, {"a": "1", "b": "2"}, None)]
    assert parser.failed == "csv row 1 of plant.csv (line 3): 3 fields, the first row has 2"
    found, parser = rows(data, continue_on_error=True)
    assert parser.failed is None
    assert [(i, e is not None) for i, _, e in found] == [(0, False), (1, True), (2, False)]
    assert found[1][1] == {"a": "3", "b": "4"}  # the fields it has, with the error


def test_ragged_rows_are_taken_as_they_are_by_the_csv_input() -> None:
    data = b"a,b,c\n1,2\n3,4,5,6\n7,8,9\n"
    assert values(data, strict_fields=False) == [
        {"a": "1", "b": "2"},
        ["3", "4", "5", "6"],
        {"a": "7", "b": "8", "c": "9"},
    ]


def test_a_malformed_row_ends_reading_naming_the_row_and_line() -> None:
    data = b'a,b\n1,2\n3,"x"y\n5,6\n'
    found, parser = rows(data)
    assert [v for _, v, _ in found] == [{"a": "1", "b": "2"}]
    assert parser.failed is not None
    assert parser.failed.startswith("csv row 1 of plant.csv (line 3): text after the closing")
    assert parser.feed(b"7,8\n") == [] and parser.finish() == []


def test_with_continue_on_error_a_malformed_row_is_an_empty_errored_row() -> None:
    data = b'a,b\n1,2\n3,"x"y\n5,6\n'
    found, parser = rows(data, continue_on_error=True)
    assert parser.failed is None
    assert [(i, v) for i, v, _ in found] == [
        (0, {"a": "1", "b": "2"}),
        (1, {}),
        (2, {"a": "5", "b": "6"}),
    ]
    assert found[1][2] is not None and "row 1" in found[1][2]
    found, _ = rows(b'1,"x"y\n2\n', continue_on_error=True, parse_header_row=False)
    assert [(v, e is None) for _, v, e in found] == [([], False), (["2"], True)]


def test_an_unterminated_quote_is_reported_at_the_end() -> None:
    found, parser = rows(b'a,b\n1,"never closed\n2,3\n')
    assert found == []
    assert parser.failed == (
        "csv row 0 of plant.csv (line 2): a quoted field is not closed before the end"
    )


def test_a_header_that_does_not_parse_ends_reading_even_continuing_on_errors() -> None:
    _, parser = rows(b'a,"b"c\n1,2\n', continue_on_error=True)
    assert parser.failed is not None and parser.failed.startswith("csv header row of plant.csv")


def test_lazy_quotes_allow_bare_and_stray_quotes() -> None:
    data = b'size,part\n12" pipe,valve\n"3" x",bolt\n'
    found, parser = rows(data)
    assert found == [] and parser.failed is not None
    assert "a quote in a field that is not quoted" in parser.failed
    assert values(data, lazy_quotes=True) == [
        {"size": '12" pipe', "part": "valve"},
        {"size": '3 x"', "part": "bolt"},
    ]


def test_quoted_fields_with_doubled_quotes_are_not_bare_quotes() -> None:
    data = b'a,b\n"say ""hi""",""\n"x\n""y""",z\n'
    assert values(data, chunk=4) == [{"a": 'say "hi"', "b": ""}, {"a": 'x\n"y"', "b": "z"}]


def test_resuming_continues_after_the_last_row_with_its_header_and_index() -> None:
    data = b"a,b\n1,2\n3,4\n5,6\n"
    first = CsvOptions().open()
    got = first.feed(data[:10])
    assert [r.value for r in got] == [{"a": "1", "b": "2"}]
    state = first.state()
    second = CsvOptions().open()
    offset = second.resume(state)
    rest = second.feed(data[offset:]) + second.finish()
    assert [(r.index, r.value) for r in rest] == [
        (1, {"a": "3", "b": "4"}),
        (2, {"a": "5", "b": "6"}),
    ]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert values(b"a\n\xff\xfeok\n") == [{"a": "\ufffd\ufffdok"}]
