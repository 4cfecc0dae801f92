"""``settle build``: compile the contracts into build/contracts (cached by source hash)."""

from __future__ import annotations

import typer

from settle import compiler


def build_command(force: bool = typer.Option(False, "--force", help="Recompile even if the artifacts are current.")) -> None:
    """Compile contracts/ with solc (native if installed, else the solcjs shim) into build/contracts."""
    result = compiler.build(force=force, progress=typer.echo)
    state = "compiled" if result.compiled else "up to date"
    typer.echo(f"{len(result.contracts)} contracts {state} in {result.artifacts_dir} (source hash {result.source_hash[:12]})")
