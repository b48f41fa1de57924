#!/usr/bin/env python3
"""Writes a gzipped man page (section 1) from a program's own --help text, and
for the CLI from each subcommand's --help: the reference a user meets with
`man sims` is the text the program prints, so the two cannot drift apart.

usage: make_man.py PROGRAM NAME VERSION OUT.1.gz
  PROGRAM  the built executable; NAME  the name the page documents (sims, sims-studio)
"""
import gzip
import os
import re
import subprocess
import sys


def run_help(exe, args):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COLUMNS="100")
    out = subprocess.run([exe] + args + ["--help"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True, timeout=120).stdout.decode("utf-8")
    # The usage line names the program as it was called (a build path): name it as installed.
    return re.sub(r"Usage: \S+", "Usage: " + os.path.basename(sys.argv[2]), out).rstrip() + "\n"


def roff_text(text):
    lines = []
    for line in text.split("\n"):
        line = line.replace("\\", "\\e").replace("-", "\\-")
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def verbatim(text):
    return ".nf\n" + roff_text(text).rstrip("\n") + "\n.fi\n"


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: make_man.py PROGRAM NAME VERSION OUT.1.gz")
    exe, name, version, out = sys.argv[1:]
    top = run_help(exe, [])
    # First non-empty line that is not a usage line: the one-line description.
    desc = next((l for l in top.split("\n") if l.strip() and not l.startswith("Usage:")), name)
    desc = desc.split(": ", 1)[1] if desc.startswith(name + ":") else desc
    page = [f'.TH {name.upper()} 1 "" "{name} {version}" "User Commands"',
            ".SH NAME", f"{name} \\- {roff_text(desc.strip())}",
            ".SH SYNOPSIS"]
    subcommands = []
    if name == "sims":
        page.append(".B sims\n\\fISUBCOMMAND\\fR [\\fIOPTIONS\\fR]")
        block = top.split("Subcommands:", 1)[1] if "Subcommands:" in top else ""
        subcommands = [m.group(1) for m in re.finditer(r"^  (\S+)\s", block, re.M)]
    else:
        page.append(f".B {name}\n[\\fIOPTIONS\\fR]")
    page += [".SH DESCRIPTION", verbatim(top)]
    if subcommands:
        page.append(".SH SUBCOMMANDS")
        for sub in subcommands:
            page += [f'.SS "sims {sub}"', verbatim(run_help(exe, [sub]))]
    page += [".SH ENVIRONMENT", ".TP", ".B SIMS_DATA_DIR",
             "The folder that holds the shipped data (assets/); by default ../share/sims next to the executable.",
             ".SH FILES", ".TP", ".I /usr/share/sims/assets/models",
             "The shipped base and auxiliary models and the faces feature network.",
             ".SH SEE ALSO", "sims(1), sims\\-studio(1)"]
    data = ("\n".join(page) + "\n").encode("utf-8")
    tmp = out + ".tmp"
    with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
        g.write(data)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
