"""GPU memory from nvidia-smi, or a plain "unavailable" with the reason when there is none."""
from __future__ import annotations

import shutil
import subprocess
from typing import Any, Dict, List

QUERY = "index,name,memory.used,memory.total,utilization.gpu"


def gpu_status(nvidia_smi: str = "nvidia-smi", timeout: float = 5.0) -> Dict[str, Any]:
    path = shutil.which(nvidia_smi)
    if not path:
        return {"available": False, "reason": f"{nvidia_smi} not found"}
    try:
        out = subprocess.run(
            [path, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "reason": f"nvidia-smi failed: {exc}"}
    if out.returncode != 0:
        return {"available": False, "reason": f"nvidia-smi exited {out.returncode}: {out.stderr.strip()[:200]}"}
    gpus: List[Dict[str, Any]] = []
    for line in out.stdout.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 5:
            continue
        try:
            gpus.append({
                "index": int(cells[0]),
                "name": cells[1],
                "memory_used_mib": int(float(cells[2])),
                "memory_total_mib": int(float(cells[3])),
                "utilization_percent": int(float(cells[4])) if cells[4] not in ("[N/A]", "N/A") else None,
            })
        except ValueError:
            continue
    if not gpus:
        return {"available": False, "reason": "nvidia-smi listed no GPU"}
    return {
        "available": True,
        "gpus": gpus,
        "memory_used_mib": sum(g["memory_used_mib"] for g in gpus),
        "memory_total_mib": sum(g["memory_total_mib"] for g in gpus),
    }
