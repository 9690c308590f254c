"""The README's first screen runs as written: its Python API block, and every docs/ link points at a page and heading that exist."""
import re

from tests.conftest import REPO


def test_the_python_api_block_runs():
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["kappa"] > 1 and set(scope["scores"]) == {"nwot", "snip", "grad_norm", "synflow"}
    assert all(v == v for v in scope["scores"].values())  # no NaN


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def test_every_relative_link_of_the_readme_and_docs_resolves():
    pages = [REPO / "README.md", REPO / "results" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert len(pages) > 3
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md":
                headings = {slug(l) for l in file.read_text().splitlines() if re.match(r"^#{1,6} ", l)}
                if anchor not in headings:
                    broken.append(f"{page.name}: {target}")
    assert not broken, broken
