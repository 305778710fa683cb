"""check_docs.py SRC — the manual page and the README cover everything.

- every environment variable the library reads (the names its C sources
  pass to a lookup: string literals TRACESHIM_*, OTEL_*, JAEGER_*, and
  getenv() arguments) and every TRACESHIM_* variable the traceshim command
  reads is in doc/traceshim.1 and in README.md;
- every command of scripts/traceshim (its dispatch `case`) is in the
  manual's synopsis and in the bash completion's command list;
- the manual formats without a warning (groff -man -ww), and says the
  project's version;
- cli/config_cmd.c's file_keys, the keys `config --system` takes in the
  system file without a warning, are the library's TRACESHIM_*, OTEL_* and
  JAEGER_* variables but those its environment_only list names.
"""

import glob
import os
import re
import subprocess
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
failures = []


def read(path):
    with open(os.path.join(src, path), encoding="utf-8") as f:
        return f.read()


def library_variables():
    names = set()
    for path in glob.glob(os.path.join(src, "preload", "*.c")) + \
            glob.glob(os.path.join(src, "hooks", "*.c")) + glob.glob(os.path.join(src, "reporter", "*.c")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        names |= set(re.findall(r'"((?:TRACESHIM|OTEL|JAEGER)_[A-Z0-9_]+)"', text))
        names |= set(re.findall(r'getenv\("([A-Z][A-Z0-9_]*)"\)', text))
    return names


def command_variables():
    return set(re.findall(r"\b(TRACESHIM_[A-Z_]+)\b", read("scripts/traceshim")))


def commands():
    script = read("scripts/traceshim")
    dispatch = script[script.rindex("case $ts_sub in"):]
    dispatch = dispatch[:dispatch.index("esac")]
    names = set()
    for arms in re.findall(r"^\s+([a-z|\-]+)\)", dispatch, re.M):
        names.update(a for a in arms.split("|") if not a.startswith("-"))
    return names


lib_vars, cmd_vars = library_variables(), command_variables()
if len(lib_vars) < 40:
    failures.append("found only %d library variables: the extraction is broken" % len(lib_vars))
man = read("doc/traceshim.1")
# the README's table writes OTEL_EXPORTER_OTLP_[TRACES_]HEADERS for both names
readme = read("README.md")
readme = re.sub(r"([A-Z_]*)\[([A-Z_]+)\]([A-Z_]+)", lambda m: "%s%s` `%s%s%s" % (
    m.group(1), m.group(3), m.group(1), m.group(2), m.group(3)), readme)
for name in sorted(lib_vars | cmd_vars):
    if not re.search(r"\b%s\b" % name, man):
        failures.append("doc/traceshim.1 does not mention %s" % name)
    if ("`%s`" % name) not in readme and not re.search(r"`[^`\n]*\b%s\b[^`\n]*`" % name, readme):
        failures.append("README.md does not mention `%s`" % name)


def c_string_list(text, name):
    """The string literals of the C array `name[] = {...};` in text."""
    m = re.search(r"\b%s\[\] = \{(.*?)\};" % name, text, re.S)
    return set(re.findall(r'"([^"]*)"', m.group(1))) if m else set()


config_cmd = read("cli/config_cmd.c")
file_keys = c_string_list(config_cmd, "file_keys")
env_only = c_string_list(config_cmd, "environment_only")
prefixed = {n for n in lib_vars if re.match(r"(TRACESHIM|OTEL|JAEGER)_", n)}
if len(file_keys) < 40:
    failures.append("found only %d file_keys in cli/config_cmd.c: the extraction is broken"
                    % len(file_keys))
for name in sorted(prefixed - env_only - file_keys):
    failures.append("cli/config_cmd.c's file_keys lacks %s (config --system would warn of it)" % name)
for name in sorted(file_keys - prefixed):
    failures.append("cli/config_cmd.c's file_keys has %s, which the library does not read" % name)
for name in sorted(file_keys & env_only):
    failures.append("cli/config_cmd.c lists %s in file_keys and environment_only" % name)

synopsis = man[man.index(".SH SYNOPSIS"):man.index(".SH DESCRIPTION")]
completion = read("scripts/traceshim.bash-completion")
listed = re.search(r"local commands='([^']*)'", completion).group(1).split()
cmds = commands()
if len(cmds) < 5:
    failures.append("found only %s in scripts/traceshim's dispatch: the extraction is broken" % cmds)
for c in sorted(cmds):
    if not re.search(r"^\.B(R)? (traceshim )?%s\b" % re.escape(c), synopsis, re.M) and \
            not re.search(r"^\.B %s$|^\| *$\n\.B %s" % (c, c), synopsis, re.M):
        failures.append("the manual's SYNOPSIS lacks the command %s" % c)
    if not re.search(r"^\.B(R)? %s\b" % re.escape(c), man[man.index(".SH COMMANDS"):], re.M):
        failures.append("the manual's COMMANDS section lacks %s" % c)
    if c not in listed:
        failures.append("scripts/traceshim.bash-completion does not offer %s" % c)

version = re.search(r"^project\(traceshim VERSION (\S+)", read("CMakeLists.txt"), re.M).group(1)
if not re.search(r'^\.TH TRACESHIM 1 .*"traceshim %s"' % re.escape(version), man, re.M):
    failures.append("doc/traceshim.1's .TH line does not say traceshim %s" % version)
p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(src, "doc/traceshim.1")],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
if p.returncode != 0 or p.stderr:
    failures.append("groff -man -ww warns:\n" + p.stderr.decode(errors="replace"))
p = subprocess.run(["bash", "-n", os.path.join(src, "scripts/traceshim.bash-completion")],
                   stderr=subprocess.PIPE)
if p.returncode != 0:
    failures.append("the bash completion does not parse: " + p.stderr.decode())

for f in failures:
    print("FAIL: " + f)
if not failures:
    print("docs: %d library and %d command variables, %d commands documented"
          % (len(lib_vars), len(cmd_vars), len(cmds)))
sys.exit(1 if failures else 0)
