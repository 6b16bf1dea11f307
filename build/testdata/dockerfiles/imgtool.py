#!/usr/bin/env python3
"""Reads built images as docker-archive tars and writes or checks expect.json.

Used by regen.sh (see README.md); only the Python 3 standard library.

  imgtool.py dump ARCHIVE [--base ARCHIVE]... > result.json
      The image (the first one in ARCHIVE's manifest.json): its normalised
      config, its history and the files its own layers add, with the layers
      and history of the longest --base image it starts with left out.
  imgtool.py expect CASEDIR RESULT.json BUILDER
      Rewrites CASEDIR/expect.json's generated fields from RESULT.json (the
      reference builder's result); the input fields are kept.
  imgtool.py compare EXPECT.json RESULT.json
      Prints, one a line, how RESULT.json differs from EXPECT.json (nothing
      when it matches): the comparison the Go tests are meant to make.
  imgtool.py differs CASEDIR KEY [RESULT.json | --failed MESSAGE]
      Stores that comparison (or the build failure) in expect.json under KEY
      (buildah_differs, docker20_differs).
"""
import difflib
import hashlib
import json
import os
import re
import sys
import tarfile

CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
               "Labels", "Healthcheck", "StopSignal", "Shell", "OnBuild", "ArgsEscaped"]
# Input fields of expect.json: written by hand, kept by `expect`.
INPUT_KEYS = ["description", "covers", "build", "must_not_exist"]
CONTENT_MAX = 256
# Labels a builder adds to every image by itself; compare leaves them out.
IGNORED_LABELS = {"io.buildah.version"}


def norm_empty(v):
    if v in (None, "", [], {}, False):
        return None
    return v


def norm_config(c):
    c = c or {}
    out = {}
    for k in CONFIG_KEYS:
        v = norm_empty(c.get(k))
        if v is not None and k in ("ExposedPorts", "Volumes"):
            v = sorted(v)
        if v is not None and k == "Healthcheck":
            v = {hk: hv for hk, hv in sorted(v.items()) if norm_empty(hv) is not None}
            v = v or None
        out[k] = v
    return out


def norm_path(name):
    n = name
    while n.startswith("./"):
        n = n[2:]
    n = n.strip("/")
    if n in ("", "."):
        return None
    return "/" + n


class FS:
    def __init__(self):
        self.e = {}  # path -> entry dict

    def remove_tree(self, p, keep_self=False):
        pre = p + "/"
        for k in [k for k in self.e if k.startswith(pre)]:
            del self.e[k]
        if not keep_self:
            self.e.pop(p, None)

    def apply(self, tf, touched=None, whiteouts=None):
        """Applies one layer (an open tarfile). touched/whiteouts collect paths."""
        members = []
        data = {}
        for m in tf:
            p = norm_path(m.name)
            if p is None:
                continue
            members.append((p, m))
            if m.isreg():
                f = tf.extractfile(m)
                data[p] = f.read() if f else b""
        # Whiteouts apply to the layers below: handle them first.
        for p, m in members:
            base = os.path.basename(p)
            parent = os.path.dirname(p)
            if base == ".wh..wh..opq":
                self.remove_tree(parent, keep_self=True)
                if whiteouts is not None:
                    whiteouts.add(parent + "/*")
            elif base.startswith(".wh."):
                victim = os.path.join(parent, base[4:])
                self.remove_tree(victim)
                if whiteouts is not None:
                    whiteouts.add(victim)
        for p, m in members:
            if os.path.basename(p).startswith(".wh."):
                continue
            ent = {"type": None, "mode": "%04o" % (m.mode & 0o7777), "uid": m.uid, "gid": m.gid}
            if m.isdir():
                ent["type"] = "dir"
            elif m.isreg():
                b = data[p]
                ent.update(type="file", size=len(b), sha256=hashlib.sha256(b).hexdigest())
                ent["_data"] = b
            elif m.islnk():
                tgt = norm_path(m.linkname)
                src = self.e.get(tgt)
                if src is None or src["type"] != "file":
                    raise SystemExit("hard link %s to missing file %s" % (p, m.linkname))
                ent = dict(src)
                ent["hardlink_to"] = tgt
            elif m.issym():
                ent.update(type="symlink", target=m.linkname)
                ent.pop("mode")  # a symlink's own mode means nothing on Linux
            elif m.ischr() or m.isblk():
                ent.update(type="char" if m.ischr() else "block", major=m.devmajor, minor=m.devminor)
            elif m.isfifo():
                ent["type"] = "fifo"
            else:
                continue
            old = self.e.get(p)
            if old is not None and old["type"] == "dir" and ent["type"] != "dir":
                self.remove_tree(p)
            self.e[p] = ent
            if touched is not None:
                touched.add(p)


def read_archive(path):
    tf = tarfile.open(path)
    names = set(tf.getnames())
    man = json.load(tf.extractfile("manifest.json"))[0]
    cfg = json.load(tf.extractfile(man["Config"]))
    layers = man["Layers"]
    for layer in layers:
        if layer not in names:
            raise SystemExit("%s: layer %s missing" % (path, layer))
    return tf, cfg, layers


def image_summary(path):
    tf, cfg, layers = read_archive(path)
    return {"diff_ids": cfg.get("rootfs", {}).get("diff_ids", []), "history": cfg.get("history", [])}


def dump(path, bases):
    tf, cfg, layers = read_archive(path)
    diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
    hist = cfg.get("history", [])
    # The longest base whose layers and history this image starts with.
    base_layers, base_hist, base_name = 0, 0, None
    for b in bases:
        s = image_summary(b)
        n = len(s["diff_ids"])
        if n > base_layers and diff_ids[:n] == s["diff_ids"] and \
                [h.get("created_by") for h in hist[:len(s["history"])]] == [h.get("created_by") for h in s["history"]]:
            base_layers, base_hist, base_name = n, len(s["history"]), b
    fs = FS()
    touched, whiteouts = set(), set()
    for i, layer in enumerate(layers):
        with tarfile.open(fileobj=tf.extractfile(layer), mode="r:*") as lt:
            if i < base_layers:
                fs.apply(lt)
            else:
                fs.apply(lt, touched, whiteouts)
    files = []
    for p in sorted(touched):
        ent = fs.e.get(p)
        if ent is None:
            continue
        f = {"path": p}
        f.update({k: v for k, v in ent.items() if not k.startswith("_") and k != "hardlink_to"})
        if ent["type"] == "file":
            b = ent["_data"]
            if len(b) <= CONTENT_MAX and b"\0" not in b:
                try:
                    f["content"] = b.decode("utf-8")
                except UnicodeDecodeError:
                    pass
        files.append(f)
    absent = sorted(w for w in whiteouts if w.endswith("/*") or w not in fs.e)
    history = []
    for h in hist[base_hist:]:
        e = {"created_by": h.get("created_by", ""), "empty_layer": bool(h.get("empty_layer", False))}
        if h.get("comment"):
            e["comment"] = h["comment"]
        history.append(e)
    return {
        "architecture": cfg.get("architecture"),
        "os": cfg.get("os"),
        "config": norm_config(cfg.get("config")),
        "base": {"image": os.path.basename(base_name) if base_name else "scratch",
                 "layers": base_layers, "history": base_hist},
        "layers_added": len(diff_ids) - base_layers,
        "history": history,
        "files": files,
        "deleted": absent,
        "_paths": sorted(fs.e),
    }


def load_json(p):
    with open(p) as f:
        return json.load(f)


def write_json(p, obj):
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    os.replace(tmp, p)


def history_diff(eh, gh, limit=3):
    """Entry by entry where the lists line up; missing and unexpected
    entries (by difflib) where they do not, so one missing entry does not
    make every later one differ."""
    key = lambda h: (h["created_by"], h["empty_layer"])
    out = []
    sm = difflib.SequenceMatcher(a=[key(h) for h in eh], b=[key(h) for h in gh], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                w, g = eh[i1 + k], gh[j1 + k]
                if w["created_by"] != g["created_by"]:
                    out.append("history[%d].created_by: want %s, got %s" % (
                        i1 + k, json.dumps(w["created_by"]), json.dumps(g["created_by"])))
                if w["empty_layer"] != g["empty_layer"]:
                    out.append("history[%d].empty_layer: want %s, got %s" % (
                        i1 + k, json.dumps(w["empty_layer"]), json.dumps(g["empty_layer"])))
            continue
        for k in range(i1, i2):
            out.append("history[%d]: missing %s" % (k, json.dumps(eh[k]["created_by"])))
        for k in range(j1, j2):
            out.append("history: unexpected %s (entry %d of the image)" % (json.dumps(gh[k]["created_by"]), k))
    if len(out) > limit:
        out = out[:limit] + ["history: %d more differences" % (len(out) - limit)]
    return out


def compare(exp, res):
    """How res (a dump) differs from exp (an expect.json). Short lines."""
    d = []
    if res.get("architecture") != exp["image"]["architecture"] or res.get("os") != exp["image"]["os"]:
        d.append("platform: want %s/%s, got %s/%s" % (exp["image"]["os"], exp["image"]["architecture"],
                                                     res.get("os"), res.get("architecture")))
    for k in CONFIG_KEYS:
        w, g = exp["image"]["config"].get(k), res["config"].get(k)
        if k == "Labels" and g:
            g = {lk: lv for lk, lv in g.items() if lk not in IGNORED_LABELS} or None
        if w != g:
            d.append("config.%s: want %s, got %s" % (k, json.dumps(w), json.dumps(g)))
    if exp["image"]["layers_added"] != res["layers_added"]:
        d.append("layers added: want %d, got %d" % (exp["image"]["layers_added"], res["layers_added"]))
    eh, gh = exp["history"], res["history"]
    url = os.environ.get("IMGTOOL_HTTP_BASE")
    if url:  # expect.json writes the HTTP server's address as {{HTTP_BASE}}
        eh = [dict(h, created_by=h["created_by"].replace("{{HTTP_BASE}}", url)) for h in eh]
    if len(eh) != len(gh):
        d.append("history: want %d entries, got %d" % (len(eh), len(gh)))
    d += history_diff(eh, gh)
    got = {f["path"]: f for f in res["files"]}
    paths = set(res.get("_paths", []))
    for w in exp["files"]:
        p = w["path"]
        g = got.get(p)
        if g is None:
            d.append("%s: missing%s" % (p, " (not added by the build's layers)" if p in paths else ""))
            continue
        for k in ("type", "mode", "uid", "gid", "size", "sha256", "target"):
            wv, gv = w.get(k), g.get(k)
            if wv == gv or (k == "sha256" and w.get("size") != g.get("size")):
                continue
            if k in ("size", "sha256") and "content" in w:
                # Readable: the contents rather than their sizes or digests.
                wv, gv = json.dumps(w["content"]), json.dumps(g.get("content", "<%d bytes>" % g.get("size", 0)))
                k = "content"
            d.append("%s: %s want %s, got %s" % (p, k, wv, gv))
    for p in exp.get("absent", []):
        if p.endswith("/*"):
            dirp = p[:-2]
            kids = [q for q in paths if q.startswith(dirp + "/")]
            lower = [q for q in kids if q not in got]
            if lower:
                d.append("%s: lower-layer contents still present (%s)" % (dirp, lower[0]))
        elif p in paths:
            d.append("%s: present, must not exist" % p)
    return d


def cmd_expect(casedir, resultp, builder):
    ep = os.path.join(casedir, "expect.json")
    old = load_json(ep) if os.path.exists(ep) else {}
    res = load_json(resultp)
    paths = set(res["_paths"])
    for p in old.get("must_not_exist", []):
        if p in paths:
            raise SystemExit("%s: must_not_exist path %s exists in the reference build" % (casedir, p))
    out = {k: old[k] for k in INPUT_KEYS if k in old}
    out.setdefault("build", {})
    out["reference"] = builder
    out["image"] = {"architecture": res["architecture"], "os": res["os"], "base": res["base"]["image"],
                    "layers_added": res["layers_added"], "config": res["config"]}
    out["history"] = res["history"]
    url = os.environ.get("IMGTOOL_HTTP_BASE")
    if url:  # the test's HTTP server has another address: write it as {{HTTP_BASE}}
        for h in out["history"]:
            h["created_by"] = h["created_by"].replace(url, "{{HTTP_BASE}}")
    out["files"] = res["files"]
    out["absent"] = sorted(set(old.get("must_not_exist", [])) | set(res["deleted"]))
    for k in ("docker20_differs", "buildah_differs"):
        if k in old:
            out[k] = old[k]
    write_json(ep, out)


def cmd_differs(casedir, key, arg, msg=None):
    ep = os.path.join(casedir, "expect.json")
    exp = load_json(ep)
    if arg == "--failed":
        # Without the pointers and container IDs that change from run to run.
        msg = re.sub(r"\b0x[0-9a-f]+\b", "0x…", (msg or "").strip())
        msg = re.sub(r"(?<!sha256:)\b[0-9a-f]{64}\b", "<id>", msg)
        exp[key] = ["build failed: " + msg]
    else:
        exp[key] = compare(exp, load_json(arg))
    write_json(ep, exp)
    for line in exp[key]:
        print(line)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "dump":
        path, bases, i = argv[2], [], 3
        while i < len(argv):
            if argv[i] == "--base":
                bases.append(argv[i + 1])
                i += 2
            else:
                raise SystemExit("unknown argument " + argv[i])
        json.dump(dump(path, bases), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif cmd == "expect":
        cmd_expect(argv[2], argv[3], argv[4])
    elif cmd == "compare":
        for line in compare(load_json(argv[2]), load_json(argv[3])):
            print(line)
    elif cmd == "differs":
        cmd_differs(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 else None)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
