#!/usr/bin/env python3
"""Draws the SIMS Studio icon: packaging/icons/sims-studio.svg and the PNG sizes
of the hicolor theme, from one description of the shapes (Python's standard
library only: a small supersampling rasteriser and a PNG writer).

The picture: the synthetic manifold (a grey ellipse, what the auxiliary has
learnt), samples (orange dots) and the guidance arrow that pushes them away
from it, on a dark rounded square.
usage: make_icons.py [OUT_DIR]   (default: the icons folder beside this script)
"""
import math
import os
import struct
import sys
import zlib

BG = (0x1d, 0x2b, 0x4f)
# (kind, params, colour, opacity); coordinates in a 256 x 256 box.
SHAPES = [
    ("rrect", (8, 8, 248, 248, 52), BG, 1.0),
    ("ellipse", (98, 166, 70, 40, -28), (0x9a, 0xa6, 0xbb), 0.55),
    ("capsule", (108, 150, 176, 84, 11), (0xff, 0xff, 0xff), 1.0),
    ("triangle", ((204, 56), (150, 74), (186, 110)), (0xff, 0xff, 0xff), 1.0),
    ("circle", (72, 176, 11), (0xff, 0x9f, 0x1c), 1.0),
    ("circle", (112, 186, 11), (0xff, 0x9f, 0x1c), 1.0),
    ("circle", (92, 140, 11), (0xff, 0x9f, 0x1c), 1.0),
    ("circle", (196, 148, 13), (0x5f, 0xc8, 0xff), 1.0),
    ("circle", (164, 190, 13), (0x5f, 0xc8, 0xff), 1.0),
    ("circle", (206, 196, 13), (0x5f, 0xc8, 0xff), 1.0),
]


def inside(kind, p, x, y):
    if kind == "rrect":
        x0, y0, x1, y1, r = p
        cx, cy = min(max(x, x0 + r), x1 - r), min(max(y, y0 + r), y1 - r)
        return x0 <= x <= x1 and y0 <= y <= y1 and (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "circle":
        cx, cy, r = p
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "ellipse":
        cx, cy, rx, ry, deg = p
        a = math.radians(deg)
        u = (x - cx) * math.cos(a) + (y - cy) * math.sin(a)
        v = -(x - cx) * math.sin(a) + (y - cy) * math.cos(a)
        return (u / rx) ** 2 + (v / ry) ** 2 <= 1
    if kind == "capsule":
        x0, y0, x1, y1, r = p
        dx, dy = x1 - x0, y1 - y0
        t = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)))
        return (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= r * r
    if kind == "triangle":
        (ax, ay), (bx, by), (cx, cy) = p
        s = [(bx - ax) * (y - ay) - (by - ay) * (x - ax), (cx - bx) * (y - by) - (cy - by) * (x - bx),
             (ax - cx) * (y - cy) - (ay - cy) * (x - cx)]
        return all(v >= 0 for v in s) or all(v <= 0 for v in s)
    raise ValueError(kind)


def raster(size, ss=4):
    scale = 256.0 / size
    px = [[(0.0, 0.0, 0.0, 0.0)] * size for _ in range(size)]
    offs = [(i + 0.5) / ss for i in range(ss)]
    for kind, p, col, op in SHAPES:
        for j in range(size):
            row = px[j]
            for i in range(size):
                cov = sum(inside(kind, p, (i + ox) * scale, (j + oy) * scale) for ox in offs for oy in offs)
                if not cov:
                    continue
                a = op * cov / (ss * ss)
                r, g, b, a0 = row[i]
                out_a = a + a0 * (1 - a)
                row[i] = tuple((c * a + c0 * a0 * (1 - a)) / out_a for c, c0 in zip(col, (r, g, b))) + (out_a,)
    return px


def write_png(path, px):
    h, w = len(px), len(px[0])
    raw = b"".join(b"\0" + bytes(min(255, round(v)) for r, g, b, a in row for v in (r, g, b, 255 * a)) for row in px)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def svg():
    hexc = lambda c: "#%02x%02x%02x" % c
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">',
           '  <title>SIMS Studio</title>']
    for kind, p, col, op in SHAPES:
        style = f'fill="{hexc(col)}"' + (f' fill-opacity="{op}"' if op < 1 else "")
        if kind == "rrect":
            x0, y0, x1, y1, r = p
            out.append(f'  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" {style}/>')
        elif kind == "circle":
            out.append(f'  <circle cx="{p[0]}" cy="{p[1]}" r="{p[2]}" {style}/>')
        elif kind == "ellipse":
            cx, cy, rx, ry, deg = p
            out.append(f'  <ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" transform="rotate({deg} {cx} {cy})" {style}/>')
        elif kind == "capsule":
            x0, y0, x1, y1, r = p
            out.append(f'  <line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{hexc(col)}" stroke-width="{2 * r}" '
                       'stroke-linecap="round"/>')
        elif kind == "triangle":
            pts = " ".join(f"{x},{y}" for x, y in p)
            out.append(f'  <polygon points="{pts}" {style}/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "icons")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sims-studio.svg"), "w") as f:
        f.write(svg())
    for size in (16, 32, 48, 64, 128, 256):
        write_png(os.path.join(out, f"sims-studio-{size}.png"), raster(size))


if __name__ == "__main__":
    main()
