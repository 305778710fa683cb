"""test_container_recipe.py — the container and Kubernetes recipe
(docs/containers.md), checked without a container engine.

- `cmake --install` of this build into a folder (prefix /usr, as the .deb
  has it) stands for the package's first stage;
- every path the Dockerfiles and the manifest name exists in that tree,
  and the package file they copy is the one CPack writes for this version;
- the Dockerfile's service stage is replayed into a plain folder (COPY
  --from, COPY, ENV, CMD; the image's absolute paths become paths inside
  the folder) and its service runs and is traced, with the exporter set to
  the file one as `docker run -e` would;
- the manifest's init container copy is replayed into a folder standing
  for the emptyDir volume, and a service preloading the library from there
  (its LD_PRELOAD as the manifest sets it) is traced.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

PKG = os.path.join(th.SRC, "packaging")
DOCKERFILE = os.path.join(PKG, "container", "Dockerfile")
DOCKERFILE_INIT = os.path.join(PKG, "container", "Dockerfile.init")
MANIFEST = os.path.join(PKG, "kubernetes", "traceshim-deployment.yaml")


def dockerfile_stages(path):
    """[(name, [(INSTRUCTION, args)])] with continuation lines joined."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            stages.append((m.group(2) or m.group(1), []))
        else:
            stages[-1][1].append((instr, args.strip()))
    return stages


def env_instruction(args):
    """ENV KEY=VALUE ... (or the old ENV KEY VALUE) as a dict."""
    if "=" not in args.split()[0]:
        key, _, value = args.partition(" ")
        return {key: value.strip()}
    return dict(tok.split("=", 1) for tok in shlex.split(args))


class ContainerRecipeTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.image = cls.make_class_tmp("tsit-container-")
        cls.tree = os.path.join(cls.image, "installed")
        env = dict(os.environ, DESTDIR=cls.tree)
        r = subprocess.run(["cmake", "--install", th.BUILD, "--prefix", "/usr"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise AssertionError("cmake --install failed:\n" + r.stdout.decode())

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def in_tree(self, path):
        self.assertTrue(path.startswith("/"), path)
        full = self.tree + path
        self.assertTrue(os.path.isfile(full), "%s is not a file the install produces" % path)
        return full

    def deb_name(self):
        return "traceshim_%s_amd64.deb" % th.project_version()

    def test_package_name_and_paths(self):
        for path in (DOCKERFILE, DOCKERFILE_INIT):
            for _, steps in dockerfile_stages(path):
                for instr, args in steps:
                    if instr == "COPY" and ".deb" in args:
                        self.assertEqual(args.split()[0], self.deb_name(),
                                         "%s copies another version's package" % path)
                    if instr == "COPY" and args.startswith("--from="):
                        self.in_tree(args.split()[1])
        with open(DOCKERFILE_INIT) as f:
            cmd = re.search(r'^CMD (\[.*\])', f.read(), re.M).group(1)
        self.in_tree(json.loads(cmd)[1])

    def run_service(self, argv, env, service):
        port = th.free_port()
        argv = [a if a != "8080" else str(port) for a in argv]
        if argv[0] == "python3":
            argv[0] = th.PY
        p = th.Proc(argv, env=env, tmpdir=self.tmp, name=service)
        self.addCleanup(p.stop)
        th.wait_port(port, proc=p)
        status, body = th.http_get(port, "/items/7")
        self.assertEqual((status, body), (200, b'{"items": []}\n'))
        # the periodic export (a SIGTERM'd python runs no exit code)
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.SPAN_TIMEOUT, exact=True)
        p.stop()
        self.assertEqual((s["kind"], s["service"], s["attrs"].get("url.path")),
                         (th.KIND_SERVER, service, "/items/7"), th.format_spans([s]))
        self.assertEqual(s["resource"].get("telemetry.sdk.version"), th.project_version())
        return s

    def test_dockerfile_replayed(self):
        stages = dockerfile_stages(DOCKERFILE)
        self.assertEqual([n for n, _ in stages][0], "traceshim")
        root = os.path.join(self.tmp, "image")
        env, cmd = {}, None
        for instr, args in stages[-1][1]:
            if instr == "COPY":
                parts = args.split()
                if parts[0].startswith("--from="):
                    self.assertEqual(parts[0], "--from=traceshim")
                    src = self.in_tree(parts[1])
                    dst = parts[2]
                else:
                    src, dst = os.path.join(PKG, "container", parts[0]), parts[1]
                os.makedirs(os.path.dirname(root + dst), exist_ok=True)
                shutil.copy(src, root + dst)
            elif instr == "ENV":
                env.update(env_instruction(args))
            elif instr == "CMD":
                cmd = json.loads(args)
        self.assertIn("LD_PRELOAD", env)
        self.assertTrue(os.path.isfile(root + env["LD_PRELOAD"]),
                        "LD_PRELOAD names a file the image does not have: " + env["LD_PRELOAD"])
        run_env = th.clean_env(**env)
        run_env["LD_PRELOAD"] = th.preload_value(root + env["LD_PRELOAD"])
        # docker run -e: spans to a file instead of the collector
        run_env.update(TRACESHIM_EXPORTER="file", TRACESHIM_FILE=self.spans_file,
                       OTEL_BSP_SCHEDULE_DELAY="100")
        argv = [root + a if a.startswith("/srv/") else a for a in cmd]
        self.run_service(argv, run_env, env["OTEL_SERVICE_NAME"])

    def test_kubernetes_manifest_replayed(self):
        with open(MANIFEST) as f:
            text = f.read()
        init = re.search(r"initContainers:(.*?)\n      containers:", text, re.S).group(1)
        app = text[text.index("\n      containers:"):]
        cp = json.loads(re.search(r"command: (\[.*\])", init).group(1))
        self.assertEqual(cp[0], "cp")
        src, dst = self.in_tree(cp[1]), cp[2]
        mounts = re.findall(r"mountPath: (\S+)", text)
        self.assertEqual(len(mounts), 2, "the volume is mounted in both containers")
        self.assertEqual(set(mounts), {os.path.dirname(dst)})
        self.assertIn("emptyDir: {}", text)
        preload = re.search(r"- name: LD_PRELOAD\s+value: (\S+)", app).group(1)
        self.assertEqual(preload, dst, "LD_PRELOAD names the copied file")
        service = re.search(r"- name: OTEL_SERVICE_NAME\s+value: (\S+)", app).group(1)
        args = json.loads(re.search(r"args: (\[.*\])", app).group(1))
        self.assertEqual(args[1], "/srv/shop.py")
        # the init container's copy into the "volume", then the app preloading from it
        volume = os.path.join(self.tmp, "volume")
        os.mkdir(volume)
        shutil.copy(src, os.path.join(volume, os.path.basename(dst)))
        env = th.clean_env(LD_PRELOAD=th.preload_value(os.path.join(volume, os.path.basename(dst))),
                           OTEL_SERVICE_NAME=service, TRACESHIM_FILE=self.spans_file,
                           OTEL_BSP_SCHEDULE_DELAY="100")
        self.run_service([args[0], os.path.join(PKG, "container", "shop.py"), args[2]], env,
                         service)


if __name__ == "__main__":
    th.main()
