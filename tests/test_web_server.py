"""The demo server (export/web.py) against bad or hostile clients: bad paths, hidden files,
idle connections, oversized requests, a concurrent burst. No browser, npm or models needed:
placeholder files stand in for the TF.js models and tf.min.js. (Speed goals are checked by
benchmarks/web_load.py, not here.)"""

import concurrent.futures
import http.client
import socket
import time

import pytest

from export import web

IDLE_TIMEOUT = 0.5  # Seconds; the server's default is web.DEFAULT_TIMEOUT.


@pytest.fixture
def files(tmp_path, monkeypatch):
    """(models dir, images dir) of placeholders, some hidden; tf.min.js patched in."""
    models = tmp_path / "models"
    for name in ("predict", "transfer"):
        (models / name).mkdir(parents=True)
        (models / name / "model.json").write_text('{"format": "graph-model"}')
    (models / ".env").write_text("SECRET=1")
    images = tmp_path / "images"
    (images / "content").mkdir(parents=True)
    (images / "content" / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    (images / ".hidden.jpg").write_bytes(b"\xff\xd8jpeg")
    (images / ".git").mkdir()
    (images / ".git" / "config").write_text("[core]")
    (images / "content" / "link.jpg").symlink_to(images / ".hidden.jpg")
    (tmp_path / "outside.txt").write_text("outside")
    script = tmp_path / "tf.min.js"
    script.write_text("// tf")
    monkeypatch.setattr(web, "TFJS_SCRIPT", script)
    return models, images


@pytest.fixture
def port(files):
    models, images = files
    server, port = web.start_server_thread(models, images_dir=images, timeout=IDLE_TIMEOUT)
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def get(port, path, headers=None):
    """(status, body) of GET path on a new connection, the path sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def raw_exchange(port, data):
    """Sends raw bytes and reads the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


def test_nul_in_path_is_400_and_the_server_goes_on(port):
    for path in ("/images/%00", "/models/predict/%00model.json", "/%00.js"):
        assert get(port, path)[0] == 400, path
    assert get(port, "/images/content/a.jpg") == (200, b"\xff\xd8jpeg")


def test_keep_alive_serves_several_requests_on_one_connection(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for path in ("/", "/models/predict/model.json", "/vendor/tf.min.js", "/app.js"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert (response.status, response.will_close) == (200, False), path
    finally:
        conn.close()


@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"],
                         ids=["idle", "half-sent"])
def test_idle_or_half_sent_connection_is_closed(port, partial):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(partial)
        start = time.monotonic()
        try:
            data = sock.recv(65536)
        except TimeoutError:
            pytest.fail("the server kept an idle connection open for 10 s")
        assert data == b"", data  # Closed, without an answer.
        assert time.monotonic() - start < IDLE_TIMEOUT + 5


def test_idle_keep_alive_connection_is_closed(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        conn.sock.settimeout(IDLE_TIMEOUT + 5)
        assert conn.sock.recv(1) == b""
    finally:
        conn.close()


def test_oversized_header_block_is_431(port):
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"x" * 1000) for i in range(40))  # ~40 KiB
    answer = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(answer) == 431
    # One long line under http.client's 64 KiB line limit, over our total.
    answer = raw_exchange(port, b"GET / HTTP/1.1\r\nX-Big: " + b"y" * 40000 + b"\r\n\r\n")
    assert status_of(answer) == 431
    assert get(port, "/")[0] == 200


def test_long_request_line_is_414(port):
    answer = raw_exchange(port, b"GET /" + b"a" * 10000 + b".js HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 414
    assert get(port, "/")[0] == 200


def test_headers_under_the_limit_are_fine(port):
    assert get(port, "/", {f"X-Filler-{i}": "x" * 1000 for i in range(10)})[0] == 200


def test_hidden_files_are_not_served(port):
    for path in ("/images/.hidden.jpg", "/images/.git/config", "/images/%2egit/config",
                 "/models/.env", "/images/content/link.jpg", "/images/content/.%2e/.hidden.jpg",
                 "/.hidden.js"):
        assert get(port, path)[0] == 404, path


def test_traversal_is_refused(port):
    for path in ("/images/../outside.txt", "/images/%2e%2e/outside.txt",
                 "/images/..%2f..%2foutside.txt", "/models/../../outside.txt",
                 "/../web.py", "/%2e%2e/web.py", "/images/./content/a.jpg"):
        assert get(port, path)[0] in (403, 404), path


def test_concurrent_burst_all_succeed(port):
    paths = ["/", "/app.js", "/style.css", "/vendor/tf.min.js", "/models/predict/model.json",
             "/images/content/a.jpg"]

    def client(worker):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses = []
        try:
            for i in range(10):
                conn.request("GET", paths[(worker + i) % len(paths)])
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            conn.close()
        return statuses

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = [s for result in pool.map(client, range(20)) for s in result]
    assert statuses == [200] * 200


def test_a_slow_client_is_closed_at_the_request_deadline(files):
    """One header line every 0.3 s, each within the idle timeout: the request's deadline,
    not the per-read timeout, closes the connection (before: held as long as lines came)."""
    models, images = files
    server, port = web.start_server_thread(models, images_dir=images, timeout=IDLE_TIMEOUT,
                                           request_deadline=1.0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            start = time.monotonic()
            closed = False
            while time.monotonic() - start < 6:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:  # reset: closed
                    closed = True
                    break
                sock.settimeout(0.3)
                try:
                    if sock.recv(65536) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            assert closed, "the slow client held its connection past the deadline"
            assert time.monotonic() - start < 3
        assert get(port, "/")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_connections_over_the_cap_get_503_and_the_server_goes_on(files):
    models, images = files
    server, port = web.start_server_thread(models, images_dir=images, timeout=5,
                                           max_connections=2)
    try:
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.2)  # both accepted, each holding its slot
        answer = raw_exchange(port, b"")
        assert status_of(answer) == 503 and b"Retry-After: 1" in answer
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert get(port, "/")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
