"""What `smis.evaluate` writes besides the numbers: metrics.json made valid JSON, and metrics.md
(the tables, the protocol's deviations and the numbers it is meant to reproduce)."""

from __future__ import annotations

import math


def json_safe(value):
    """NaN (e.g. a class with nothing to score) becomes null: metrics.json stays valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def protocol_lines(results: dict) -> tuple[str, list[str]]:
    """The table header's value column (naming the protocol) and the lines under the table: deviations from
    the protocol and the numbers it is meant to reproduce."""
    protocol = results.get("settings", {}).get("protocol")
    if not protocol:
        return "value", []
    notes = [f"Deviation from protocol {protocol['name']}: {d}" for d in protocol.get("deviations", [])]
    dataset = protocol.get("applied", {}).get("dataset")
    published = (protocol.get("published") or {}).get(dataset)
    if published:
        shown = ", ".join(f"{k} {v}" for k, v in published.items())
        notes.append(f"Published with protocol {protocol['name']} on {dataset}: {shown} (mIoU and accuracy "
                     "in percent; checkable only with the real dataset and metric weights)")
    return f"value (protocol {protocol['name']})", notes


def markdown_table(results: dict) -> str:
    header, notes = protocol_lines(results)
    lines = [f"| metric | {header} |", "|---|---|"]
    for key in ("fid", "miou", "pixel_accuracy", "lpips_diversity", "mcsd", "mocd", "separation",
                "pixel_inside", "pixel_outside", "recon_l1", "transfer", "looks_ratio", "looks_texture_ratio",
                "looks_coverage", "looks_bias", "images"):
        if results.get(key) is not None:
            value = results[key]
            lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if results.get("per_class_iou"):
        lines += ["", "| class | IoU |", "|---|---|"]
        lines += [f"| {name} | {iou:.4f} |" for name, iou in results["per_class_iou"].items()]
    if results.get("per_class_diversity"):
        lines += ["", "| class | CSD | OCD | label maps |", "|---|---|---|---|"]
        lines += [f"| {name} | {d['csd']:.4f} | {d['ocd']:.4f} | {d['images']} |"
                  for name, d in results["per_class_diversity"].items()]
    if results.get("per_class_separation"):
        lines += ["", "| class | pixel change inside | outside (beyond the band) | label maps |",
                  "|---|---|---|---|"]
        lines += [f"| {name} | {d['inside']:.4f} | {d['outside']:.4f} | {d['images']} |"
                  for name, d in results["per_class_separation"].items()]
    if results.get("per_class_transfer"):
        lines += ["", "| class | transfer | pairs |", "|---|---|---|"]
        lines += [f"| {name} | {d['transfer']:.4f} | {d['pairs']} |"
                  for name, d in results["per_class_transfer"].items()]
    if results.get("per_class_looks"):
        lines += ["", "| class | colour ratio (1: as varied as the data) | texture ratio | coverage | bias | "
                  "real | sampled |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {d['ratio']:.3f} | {d['texture_ratio']:.3f} | {d['coverage']:.3f} | "
                  f"{d['bias']:.3f} | {d['real']} | {d['sampled']} |"
                  for name, d in results["per_class_looks"].items()]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"
