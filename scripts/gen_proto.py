"""Regenerate the committed protobuf stubs, or check them for drift.

The stubs are committed so a node can install without grpcio-tools; this check
keeps them honest: `--check` regenerates into a scratch folder and fails if any
byte differs from what is committed.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_PACKAGE = Path("counterflow") / "v1"


def generate(out_root: Path) -> list[Path]:
    """Run protoc with the grpc and mypy plugins into out_root/counterflow/v1."""
    protos = sorted(PROTO_ROOT.glob("counterflow/v1/*.proto"))
    (out_root / OUT_PACKAGE).mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    bindir = Path(sys.executable).parent
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_root / OUT_PACKAGE).iterdir() if p.suffix in {".py", ".pyi"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs drift")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        committed_dir = ROOT / OUT_PACKAGE
        drift = []
        for path in generated:
            target = committed_dir / path.name
            if ns.check:
                if not target.exists() or not filecmp.cmp(path, target, shallow=False):
                    drift.append(path.name)
            else:
                shutil.copyfile(path, target)
        if ns.check:
            names = {p.name for p in generated}
            stale = [p.name for p in committed_dir.glob("*_pb2*") if p.name not in names]
            drift.extend(stale)
            if drift:
                print("generated protobuf code drifted from proto/: " + ", ".join(sorted(drift)))
                print("run: python scripts/gen_proto.py")
                return 1
            print(f"protobuf stubs up to date ({len(generated)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
