"""The quick-look result page: one Markdown summary and one self-contained HTML page (plots
linked by relative paths) written into the output folder.

A page is a title, a list of key/value facts and sections; a section has a heading, optional
paragraphs, tables (`~astropy.table.Table` or list of rows) and images (paths relative to the
output folder).
"""
import html
from dataclasses import dataclass, field
from pathlib import Path

from ..utils import atomic_output

__all__ = ["Section", "write_page"]


@dataclass
class Section:
    """One section of the page."""

    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)   # (caption, astropy Table)
    images: list = field(default_factory=list)   # (caption, relative path)


def _table_rows(table, max_rows=60):
    names = list(table.colnames)
    units = [str(table[n].unit) if getattr(table[n], "unit", None) not in (None, "") else "" for n in names]
    header = [f"{n} [{u}]" if u else n for n, u in zip(names, units)]
    rows = []
    for row in table[:max_rows]:
        cells = []
        for n in names:
            value = row[n]
            if isinstance(value, float):
                cells.append(f"{value:.4g}")
            else:
                cells.append(str(value))
        rows.append(cells)
    return header, rows


def _markdown(title, facts, sections):
    lines = [f"# {title}", ""]
    for key, value in facts:
        lines.append(f"- **{key}:** {value}")
    lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        for text in section.paragraphs:
            lines += [text, ""]
        for caption, table in section.tables:
            header, rows = _table_rows(table)
            if caption:
                lines += [f"*{caption}*", ""]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
        for caption, image in section.images:
            lines += [f"![{caption}]({image})", ""]
    return "\n".join(lines)


_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; } dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.facts dt { font-weight: bold; } figure { display: inline-block; margin: 0.4em; }
figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { font-size: 0.85em; color: #555; }
"""


def _html(title, facts, sections):
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>", "<dl class='facts'>"]
    for key, value in facts:
        out.append(f"<dt>{e(str(key))}</dt><dd>{e(str(value))}</dd>")
    out.append("</dl>")
    for section in sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        for text in section.paragraphs:
            out.append(f"<p>{e(text)}</p>")
        for caption, table in section.tables:
            header, rows = _table_rows(table)
            out.append("<table>")
            if caption:
                out.append(f"<caption>{e(caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            for r in rows:
                out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
        for caption, image in section.images:
            out.append(f"<figure><img src='{e(str(image))}' alt='{e(caption)}'>"
                       f"<figcaption>{e(caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def write_page(outdir, title, facts, sections, basename="index"):
    """Write ``summary.md`` and ``<basename>.html`` into ``outdir`` (atomically).

    Returns
    -------
    paths : list of `~pathlib.Path`
    """

    outdir = Path(outdir)
    paths = []
    for name, text in (("summary.md", _markdown(title, facts, sections)),
                       (f"{basename}.html", _html(title, facts, sections))):
        with atomic_output(outdir / name, overwrite=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths.append(outdir / name)
    return paths
