"""User-data readers: good files parse; bad files raise DataFileError naming file and line/row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent_forge.data.readers import read_data_file, read_jsonl, read_parquet, read_text_file
from agent_forge.data.tasks import check
from agent_forge.errors import DataFileError


def test_text_file_paragraphs(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("First paragraph,\nstill first.\n\n\nSecond — ünïcode 🙂.\n  \n")
    assert read_text_file(f) == ["First paragraph,\nstill first.", "Second — ünïcode 🙂."]
    assert read_data_file(f).texts == read_text_file(f)


def test_jsonl_texts_and_examples(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(
        '{"text": "free text"}\n\n'
        '{"prompt": "2+2?", "answer": 4, "level": 1, "domain": "arithmetic"}\n'
        '{"prompt": "Capital of France?", "answer": "Paris"}\n'
    )
    data = read_jsonl(f)
    assert data.texts == ["free text"]
    num, txt = data.examples
    assert (num.level, num.domain, num.answer, num.checker) == (1, "arithmetic", "4", "number")
    assert check("arithmetic", num, "4.0") and not check("arithmetic", num, "5")
    assert (txt.level, txt.domain, txt.checker) == (0, "user", "text")
    assert check("user", txt, " Paris ")
    assert read_data_file(f) == data


def test_parquet_round_trip(tmp_path):
    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"prompt": ["a?", "b?"], "answer": ["1", "x"]}), f)
    data = read_parquet(f)
    assert [e.answer for e in data.examples] == ["1", "x"] and not data.texts
    g = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["one", "two"]}), g)
    assert read_data_file(g).texts == ["one", "two"]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"text": "ok"}\n{"text": "ok"\n', 2, "bad JSON"),
        ('{"text": "ok"}\n\n{"prompt": "q"}\n', 3, "missing answer"),
        ('{"prompt": 5, "answer": "a"}\n', 1, "'prompt' must be a string"),
        ('{"text": ["a"]}\n', 1, "'text' must be a string"),
        ('["a", "b"]\n', 1, "expected a JSON object"),
        ('{"prompt": "q", "answer": "a", "level": 11}\n', 1, "'level'"),
        ('{"prompt": "q", "answer": true}\n', 1, "'answer' must be"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, content, line, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(DataFileError, match=message) as err:
        read_jsonl(f)
    assert err.value.path == str(f) and err.value.line == line
    assert f"{f}:{line}" in str(err.value) and err.value.exit_code == 2


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(DataFileError, match="file not found") as err:
        read_jsonl(tmp_path / "nope.jsonl")
    assert err.value.path.endswith("nope.jsonl") and err.value.line is None
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(DataFileError, match="not UTF-8") as err:
        read_text_file(bad)
    assert err.value.line == 3
    with pytest.raises(DataFileError, match="not a regular file"):
        read_text_file(tmp_path)


def test_bad_parquet_names_file_column_and_row(tmp_path):
    wrong_type = tmp_path / "w.parquet"
    pq.write_table(pa.table({"prompt": ["q"], "answer": [3]}), wrong_type)
    with pytest.raises(DataFileError, match="column 'answer' must be a string column"):
        read_parquet(wrong_type)
    no_cols = tmp_path / "n.parquet"
    pq.write_table(pa.table({"question": ["q"]}), no_cols)
    with pytest.raises(DataFileError, match="missing 'prompt'"):
        read_parquet(no_cols)
    null_row = tmp_path / "r.parquet"
    pq.write_table(pa.table({"prompt": ["q", "r", None], "answer": ["a", "b", "c"]}), null_row)
    with pytest.raises(DataFileError, match="missing prompt") as err:
        read_parquet(null_row)
    assert err.value.line == 3 and str(null_row) in str(err.value)
    junk = tmp_path / "j.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(DataFileError, match="not a readable Parquet file"):
        read_parquet(junk)
