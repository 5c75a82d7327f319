"""What every benchmark does with its figures: a table on the terminal and a JSON file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(figures: dict, path: Path, *, digits: int = 2) -> None:
    width = max(map(len, figures))
    for name, value in figures.items():
        shown = f"{value:.{digits}f}" if isinstance(value, float) else value
        print(f"{name:<{width}}  {shown}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"measured_at": datetime.now().astimezone().isoformat(), **figures}, indent=2))
    print(f"written to {path}")
