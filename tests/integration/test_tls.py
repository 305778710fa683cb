"""test_tls.py — HTTPS traced inside TLS (OpenSSL and GnuTLS interposed).

A self-signed CA and a server certificate (SAN 127.0.0.1, localhost) are
made for the class with the openssl command. Servers: apps/tlsapp.py
(python's ssl module: SSL_read_ex/SSL_write_ex, libssl loaded RTLD_LOCAL by
_ssl) and nginx with ssl (SSL_set_fd, non-blocking SSL_read/SSL_write).
Clients: curl (OpenSSL through a BIO of its own: no fd), python's urllib,
wget (GnuTLS). Everything under the shim unless said otherwise:

- client span and server span in one trace, the server's parent exactly the
  client span; url.scheme=https, tls.protocol.version on both;
- the server application sees exactly one set of injected headers;
- bodies byte for byte (POST with Content-Length and chunked, a static file
  through nginx), status codes;
- exactly the spans of the requests: none from the ciphertext sockets;
- a TLS server under the shim continues the context an untraced TLS client
  wrote itself;
- apps/tls_probe.c (OpenSSL and GnuTLS called from C): writes and reads of
  no bytes get the library's own answers and end no span; a rewritten
  request written in parts (partial writes, retries after WANT_WRITE or
  E_AGAIN, a program that goes on in smaller pieces) arrives byte for byte
  and no call is told of more bytes than it asked for; a handshake done by
  the first SSL_write gives its span the version it negotiated;
- apps/gnutls_server_probe.c: a GnuTLS server's responses, each write
  asked again (E_AGAIN) made again with NULL, 0 or the same bytes, end
  their spans complete; a GnuTLS client (wget) asked for a new handshake
  before its response (E_REHANDSHAKE, not fatal) keeps its span;
- the shim never loads a TLS library into a program that has none.
"""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

NGINX = "/usr/sbin/nginx"
C, S = th.KIND_CLIENT, th.KIND_SERVER


def make_certs(d):
    """(ca.crt, server.crt, server.key) in d, made by the openssl command."""
    openssl = th.require_tool("openssl")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[ext]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    for argv in (
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
             "-out", ca_crt, "-days", "2", "-subj", "/CN=traceshim test CA"],
            [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=localhost"],
            [openssl, "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
             "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext, "-extensions", "ext"]):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise AssertionError("openssl failed: %s\n%s" % (" ".join(argv), r.stdout.decode()))
    return ca_crt, crt, key


class TLSBase(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.certdir = cls.make_class_tmp("tsit-tls-certs-")
        cls.ca, cls.crt, cls.key = make_certs(cls.certdir)

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.procs = []

    def start_tlsapp(self, service="py-tls-server", traced=True, extra=()):
        env = th.shim_env(service, self.spans_file) if traced else th.clean_env()
        p = th.Proc([th.PY, os.path.join(th.APPS, "tlsapp.py"), "--port", "0",
                     "--cert", self.crt, "--key", self.key, *extra], env=env, tmpdir=self.tmp,
                    name=service)
        self.addCleanup(p.stop)
        self.procs.append(p)
        m = p.wait_output(rb"LISTENING (\d+)\n", timeout=10)
        return p, int(m.group(1))

    def tls_server(self, rcvbuf=0, answer=None):
        """A TLS server in this process (untraced) that does the handshake
        on each connection (rcvbuf: the accepted sockets' SO_RCVBUF, a
        small one fills at once), then answer(index, conn) on a thread of
        its own, index counting the connections from 0; without answer it
        reads and answers nothing. Its port."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.crt, self.key)
        listener = th.listen_local()
        held, stop = [], threading.Event()

        def serve():
            index = 0
            while not stop.is_set():
                try:
                    c, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                if rcvbuf:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                c.settimeout(5 if answer is None else 20)
                try:
                    conn = ctx.wrap_socket(c, server_side=True)
                except OSError:
                    c.close()
                    continue
                held.append(conn)
                if answer:
                    threading.Thread(target=answer, args=(index, conn), daemon=True).start()
                index += 1

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()

        def close():
            stop.set()
            listener.close()
            thread.join(timeout=2)
            for t in held:
                t.close()
        self.addCleanup(close)
        return listener.getsockname()[1]

    def tls_server_that_never_answers(self, rcvbuf=0):
        """(tls_server without answers)"""
        return self.tls_server(rcvbuf)

    def tls_echo_server_second_first(self):
        """A TLS server for two connections, each a POST /echo
        (Content-Length) answered as apps/tlsapp.py answers it (JSON:
        headers, len, sha256 of the body): the first connection's request
        is read only once the second's is answered, its socket's receive
        buffer 4 KiB (a large request blocks its writer until then). Its
        port."""
        second_answered = threading.Event()
        self.addCleanup(second_answered.set)

        def echo(index, conn):
            try:
                if index == 0:
                    second_answered.wait(20)
                f = conn.makefile("rb")
                f.readline()  # the request line
                headers = []
                for line in iter(f.readline, b"\r\n"):
                    name, value = line.decode("latin-1").rstrip("\r\n").split(":", 1)
                    headers.append([name, value.strip()])
                body = f.read(int(th.header_values(headers, "Content-Length")[0]))
                out = json.dumps({"headers": headers, "len": len(body),
                                  "sha256": hashlib.sha256(body).hexdigest()}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(out)
                             + out)
            except (OSError, ValueError, IndexError):
                pass
            finally:
                if index == 1:
                    second_answered.set()

        return self.tls_server(4096, echo)

    def run_client(self, tool, url, *args, service=None):
        """curl, wget or python (apps/tls_client.py) under the shim; its stdout."""
        service = service or tool + "-client"
        if tool == "curl":
            argv = [th.require_tool("curl"), "-q", "-sS", "--max-time", "10", "--cacert", self.ca,
                    *args, url]
        elif tool == "wget":
            argv = [th.require_tool("wget"), "--no-config", "-q", "--no-proxy", "--tries=1",
                    "--timeout=10", "--ca-certificate=" + self.ca, "-O", "-", *args, url]
        else:
            argv = [th.PY, os.path.join(th.APPS, "tls_client.py"), self.ca, url, *args]
        p = th.run(argv, env=th.shim_env(service, self.spans_file), tmpdir=self.tmp,
                   name=service, timeout=30)
        if p.returncode != 0:
            self.fail("%s failed (status %s)\n%s%s" % (tool, p.returncode, p.describe(),
                                                       "".join("\n" + q.describe() for q in
                                                               self.procs)))
        self.procs.append(p)
        return p.stdout()

    def final_spans(self, count):
        """Stop the servers (their spans are flushed) and return exactly count spans."""
        th.wait_spans(self.spans_file, count, procs=self.procs)
        for p in self.procs:
            p.stop()
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), count, "expected exactly %d spans (none from the "
                         "ciphertext sockets):\n%s" % (count, th.format_spans(spans)))
        return spans

    def assert_pair(self, spans, client_svc, server_svc, name, status=200):
        """The client span of client_svc and the server span of server_svc
        named name: one trace, exact parent, https; returns (client, server)."""
        dump = "\n" + th.format_spans(spans)
        cli = th.only([s for s in spans if s["kind"] == C and s["service"] == client_svc
                       and s["name"] == name], "%s client span %r" % (client_svc, name), spans)
        srv = th.only([s for s in spans if s["kind"] == S and s["service"] == server_svc
                       and s["name"] == name], "%s server span %r" % (server_svc, name), spans)
        self.assertEqual(srv["traceId"], cli["traceId"], "one trace" + dump)
        self.assertEqual(srv["parentSpanId"], cli["spanId"], "exact parent" + dump)
        for s in (cli, srv):
            a = s["attrs"]
            self.assertEqual(a.get("url.scheme"), "https", dump)
            self.assertEqual(a.get("network.protocol.name"), "http", dump)
            self.assertIn(a.get("tls.protocol.version"), ("1.2", "1.3"), dump)
            self.assertEqual(a.get("http.response.status_code"), status, dump)
        self.assertTrue(cli["attrs"].get("url.full", "").startswith("https://127.0.0.1:"), dump)
        return cli, srv

    def assert_injected_once(self, headers, cli):
        want = {"X-B3-TraceId": cli["traceId"], "X-B3-SpanId": cli["spanId"],
                "X-B3-Sampled": "1",
                "traceparent": "00-%s-%s-01" % (cli["traceId"], cli["spanId"])}
        for name, value in want.items():
            self.assertEqual(th.header_values(headers, name), [value],
                             "%s: the server application saw %r" % (name, headers))


class PythonServerTest(TLSBase):
    """apps/tlsapp.py (python ssl) under the shim."""

    def setUp(self):
        super().setUp()
        self.srv, self.port = self.start_tlsapp()
        self.base = "https://127.0.0.1:%d" % self.port

    def check_get(self, tool):
        out = self.run_client(tool, self.base + "/echo-headers")
        if tool == "python":
            res = json.loads(out)
            self.assertEqual(res["status"], 200)
            out = res["body"].encode()
        headers = json.loads(out)
        spans = self.final_spans(2)
        cli, srv = self.assert_pair(spans, tool + "-client", "py-tls-server", "GET /echo-headers")
        self.assert_injected_once(headers, cli)
        self.assertEqual(cli["attrs"].get("url.full"), self.base + "/echo-headers")

    def test_curl_get(self):
        self.check_get("curl")

    def test_python_get(self):
        self.check_get("python")

    def test_wget_get(self):
        """wget on Debian uses GnuTLS: gnutls_record_send/recv."""
        self.check_get("wget")

    def check_post(self, tool, chunked):
        body = os.urandom(150000)
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        if tool == "curl":
            extra = ["-H", "Content-Type: application/octet-stream", "--data-binary", "@" + path]
            if chunked:
                extra += ["-H", "Transfer-Encoding: chunked"]
            res = json.loads(self.run_client("curl", self.base + "/echo", *extra))
        else:
            out = json.loads(self.run_client("python", self.base + "/echo", path,
                                             *(["chunked"] if chunked else [])))
            self.assertEqual(out["status"], 200)
            res = json.loads(out["body"])
        self.assertEqual((res["len"], res["sha256"]), (len(body), hashlib.sha256(body).hexdigest()),
                         "the body must arrive byte for byte")
        self.assertEqual(bool(th.header_values(res["headers"], "Transfer-Encoding")), chunked)
        spans = self.final_spans(2)
        cli, srv = self.assert_pair(spans, tool + "-client", "py-tls-server", "POST /echo")
        self.assert_injected_once(res["headers"], cli)

    def test_curl_post_content_length(self):
        self.check_post("curl", chunked=False)

    def test_curl_post_chunked(self):
        self.check_post("curl", chunked=True)

    def test_python_post_content_length(self):
        self.check_post("python", chunked=False)

    def test_python_post_chunked(self):
        self.check_post("python", chunked=True)

    def test_status_codes(self):
        out = self.run_client("curl", self.base + "/status/503", "-o", "/dev/null", "-w",
                              "%{http_code}")
        self.assertEqual(out, b"503")
        spans = self.final_spans(2)
        cli, srv = self.assert_pair(spans, "curl-client", "py-tls-server", "GET /status/{id}",
                                    status=503)
        self.assertEqual((cli["status"], srv["status"]), (th.STATUS_ERROR, th.STATUS_ERROR))

    def test_keepalive_requests_each_traced(self):
        """curl, two URLs on one TLS connection: two exact pairs."""
        self.run_client("curl", self.base + "/echo-headers", self.base + "/status/201")
        spans = self.final_spans(4)
        self.assert_pair(spans, "curl-client", "py-tls-server", "GET /echo-headers")
        self.assert_pair(spans, "curl-client", "py-tls-server", "GET /status/{id}", status=201)

    def test_untraced_client_context_is_extracted(self):
        """An untraced TLS client (this process) sends b3 headers itself."""
        trace, sid = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312"
        ctx = ssl.create_default_context(cafile=self.ca)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /echo-headers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"b3: %s-%s-1\r\nConnection: close\r\n\r\n" % (trace.encode(),
                                                                          sid.encode()))
                resp = th.recv_to_close(s)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp[:200])
        headers = json.loads(resp.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(th.header_values(headers, "X-B3-TraceId"), [],
                         "a server's request is never rewritten: %r" % headers)
        spans = self.final_spans(1)
        srv = spans[0]
        self.assertEqual((srv["kind"], srv["traceId"], srv["parentSpanId"]), (S, trace, sid),
                         th.format_spans(spans))
        self.assertEqual(srv["attrs"].get("url.scheme"), "https")


class ProbeTest(TLSBase):
    """apps/tls_probe.c: calls of OpenSSL and GnuTLS that curl, wget and
    Python never make, against apps/tlsapp.py untraced (the spans are the
    probe's alone)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        bindir = cls.make_class_tmp("tsit-tls-probe-")
        cls.exe = th.compile_app("tls_probe.c", os.path.join(bindir, "tls_probe"), "-O2",
                                 libs=("-lssl", "-lcrypto", "-lgnutls"))

    def setUp(self):
        super().setUp()
        self.port = None

    def run_probe(self, lib, mode, *args, traced=True, **extra_env):
        """The probe's stdout lines; the probe must exit 0. The server is
        started at the first run (one of TLS 1.2 at the most when the test
        set self.tls_max)."""
        if self.port is None:
            extra = ("--tls-max", self.tls_max) if getattr(self, "tls_max", None) else ()
            _, self.port = self.start_tlsapp(traced=False, extra=extra)
        name = "%s-%s" % (lib, mode)
        env = th.shim_env(name, self.spans_file, **extra_env) if traced else th.clean_env()
        p = th.run([self.exe, lib, mode, str(self.port), *map(str, args)], env=env,
                   tmpdir=self.tmp, name=name, timeout=30)
        if p.returncode == 3:
            self.fail("a write was told of more bytes than it asked for:\n" + p.describe())
        self.assertEqual(p.returncode, 0, p.describe())
        return p.stdout().decode().splitlines()

    def probe_span(self, lines, lib, mode, name):
        """The probe's one span, a complete exchange with its server; the
        response's body (the last line) as JSON."""
        self.assertTrue(lines and lines[-1].startswith("BODY "), lines)
        body = json.loads(lines[-1][5:])
        spans = self.final_spans(1)
        dump = "\n" + th.format_spans(spans)
        cli = spans[0]
        self.assertEqual((cli["kind"], cli["service"], cli["name"]),
                         (C, "%s-%s" % (lib, mode), name), dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, dump)
        self.assertNotIn("error.type", cli["attrs"], dump)
        self.assertEqual(cli["status"], th.STATUS_UNSET, dump)
        return cli, body

    def check_calls_of_no_bytes(self, lib):
        """Writes and reads of no bytes, before the request and after it:
        each answered as the library answers it untraced (SSL_write_ex
        succeeds), and none ends the request's span (SSL_read_ex's 0 is no
        end of stream, GnuTLS's INVALID_REQUEST no failed session)."""
        untraced = self.run_probe(lib, "empty", traced=False)
        traced = self.run_probe(lib, "empty")
        self.assertEqual(traced[:-1], untraced[:-1], "the library's answers, as they are")
        cli, headers = self.probe_span(traced, lib, "empty", "GET /echo-headers")
        self.assert_injected_once(headers, cli)

    def test_openssl_error_queue_is_left_as_the_library_leaves_it(self):
        """SSL_set_bio(ssl, NULL, NULL): the program's error queue stays
        empty and SSL_get_error says SSL_ERROR_SYSCALL (5), as untraced.
        The shim asked SSL_get_fd after it, whose BIO_find_type(NULL)
        queued ERR_R_PASSED_NULL_PARAMETER: SSL_get_error said
        SSL_ERROR_SSL (1) until the program cleared the queue."""
        untraced = self.run_probe("openssl", "bio_null", traced=False)
        self.assertEqual(untraced, ["QUEUE empty", "SSL_get_error 5"])
        self.assertEqual(self.run_probe("openssl", "bio_null"), untraced)

    def test_openssl_error_queue_after_a_first_write_without_a_read_bio(self):
        """A session whose handshake went over memory BIOs (no fd for the
        shim to know), then SSL_set_bio(ssl, NULL, wbio) and its first
        SSL_write: the write succeeds and the queue stays empty, as
        untraced. The shim asks SSL_get_fd as the session's first call
        opens it, whose BIO_find_type(NULL) queues
        ERR_R_PASSED_NULL_PARAMETER: without ERR_set_mark and
        ERR_pop_to_mark around the question it was left on the queue."""
        untraced = self.run_probe("openssl", "wbio_only", traced=False)
        self.assertEqual(untraced, ["WRITE 47", "QUEUE empty"])
        self.assertEqual(self.run_probe("openssl", "wbio_only"), untraced)

    def test_a_session_with_another_reference_lives_past_one_free(self):
        """SSL_up_ref, the request, SSL_free (another owner lets go), then
        the response read on the same handle: the span ends with its 200.
        The first SSL_free ended it as connection_closed, no status."""
        lines = self.run_probe("openssl", "upref")
        cli, headers = self.probe_span(lines, "openssl", "upref", "GET /echo-headers")
        self.assert_injected_once(headers, cli)

    def test_a_thread_cancelled_inside_a_write_leaves_its_span_to_end(self):
        """A thread blocked in SSL_write (a server that never reads) is
        cancelled, and the program frees the session: the request's span
        ends as on a plain socket (connection_closed). The reference the
        shim held across the real call was not noted for the thread's exit
        (held.h), so the span never ended, not even at exit: no span."""
        port = self.tls_server_that_never_answers(rcvbuf=4096)
        # With the library under ASan (scripts/test.sh), the plain one: the
        # cancellation's unwind leaves the instrumented frames' stack
        # poisoned, and ASan reports its own teardown of the thread
        # (google/sanitizers#1399, any pthread_cancel through such frames)
        env = th.plain_lib_env(th.shim_env("cancel", self.spans_file), "tls_probe cancel")
        p = th.run([self.exe, "openssl", "cancel", str(port), "1000000"],
                   env=env, tmpdir=self.tmp, name="cancel", timeout=30)
        self.assertEqual((p.returncode, p.stdout()), (0, b"CANCELLED\n"), p.describe())
        spans = th.wait_spans(self.spans_file, 1, exact=True)
        s = th.only(spans, "the client span", spans)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual((s["kind"], s["name"], s["attrs"].get("url.scheme"),
                          s["attrs"].get("error.type"), s["status"]),
                         (C, "POST /echo", "https", "connection_closed", th.STATUS_ERROR), dump)

    def test_a_duplicate_freed_while_another_thread_writes(self):
        """SSL_dup of an established session (the same handle, a reference
        libssl takes without SSL_up_ref); a thread's 60 KB POST blocks in
        SSL_write on a server that does not read it yet; the duplicate is
        freed, and a second session writes its 60 KB POST and reads the
        answer; then the first write returns and its answer is read. Both
        writes return all they were asked, both bodies arrive byte for
        byte, and each span ends with its 200. The shim took the
        duplicate's SSL_free for the last one: the first session's span
        ended there (connection_closed, no status), and its record, given
        back while the write was inside SSL_write, was the second
        session's at once: the first write returned 166 of 60,122 (4 runs
        of 4; the reviewer's probe also saw the second return 1)."""
        body_len = 60000
        port = self.tls_echo_server_second_first()
        p = th.run([self.exe, "openssl", "dup", str(port), str(body_len)],
                   env=th.shim_env("dup", self.spans_file), tmpdir=self.tmp, name="dup",
                   timeout=40)
        self.assertEqual(p.returncode, 0, p.describe())
        lines = p.stdout().decode().splitlines()
        total = body_len + len("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Length: %d\r\nConnection: close\r\n\r\n" % body_len)
        self.assertEqual([ln for ln in lines if not ln.startswith("BODY ")],
                         ["WRITE %d of %d" % (total, total)] * 2, p.describe())
        answers = [json.loads(ln[5:]) for ln in lines if ln.startswith("BODY ")]
        self.assertEqual(len(answers), 2, p.describe())
        body = bytes(((i * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(body_len))
        spans = th.wait_spans(self.spans_file, 2, exact=True)
        dump = "\n" + th.format_spans(spans)
        by_id = {s["spanId"]: s for s in spans}
        for answer in answers:
            self.assertEqual((answer["len"], answer["sha256"]),
                             (body_len, hashlib.sha256(body).hexdigest()), "the body, exactly")
            parent = th.header_values(answer["headers"], "traceparent")
            self.assertEqual(len(parent), 1, answer["headers"])
            cli = by_id.get(parent[0].split("-")[2])
            self.assertIsNotNone(cli, "no span for %s%s" % (parent[0], dump))
            self.assertEqual((cli["kind"], cli["name"], cli["attrs"].get("url.scheme"),
                              cli["attrs"].get("http.response.status_code"),
                              cli["attrs"].get("error.type"), cli["status"]),
                             (C, "POST /echo", "https", 200, None, th.STATUS_UNSET), dump)
            self.assert_injected_once(answer["headers"], cli)

    def test_a_handle_cleared_for_a_new_connection_leaves_the_old_write(self):
        """A program that gives up on a write (WANT_WRITE to a server that
        never reads), calls SSL_clear and connects the handle again: its
        next request goes out as it wrote it. The shim kept the given-up
        POST and sent its bytes on the new connection instead (the program
        told more bytes than it asked for, the server sent no answer)."""
        exe = th.compile_app("tls_clear_probe.c", os.path.join(self.tmp, "tls_clear_probe"),
                             "-O2", libs=("-lssl", "-lcrypto"))
        stalled = self.tls_server_that_never_answers(rcvbuf=4096)
        _, port = self.start_tlsapp(traced=False)
        p = th.run([exe, str(stalled), str(port)],
                   env=th.shim_env("clear", self.spans_file), tmpdir=self.tmp, name="clear",
                   timeout=30)
        self.assertEqual((p.returncode, p.stdout()),
                         (0, b"WRITE 58 asked 58\nHTTP/1.1 200 OK\n"), p.describe())

    def test_openssl_calls_of_no_bytes(self):
        self.check_calls_of_no_bytes("openssl")

    def test_gnutls_calls_of_no_bytes(self):
        self.check_calls_of_no_bytes("gnutls")

    def check_post(self, lib, mode, body_len, piece):
        """A POST whose head gets the trace lines, written in a first call
        the library takes only part of, then in calls of at most piece
        bytes (0: all that is left): no call is told of more bytes than it
        asked for (the probe's status 3), and the server gets the
        program's bytes exactly, the lines once. Returns how many times
        the library asked for a write to be made again."""
        lines = self.run_probe(lib, mode, body_len, piece)
        writes = [ln.split() for ln in lines if ln.startswith("WRITES ")]
        self.assertEqual(len(writes), 1, lines)
        cli, res = self.probe_span(lines, lib, mode, "POST /echo")
        body = bytes(((i * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(body_len))
        self.assertEqual((res["len"], res["sha256"]), (body_len, hashlib.sha256(body).hexdigest()),
                         "the body must arrive byte for byte")
        self.assert_injected_once(res["headers"], cli)
        return int(writes[0][3])

    def test_openssl_partial_writes_go_on_in_smaller_pieces(self):
        """SSL_MODE_ENABLE_PARTIAL_WRITE: the first SSL_write_ex counts one
        record (less the inserted lines), the rest goes 1000 bytes a call;
        each must hear of 1000 at most (it heard of the whole record)."""
        self.check_post("openssl", "pieces", 40000, 1000)

    def test_gnutls_writes_go_on_in_smaller_pieces(self):
        """gnutls_record_send sends one record a call: the same."""
        self.check_post("gnutls", "pieces", 40000, 1000)

    def check_retries(self, lib, piece):
        retries = self.check_post(lib, "retry", 1000000, piece)
        self.assertGreater(retries, 0, "the socket never filled: no write was asked again")

    def test_openssl_retry_with_the_same_buffer(self):
        """Non-blocking, no partial writes: WANT_WRITE, and the retry with
        the same buffer and length; OpenSSL refuses a retry whose buffer
        moved (SSL_R_BAD_WRITE_RETRY), so the shim's bytes must stay put."""
        self.check_retries("openssl", 0)

    def test_openssl_retry_and_partial_writes_in_pieces(self):
        self.check_retries("openssl", 3000)

    def test_gnutls_retry_with_null_zero(self):
        """E_AGAIN, and every other retry with NULL, 0 (GnuTLS's rule)."""
        self.check_retries("gnutls", 0)

    def test_gnutls_retry_in_pieces(self):
        self.check_retries("gnutls", 3000)

    def check_server_retries(self, retry):
        """apps/gnutls_server_probe.c traced, answering two requests on one
        connection with 200 and 300,000 bytes each, its socket filling
        (E_AGAIN) against an untraced client with a small receive buffer
        that waits before reading: each server span ends complete, with its
        status. With NULL, 0 retries the record each asked-again write made
        (up to 16 KiB) went out unseen: the first response's framing lost
        its place, and the second request's span never saw its response's
        head (traceshim.response_unseen, no status)."""
        body_len = 300000
        exe = th.compile_app("gnutls_server_probe.c", os.path.join(self.tmp, "gnutls_server"),
                             "-O2", libs=("-lgnutls",))
        server = th.Proc([exe, self.crt, self.key, retry, str(body_len)],
                         env=th.shim_env("gnutls-server", self.spans_file), tmpdir=self.tmp,
                         name="gnutls-server")
        self.addCleanup(server.stop)
        port = int(server.wait_output(rb"LISTENING (\d+)\n", timeout=10).group(1))
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # before the window opens
        raw.settimeout(10)
        raw.connect(("127.0.0.1", port))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            for path in ("/first", "/second"):
                conn.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
                time.sleep(0.2)  # the server's socket fills: E_AGAIN
                got = b""
                while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < body_len:
                    chunk = conn.recv(65536)
                    self.assertTrue(chunk, "the response ended early: %r" % got[:200])
                    got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:200])
        m = server.wait_output(rb"RETRIES (\d+)\n", timeout=10)
        self.assertGreater(int(m.group(1)), 0, "the socket never filled: no write made again")
        self.procs.append(server)
        spans = self.final_spans(2)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(sorted(s["name"] for s in spans), ["GET /first", "GET /second"], dump)
        for s in spans:
            self.assertEqual(s["kind"], S, dump)
            self.assertEqual(s["attrs"].get("http.response.status_code"), 200, dump)
            self.assertNotIn("error.type", s["attrs"], dump)
            self.assertNotIn("traceshim.response_unseen", s["attrs"], dump)

    def test_gnutls_server_retry_with_null_zero(self):
        self.check_server_retries("null")

    def test_gnutls_server_retry_with_the_same_buffer(self):
        self.check_server_retries("same")

    def test_gnutls_client_asked_for_a_new_handshake(self):
        """wget (GnuTLS) against apps/gnutls_server_probe.c (untraced, TLS
        1.2) that asks for a new handshake after the request: wget's read
        hears GNUTLS_E_REHANDSHAKE, makes it, and reads the response. Its
        span ends with the 200. Every error but E_AGAIN and E_INTERRUPTED
        ended the session as failed (connection_error, no status), those
        GnuTLS says are not fatal (gnutls_error_is_fatal) too."""
        exe = th.compile_app("gnutls_server_probe.c", os.path.join(self.tmp, "gnutls_server"),
                             "-O2", libs=("-lgnutls",))
        server = th.Proc([exe, self.crt, self.key, "rehandshake", "5"], env=th.clean_env(),
                         tmpdir=self.tmp, name="gnutls-server")
        self.addCleanup(server.stop)
        port = int(server.wait_output(rb"LISTENING (\d+)\n", timeout=10).group(1))
        out = self.run_client("wget", "https://127.0.0.1:%d/again" % port)
        self.assertEqual(out, b"abcde")
        server.wait_output(rb"REHANDSHAKES 1\n", timeout=10)
        spans = self.final_spans(1)
        dump = "\n" + th.format_spans(spans)
        cli = spans[0]
        self.assertEqual((cli["kind"], cli["name"], cli["attrs"].get("http.response.status_code"),
                          cli["status"]), (C, "GET /again", 200, th.STATUS_UNSET), dump)
        self.assertNotIn("error.type", cli["attrs"], dump)
        self.assertEqual(cli["attrs"].get("tls.protocol.version"), "1.2", dump)

    def test_version_of_a_handshake_done_by_the_first_write(self):
        """SSL_set_connect_state and no SSL_connect: the first SSL_write_ex
        does the handshake, with a server of TLS 1.2 at the most. The span
        began before it (SSL_get_version then says the client's highest,
        TLSv1.3); its tls.protocol.version is what was negotiated."""
        self.tls_max = "1.2"
        lines = self.run_probe("openssl", "implicit")
        self.assertIn("VERSION TLSv1.2", lines, "the server must have settled on 1.2")
        cli, headers = self.probe_span(lines, "openssl", "implicit", "GET /echo-headers")
        self.assertEqual(cli["attrs"].get("tls.protocol.version"), "1.2",
                         th.format_spans([cli]))
        self.assert_injected_once(headers, cli)

    def test_a_handshake_in_the_first_write_behind_another_ssl_clear_wrapper(self):
        """The first SSL_write's handshake makes libssl call SSL_clear,
        which must not drop the write the shim is making; with another
        library wrapping SSL_clear preloaded after the shim, the shim took
        the call for the program's own (a write told of 232 bytes for 66)."""
        self.tls_max = "1.2"
        wrapper = th.compile_app("fake_tls_interposer.c", os.path.join(self.tmp, "inter.so"),
                                 "-shared", "-fPIC", libs=("-ldl",))
        lines = self.run_probe("openssl", "implicit",
                               LD_PRELOAD=th.preload_value() + " " + wrapper)
        cli, headers = self.probe_span(lines, "openssl", "implicit", "GET /echo-headers")
        self.assert_injected_once(headers, cli)


class ProcessEndTest(TLSBase):
    """A TLS client whose process ends while its request waits for the
    answer, its session never freed (os._exit, a death by SIGTERM at its
    default, an exec): the request ends as on a plain socket, as at the
    close the kernel makes (connection_closed): no next image can go on
    with a session whose state was in this one's memory. Before, it was lost (the sessions'
    connections are not on the fd table the sweep at the end walked)."""

    CLIENT = ("import os, signal, socket, ssl, sys, time\n"
              "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
              "raw = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
              "s = ctx.wrap_socket(raw, server_hostname='localhost')\n"
              "s.sendall(b'GET /no-answer HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n')\n"
              "time.sleep(0.2)\n"
              "if sys.argv[3] == '_exit':\n"
              "    os._exit(0)\n"
              "if sys.argv[3] == 'exec':\n"
              "    os.execv('/bin/true', ['true'])\n"
              "os.kill(os.getpid(), signal.SIGTERM)\n"
              "time.sleep(10)\n")

    def test_a_client_that_ends_waiting_for_its_answer(self):
        port = self.tls_server_that_never_answers()
        for how, status in (("_exit", 0), ("SIGTERM", -15), ("exec", 0)):
            with self.subTest(how=how):
                spans_file = os.path.join(self.tmp, how + ".jsonl")
                p = th.run([th.PY, "-c", self.CLIENT, str(port), self.ca, how],
                           env=th.shim_env("gives-up", spans_file), tmpdir=self.tmp, name=how)
                self.assertEqual(p.returncode, status, p.describe())
                spans = th.wait_spans(spans_file, 1, exact=True)
                s = th.only(spans, "the client span", spans)
                dump = "\n" + th.format_spans(spans)
                a = s["attrs"]
                self.assertEqual((s["kind"], s["name"], a.get("url.scheme"), a.get("error.type"),
                                  s["status"]),
                                 (C, "GET /no-answer", "https", "connection_closed",
                                  th.STATUS_ERROR), dump)
                self.assertNotIn("traceshim.response_unseen", a, dump)


class NginxTest(TLSBase):
    """nginx with ssl under the shim: a TLS server, and a TLS client of its
    upstream (proxy_pass https://)."""

    def start_nginx(self, server_conf):
        if not os.access(NGINX, os.X_OK):
            raise AssertionError("nginx not found: install nginx-light")
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(os.path.join(d, "temp"))
        port = th.free_port()
        conf = th.nginx_conf(d, port, server_conf, listen="ssl",
                             http_extra="ssl_certificate %s;\n    ssl_certificate_key %s;"
                                        % (self.crt, self.key))
        conf_path = os.path.join(d, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        p = th.Proc([NGINX, "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf_path,
                     "-g", "daemon off; master_process on;"],
                    env=th.shim_env("nginx", self.spans_file), tmpdir=self.tmp, name="nginx")
        self.addCleanup(p.stop)
        self.procs.append(p)
        th.wait_port(port, timeout=10, proc=p)  # probes: connections without a byte, no span
        return p, port, d

    def test_static_file_over_tls(self):
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        data = os.urandom(300000)
        with open(os.path.join(root, "f.bin"), "wb") as f:
            f.write(data)
        _, port, _ = self.start_nginx("location / { root %s; }" % root)
        out = self.run_client("curl", "https://127.0.0.1:%d/f.bin" % port)
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest(),
                         "the file must arrive byte for byte (%d bytes)" % len(out))
        spans = self.final_spans(2)
        self.assert_pair(spans, "curl-client", "nginx", "GET /f.bin")

    def test_https_proxy_chain(self):
        """curl -> nginx (TLS server; proxy_pass https://, forwarding the
        inbound trace headers) -> python TLS server: four spans, one trace,
        each parent exact; the upstream sees one set of trace headers, the
        proxy's client span's."""
        _, up_port = self.start_tlsapp("py-upstream")
        _, port, _ = self.start_nginx(
            "location / { proxy_pass https://127.0.0.1:%d; }" % up_port)
        out = self.run_client("curl", "https://127.0.0.1:%d/echo-headers" % port)
        try:
            headers = json.loads(out)
        except ValueError:
            self.fail("not the upstream's answer: %r%s" % (out[:500], "".join(
                "\n" + p.describe() for p in self.procs)))
        spans = self.final_spans(4)
        dump = "\n" + th.format_spans(spans)
        curl, ngx_srv = self.assert_pair(spans, "curl-client", "nginx", "GET /echo-headers")
        ngx_cli, up = self.assert_pair(spans, "nginx", "py-upstream", "GET /echo-headers")
        self.assertEqual(ngx_cli["parentSpanId"], ngx_srv["spanId"],
                         "the proxy's client span is the child of its server span" + dump)
        self.assertEqual(ngx_cli["traceId"], curl["traceId"], dump)
        self.assertEqual(th.header_values(headers, "X-B3-SpanId"), [ngx_cli["spanId"]], headers)
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (curl["traceId"], ngx_cli["spanId"])], headers)


class NoTLSLibraryTest(th.TempDirMixin, unittest.TestCase):
    """The shim never links or loads a TLS library."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def test_library_needs_no_tls_library(self):
        r = subprocess.run(["readelf", "-d", th.LIB], stdout=subprocess.PIPE, timeout=30)
        needed = [ln for ln in r.stdout.decode().splitlines() if "(NEEDED)" in ln]
        self.assertTrue(needed, r.stdout.decode())
        for ln in needed:
            self.assertNotRegex(ln, r"libssl|libcrypto|libgnutls", "DT_NEEDED: %s" % ln)

    def test_no_tls_library_mapped_in_a_program_without_one(self):
        tmp = self.make_tmp()
        p = th.run(["/bin/cat", "/proc/self/maps"], env=th.shim_env("cat", os.path.join(
            tmp, "spans.jsonl")), tmpdir=tmp, name="cat")
        maps = p.stdout().decode()
        self.assertIn(os.path.basename(th.LIB), maps, "the shim must be loaded")
        self.assertNotRegex(maps, r"libssl|libgnutls|libcrypto")


class TwoCopiesTest(th.TempDirMixin, unittest.TestCase):
    """Two copies of one TLS library in one process, each loaded RTLD_LOCAL
    by its own module (Python's _ssl with the system's libssl beside a
    database driver's bundled one): the shim's hook, first in the global
    scope, takes both copies' calls, and each must reach the copy its
    caller binds. The real function was found once for the process, and
    the second module's handles went to the first copy (a segfault with
    libssl beside libgnutls-openssl). Two stand-in libraries
    (apps/fake_tls.c) answer -1 for the other copy's handle."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()

    def build(self, n):
        """libfake_tlsN.so and fake_tls_userN.so, a module linked to it."""
        th.compile_app("fake_tls.c", os.path.join(self.tmp, "libfake_tls%d.so" % n), "-shared",
                       "-fPIC", "-DFAKE_TLS_ID=%d" % n)
        return th.compile_app("fake_tls_user.c", os.path.join(self.tmp, "fake_tls_user%d.so" % n),
                              "-shared", "-fPIC",
                              libs=("-L" + self.tmp, "-lfake_tls%d" % n, "-Wl,-rpath," + self.tmp))

    def run_both_ways(self, exe, modules, expected, **env):
        untraced = th.run([exe] + modules, env=th.clean_env(), tmpdir=self.tmp, name="untraced")
        self.assertEqual(untraced.stdout(), expected, untraced.describe())
        traced = []
        for order in (modules, modules[::-1]):
            p = th.run([exe] + order, env=th.shim_env("two-copies", os.path.join(
                self.tmp, "s.jsonl"), **env), tmpdir=self.tmp, name="traced")
            self.assertEqual((p.returncode, p.stdout()), (0, expected), p.describe())
            traced.append(p)
        return traced

    def test_each_module_reaches_its_own_copy(self):
        modules = [self.build(1), self.build(2)]
        exe = th.compile_app("two_tls_copies.c", os.path.join(self.tmp, "two_tls_copies"),
                             libs=("-ldl",))
        self.run_both_ways(exe, modules, b"1:1 2:1\n")

    def test_a_module_keeps_its_copy_when_another_copy_turns_global(self):
        """Module 1 has written through its own copy; module 2, loaded
        RTLD_GLOBAL, brings a second copy into the global scope. The loader
        never binds module 1's calls again, so they stay with its copy:
        the first version of the per-site answers sent every site to the
        global copy once a new site found one (module 1's handles to copy
        2: -1)."""
        modules = [self.build(1), self.build(2)]
        exe = th.compile_app("two_tls_copies.c", os.path.join(self.tmp, "two_tls_copies"),
                             libs=("-ldl",))
        untraced = th.run([exe, modules[0], "+" + modules[1], "again"], env=th.clean_env(),
                          tmpdir=self.tmp, name="untraced")
        self.assertEqual(untraced.stdout(), b"1:1 2:1 again 1:1 2:1\n", untraced.describe())
        p = th.run([exe, modules[0], "+" + modules[1], "again"],
                   env=th.shim_env("two-copies", os.path.join(self.tmp, "s.jsonl")),
                   tmpdir=self.tmp, name="traced")
        self.assertEqual((p.returncode, p.stdout()), (0, untraced.stdout()), p.describe())

    def test_the_global_copy_wins_as_the_loader_binds(self):
        """A program linked to one copy loads a module that bundles another:
        the loader binds the module's calls from the global scope first
        (its SSL_new makes the global copy's handles), so its SSL_write
        must go there too, not to its bundled copy; and an interposer
        preloaded after the shim stays in the chain."""
        modules = [self.build(2)]
        self.build(1)
        exe = th.compile_app("two_tls_copies.c", os.path.join(self.tmp, "linked"),
                             libs=("-ldl", "-Wl,--no-as-needed", "-L" + self.tmp, "-lfake_tls1",
                                   "-Wl,-rpath," + self.tmp))
        self.run_both_ways(exe, modules, b"1:1\n")
        inter = th.compile_app("fake_tls_interposer.c", os.path.join(self.tmp, "inter.so"),
                               "-shared", "-fPIC", libs=("-ldl",))
        for p in self.run_both_ways(exe, modules, b"1:1\n",
                                    LD_PRELOAD=th.preload_value() + " " + inter):
            self.assertIn(b"[interposer SSL_write]", p.stderr(), p.describe())

if __name__ == "__main__":
    th.main()
