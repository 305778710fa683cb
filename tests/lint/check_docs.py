"""check_docs.py SRC — the manual page and the README cover everything.

- every environment variable the library reads (every name its C sources
  hand to something that reads the environment: getenv, a ts_env_lookup_fn,
  a function that takes one, a function that calls getenv or reads the
  environment's index or the system file; given as a literal in the call,
  or through a named string or table of the file), every TRACESHIM_*,
  OTEL_* and JAEGER_* name its sources and headers write as a string, and
  every TRACESHIM_* variable the traceshim command mentions is in
  doc/traceshim.1 and in README.md;
- every variable README's Configuration table documents is read: by the
  library, or by the traceshim command (a ${NAME} expansion, or the name
  its ts_find reads);
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


ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
LIBRARY_DIRS = ("preload", "hooks", "reporter", "common")


def c_tokens(text):
    """C text with its comments blanked out, its character literals made
    'c' (one may be a '"'), and each string literal made @S<n>@, n its
    index in the list returned with it (so that no quote, comma or
    parenthesis of a string is taken for code)."""
    strings = []

    def one(m):
        if m.group(1) is not None:
            strings.append(m.group(1)[1:-1])
            return "@S%d@" % (len(strings) - 1)
        return "'c'" if m.group(0)[0] == "'" else " "

    code = re.sub(r"""/\*.*?\*/|//[^\n]*|("(?:\\.|[^"\\\n])*")|'(?:\\.|[^'\\\n])+'""", one,
                  text, flags=re.S)
    return code, strings


def call_args(code, start):
    """The arguments of the call whose '(' is at code[start], split at the
    commas of its own level."""
    depth, args, cur = 0, [], ""
    for c in code[start:]:
        if c in "([{":
            depth += 1
            if depth == 1:
                continue
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return args + [cur.strip()]
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
            continue
        cur += c
    return args


def block_end(code, start):
    """Where the block whose '{' is at code[start] ends."""
    depth = 0
    for j in range(start, len(code)):
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        if depth == 0:
            return j + 1
    return len(code)


def library_variables():
    """Every name the library's C sources hand to an environment reader:
    getenv, the environment's index or the system file; a ts_env_lookup_fn
    (a parameter or a variable); a function that takes one, or whose body
    calls a reader (env, env_first, read_uint, sam_env, init.c's
    env_lookup, ...). The name is a literal in the call, or a string or a
    table of the file that the call names (static const char traces_var[]
    = "...", lists[i].var)."""
    files = []
    for d in LIBRARY_DIRS:
        for path in sorted(glob.glob(os.path.join(src, d, "*.c"))):
            with open(path, encoding="utf-8") as f:
                files.append(c_tokens(f.read()))
    alltext = "\n".join(code for code, _ in files)
    lookups = set(re.findall(r"\bts_env_lookup_fn\s+(\w+)", alltext))
    readers = {"getenv", "secure_getenv", "ts_env_index_get", "ts_sysconf_get"}
    readers |= set(re.findall(r"\b(\w+)\s*\([^;{)]*\bts_env_lookup_fn\b[^;{]*\)\s*\{", alltext))
    definitions = [(m.group(1), alltext[m.end() - 1:block_end(alltext, m.end() - 1)])
                   for m in re.finditer(r"\b(\w+)\s*\([^;{}()]*\)\s*\{", alltext)
                   if m.group(1) not in ("if", "for", "while", "switch")]
    grew = True
    while grew:  # a function that calls a reader reads too
        known = len(readers)
        calls = re.compile(r"\b(?:%s)\s*\(" % "|".join(sorted(readers | lookups)))
        readers |= {name for name, body in definitions if calls.search(body)}
        grew = len(readers) > known
    names = set()
    for code, strings in files:
        def literals(text):
            return {strings[int(i)] for i in re.findall(r"@S(\d+)@", text)
                    if ENV_NAME.match(strings[int(i)])}
        for m in re.finditer(r"\b(\w+)\s*\(", code):
            args = call_args(code, m.end() - 1)
            bases = [re.sub(r"[\[.(].*", "", a).strip("&* ") for a in args]
            if m.group(1) not in readers | lookups and not set(bases) & lookups:
                continue
            for arg, base in zip(args, bases):
                names |= literals(arg)
                init = re.search(r"\b%s(?:\[\w*\])*\s*=\s*(\{.*?\};|@S\d+@)" % re.escape(base),
                                 code, re.S) if re.match(r"^[a-z_]\w*$", base) else None
                if init:  # a name kept in a string or a table of this file
                    names |= literals(init.group(1))
    return names


def library_literal_names():
    """Every TRACESHIM_*, OTEL_* and JAEGER_* name written whole as a string
    literal in the library's sources, headers too: a name the call-following
    above cannot see (behind a #define, in a header's table) still has to be
    documented."""
    names = set()
    for d in LIBRARY_DIRS:
        for path in sorted(glob.glob(os.path.join(src, d, "*.[ch]"))):
            with open(path, encoding="utf-8") as f:
                names |= set(re.findall(r'"((?:TRACESHIM|OTEL|JAEGER)_[A-Z0-9_]*[A-Z0-9])"',
                                        f.read()))
    return names


def command_variables():
    return set(re.findall(r"\b(TRACESHIM_[A-Z_]+)\b", read("scripts/traceshim")))


def command_reads():
    """The variables scripts/traceshim reads itself: its expansions
    ($NAME, ${NAME...}) and the names it hands to ts_find (which expands
    them indirectly)."""
    script = read("scripts/traceshim")
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", script)) | \
        set(re.findall(r"^\s*ts_find\s+([A-Z][A-Z0-9_]*)", script, re.M))


def configuration_table_names():
    """The variables README's Configuration section's table names in its
    first column ([TRACES_] forms as both names)."""
    text = read("README.md")
    section = text[text.index("\n## Configuration"):]
    section = section[:section.index("\n## ", 1)]
    names = set()
    for row in re.findall(r"^\| (.*?) \|", section, re.M):
        for n in re.findall(r"`([A-Z][A-Z0-9_\[\]]*)`", row):
            m = re.match(r"([A-Z_]*)\[([A-Z_]+)\]([A-Z_]+)$", n)
            names |= {m.group(1) + m.group(3), m.group(1) + m.group(2) + m.group(3)} if m else {n}
    return names


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
documented = configuration_table_names()
if len(documented) < 40:
    failures.append("found only %d names in README's Configuration table: the extraction is "
                    "broken" % len(documented))
for name in sorted(documented - lib_vars - command_reads()):
    failures.append("README.md's Configuration table documents %s, which neither the library "
                    "nor the traceshim command reads" % name)
man = read("doc/traceshim.1")
# the README's table writes OTEL_EXPORTER_OTLP_[TRACES_]HEADERS for both names
readme = read("README.md")
readme = re.sub(r"([A-Z_]*)\[([A-Z_]+)\]([A-Z_]+)", lambda m: "%s%s` `%s%s%s" % (
    m.group(1), m.group(3), m.group(1), m.group(2), m.group(3)), readme)
for name in sorted(lib_vars | library_literal_names() | cmd_vars):
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
    print("docs: %d library and %d command variables, %d commands documented; %d names of "
          "the configuration table read" % (len(lib_vars), len(cmd_vars), len(cmds),
                                           len(documented)))
sys.exit(1 if failures else 0)
