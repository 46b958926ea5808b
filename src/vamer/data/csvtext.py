"""CSV text read record by record, so that a bad row costs only itself and is named.

Python's csv module stops a whole file at the first row it cannot parse (a field over its size
limit, a bare carriage return, a quote opened and never closed), and an unbalanced quote silently
joins the rows after it into one field.  The readers of vamer instead see each record with the
physical lines it came from and, when it cannot be parsed, why.

>>> [(r.lines, r.fields, r.problem) for r in read_records('a,b\\nx,"y\\n\\nc,d\\n', one_line_records=True)]
[('1', ['a', 'b'], ''), ('2', None, 'unbalanced quote (unexpected end of data)'), ('3', [], ''), ('4', ['c', 'd'], '')]
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

# A physical line ends at CRLF, LF or a bare CR (what a spreadsheet and a text editor both count).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


@dataclass(frozen=True)
class CsvRecord:
    """One record: the 1-based physical lines it spans, its fields, or why it could not be read."""

    first_line: int
    last_line: int
    fields: list[str] | None
    problem: str = ""

    @property
    def lines(self) -> str:
        """The line number, or the range ``"4-6"`` of a record spanning several lines."""
        if self.first_line == self.last_line:
            return str(self.first_line)
        return f"{self.first_line}-{self.last_line}"

    @property
    def blank(self) -> bool:
        return self.fields is not None and not any(field.strip() for field in self.fields)


def decode(data: bytes, encodings: tuple[str, ...] = ("utf-8-sig", "cp949")) -> tuple[str, str | None]:
    """``data`` as text in the first encoding that fits, and its name; ``(replaced UTF-8, None)`` if none fits."""
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), None


def physical_lines(text: str) -> list[str]:
    """The lines of ``text``, each with its line break."""
    return _LINE.findall(text)


def _problem(error: csv.Error) -> str:
    message = str(error)
    if "unexpected end of data" in message or "expected after '\"'" in message:
        return f"unbalanced quote ({message})"
    return message


def read_records(text: str, one_line_records: bool = False) -> list[CsvRecord]:
    """Every record of ``text``, blank ones included, in order.

    With ``one_line_records`` each physical line is its own record (the KEMDy annotation files,
    whose fields never hold a line break), so an unbalanced quote costs one line.  Otherwise a
    quoted field may span lines, as CSV allows; a record the parser rejects covers the lines it
    consumed.
    """
    lines = physical_lines(text)
    records = []
    if one_line_records:
        for number, line in enumerate(lines, start=1):
            try:
                fields = next(csv.reader([line], strict=True), [])
            except csv.Error as error:
                records.append(CsvRecord(number, number, None, _problem(error)))
            else:
                records.append(CsvRecord(number, number, fields))
        return records
    reader = csv.reader(iter(lines), strict=True)
    first = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            records.append(CsvRecord(first, max(first, reader.line_num), None, _problem(error)))
        else:
            records.append(CsvRecord(first, reader.line_num, fields))
        first = reader.line_num + 1
    return records
