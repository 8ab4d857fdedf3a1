"""The generated parts of the docs' reference pages, made at build time from the code itself:

* every console script's `--help` (and each subcommand's), from pyproject.toml's [project.scripts];
* every config group, option and key with its default, type and comment, from the packaged Hydra
  configs (smis/configs/) and the typed option classes of smis/training/options.py.

docs/hooks.py runs this file in a subprocess (the commands import torch; the mkdocs process need
not) and puts its output where a page says `<!-- generated: cli -->` or `<!-- generated: configs -->`:

    python docs/gen_reference.py            # prints {"cli": MARKDOWN, "configs": MARKDOWN} as JSON
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
GROUP_ORDER = ["dataset", "recipe", "model", "optim", "loss", "trainer", "logger", "callbacks", "experiment",
               "protocol", "hparams_search", "launcher", "debug", "paths"]
TYPED = {"loss": "LossOptions", "optim": "OptimOptions", "encoder_init": "EncoderInit", "": "RunOptions"}


# --- the commands ------------------------------------------------------------------------------------
def scripts() -> dict[str, str]:
    """Console script name -> "module:function", as pyproject.toml declares them."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def help_text(name: str, target: str, args: list[str]) -> str:
    """What `name *args` prints (args end with --help), run in this process."""
    module, _, function = target.partition(":")
    main = getattr(importlib.import_module(module), function)
    saved = sys.argv
    sys.argv = [name, *args]                      # smis.cli.prog names the command after argv[0]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main()
            except SystemExit as e:
                if e.code not in (0, None):
                    command = " ".join([name, *args])
                    raise RuntimeError(f"`{command}` exited {e.code}:\n{out.getvalue()}") from None
    finally:
        sys.argv = saved
    text = out.getvalue().rstrip()
    if not text:
        raise RuntimeError(f"`{name} {' '.join(args)}` printed nothing")
    return text


def subcommands(help_output: str) -> list[str]:
    """The choices `{a,b,c}` of positionals in the usage lines (not those of an option such as
    `--for {train,evaluate}`): candidates for subcommands, kept by cli_markdown when their --help
    differs from the command's."""
    usage = help_output.split("\n\n", 1)[0]
    found = []
    for match in re.finditer(r"(\S*)\s+\[?\{([a-z][a-z0-9_,-]*)\}", usage):
        before = match.group(1).lstrip("[")
        takes_it = before.startswith("-") and not before.endswith("]")   # `--for {a,b}`, not `[-h] {a,b}`
        if not takes_it and "," in match.group(2):
            found += match.group(2).split(",")
    return found


def fence(text: str) -> str:
    return f"```text\n{text}\n```\n"


def cli_markdown() -> str:
    parts = []
    for name, target in sorted(scripts().items()):
        text = help_text(name, target, ["--help"])
        parts.append(f"## `{name}`\n\nEntry point `{target}`.\n\n{fence(text)}")
        for sub in subcommands(text):
            try:
                sub_text = help_text(name, target, [sub, "--help"])
            except RuntimeError:                  # a positional's choice, not a subcommand
                continue
            if sub_text != text:
                parts.append(f"### `{name} {sub}`\n\n{fence(sub_text)}")
    return "\n".join(parts)


# --- the configs -------------------------------------------------------------------------------------
def split_comment(line: str) -> tuple[str, str]:
    """'key: value   # comment' -> ('key: value', ' comment'): the comment keeps its leading spaces
    (more than one marks a comment continued from the line above); a '#' inside quotes is text."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].rstrip()
    return line.rstrip(), ""


KEY = re.compile(r"^(\s*)([A-Za-z_][\w.@/-]*):(?:\s+(.*))?$")


def read_config(path: Path) -> dict:
    """A config file -> {"about": header comment lines, "package": "_global_" or None, "defaults":
    [...], "keys": [(dotted key, raw value, comment)]} (leaves, and sections that carry a comment).
    A key's comment is the one beside it, continued on the lines below (indented comments), after
    any comment lines right above it."""
    about, keys, stack, package = [], [], [], None
    last = None            # index in keys of the key whose comment an indented comment continues
    last_indent = -1
    styled: set[int] = set()   # indents whose keys' comments are indented as a layout
    above: list[str] = []  # comment lines right above the next key
    in_header = True
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("# @package"):
            package = stripped.split()[-1]
            continue
        if not stripped:
            last, above = None, []
            continue
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if in_header:
                about.append(text)
            elif last is not None and raw.index("#") > 0:
                keys[last] = (*keys[last][:2], f"{keys[last][2]} {text}".strip())   # a continued comment
            elif text:
                above.append(text)
            continue
        in_header = False
        body, comment = split_comment(raw)
        match = KEY.match(body)
        if not match:                             # a list item (defaults) or a continued value
            last, above = None, []
            continue
        indent, key, value = len(match.group(1)), match.group(2), (match.group(3) or "").strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        styled = {i for i in styled if i <= indent}
        if comment.startswith("  "):
            if last is not None and last_indent == indent and indent not in styled:   # continued
                keys[last] = (*keys[last][:2], f"{keys[last][2]} {comment.strip()}".strip())
                comment = ""
            else:                   # indented comments beside nested keys: a layout, not a continuation
                styled.add(indent)
        comment = " ".join([*above, comment.strip()]).strip()
        above = []
        if value == "" and not comment:           # a section: its keys follow
            stack.append((indent, key))
            last = None
            continue
        if value == "":
            stack.append((indent, key))
        keys.append((dotted, value, comment))
        if comment or last is None or keys[last][2] == "" or last_indent != indent:
            last, last_indent = len(keys) - 1, indent
    data = yaml.safe_load(path.read_text()) or {}
    defaults = data.get("defaults", []) if isinstance(data, dict) else []
    keys = [k for k in keys if k[0] != "defaults" and not k[0].startswith("defaults.")]
    while about and not about[-1]:
        about.pop()
    return {"about": about, "package": package, "defaults": defaults, "keys": keys}


def value_type(raw: str) -> str:
    if raw == "???":
        return "required"
    if "${" in raw:
        return "interpolation"
    if raw == "":
        return "section"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return "str"
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    return f"`{cell(text)}`" if text != "" else ""


def keys_table(keys, prefix: str = "", fields: dict | None = None) -> str:
    """A table of a file's keys; `fields` ({dotted key: dataclass field}) gives the typed options'
    type and accepted values, else the type is the YAML value's."""
    fields = fields or {}
    rows = ["| key | default | type | what |", "|---|---|---|---|"]
    for dotted, raw, comment in keys:
        name = f"{prefix}{dotted}"
        f = fields.get(name)
        kind = f"`{type_name(f)}`: {cell(f.metadata['expected'])}" if f else value_type(raw)
        what = comment or (f.metadata.get("doc", "") if f else "")
        rows.append(f"| `{name}` | {code(raw)} | {kind} | {cell(what)} |")
    return "\n".join(rows) + "\n"


def header(about: list[str]) -> str:
    """A file's header comment, as it reads in the file."""
    if not about:
        return ""
    return "```yaml\n" + "\n".join(f"# {line}" if line else "#" for line in about) + "\n```\n\n"


def summary(about: list[str]) -> str:
    """The header's first sentence (for the table of a group's options)."""
    text = " ".join(line for line in about if line)
    match = re.match(r"(.+?\.)(\s|$)", text)
    return cell(match.group(1) if match else text)


def defaults_line(defaults) -> str:
    items = []
    for d in defaults:
        if isinstance(d, dict):
            items += [f"`{k.removeprefix('override ').lstrip('/')}={'null' if v is None else v}`"
                      for k, v in d.items()]
        elif d != "_self_":
            items.append(f"`{d}`")
    return f"Builds on: {', '.join(items)}.\n\n" if items else ""


def typed_options() -> dict[str, type]:
    """The option classes of smis/training/options.py, loaded from the file (stdlib only: no torch)."""
    spec = importlib.util.find_spec("smis")
    path = Path(spec.submodule_search_locations[0]) / "training" / "options.py"
    module_spec = importlib.util.spec_from_file_location("_smis_options", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["_smis_options"] = module          # dataclasses look their module up
    module_spec.loader.exec_module(module)
    return {group: getattr(module, name) for group, name in TYPED.items()}


def type_name(f) -> str:
    """A field's annotation for a table cell: `float | None` reads `float or None` (a `|` would
    end the cell)."""
    return str(f.type).replace(" | ", " or ")


def typed_table(cls, prefix: str) -> str:
    rows = [f"Typed (`smis.training.options.{cls.__name__}`): a wrong type, a value out of range or an "
            "unknown key stops before training with the option named. The defaults are the authors'.\n",
            "| option | type | default | accepts | what |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        default = "null" if f.default is None else json.dumps(f.default)
        rows.append(f"| `{prefix}{f.name}` | `{type_name(f)}` | `{default}` | {cell(f.metadata['expected'])} "
                    f"| {cell(f.metadata.get('doc', ''))} |")
    return "\n".join(rows) + "\n"


def field_index(typed: dict) -> dict:
    """{dotted key: dataclass field} for every typed option."""
    return {f"{group}.{f.name}" if group else f.name: f
            for group, cls in typed.items() for f in dataclasses.fields(cls)}


def config_markdown() -> str:
    configs = Path(importlib.util.find_spec("smis.configs").submodule_search_locations[0])
    typed = typed_options()
    fields = field_index(typed)
    out = []
    for top, title in (("train", "Training: `train.yaml`"), ("evaluate", "Evaluation: `evaluate.yaml`")):
        info = read_config(configs / f"{top}.yaml")
        keys = [k for k in info["keys"] if not k[0].startswith("hydra")]
        table = keys_table(keys, "", fields if top == "train" else None)
        out.append(f"## {title}\n\n{header(info['about'])}{defaults_line(info['defaults'])}{table}")
    groups = sorted((p for p in configs.iterdir() if p.is_dir() and any(p.glob("*.yaml"))),
                    key=lambda p: (GROUP_ORDER.index(p.name) if p.name in GROUP_ORDER else 99, p.name))
    out.append("## Config groups\n\nPick one option per group on the command line (`GROUP=OPTION`); "
               "any key can then be set (`GROUP.KEY=VALUE`, or `KEY=VALUE` for the files marked global).\n")
    for group in groups:
        infos = {f.stem: read_config(f) for f in sorted(group.glob("*.yaml"))}
        out.append(f"### `{group.name}`\n\n| option | what |\n|---|---|\n" + "".join(
            f"| [`{group.name}={name}`](#{anchor(group.name, name)}) | {summary(info['about'])} |\n"
            for name, info in infos.items()))
        if group.name in typed:
            out.append(typed_table(typed[group.name], f"{group.name}."))
        for name, info in infos.items():
            where = ("Global: its keys are top-level paths." if info["package"] == "_global_"
                     else f"Keys under `{group.name}.`.")
            prefix = "" if info["package"] == "_global_" else f"{group.name}."
            body = keys_table(info["keys"], prefix, fields) if info["keys"] else "No keys.\n"
            title = f"#### `{group.name}={name}` {{#{anchor(group.name, name)}}}"
            built_on = defaults_line(info["defaults"])
            out.append(f"{title}\n\n{header(info['about'])}{where} {built_on}\n\n{body}")
    return "\n".join(out)


def anchor(group: str, name: str) -> str:
    return f"{group}-{name}".replace("_", "-")


def main() -> None:
    json.dump({"cli": cli_markdown(), "configs": config_markdown()}, sys.stdout)


if __name__ == "__main__":
    main()
