"""The JSON decoder every Moz and Ahrefs reply goes through reads what `json.loads` reads.

Bodies over 512 KB are parsed on a second thread and handed over in chunks while this one builds
the objects, so large bodies here exercise that path, small ones the one-piece path.
"""

import json
import random

import pytest

from seowire import _seowire

STREAMED = 512 << 10


def random_rows(seed: int, n: int) -> list:
    rnd = random.Random(seed)
    texts = ["", "a", "dofollow", "2026-10-21", "https://example.com/a?b=c&d=%20", "café", "😀 smile", 'q"uote',
             "back\\slash", "new\nline", "tab\t", "\x01ctl", "slash/", "a long string, longer than twenty-four bytes"]
    keys = ["url_from", "anchor", "domain_rating", "first_seen", "is_dofollow", 'k"ey', "café", "x"]

    def value():
        kind = rnd.randrange(9)
        if kind == 0:
            return rnd.choice(texts)
        if kind == 1:
            return rnd.randrange(-(1 << 40), 1 << 40)
        if kind == 2:
            return rnd.randrange(10_000) / 100
        if kind == 3:
            return rnd.random() * 10 ** rnd.randrange(-30, 30)
        if kind == 4:
            return rnd.choice([True, False, None])
        if kind == 5:
            return [rnd.randrange(100) for _ in range(rnd.randrange(4))]
        if kind == 6:
            return {"nested": {"a": rnd.randrange(100), "b": "x" * rnd.randrange(30)}}
        if kind == 7:
            return rnd.choice([2**64 - 1, -(2**63), 2**63, 0, -1])
        return rnd.choice(texts) + rnd.choice(texts)

    rows = []
    for _ in range(n):
        ks = keys if rnd.randrange(5) else keys[: rnd.randrange(len(keys))]
        if rnd.randrange(20) == 0:
            ks = list(reversed(ks))
        rows.append({k: value() for k in ks})
    return rows


def bodies(rows, **kw):
    yield json.dumps(rows, **kw).encode()
    yield json.dumps(rows, ensure_ascii=False, **kw).encode()


@pytest.mark.parametrize("seed", range(6))
def test_small_documents_read_as_json_loads_does(seed):
    rows = random_rows(seed, 40)
    for body in bodies({"rows": rows, "next_token": "abc=="}):
        assert len(body) < STREAMED
        assert _seowire.loads(body) == json.loads(body)


@pytest.mark.parametrize("seed", [11, 12])
def test_large_documents_read_as_json_loads_does(seed):
    rows = random_rows(seed, 5000)
    for body in bodies({"backlinks": rows}, indent=seed % 2 or None):
        assert len(body) > STREAMED
        got = _seowire.loads(body)
        assert got == json.loads(body)
        # Key order as sent, per object, also where a row's keys are in another order.
        assert [list(r) for r in got["backlinks"]] == [list(r) for r in rows]


def test_real_payloads_read_as_json_loads_does(fixtures):
    for path in sorted(fixtures.glob("*.json")):
        body = path.read_bytes()
        assert _seowire.loads(body) == json.loads(body), path.name


def test_scalars_and_edge_values():
    for text in ["0", "-0", "-0.0", "1.5e3", "1E-2", "0.1", "2.2250738585072014e-308", "18446744073709551615",
                 "-9223372036854775808", "true", "false", "null", '""', '"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t"',
                 "[]", "{}", ' [1, {"b": [null]}] ', '{"a":1,"a":2}']:
        got = _seowire.loads(text.encode())
        assert got == json.loads(text) and type(got) is type(json.loads(text)), text
    assert repr(_seowire.loads(b"-0.0")) == "-0.0"
    # Beyond 64 bits an integer becomes a float (documented); json.loads keeps it exact.
    assert _seowire.loads(b"18446744073709551616") == float(2**64)


@pytest.mark.parametrize("body", [b"", b"   ", b"[1,]", b"[1 2]", b'{"a" 1}', b"{1:2}", b"01", b"1.", b"-", b"tru",
                                  b'"unterminated', b'"a\x01b"', b'"\\x"', b'"\\ud83d"', b"[1] x", b"[\"a\xff\"]",
                                  b"1e400", b"[" * 128 + b"]" * 128])
def test_malformed_bodies_raise_with_a_position(body):
    with pytest.raises(ValueError, match=r"line \d+ column \d+"):
        _seowire.loads(body)


def test_an_error_late_in_a_large_body_raises_and_returns_nothing():
    rows = random_rows(3, 5000)
    body = json.dumps({"backlinks": rows}, indent=1).encode()
    assert len(body) > STREAMED
    broken = body[: len(body) - 200] + b"}, oops" + body[len(body) - 193:]
    line = broken[: broken.index(b"oops")].count(b"\n") + 1
    with pytest.raises(ValueError, match=rf"line {line} column"):
        _seowire.loads(broken)
    truncated = body[: len(body) // 2]
    with pytest.raises(ValueError, match="EOF"):
        _seowire.loads(truncated)
    # The decoder is left in a clean state: the next large body decodes in full.
    assert _seowire.loads(body) == json.loads(body)


def test_repeated_short_values_are_shared_not_rebuilt():
    rows = [{"first_seen": "2026-10-21", "rating": 0.25, "url": f"https://e.com/{i}", "n": i} for i in range(3000)]
    got = _seowire.loads(json.dumps(rows).encode())
    assert got == rows
    assert got[0]["first_seen"] is got[2999]["first_seen"]
    assert got[0]["rating"] is got[2999]["rating"]


def test_decoding_from_many_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    big = json.dumps({"backlinks": random_rows(5, 3000)}).encode()
    small = json.dumps(random_rows(6, 20)).encode()
    want_big, want_small = json.loads(big), json.loads(small)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _seowire.loads(big if i % 2 else small), range(24)))
    assert all(r == (want_big if i % 2 else want_small) for i, r in enumerate(results))


def test_object_keys_are_one_str_per_name_across_decodes():
    a = _seowire.loads(b'{"domain_rating": {"domain_rating": 91.0, "ahrefs_rank": 1}}')
    b = _seowire.loads(b'[{"ahrefs_rank": 2, "domain_rating": 3.5}]')
    assert next(k for k in a["domain_rating"] if k == "ahrefs_rank") is next(k for k in b[0] if k == "ahrefs_rank")


def test_many_distinct_keys_beyond_the_key_tables():
    # More names than the parser gives ids (4,096) and the process keeps across decodes.
    doc = {f"key_{i}": i for i in range(10_000)}
    body = json.dumps([doc, {"key_9999": "last", "key_0": "first"}]).encode()
    got = _seowire.loads(body)
    assert got == json.loads(body) and list(got[0]) == list(doc)


def test_decoding_after_fork():
    import os

    big = json.dumps({"backlinks": random_rows(9, 6000)}).encode()
    assert len(big) > STREAMED
    want = json.loads(big)
    assert _seowire.loads(big) == want  # the parent has used the key cache and the parser thread
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether both paths still decode
        ok = _seowire.loads(big) == want and _seowire.loads(b'{"ahrefs_rank": 1}') == {"ahrefs_rank": 1}
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
