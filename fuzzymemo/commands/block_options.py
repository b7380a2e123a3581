"""Command-line options of registered hardware blocks, shared by ``generate`` and ``synth``:
``--NAME VALUE`` (also spelled with dashes, ``--max-inputs``) for every option any block declares, and
``--param NAME=VALUE``."""

from __future__ import annotations


def _parse_params(items) -> dict:
    options = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes NAME=VALUE, not {item!r}")
        options[name.strip()] = value.strip()
    return options


def add_block_options(parser, blocks, title: str) -> None:
    parser.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="a block option (repeatable)")
    takers: dict[str, list[str]] = {}
    for block in blocks:
        for o in block.options:
            takers.setdefault(o.name, []).append(block.name)
    group = parser.add_argument_group(title)
    for name, names in takers.items():
        spellings = dict.fromkeys([f"--{name}", f"--{name.replace('_', '-')}"])
        group.add_argument(*spellings, dest=f"opt_{name}", metavar="VALUE", default=None,
                           help=f"({', '.join(names)})")


def block_options(args, block, blocks) -> dict:
    """The options given for ``block``; an option only other blocks take is an error."""
    options = _parse_params(args.param)
    for name in {o.name for b in blocks for o in b.options}:
        value = getattr(args, f"opt_{name}", None)
        if value is not None:
            if name not in {x.name for x in block.options}:
                raise ValueError(f"block {block.name!r} has no option {name}; it takes "
                                 f"{', '.join(x.name for x in block.options) or 'no options'}")
            if name in options and options[name] != value:
                raise ValueError(f"option {name} given twice: --param {name}={options[name]} and "
                                 f"--{name.replace('_', '-')} {value}")
            options[name] = value
    return options
