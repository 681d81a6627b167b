"""RFC 6901 JSON pointers: escaping, joining, splitting and resolving."""

from __future__ import annotations

import pytest

from audiodiff.schema.pointer import escape, join, parent, resolve, split, unescape


def test_escape_round_trip_follows_rfc_6901_order():
    assert escape("a/b~c") == "a~1b~0c"
    assert unescape("a~1b~0c") == "a/b~c"
    # `~01` is an escaped `~` followed by `1`, not a `/`: unescaping `~1` first is what makes that come out right
    assert unescape("~01") == "~1"
    for token in ["", "plain", "~", "/", "~1", "~0/", "é/𝄞~"]:
        assert unescape(escape(token)) == token


def test_join_split_parent():
    assert join("", "model", 0) == "/model/0"
    assert join("/model", "a/b", "~") == "/model/a~1b/~0"
    assert join("/x") == "/x"
    assert split("") == []
    assert split("/model/a~1b/~0") == ["model", "a/b", "~"]
    assert split("/") == [""]
    assert parent("/model/a~1b/0") == "/model/a~1b"
    assert parent("/model") == ""
    assert parent("") == ""
    with pytest.raises(ValueError):
        split("model/0")


def test_resolve_follows_keys_and_indices_and_raises_when_absent():
    data = {"model": {"layers": [{"dim": 64}, {"dim": 128}], "a/b": 1, "": 2}}
    assert resolve(data, "") is data
    assert resolve(data, "/model/layers/1/dim") == 128
    assert resolve(data, "/model/a~1b") == 1
    assert resolve(data, "/model/") == 2
    with pytest.raises(KeyError):
        resolve(data, "/model/missing")
    with pytest.raises(IndexError):
        resolve(data, "/model/layers/2")
    with pytest.raises(IndexError):
        resolve(data, "/model/layers/01")  # leading zeros are not RFC 6901 indices
    with pytest.raises(IndexError):
        resolve(data, "/model/layers/-")
    with pytest.raises(KeyError):
        resolve(data, "/model/layers/0/dim/x")  # below a scalar
