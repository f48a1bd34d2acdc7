"""The documentation site: `mkdocs build --strict` of the repository (a broken link, a missing page, an
unknown marker or a committed model without its card fails it), then the built site served over HTTP
and looked at in a real headless Chromium: the home page with the headline table, the shipped model's
card and a study page render with their tables and images, and nothing on them fails to load. The
generators of the docs hooks (docs/hooks/) are checked on small inputs of their own.

Skips with the reason when the `docs` extra (mkdocs, Material, mkdocstrings, the include plugin) or
Chromium is missing."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS_HINT = "pip install -e '.[docs]'"
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

for module in ("mkdocs", "material", "mkdocstrings", "mkdocs_include_markdown_plugin"):
    pytest.importorskip(module, reason=f"the docs extra is not installed ({module}): {DOCS_HINT}")

import conf_reference  # noqa: E402
import openapi_reference  # noqa: E402
from markdown_text import escape  # noqa: E402

TIMEOUT = 20  # seconds for a page to load


# -- the generators, on inputs of their own -----------------------------------------------------------


def test_conf_reference_reads_descriptions_keys_values_and_comments(tmp_path):
    path = tmp_path / "kfold.yaml"
    path.write_text(
        "# @package _global_\n"
        "# Stratified k-fold: what most papers report.\n"
        "#   ferbench run protocol=kfold protocol.k=10\n"
        "\n"
        "# A second paragraph.\n"
        "defaults:\n"
        "  - base@_here_\n"
        "  - _self_\n"
        "_target_: benchmark.protocols.KFold\n"
        "# the folds\n"
        "k: 5\n"
        "label: 'a # b'   # a hash inside quotes is not a comment\n"
        "grid: [6,\n"
        "       6]        # continued lines belong to the key above\n"
        "nested:\n"
        "  size: 48      # pixels\n"
        "plain: true\n",
        encoding="utf-8",
    )
    conf = conf_reference.describe(path)
    assert conf.package == "_global_"
    assert conf.description == [
        ("text", "Stratified k-fold: what most papers report."),
        ("code", "ferbench run protocol=kfold protocol.k=10"),
        ("text", "A second paragraph."),
    ]
    assert conf.defaults == ["base@_here_", "_self_"]
    assert conf.keys == [
        ("_target_", "benchmark.protocols.KFold", ""),
        ("k", "5", "the folds"),
        ("label", "a # b", "a hash inside quotes is not a comment"),
        ("grid", "[6, 6]", "continued lines belong to the key above"),
        ("nested.size", "48", "pixels"),
        ("plain", "true", ""),
    ]


def test_conf_reference_covers_every_option_of_conf():
    from core.io import CONF_DIR

    text = conf_reference.render(CONF_DIR)
    groups = [p for p in CONF_DIR.rglob("*.yaml") if p.parent != CONF_DIR and p.parts[-3:-1] != ("hydra", "launcher")]
    for path in groups:
        group = path.parent.relative_to(CONF_DIR).as_posix()
        named = f"`+{group}={path.stem}`" if group in conf_reference.COMPACT else f"`conf/{group}/{path.name}`"
        assert named in text, path  # every option of every group has its entry
    assert "| `protocol.k` | `5` |" in text  # a key and its default, read from the file itself
    assert "| `data_root` |" in text  # conf/config.yaml's top-level keys


def test_markdown_text_escapes_outside_code_spans_only():
    assert escape("a <name> {k: v} | `x <y> | z`") == "a &lt;name&gt; &#123;k: v&#125; \\| `x <y> \\| z`"


def test_openapi_reference_lists_parameters_bodies_and_errors():
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/api/predict": {
                "post": {
                    "summary": "Predict",
                    "description": "Every face.",
                    "parameters": [{"name": "explain", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": True,
                        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "responses": {"415": {"description": "not an image", "content": {"application/json": {}}}},
                }
            }
        },
    }
    text = openapi_reference.render(spec)
    assert "## `POST /api/predict`" in text
    assert "| `explain` | query | no | `string` |" in text
    assert "| `image/*` | `string (binary)` |" in text
    assert "| 415 | not an image | `application/json` `any` |" in text


# -- the site, built and looked at ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with --strict into a temporary folder, served over HTTP on a free port."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    said = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, "\n".join(line for line in said if not line.startswith(("INFO", "  - ")))
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output stays readable
        pass


@pytest.fixture(scope="module")
def browser():
    from tests.serving import CHROMIUM_HINT, chromium_driver, chromium_paths

    pytest.importorskip("selenium", reason=f"selenium is not installed (pip install -e '.[test]'; {CHROMIUM_HINT})")
    if chromium_paths() is None:
        pytest.skip(f"Chromium and chromedriver are not installed: {CHROMIUM_HINT}")
    driver = chromium_driver(width=1400, height=1000)
    yield driver
    driver.quit()


def rendered(browser, url: str) -> dict:
    """What the page at `url` shows: its title (h1), its tables as [rows of cell texts], its images with
    whether each loaded, and the console's errors."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
    )
    return browser.execute_script(
        """
        const article = document.querySelector('article');
        return {
          title: article.querySelector('h1').textContent.replace('¶', '').trim(),
          tables: [...article.querySelectorAll('table')].map(t =>
            [...t.querySelectorAll('tr')].map(r => [...r.cells].map(c => c.textContent.trim()))),
          images: [...article.querySelectorAll('img')].map(i => ({src: i.src, loaded: i.naturalWidth > 0})),
        };"""
    ) | {"errors": [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]}


def test_home_page_shows_the_headline_table(site, browser):
    page = rendered(browser, site[1] + "/")
    assert page["title"] == "ferbench"
    headline = [t for t in page["tables"] if t and "best classical" in t[0]]
    assert headline, page["tables"]
    boards = {(row[0], row[1]) for row in headline[0][1:]}
    assert ("jaffe", "subject_kfold") in boards  # a row per board, from the generated README block
    assert page["errors"] == []


def test_the_shipped_models_card_renders_with_its_tables(site, browser):
    manifest = yaml.safe_load((ROOT / "results/models/shipped.yaml").read_text(encoding="utf-8"))
    model = Path(manifest["model"]).parts[0]  # fer2013__fernet_seed2/fit-000/model.pt -> its folder
    page = rendered(browser, f"{site[1]}/results/cards/{model}/")
    assert page["title"] == model
    cells = [cell for table in page["tables"] for row in table for cell in row]
    assert "SHA-256" in cells
    assert any(len(table) > 2 for table in page["tables"])  # a table with rows, not only a header
    assert page["errors"] == []


def test_a_study_page_renders_its_included_tables_and_plots(site, browser):
    page = rendered(browser, site[1] + "/studies/robustness/")
    assert page["title"].startswith("Robustness")
    summaries = [t for t in page["tables"] if t and "mean perturbed acc %" in t[0]]
    assert len(summaries) >= 4 and all(len(t) > 2 for t in summaries)  # the boards' summaries, included
    assert page["images"] and all(i["loaded"] for i in page["images"]), page["images"]  # the plots
    assert page["errors"] == []


def test_generated_pages_are_in_the_site(site):
    out = site[0]
    configuration = (out / "benchmark/configuration/index.html").read_text(encoding="utf-8")
    assert "protocol=subject_kfold" in configuration and "ferbench:configuration" not in configuration
    api = (out / "applications/rest-api/index.html").read_text(encoding="utf-8")
    assert "POST /api/predict" in api and "GET /api/health" in api
    assert (out / "applications/openapi.json").is_file()
    predict = (out / "applications/predict/index.html").read_text(encoding="utf-8")
    assert "usage: ferbench predict" in predict  # the --help block, from the code
    robustness = (out / "studies/robustness/index.html").read_text(encoding="utf-8")
    assert "<code>occlusion_eyes</code>" in robustness  # the perturbations' table, from SCALES
    left = [p for p in out.rglob("*.html") if "<!-- ferbench:" in p.read_text(encoding="utf-8")]
    assert left == []  # every marker was replaced
