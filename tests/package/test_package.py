"""test_package.py — the .deb on a fresh Debian 12, end to end (ctest label
`package`; root only).

1. `cpack -G DEB` builds traceshim_<version>_amd64.deb; its control data
   (name, version, Depends) and file list are checked.
2. A fresh Debian 12 root (`debootstrap --variant=minbase --include=curl`)
   is made under BUILD/package-test/ (the first time; later runs in the
   same build folder unpack a tarball kept there); /proc and /dev are
   mounted for the chroot and unmounted on every way out (a run killed
   hard leaves them to the next run, which unmounts them first).
3. In the chroot: `dpkg -i`, then `traceshim run -- curl` against an HTTP
   server on 127.0.0.1 outside the chroot (same network namespace), and
   the spans it wrote.
4. System mode in the chroot: `traceshim enable --system --programs curl`;
   curl (allowlisted) is traced without any launcher, the same curl binary
   copied as `fetch` (not allowlisted) behaves identically (exit status,
   stdout, stderr, the request's bytes) and writes no span; `traceshim run
   -- fetch` and a second copy of the library in LD_PRELOAD trace once;
   `disable` restores /etc/ld.so.preload byte for byte (absent, and a file
   without a final newline).
5. `dpkg -r` with /etc/ld.so.preload naming the library through /lib (a
   merged /usr) on a line it shares with another entry, and with
   TRACESHIM_LIB in the environment naming another file of the library:
   its prerm takes the packaged library out either way, the other entry
   stays. `dpkg -r` while enabled: its prerm disables first, no file of the
   package remains, /etc/ld.so.preload is as before; `dpkg -P` removes the
   configuration.

Prints how long each step took.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import tshelp as th  # noqa: E402

SKIP = 77  # ctest SKIP_RETURN_CODE
BUILD = os.path.abspath(th.BUILD)
WORK = os.path.join(BUILD, "package-test")
CACHE = os.path.join(WORK, "cache")
ROOT = os.path.join(WORK, "root")
LIBPATH = "/usr/lib/x86_64-linux-gnu/libtraceshim.so"
CHROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
DEBOOTSTRAP_TIMEOUT = 600

timings = []


def log(msg):
    sys.stdout.write("test_package: %s\n" % msg)
    sys.stdout.flush()


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run(argv, timeout=120, ok=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    if ok and p.returncode != 0:
        raise AssertionError("%s: exit status %d\nstdout: %s\nstderr: %s" % (
            " ".join(argv), p.returncode, p.stdout.decode(errors="replace")[-3000:],
            p.stderr.decode(errors="replace")[-3000:]))
    return p


def chroot(*argv, env=None, timeout=60, ok=True):
    e = dict(CHROOT_ENV)
    e.update(env or {})
    return run(["chroot", ROOT, "/usr/bin/env", "-i"] + ["%s=%s" % kv for kv in e.items()] +
               list(argv), timeout=timeout, ok=ok)


class Step:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t0 = time.monotonic()
        log("%s ..." % self.name)

    def __exit__(self, *exc):
        dt = time.monotonic() - self.t0
        timings.append((self.name, dt))
        log("%s: %.1f s%s" % (self.name, dt, "" if exc[0] is None else " (FAILED)"))


# ---------------------------------------------------------------- mounts

def mounts_under(path):
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [m for m in points if m == path or m.startswith(path + "/")]


def unmount_all():
    for m in sorted(mounts_under(ROOT), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
    check(not mounts_under(ROOT), "still mounted under %s: %s" % (ROOT, mounts_under(ROOT)))


def remove_root():
    unmount_all()
    if os.path.exists(ROOT):
        run(["rm", "-rf", "--one-file-system", ROOT])


# ---------------------------------------------------------------- steps

def build_deb(version):
    out = os.path.join(WORK, "deb")
    shutil.rmtree(out, ignore_errors=True)
    run(["cpack", "-G", "DEB", "-B", out], cwd=BUILD, timeout=300)
    deb = os.path.join(out, "traceshim_%s_amd64.deb" % version)
    check(os.path.isfile(deb), "no %s (have %s)" % (deb, os.listdir(out)))
    info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout.decode()
    fields = dict(line.split(": ", 1) for line in info.strip().splitlines())
    check(fields["Package"] == "traceshim" and fields["Version"] == version
          and fields["Architecture"] == "amd64", info)
    # PCRE2, libelf and zlib are linked in: the C library is all it needs
    check(re.fullmatch(r"libc6 \(>= [0-9.]+\)", fields["Depends"]), "Depends: " + fields["Depends"])
    files = run(["dpkg-deb", "-c", deb]).stdout.decode()
    for path in ("./usr/bin/traceshim", "." + LIBPATH, "./usr/libexec/traceshim/traceshim-view",
                 "./usr/libexec/traceshim/traceshim-check", "./usr/libexec/traceshim/traceshim-config",
                 "./usr/libexec/traceshim/traceshim-system", "./usr/share/man/man1/traceshim.1.gz",
                 "./usr/share/bash-completion/completions/traceshim"):
        check(re.search(r" %s$" % re.escape(path), files, re.M), "%s not in the package:\n%s" % (path, files))
    return deb


def mirror():
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            m = re.search(r"^URIs:\s*(\S+)", f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def make_root():
    """A fresh minbase root with curl: debootstrap the first time (its
    packages kept in CACHE/debs), a tarball of the result afterwards."""
    os.makedirs(CACHE, exist_ok=True)
    tarball = os.path.join(CACHE, "bookworm-minbase-curl.tar")
    remove_root()
    os.makedirs(ROOT)
    if not os.path.exists(tarball):
        debs = os.path.join(CACHE, "debs")
        os.makedirs(debs, exist_ok=True)
        logfile = os.path.join(WORK, "debootstrap.log")
        with open(logfile, "wb") as lf:
            p = subprocess.run(["timeout", "-k", "10", str(DEBOOTSTRAP_TIMEOUT), "debootstrap",
                                "--variant=minbase", "--include=curl", "--cache-dir=" + debs,
                                "bookworm", ROOT, mirror()], stdout=lf, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            with open(logfile, errors="replace") as lf:
                tail = lf.read()[-3000:]
            raise AssertionError("debootstrap failed (exit %d), %s:\n%s" % (p.returncode, logfile, tail))
        unmount_all()  # debootstrap may leave its own mounts
        run(["tar", "-C", ROOT, "-cf", tarball + ".part", "."], timeout=300)
        os.rename(tarball + ".part", tarball)
    else:
        run(["tar", "-C", ROOT, "-xf", tarball], timeout=300)
    run(["mount", "-t", "proc", "proc", os.path.join(ROOT, "proc")])
    run(["mount", "--rbind", "/dev", os.path.join(ROOT, "dev")])
    run(["mount", "--make-rslave", os.path.join(ROOT, "dev")])


def read_root(path):
    try:
        with open(ROOT + path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_root(path, data):
    with open(ROOT + path, "wb") as f:
        f.write(data)


def spans_in(path):
    return th.read_spans(ROOT + path, strict=True)


def wait_spans_in(path, count):
    return th.wait_spans(ROOT + path, count, timeout=5, exact=True)


def set_conf(key, value):
    """Set KEY in the chroot's /etc/traceshim/traceshim.conf (as an
    operator would edit it)."""
    text = read_root("/etc/traceshim/traceshim.conf").decode()
    line = "%s=%s" % (key, value)
    text, n = re.subn(r"(?m)^%s=.*$" % key, line, text)
    if not n:
        text += line + "\n"
    write_root("/etc/traceshim/traceshim.conf", text.encode())


# ---------------------------------------------------------------- the test

def test(srv, version, deb):
    url = "http://127.0.0.1:%d" % srv.port
    closed = "http://127.0.0.1:%d/x" % th.closed_port()
    n_conns = [0]

    def request_bytes():
        n_conns[0] += 1
        (conn,) = srv.wait_closed(n_conns[0])[-1:]
        return bytes(conn.data)

    def curl(prog, path, *pre, env=None):
        p = chroot(*pre, prog, "-q", "-sS", "--max-time", "10", url + path, env=env, ok=False)
        return (p.returncode, p.stdout, p.stderr), request_bytes()

    with Step("dpkg -i in the fresh root"):
        shutil.copy(deb, ROOT + "/tmp/traceshim.deb")
        chroot("dpkg", "-i", "/tmp/traceshim.deb", timeout=120)
        listed = chroot("dpkg", "-L", "traceshim").stdout.decode().split("\n")
        files = [f for f in listed if f and os.path.isfile(ROOT + f)]
        check(LIBPATH in files and "/usr/bin/traceshim" in files, listed)
        v = chroot("traceshim", "--version").stdout.decode()
        check(v.splitlines()[0] == "traceshim " + version, v)
        check(("library: " + LIBPATH) in v, v)

    with Step("traceshim run -- curl in the chroot"):
        p = chroot("traceshim", "run", "-s", "pkg", "-o", "/tmp/run.jsonl", "--",
                   "curl", "-q", "-sS", "--max-time", "10", url + "/run", ok=False)
        check(p.returncode == 0 and p.stdout == b"ok", p)
        head = request_bytes()
        spans = wait_spans_in("/tmp/run.jsonl", 2)
        client = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        check(len(client) == 1 and client[0]["name"] == "GET /run" and client[0]["service"] == "pkg",
              th.format_spans(spans))
        check(client[0]["resource"].get("telemetry.sdk.version") == version, client[0]["resource"])
        check(("X-B3-TraceId: %s\r\n" % client[0]["traceId"]).encode() in head, head)
        view = chroot("traceshim", "view", "/tmp/run.jsonl").stdout.decode()
        check("GET /run" in view, view)

    chroot("cp", "/usr/bin/curl", "/usr/local/bin/fetch")
    # what the untraced programs do: the baseline
    base_ok, base_head = curl("fetch", "/same")
    base_fail = chroot("fetch", "-q", "-sS", "--max-time", "5", closed, ok=False)
    check(base_ok[0] == 0 and base_fail.returncode == 7, (base_ok, base_fail))

    def enable_cycle(original):
        with Step("enable --system, programs traced and not (ld.so.preload %s)"
                  % ("absent" if original is None else "present")):
            p = chroot("traceshim", "enable", "--system", "--programs", "curl")
            out = p.stdout.decode()
            log("enable said:\n" + out)
            check("self-test passed" in out, out)
            if original is None:
                check("created /etc/ld.so.preload with the line %s" % LIBPATH in out, out)
                check(read_root("/etc/ld.so.preload") == (LIBPATH + "\n").encode(),
                      read_root("/etc/ld.so.preload"))
            else:
                check("added the line %s" % LIBPATH in out, out)
                check(read_root("/etc/ld.so.preload") == original + b"\n" + LIBPATH.encode() + b"\n",
                      read_root("/etc/ld.so.preload"))
            again = chroot("traceshim", "enable", "--system").stdout.decode()
            check("nothing changed" in again, again)
            set_conf("TRACESHIM_FILE", "/tmp/sys.jsonl")
            set_conf("OTEL_BSP_SCHEDULE_DELAY", "100")
            cfg = chroot("traceshim", "config", "--system").stdout.decode()
            check("programs traced        curl" in cfg, cfg)
            for f in ("/tmp/sys.jsonl", "/tmp/explicit.jsonl", "/tmp/two.jsonl"):
                if os.path.exists(ROOT + f):
                    os.unlink(ROOT + f)

            # allowlisted: traced with nothing but /etc/ld.so.preload
            res, head = curl("curl", "/allowed")
            check(res == (0, b"ok", b""), res)
            (s,) = wait_spans_in("/tmp/sys.jsonl", 1)
            check((s["name"], s["kind"], s["service"]) == ("GET /allowed", th.KIND_CLIENT, "curl"), s)
            check(("X-B3-TraceId: %s\r\n" % s["traceId"]).encode() in head, head)

            # not allowlisted: the same binary under another name, identical
            res, head = curl("fetch", "/same")
            check(res == base_ok, (res, base_ok))
            check(head == base_head, th.diff_bytes(base_head, head))
            fail = chroot("fetch", "-q", "-sS", "--max-time", "5", closed, ok=False)
            check((fail.returncode, fail.stdout, fail.stderr) ==
                  (base_fail.returncode, base_fail.stdout, base_fail.stderr), (fail, base_fail))
            check(chroot("sh", "-c", "echo hi; exit 3", ok=False).returncode == 3, "sh")
            time.sleep(0.3)
            check(len(spans_in("/tmp/sys.jsonl")) == 1, "fetch wrote spans")

            # the environment wins: an explicit traceshim run traces fetch, once
            res, head = curl("fetch", "/explicit", "traceshim", "run", "-o", "/tmp/explicit.jsonl", "--")
            check(res[0] == 0 and head.count(b"X-B3-TraceId:") == 1, (res, head))
            wait_spans_in("/tmp/explicit.jsonl", 2)
            # a second copy of the library: only the first traces
            chroot("mkdir", "-p", "/tmp/other")
            chroot("cp", LIBPATH, "/tmp/other/libtraceshim.so")
            res, head = curl("curl", "/twocopies", "traceshim", "run", "-o", "/tmp/two.jsonl", "--",
                             env={"TRACESHIM_LIB": "/tmp/other/libtraceshim.so"})
            check(res[0] == 0 and head.count(b"X-B3-TraceId:") == 1
                  and head.count(b"traceparent:") == 1, (res, head))
            wait_spans_in("/tmp/two.jsonl", 2)
            check(len(spans_in("/tmp/sys.jsonl")) == 1, "the system copy traced too")

    def disable_restores(original):
        with Step("disable --system"):
            out = chroot("traceshim", "disable", "--system").stdout.decode()
            log("disable said:\n" + out)
            check(read_root("/etc/ld.so.preload") == original,
                  "not restored byte for byte: %r, was %r" % (read_root("/etc/ld.so.preload"), original))
            again = chroot("traceshim", "disable", "--system").stdout.decode()
            check("nothing changed" in again, again)
            res, head = curl("curl", "/after")
            check(res == (0, b"ok", b"") and b"X-B3-" not in head, (res, head))

    check(read_root("/etc/ld.so.preload") is None, "a fresh root has no /etc/ld.so.preload")
    enable_cycle(None)
    disable_restores(None)
    # a site's own entry (glibc's malloc debugging library, inert unless
    # asked for), after a comment, without a final newline. (Only one
    # comment: glibc 2.36's rtld does not blank every '#' line reliably.)
    original = b"# site preloads\n/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"
    write_root("/etc/ld.so.preload", original)
    enable_cycle(original)
    disable_restores(original)

    def removal_takes_out(preload, env=None):
        """dpkg -r with /etc/ld.so.preload naming the library (and the
        site's entry after it): its prerm takes the library out, keeps the
        site's entry, and no program is left asking the loader for the
        deleted file; the package is then installed again."""
        site = original.split(b"\n")[-1]
        write_root("/etc/ld.so.preload", preload + site + b"\n")
        chroot("dpkg", "-r", "traceshim", env=env, timeout=120)
        check(read_root("/etc/ld.so.preload") == site + b"\n",
              "prerm left %r" % read_root("/etc/ld.so.preload"))
        check(not os.path.exists(ROOT + LIBPATH), "the library stayed")
        p = chroot("true")
        check(p.stderr == b"", p.stderr)
        chroot("dpkg", "-i", "/tmp/traceshim.deb", timeout=120)

    with Step("dpkg -r: the library by another path, or TRACESHIM_LIB naming another file"):
        # the same file through /lib (a merged /usr), on the site's line
        removal_takes_out(b"/lib/x86_64-linux-gnu/libtraceshim.so ")
        # root's environment naming another file of the library
        removal_takes_out(LIBPATH.encode() + b"\n", env={"TRACESHIM_LIB": "/tmp/other/libtraceshim.so"})
        write_root("/etc/ld.so.preload", original)

    with Step("dpkg -r while enabled, dpkg -P"):
        chroot("traceshim", "enable", "--system")
        check(LIBPATH.encode() in read_root("/etc/ld.so.preload"), "enabled again")
        chroot("dpkg", "-r", "traceshim", timeout=120)
        check(read_root("/etc/ld.so.preload") == original,
              "prerm did not restore /etc/ld.so.preload: %r" % read_root("/etc/ld.so.preload"))
        left = [f for f in files if os.path.lexists(ROOT + f)]
        check(not left, "files of the package left after dpkg -r: %s" % left)
        p = chroot("true")
        check(p.stderr == b"", p.stderr)
        check(os.path.exists(ROOT + "/etc/traceshim/traceshim.conf"), "remove keeps the configuration")
        chroot("dpkg", "-P", "traceshim", timeout=120)
        check(not os.path.exists(ROOT + "/etc/traceshim"), "purge removes /etc/traceshim")


def main():
    if os.geteuid() != 0:
        log("SKIPPED: needs root (debootstrap, chroot, mount)")
        return SKIP
    for tool in ("debootstrap", "dpkg-deb", "dpkg-shlibdeps", "chroot", "cpack"):
        if not shutil.which(tool):
            log("FAILED: %s not found (bash scripts/install-deps.sh installs it)" % tool)
            return 1
    th.require_lib()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("test_package: terminated"))
    signal.signal(signal.SIGINT, lambda *a: sys.exit("test_package: interrupted"))
    t0 = time.monotonic()
    version = th.project_version()
    os.makedirs(WORK, exist_ok=True)
    srv = th.RecordingServer(mode="http")
    rc = 1
    try:
        with Step("cpack -G DEB"):
            deb = build_deb(version)
        with Step("fresh Debian 12 root"):
            make_root()
        test(srv, version, deb)
        rc = 0
    finally:
        srv.close()
        try:
            remove_root()
        finally:
            log("timings: " + ", ".join("%s %.1f s" % t for t in timings))
            log("%s in %.1f s" % ("PASSED" if rc == 0 else "FAILED", time.monotonic() - t0))
    return rc


if __name__ == "__main__":
    sys.exit(main())
