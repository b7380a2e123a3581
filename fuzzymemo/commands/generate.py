"""``fuzzymemo generate``: write the Verilog of one registered hardware block (see hw/registry.py).

    fuzzymemo generate --list
    fuzzymemo generate --top bnn --out build/ --width 64 --max-inputs 512
    fuzzymemo generate --top memo_table --out build/ --param entries=1024 --param cache_update=always

Writes ``DIR/<name>.v`` (top module ``<name>``, the block name unless ``--name``) and ``DIR/<name>.json``
(the resolved options and the ports with their payload layouts).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .args import output_dir
from .block_options import add_block_options, block_options


def generate(top: str, out, options: dict | None = None, name: str | None = None) -> tuple[Path, Path]:
    """Write the Verilog and JSON description of block ``top``; returns their paths."""
    from amaranth.back import verilog

    from hw import registry
    from sim.runner import port_info

    block = registry.get(top)
    resolved = block.resolve(options)
    name = name or top
    if not name.isidentifier():
        raise ValueError(f"module name {name!r} is not a Verilog identifier")
    component = block.builder(resolved)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    v_path, j_path = out / f"{name}.v", out / f"{name}.json"
    v_path.write_text(verilog.convert(component, name=name, emit_src=False))
    j_path.write_text(json.dumps({"block": top, "module": name, "options": resolved,
                                  "ports": port_info(component)}, indent=1, default=str))
    return v_path, j_path


def run(args) -> int:
    from hw import registry

    if args.list:
        for block in registry.BLOCKS.values():
            print(f"{block.name}: {block.help}")
            for o in block.options:
                choices = f" {{{','.join(map(str, o.choices))}}}" if o.choices else ""
                print(f"    --{o.name} (default {o.default}){choices}  {o.help}")
        return 0
    if not args.top:
        raise ValueError("--top NAME is required (see --list)")
    if not args.out:
        raise ValueError("--out DIR is required")
    block = registry.get(args.top)
    options = block_options(args, block, registry.BLOCKS.values())
    v_path, j_path = generate(args.top, args.out, options, args.name)
    print(f"{args.top}: {v_path} ({j_path.name})")
    return 0


def register(subparsers) -> None:
    from hw import registry

    p = subparsers.add_parser("generate", help="write the Verilog of a hardware block",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the blocks and their options")
    p.add_argument("--top", metavar="NAME", help="block to generate (see --list)")
    p.add_argument("--out", type=output_dir, metavar="DIR", help="output directory (made when missing)")
    p.add_argument("--name", metavar="MODULE", help="top module name (default: the block name)")
    add_block_options(p, registry.BLOCKS.values(), "block options (see --list for which block takes which)")
    p.set_defaults(func=run)
