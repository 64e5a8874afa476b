#!/usr/bin/env python3
"""Renders a kustomization of this folder to a JSON list of resources, without kustomize.

Supports what k8s/ uses: `resources` (files and directories with a kustomization), `images`
(newName/newTag), `labels` (pairs added to metadata.labels) and `patches` with a `target`
(kind, name) and an inline JSON 6902 patch (add/replace/remove). Used by the tests, which
validate the output against the Kubernetes schemas and check the flags against the binaries.

Usage: render.py <kustomization dir>  (prints JSON to stdout)
"""
import json
import os
import sys

import yaml


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pointer(doc, path):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
    for p in parts[:-1]:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc, parts[-1]


def apply_op(doc, op):
    parent, key = pointer(doc, op["path"])
    if isinstance(parent, list):
        idx = len(parent) if key == "-" else int(key)
        if op["op"] == "add":
            parent.insert(idx, op["value"])
        elif op["op"] == "replace":
            parent[idx] = op["value"]
        elif op["op"] == "remove":
            del parent[idx]
        else:
            raise ValueError(f"unsupported op {op['op']}")
    else:
        if op["op"] in ("add", "replace"):
            if op["op"] == "replace" and key not in parent:
                raise KeyError(f"replace of missing {op['path']}")
            parent[key] = op["value"]
        elif op["op"] == "remove":
            del parent[key]
        else:
            raise ValueError(f"unsupported op {op['op']}")


def render(directory):
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    out = []
    for res in k.get("resources", []):
        path = os.path.join(directory, res)
        out.extend(render(path) if os.path.isdir(path) else load_docs(path))
    for img in k.get("images", []):
        for doc in out:
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                if c.get("image", "").split(":")[0] == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img.get('newTag', 'latest')}"
    for lab in k.get("labels", []):
        for doc in out:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(lab["pairs"])
    for patch in k.get("patches", []):
        t = patch["target"]
        ops = yaml.safe_load(patch["patch"])
        hits = [d for d in out if d["kind"] == t["kind"] and d["metadata"]["name"] == t["name"]]
        if not hits:
            raise KeyError(f"patch target {t} not found")
        for d in hits:
            for op in ops:
                apply_op(d, op)
    return out


if __name__ == "__main__":
    json.dump(render(sys.argv[1]), sys.stdout, indent=1)
